//! `TestApp`: a real sipmap server on 127.0.0.1:0 with a fresh database and a known account,
//! plus request helpers and a redaction function for snapshot tests.

use std::path::PathBuf;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sipmap::app::{App, ServeConfig, ensure_initial_account};
use sipmap::auth_token::AuthToken;
use sipmap::sid::AccountSid;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The account every test server is started with.
pub const SID: &str = "AC00000000000000000000000000000001";
/// Its token.
pub const TOKEN: &str = "test-token";

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text))
    }

    /// A string field of the JSON body.
    pub fn field(&self, name: &str) -> String {
        self.json()[name]
            .as_str()
            .unwrap_or_else(|| panic!("no string field {name} in {}", self.text))
            .to_owned()
    }
}

/// A running server.
pub struct TestApp {
    pub base: String,
    /// The SIP edge's address (UDP and TCP), when it is on.
    pub sip_addr: Option<std::net::SocketAddr>,
    /// The SIP edge's TLS address, when it listens for TLS.
    pub sip_tls_addr: Option<std::net::SocketAddr>,
    /// The calls of voice applications, when the SIP edge is on.
    pub calls: Option<sipmap::call_runtime::CallRuntime>,
    pub db_path: PathBuf,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestApp {
    /// A server on a fresh database.
    pub async fn spawn() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db_path = dir.path().join("sipmap.db");
        let mut app = Self::start(db_path).await;
        app._dir = Some(dir);
        app
    }

    /// A server on a fresh database, with its configuration adjusted by `tweak`.
    pub async fn spawn_with(tweak: impl FnOnce(&mut ServeConfig)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db_path = dir.path().join("sipmap.db");
        let mut app = Self::start_with(db_path, tweak).await;
        app._dir = Some(dir);
        app
    }

    /// A server on an existing database file.
    pub async fn start(db_path: PathBuf) -> Self {
        Self::start_with(db_path, |_| {}).await
    }

    /// A server on a fresh database whose updates of live calls go to `control`.
    pub async fn spawn_with_calls(control: std::sync::Arc<dyn sipmap::calls::Control>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db_path = dir.path().join("sipmap.db");
        let mut app = Self::start_full(db_path, |_| {}, Some(control)).await;
        app._dir = Some(dir);
        app
    }

    /// A server on an existing database file, with its configuration adjusted by `tweak`.
    pub async fn start_with(db_path: PathBuf, tweak: impl FnOnce(&mut ServeConfig)) -> Self {
        Self::start_full(db_path, tweak, None).await
    }

    async fn start_full(
        db_path: PathBuf,
        tweak: impl FnOnce(&mut ServeConfig),
        control: Option<std::sync::Arc<dyn sipmap::calls::Control>>,
    ) -> Self {
        let mut config = ServeConfig {
            listen: Some("127.0.0.1:0".into()),
            https_listen: None,
            tls: None,
            tls_ca: None,
            database_url: format!("sqlite://{}", db_path.display()),
            public_url: None,
            domain_suffix: "sip.twilio.com".into(),
            sip_listen: Some("127.0.0.1:0".into()),
            sip_upstream: None,
            sip_tls_listen: None,
            sip_digest_algorithms: Vec::new(),
            store: Default::default(),
            http_limits: Default::default(),
            sip_limits: Default::default(),
            sip_probes: Default::default(),
            sip_new_ports_per_ip: sipmap::sip::edge::ports::DEFAULT_NEW_PER_SECOND,
            sip_auth_throttle: Default::default(),
            call_limits: Default::default(),
            call_log: None,
            decisions: Default::default(),
        };
        tweak(&mut config);
        let mut app = App::build(&config).await.expect("server builds");
        if let Some(control) = control {
            app = app.with_call_control(control).expect("call control set");
        }
        ensure_initial_account(
            app.store().as_ref(),
            Some((
                AccountSid::parse(SID).unwrap(),
                AuthToken::from_string(TOKEN.into()),
            )),
        )
        .await
        .expect("initial account");
        let base = match (app.http_addr(), app.https_addr()) {
            (Some(plain), _) => format!("http://{plain}"),
            (None, Some(tls)) => format!("https://{tls}"),
            (None, None) => unreachable!("a server has an API listener"),
        };
        let sip_addr = app.sip_addr();
        let sip_tls_addr = app.sip_tls_addr();
        let calls = app.calls().cloned();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async {
            let _ = stopped.await;
        }));
        Self {
            base,
            sip_addr,
            sip_tls_addr,
            calls,
            db_path,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
            _dir: None,
        }
    }

    /// Stops the server gracefully and returns its database directory guard.
    pub async fn stop(mut self) -> (PathBuf, Option<tempfile::TempDir>) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server ran");
        }
        (self.db_path.clone(), self._dir.take())
    }

    /// A request as the test account.
    pub async fn call(&self, method: Method, path: &str, body: Option<&str>) -> Reply {
        self.call_as(SID, TOKEN, method, path, body).await
    }

    /// A request with the given credentials.
    pub async fn call_as(
        &self,
        sid: &str,
        token: &str,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> Reply {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .basic_auth(sid, Some(token));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/x-www-form-urlencoded")
                .body(b.to_owned());
        }
        self.send(req).await
    }

    /// Sends a prepared request.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let res = req.send().await.expect("request sent");
        Reply {
            status: res.status(),
            headers: res.headers().clone(),
            text: res.text().await.expect("body read"),
        }
    }

    /// A raw request builder (no credentials).
    pub fn raw(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &str) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, None).await
    }

    /// Creates an IP record and returns its SID.
    pub async fn ip_record(&self, body: &str) -> String {
        let r = self.post("/v1/IpRecords", body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.field("sid")
    }

    /// Creates a SIP domain of the test account and returns its SID.
    pub async fn domain(&self, name: &str) -> String {
        let r = self
            .post(
                &format!("/2010-04-01/Accounts/{SID}/SIP/Domains.json"),
                &format!("DomainName={name}"),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.field("sid")
    }

    /// Creates a subaccount and returns its SID and token.
    pub async fn subaccount(&self, name: &str) -> (String, String) {
        let r = self
            .post("/2010-04-01/Accounts.json", &format!("FriendlyName={name}"))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        (r.field("sid"), r.field("auth_token"))
    }

    /// Pretty JSON with SIDs numbered by first appearance, dates and the base URL replaced, for
    /// snapshots.
    pub fn redact(&self, reply: &Reply) -> String {
        let pretty = if reply.text.is_empty() {
            String::new()
        } else {
            serde_json::to_string_pretty(&reply.json()).expect("pretty json")
        };
        format!(
            "{}\n{}",
            reply.status,
            redact_text(&pretty.replace(&self.base, "[base]"))
        )
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn redact_text(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut seen: Vec<String> = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        // SIDs and request ids: two capital letters and 32 hex digits.
        if rest.len() >= 34
            && bytes[i].is_ascii_uppercase()
            && bytes[i + 1].is_ascii_uppercase()
            && rest.as_bytes()[2..34].iter().all(u8::is_ascii_hexdigit)
            && !rest.as_bytes().get(34).is_some_and(u8::is_ascii_hexdigit)
            && rest != SID
            && !rest.starts_with(SID)
        {
            let sid = &rest[..34];
            let n = match seen.iter().position(|x| x == sid) {
                Some(n) => n + 1,
                None => {
                    seen.push(sid.to_owned());
                    seen.len()
                }
            };
            out.push_str(&format!("{}[{n}]", &sid[..2]));
            i += 34;
            continue;
        }
        // 2020-03-18T23:31:36Z
        if rest.get(..20).is_some_and(is_iso) {
            out.push_str("[iso8601]");
            i += 20;
            continue;
        }
        // Mon, 20 Jul 2015 17:27:10 +0000
        if rest.get(..31).is_some_and(is_rfc2822) {
            out.push_str("[rfc2822]");
            i += 31;
            continue;
        }
        let c = rest.chars().next().unwrap();
        out.push(c);
        i += c.len_utf8();
    }
    out
}

fn shape(s: &str, pattern: &str) -> bool {
    s.len() == pattern.len()
        && s.bytes().zip(pattern.bytes()).all(|(c, p)| match p {
            b'9' => c.is_ascii_digit(),
            b'A' => c.is_ascii_alphabetic(),
            _ => c == p,
        })
}

fn is_iso(s: &str) -> bool {
    shape(s, "9999-99-99T99:99:99Z")
}

fn is_rfc2822(s: &str) -> bool {
    shape(s, "AAA, 99 AAA 9999 99:99:99 +0000")
}

/// A `sipmap` process the test started, killed when dropped; its standard error is collected by
/// a thread.
pub struct Process {
    pub child: std::process::Child,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Process {
    /// Starts `command` with its standard output and error piped: the process and its output.
    pub fn start(
        mut command: std::process::Command,
    ) -> (Self, std::io::BufReader<std::process::ChildStdout>) {
        use std::io::Read;
        use std::process::Stdio;
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sipmap starts");
        let mut err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        let process = Self {
            child,
            stderr: Some(stderr),
        };
        (process, out)
    }

    /// What it wrote to standard error, once it has exited.
    pub fn logged(&mut self) -> String {
        self.stderr
            .take()
            .map(|t| t.join().unwrap())
            .unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
