//! Monitor Alerts of the SIP edge's refusals (Twilio's 32201 "source IP address not in ACL",
//! 32202 bad credentials or a throttled source, 32207/32208 media, 32209 insecure transport,
//! 32210 registration not enabled), flood-safe. The edge decides without I/O and tells a
//! [`RefusalAlerts`] (its `sip::edge::RefusalSink`) of each refusal of a request to a
//! recognised domain, from the thread that received it: a `try_send` into a bounded queue
//! ([`QUEUE`]; full, the refusal is dropped, counted and logged through `limit_log`). One task
//! counts them per (account, domain, source address, reason, minute) and, every second, writes
//! the counts that changed in one transaction (`Store::put_alerts`): one alert per key, its
//! text naming the count, rewritten as the count grows. So a source hammering a domain makes
//! one row per source and reason per minute, never one per datagram. A request for which
//! nothing was recognised is never reported (nothing is revealed to an unknown source).
//! At shutdown, [`RefusalAlerts::flush`] writes what was counted since the last write.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;
use crate::domain::Alert;
use crate::domain::alert::CALLS_API_VERSION;
use crate::limit_log::LimitLog;
use crate::sid::{AccountSid, NotificationSid, SipDomainSid};
use crate::sip::edge::{DomainRefusal, RefusalReason, RefusalSink};
use crate::store::Store;
use crate::timefmt::iso8601;

/// Refusals waiting for the counting task.
pub const QUEUE: usize = 4096;
/// Keys (account, domain, source, reason, minute) counted at once; a refusal of a new key
/// past it is dropped (counted and logged).
pub const MAX_KEYS: usize = 10_000;
/// How often the counts that changed are written.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

static DROPPED: LimitLog = LimitLog::new("SIP refusal alerts");

/// What one alert counts.
type Key = (AccountSid, SipDomainSid, IpAddr, RefusalReason, i64);

/// One key's count in its minute.
struct Tally {
    sid: NotificationSid,
    domain_name: String,
    count: u64,
    changed: bool,
}

/// The edge's refusal sink: a bounded queue to the counting task.
#[derive(Debug)]
pub struct RefusalAlerts {
    queue: mpsc::Sender<DomainRefusal>,
    /// Asks the counting task to write now; it answers once it has.
    flushes: mpsc::Sender<oneshot::Sender<()>>,
    dropped: AtomicU64,
}

/// How long [`RefusalAlerts::flush`] waits for the write.
const FLUSH_WAIT: Duration = Duration::from_secs(5);

impl RefusalAlerts {
    /// Starts the counting task, writing to `store`, minutes told by `clock`.
    pub fn start(store: Arc<Store>, clock: Arc<dyn Clock>) -> Arc<Self> {
        let (queue, refusals) = mpsc::channel(QUEUE);
        let (flushes, asked) = mpsc::channel(1);
        tokio::spawn(count(refusals, asked, store, clock));
        Arc::new(Self {
            queue,
            flushes,
            dropped: AtomicU64::new(0),
        })
    }

    /// Writes every refusal queued or counted so far, now (at shutdown: the last second's would
    /// be lost), waiting at most [`FLUSH_WAIT`].
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        let asked = async {
            self.flushes.send(done).await.ok()?;
            written.await.ok()
        };
        match tokio::time::timeout(FLUSH_WAIT, asked).await {
            Ok(Some(())) => tracing::info!("SIP refusals' alerts written"),
            Ok(None) => tracing::warn!("the SIP refusals' counting task has stopped"),
            Err(_) => tracing::warn!(
                wait = ?FLUSH_WAIT,
                "the SIP refusals' alerts were not written in time"
            ),
        }
    }

    /// Refusals dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl RefusalSink for RefusalAlerts {
    fn refused(&self, refusal: DomainRefusal) {
        if self.queue.try_send(refusal).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            DROPPED.hit(&format_args!(
                "the queue of SIP refusals ({QUEUE}) is full: refusal dropped ({n} so far)"
            ));
        }
    }
}

/// The counting task: ends when the sink is dropped, after a last write.
async fn count(
    mut refusals: mpsc::Receiver<DomainRefusal>,
    mut asked: mpsc::Receiver<oneshot::Sender<()>>,
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
) {
    let mut tallies: HashMap<Key, Tally> = HashMap::new();
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    loop {
        tokio::select! {
            got = refusals.recv() => match got {
                Some(refusal) => add(&mut tallies, refusal, clock.now_millis()),
                None => {
                    flush(&mut tallies, &store, clock.now_millis()).await;
                    return;
                }
            },
            _ = tick.tick() => flush(&mut tallies, &store, clock.now_millis()).await,
            Some(done) = asked.recv() => {
                while let Ok(refusal) = refusals.try_recv() {
                    add(&mut tallies, refusal, clock.now_millis());
                }
                flush(&mut tallies, &store, clock.now_millis()).await;
                let _ = done.send(());
            }
        }
    }
}

/// Counts `refusal` in its key's tally (a new one when there is room).
fn add(tallies: &mut HashMap<Key, Tally>, refusal: DomainRefusal, now_ms: i64) {
    let t = &refusal.target;
    let minute = now_ms.div_euclid(60_000);
    let key = (
        t.account_sid.clone(),
        t.domain_sid.clone(),
        refusal.source,
        refusal.reason,
        minute,
    );
    if !tallies.contains_key(&key) && tallies.len() >= MAX_KEYS {
        DROPPED.hit(&format_args!(
            "{MAX_KEYS} sources and reasons counted this minute: refusal from {} dropped",
            refusal.source
        ));
        return;
    }
    let tally = tallies.entry(key).or_insert_with(|| Tally {
        sid: NotificationSid::generate_at(now_ms),
        domain_name: t.domain_name.clone(),
        count: 0,
        changed: false,
    });
    tally.count += 1;
    tally.changed = true;
}

/// Writes the tallies that changed, then forgets those of minutes past.
async fn flush(tallies: &mut HashMap<Key, Tally>, store: &Store, now_ms: i64) {
    let alerts: Vec<Alert> = tallies
        .iter_mut()
        .filter(|(_, t)| t.changed)
        .map(|(key, t)| {
            t.changed = false;
            alert(key, t, now_ms)
        })
        .collect();
    if !alerts.is_empty()
        && let Err(e) = store.put_alerts(alerts).await
    {
        tracing::error!(error = %e, "cannot store the SIP refusals' alerts");
    }
    let minute = now_ms.div_euclid(60_000);
    tallies.retain(|key, t| key.4 >= minute || t.changed);
}

/// The alert of one key's tally.
fn alert(key: &Key, t: &Tally, now_ms: i64) -> Alert {
    let (account, domain, source, reason, minute) = key;
    let (code, (why, status)) = (reason.code(), reason.text());
    let requests = match t.count {
        1 => "1 request".to_owned(),
        n => format!("{n} requests"),
    };
    let text = format!(
        "{why}: {requests} from {source} to {} refused ({status}) in the minute from {}",
        t.domain_name,
        iso8601(minute * 60)
    );
    let variables = format!(
        "SourceIp={source}&SipDomain={}&SipDomainSid={domain}&Count={}",
        t.domain_name, t.count
    );
    Alert {
        sid: t.sid.clone(),
        account_sid: account.clone(),
        error_code: code,
        log_level: "error".to_owned(),
        alert_text: text,
        api_version: CALLS_API_VERSION.to_owned(),
        request_method: None,
        request_url: None,
        request_variables: Some(variables),
        resource_sid: Some(domain.as_str().to_owned()),
        generated_ms: minute * 60_000,
        created_ms: now_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recognition::Target;

    fn refusal(target: &Arc<Target>, ip: &str, reason: RefusalReason) -> DomainRefusal {
        DomainRefusal {
            target: target.clone(),
            source: ip.parse().unwrap(),
            reason,
        }
    }

    fn target() -> Arc<Target> {
        Arc::new(Target {
            domain_sid: SipDomainSid::generate(),
            account_sid: AccountSid::generate(),
            domain_name: "acme.sip.twilio.com".into(),
            sip_registration: false,
            secure: false,
            byoc_trunk_sid: None,
            voice: None,
        })
    }

    #[test]
    fn refusals_count_per_source_reason_and_minute() {
        let t = target();
        let mut tallies = HashMap::new();
        let minute = 1_765_000_020_000;
        for _ in 0..3 {
            add(
                &mut tallies,
                refusal(&t, "192.0.2.1", RefusalReason::SourceNotInAcl),
                minute,
            );
        }
        add(
            &mut tallies,
            refusal(&t, "192.0.2.1", RefusalReason::BadCredentials),
            minute,
        );
        add(
            &mut tallies,
            refusal(&t, "192.0.2.2", RefusalReason::SourceNotInAcl),
            minute,
        );
        add(
            &mut tallies,
            refusal(&t, "192.0.2.1", RefusalReason::SourceNotInAcl),
            minute + 60_000,
        );
        assert_eq!(tallies.len(), 4);
        let mut alerts: Vec<Alert> = tallies.iter().map(|(k, v)| alert(k, v, minute)).collect();
        alerts.sort_by_key(|a| a.alert_text.clone());
        let acl = alerts
            .iter()
            .find(|a| a.alert_text.contains("3 requests"))
            .expect("three refusals counted in one alert");
        assert_eq!(acl.error_code, 32201);
        assert_eq!(acl.resource_sid.as_deref(), Some(t.domain_sid.as_str()));
        assert!(
            acl.alert_text
                .contains("from 192.0.2.1 to acme.sip.twilio.com")
        );
        let creds: Vec<&Alert> = alerts.iter().filter(|a| a.error_code == 32202).collect();
        assert_eq!(creds.len(), 1);
        assert!(
            creds[0].alert_text.contains("1 request from"),
            "{}",
            creds[0].alert_text
        );
    }

    #[test]
    fn each_reason_has_its_code_and_the_status_the_edge_answered() {
        let t = target();
        for (reason, code, status) in [
            (RefusalReason::SourceNotInAcl, 32201, "(403)"),
            (RefusalReason::BadCredentials, 32202, "(403)"),
            (RefusalReason::Throttled, 32202, "(503)"),
            (RefusalReason::InsecureTransport, 32209, "(403)"),
            (RefusalReason::SrtpRequired, 32207, "(488)"),
            (RefusalReason::SrtpRefused, 32208, "(488)"),
            (RefusalReason::RegistrationRefused, 32210, "(403)"),
        ] {
            let mut tallies = HashMap::new();
            add(&mut tallies, refusal(&t, "192.0.2.1", reason), 0);
            let (key, tally) = tallies.iter().next().unwrap();
            let a = alert(key, tally, 0);
            assert_eq!(a.error_code, code, "{reason:?}");
            assert!(
                a.alert_text.contains(status),
                "{reason:?}: {}",
                a.alert_text
            );
        }
    }

    #[test]
    fn new_keys_past_the_bound_are_dropped_and_known_ones_still_count() {
        let t = target();
        let mut tallies = HashMap::new();
        for i in 0..MAX_KEYS {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(u32::try_from(i).unwrap()));
            add(
                &mut tallies,
                DomainRefusal {
                    target: t.clone(),
                    source: ip,
                    reason: RefusalReason::SourceNotInAcl,
                },
                0,
            );
        }
        add(
            &mut tallies,
            refusal(&t, "255.255.255.255", RefusalReason::SourceNotInAcl),
            0,
        );
        assert_eq!(tallies.len(), MAX_KEYS);
        add(
            &mut tallies,
            refusal(&t, "0.0.0.0", RefusalReason::SourceNotInAcl),
            0,
        );
        let first = tallies.values().find(|v| v.count == 2);
        assert!(first.is_some(), "a known key still counts");
    }
}
