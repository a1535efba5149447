//! A TCP proxy in front of the test PostgreSQL server that can cut every connection through it
//! and refuse new ones, then let them through again: a node that loses its database.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running proxy.
pub struct Proxy {
    /// The database URL that goes through the proxy.
    pub url: String,
    open: Arc<AtomicBool>,
    cuts: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

/// `postgres://user[:pass]@HOST[:PORT]/rest` → (prefix up to `@`, `HOST:PORT`, `/rest`).
fn split_url(url: &str) -> (String, String, String) {
    let scheme_end = url.find("://").expect("a URL") + 3;
    let at = url[scheme_end..]
        .find('@')
        .map(|i| scheme_end + i + 1)
        .unwrap_or(scheme_end);
    let rest_at = url[at..].find('/').map(|i| at + i).unwrap_or(url.len());
    let mut authority = url[at..rest_at].to_owned();
    if authority.is_empty() {
        authority = "127.0.0.1:5432".into();
    } else if !authority.contains(':') {
        authority.push_str(":5432");
    }
    (url[..at].to_owned(), authority, url[rest_at..].to_owned())
}

impl Proxy {
    /// A proxy on 127.0.0.1:0 towards the server of `url`.
    pub async fn start(url: &str) -> Self {
        let (prefix, upstream, rest) = split_url(url);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let (cuts, _) = watch::channel(0u64);
        let (flag, cut_tx) = (open.clone(), cuts.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                if !flag.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let upstream = upstream.clone();
                let mut cut = cut_tx.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let mut client = client;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self {
            url: format!("{prefix}{addr}{rest}"),
            open,
            cuts,
            task,
        }
    }

    /// Drops every connection through the proxy and refuses new ones.
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
