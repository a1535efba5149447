//! Storage conformance for the rules that keep tenants apart and updates whole, one test per
//! rule, each run on SQLite and on PostgreSQL (two "nodes" are two stores on one database):
//! atomic read-modify-writes, closed accounts staying closed, suspended and closed accounts
//! leaving recognition, networks overlapping only within a family, SIP domain names nesting only
//! within a family, atomic first-start bootstrap,
//! and (PostgreSQL) a change log that is pruned without a node ever missing a change.

use std::time::{Duration, Instant};

use sipmap::app::{InitialAccount, ensure_initial_account};
use sipmap::domain::sip_domain::{Nesting, SipDomainPatch};
use sipmap::domain::{AccountPatch, AccountStatus, Conflict, Refusal};
use sipmap::sid::{AccountSid, IpRecordSid, SipDomainSid};
use sipmap::store::{Store, StoreError, StoreOptions};

use crate::storage::{P, TestDb, account, domain, record, status};

crate::on_both_backends!(
    partial_updates_on_two_nodes_both_survive,
    closing_wins_over_a_concurrent_reactivation,
    suspension_and_closing_take_an_account_out_of_recognition,
    networks_overlap_only_within_one_family,
    overlapping_maps_from_two_nodes_at_once_leave_one_winner,
    domain_names_nest_only_within_one_family,
    nested_names_from_two_nodes_at_once_leave_one_winner,
    the_schema_refuses_nested_names_of_another_family,
    an_upgraded_database_keeps_its_names_apart,
    first_start_on_two_nodes_creates_one_account,
);

fn patch(params: Vec<(&'static str, String)>) -> SipDomainPatch {
    SipDomainPatch::parse(&P(params), "sip.twilio.com", false).expect("valid patch")
}

async fn map(
    s: &Store,
    acct: &AccountSid,
    ip: &str,
    prefix: u8,
    d: &SipDomainSid,
) -> Result<IpRecordSid, StoreError> {
    let r = s
        .create_ip_record(acct, record(ip, prefix))
        .await
        .expect("record")
        .sid;
    s.create_mapping(acct, &r, d).await.map(|_| r)
}

fn recognised_at(s: &Store, ip: &str) -> Option<SipDomainSid> {
    s.recognition()
        .snapshot()
        .by_source(ip.parse().unwrap())
        .map(|t| t.domain_sid.clone())
}

fn named(s: &Store, host: &str) -> bool {
    s.recognition().snapshot().by_host(host).is_some()
}

/// Two partial updates of one SIP domain through two nodes at the same moment: both land.
async fn partial_updates_on_two_nodes_both_survive(db: &TestDb) {
    let (n1, n2) = (db.open().await, db.open().await);
    let a = account(n1.as_ref(), None).await;
    for round in 0..20 {
        let d = domain(n1.as_ref(), &a, &format!("race{round}.sip.twilio.com"))
            .await
            .unwrap();
        let url = format!("https://example.com/voice/{round}");
        let voice = patch(vec![("VoiceUrl", url.clone())]);
        let name = patch(vec![("FriendlyName", format!("name {round}"))]);
        let (s1, s2, a1, a2, d1, d2) = (
            n1.clone(),
            n2.clone(),
            a.clone(),
            a.clone(),
            d.clone(),
            d.clone(),
        );
        let t1 = tokio::spawn(async move { s1.update_sip_domain(&a1, &d1, voice).await });
        let t2 = tokio::spawn(async move { s2.update_sip_domain(&a2, &d2, name).await });
        t1.await.unwrap().expect("VoiceUrl update");
        t2.await.unwrap().expect("FriendlyName update");
        let got = n1.get_sip_domain(&a, &d).await.unwrap().unwrap();
        assert_eq!(
            got.voice_url.as_deref(),
            Some(url.as_str()),
            "round {round}"
        );
        let expected = format!("name {round}");
        assert_eq!(
            got.friendly_name.as_deref(),
            Some(expected.as_str()),
            "round {round}"
        );
    }
}

/// A suspended subaccount closed on one node and reactivated on another at the same moment ends
/// closed, whichever comes first.
async fn closing_wins_over_a_concurrent_reactivation(db: &TestDb) {
    let (n1, n2) = (db.open().await, db.open().await);
    let parent = account(n1.as_ref(), None).await;
    for round in 0..20 {
        let sub = account(n1.as_ref(), Some(&parent)).await;
        n1.update_account(&sub, status(AccountStatus::Suspended))
            .await
            .unwrap();
        let (s1, s2, c1, c2) = (n1.clone(), n2.clone(), sub.clone(), sub.clone());
        let close =
            tokio::spawn(
                async move { s1.update_account(&c1, status(AccountStatus::Closed)).await },
            );
        let reopen = tokio::spawn(async move {
            let patch = AccountPatch {
                friendly_name: Some("renamed".into()),
                status: Some(AccountStatus::Active),
            };
            s2.update_account(&c2, patch).await
        });
        close.await.unwrap().expect("closing always succeeds");
        match reopen.await.unwrap() {
            Ok(_) | Err(StoreError::Refused(Refusal::Invalid(_))) => {}
            Err(e) => panic!("round {round}: unexpected {e:?}"),
        }
        let status = n2.get_account(&sub).await.unwrap().unwrap().status;
        assert_eq!(status, AccountStatus::Closed, "round {round}");
    }
}

/// Suspending takes an account's domains and networks out of recognition (and the family's less
/// specific network takes over); reactivating brings them back; closing deletes them and frees
/// the names and networks for anyone.
async fn suspension_and_closing_take_an_account_out_of_recognition(db: &TestDb) {
    let store = db.open().await;
    let s = store.as_ref();
    let parent = account(s, None).await;
    let sub = account(s, Some(&parent)).await;
    let stranger = account(s, None).await;
    let pd = domain(s, &parent, "parent.sip.twilio.com").await.unwrap();
    let sd = domain(s, &sub, "sub.sip.twilio.com").await.unwrap();
    map(s, &parent, "10.60.0.0", 16, &pd).await.unwrap();
    map(s, &sub, "10.60.1.0", 24, &sd).await.unwrap();
    assert_eq!(recognised_at(s, "10.60.1.5"), Some(sd.clone()));
    assert!(named(s, "sub.sip.twilio.com"));

    s.update_account(&sub, status(AccountStatus::Suspended))
        .await
        .unwrap();
    assert_eq!(
        recognised_at(s, "10.60.1.5"),
        Some(pd.clone()),
        "the parent's /16 answers for the suspended subaccount's /24"
    );
    assert!(!named(s, "sub.sip.twilio.com"));
    // The parent may still give it a domain; it is not recognised while suspended.
    domain(s, &sub, "later.sip.twilio.com").await.unwrap();
    assert!(!named(s, "later.sip.twilio.com"));
    // A node that starts now builds the same table.
    let fresh = db.open().await;
    assert_eq!(recognised_at(fresh.as_ref(), "10.60.1.5"), Some(pd.clone()));
    assert!(!named(fresh.as_ref(), "sub.sip.twilio.com"));
    drop(fresh);

    s.update_account(&sub, status(AccountStatus::Active))
        .await
        .unwrap();
    assert_eq!(recognised_at(s, "10.60.1.5"), Some(sd.clone()));
    assert!(named(s, "sub.sip.twilio.com") && named(s, "later.sip.twilio.com"));

    s.update_account(&sub, status(AccountStatus::Closed))
        .await
        .unwrap();
    assert_eq!(recognised_at(s, "10.60.1.5"), Some(pd.clone()));
    assert!(!named(s, "sub.sip.twilio.com"));
    assert!(
        s.get_sip_domain(&sub, &sd).await.unwrap().is_none(),
        "closing deletes the account's SIP domains"
    );
    // Its name is free for anyone now, and nothing can be added to the closed account.
    domain(s, &stranger, "sub.sip.twilio.com").await.unwrap();
    assert!(matches!(
        domain(s, &sub, "again.sip.twilio.com").await,
        Err(StoreError::Refused(Refusal::AccountNotActive(_)))
    ));
    let r = s
        .create_ip_record(&sub, record("10.99.0.0", 24))
        .await
        .unwrap()
        .sid;
    assert!(matches!(
        s.create_mapping(&sub, &r, &sd).await,
        Err(StoreError::Refused(Refusal::AccountNotActive(_)))
    ));
    // A closed account's network is free for the family too.
    let again = domain(s, &parent, "again.sip.twilio.com").await.unwrap();
    map(s, &parent, "10.60.1.0", 24, &again).await.unwrap();
    assert_eq!(recognised_at(s, "10.60.1.5"), Some(again));
}

/// A stranger cannot map inside, or around, another account's network; within a family (the
/// account, its parent, its subaccounts) networks nest, but siblings stay apart.
async fn networks_overlap_only_within_one_family(db: &TestDb) {
    let store = db.open().await;
    let s = store.as_ref();
    let parent = account(s, None).await;
    let s1 = account(s, Some(&parent)).await;
    let s2 = account(s, Some(&parent)).await;
    let x = account(s, None).await;
    let pd = domain(s, &parent, "p.sip.twilio.com").await.unwrap();
    let d1 = domain(s, &s1, "s1.sip.twilio.com").await.unwrap();
    let d2 = domain(s, &s2, "s2.sip.twilio.com").await.unwrap();
    let xd = domain(s, &x, "x.sip.twilio.com").await.unwrap();
    let overlaps = |r: Result<IpRecordSid, StoreError>| {
        matches!(
            r,
            Err(StoreError::Refused(Refusal::Conflict(
                Conflict::NetworkOverlaps { .. }
            )))
        )
    };

    map(s, &parent, "10.70.0.0", 16, &pd).await.unwrap();
    map(s, &s1, "10.70.1.0", 24, &d1)
        .await
        .expect("a subaccount nests inside its parent");
    assert!(
        overlaps(map(s, &s2, "10.70.1.128", 25, &d2).await),
        "siblings are not one family"
    );
    map(s, &s2, "10.70.2.0", 24, &d2).await.unwrap();
    assert!(
        overlaps(map(s, &x, "10.70.5.5", 32, &xd).await),
        "a /32 inside another account's /16"
    );
    assert!(
        overlaps(map(s, &x, "0.0.0.0", 1, &xd).await),
        "a /1 around another account's /16"
    );
    map(s, &x, "128.0.0.0", 1, &xd).await.unwrap();
    assert!(overlaps(map(s, &parent, "200.0.0.0", 8, &pd).await));
    map(s, &parent, "10.0.0.0", 8, &pd)
        .await
        .expect("around its own and its subaccounts' networks");
    assert_eq!(recognised_at(s, "10.70.1.9"), Some(d1));
    assert_eq!(recognised_at(s, "10.70.9.9"), Some(pd.clone()));
    assert_eq!(recognised_at(s, "10.200.0.1"), Some(pd));
    assert_eq!(recognised_at(s, "200.0.0.1"), Some(xd));
}

/// Two accounts of different families map overlapping networks through two nodes at the same
/// moment: exactly one wins, the other is refused with the overlap conflict.
async fn overlapping_maps_from_two_nodes_at_once_leave_one_winner(db: &TestDb) {
    let (n1, n2) = (db.open().await, db.open().await);
    let a = account(n1.as_ref(), None).await;
    let b = account(n1.as_ref(), None).await;
    let da = domain(n1.as_ref(), &a, "ra.sip.twilio.com").await.unwrap();
    let db_ = domain(n1.as_ref(), &b, "rb.sip.twilio.com").await.unwrap();
    for round in 0..20u8 {
        let ra = n1
            .create_ip_record(&a, record(&format!("10.80.{round}.0"), 24))
            .await
            .unwrap()
            .sid;
        let rb = n2
            .create_ip_record(&b, record(&format!("10.80.{round}.7"), 32))
            .await
            .unwrap()
            .sid;
        let (s1, s2, a1, b1, d1, d2) = (
            n1.clone(),
            n2.clone(),
            a.clone(),
            b.clone(),
            da.clone(),
            db_.clone(),
        );
        let t1 = tokio::spawn(async move { s1.create_mapping(&a1, &ra, &d1).await });
        let t2 = tokio::spawn(async move { s2.create_mapping(&b1, &rb, &d2).await });
        let results = [t1.await.unwrap(), t2.await.unwrap()];
        let wins = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {results:?}");
        assert!(
            results.iter().any(|r| matches!(
                r,
                Err(StoreError::Refused(Refusal::Conflict(
                    Conflict::NetworkOverlaps { .. }
                )))
            )),
            "round {round}: {results:?}"
        );
    }
}

fn nested(r: &Result<impl std::fmt::Debug, StoreError>, how: Nesting) -> bool {
    matches!(r, Err(StoreError::Refused(Refusal::DomainNested { nesting, .. })) if *nesting == how)
}

/// A stranger cannot name a domain under, or above, another account's domain name (Twilio's
/// "a subdomain of a domain you do not control"), on create or rename, whatever the case;
/// within a family (the account, its parent, its subaccounts) names nest, but siblings stay
/// apart. "Under" is at a label boundary.
async fn domain_names_nest_only_within_one_family(db: &TestDb) {
    use Nesting::{Above, Under};
    let store = db.open().await;
    let s = store.as_ref();
    let parent = account(s, None).await;
    let s1 = account(s, Some(&parent)).await;
    let s2 = account(s, Some(&parent)).await;
    let x = account(s, None).await;
    domain(s, &parent, "scranton.sip.twilio.com").await.unwrap();

    let r = domain(s, &x, "evil.scranton.sip.twilio.com").await;
    assert!(nested(&r, Under), "{r:?}");
    let r = domain(s, &x, "A.B.Scranton.SIP.twilio.COM").await;
    assert!(nested(&r, Under), "deeper, in another case: {r:?}");
    domain(s, &x, "xscranton.sip.twilio.com")
        .await
        .expect("not under: no label boundary");
    domain(s, &x, "scranton.x.sip.twilio.com")
        .await
        .expect("not under: a different parent");

    // The family nests freely: a subaccount under its parent, the parent under its
    // subaccount's name, a subaccount's subdomain of its own.
    let d1 = domain(s, &s1, "one.scranton.sip.twilio.com")
        .await
        .expect("a subaccount under its parent");
    domain(s, &s1, "deep.one.scranton.sip.twilio.com")
        .await
        .unwrap();
    domain(s, &parent, "p.one.scranton.sip.twilio.com")
        .await
        .expect("a parent under its subaccount");
    let r = domain(s, &s2, "two.one.scranton.sip.twilio.com").await;
    assert!(nested(&r, Under), "siblings are not one family: {r:?}");

    // Above: a name whose subdomains another family holds.
    let xd = domain(s, &x, "branch.dunder.sip.twilio.com").await.unwrap();
    let r = domain(s, &parent, "DUNDER.sip.twilio.com").await;
    assert!(nested(&r, Above), "{r:?}");
    let r = domain(s, &x, "sip.twilio.com.sip.twilio.com").await;
    assert!(r.is_ok(), "unrelated: {r:?}");

    // Renames follow the same rule, and a refused rename leaves the domain as it was.
    let rename = |name: &str| patch(vec![("DomainName", name.into())]);
    let r = s
        .update_sip_domain(&x, &xd, rename("evil.one.scranton.sip.twilio.com"))
        .await;
    assert!(nested(&r, Under), "{r:?}");
    let r = s
        .update_sip_domain(&x, &xd, rename("scranton.sip.twilio.com.x.sip.twilio.com"))
        .await;
    assert!(r.is_ok(), "{r:?}");
    let r = s
        .update_sip_domain(&s1, &d1, rename("branch2.dunder.sip.twilio.com"))
        .await;
    assert!(r.is_ok(), "{r:?}");
    let r = s
        .update_sip_domain(&s1, &d1, rename("x.sip.twilio.com"))
        .await;
    assert!(nested(&r, Above), "x holds a name under it: {r:?}");
    let kept = s.get_sip_domain(&s1, &d1).await.unwrap().unwrap();
    assert_eq!(kept.domain_name, "branch2.dunder.sip.twilio.com");

    // Closing an account frees the names it held for anyone.
    s.update_account(&s2, status(AccountStatus::Closed))
        .await
        .unwrap();
    let outsider = account(s, None).await;
    s.update_account(&s1, status(AccountStatus::Closed))
        .await
        .unwrap();
    let r = domain(s, &outsider, "deep.one.scranton.sip.twilio.com").await;
    assert!(nested(&r, Under), "the parent's name is still held: {r:?}");
    domain(s, &outsider, "x.branch2.dunder.sip.twilio.com")
        .await
        .expect("the closed subaccount's name is free");
}

/// Two accounts of different families name nested domains through two nodes at the same moment:
/// exactly one wins, the other is refused with the typed refusal.
async fn nested_names_from_two_nodes_at_once_leave_one_winner(db: &TestDb) {
    let (n1, n2) = (db.open().await, db.open().await);
    let a = account(n1.as_ref(), None).await;
    let b = account(n1.as_ref(), None).await;
    for round in 0..20u8 {
        let (s1, s2, a1, b1) = (n1.clone(), n2.clone(), a.clone(), b.clone());
        let (upper, lower) = (
            format!("r{round}.sip.twilio.com"),
            format!("evil.r{round}.sip.twilio.com"),
        );
        // Alternate which account takes the upper name, so both directions race.
        let (up, low) = if round % 2 == 0 { (a1, b1) } else { (b1, a1) };
        let t1 = tokio::spawn(async move { domain(s1.as_ref(), &up, &upper).await });
        let t2 = tokio::spawn(async move { domain(s2.as_ref(), &low, &lower).await });
        let results = [t1.await.unwrap(), t2.await.unwrap()];
        let wins = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {results:?}");
        assert!(
            nested(&results[0], Nesting::Above) || nested(&results[1], Nesting::Under),
            "round {round}: {results:?}"
        );
    }
}

/// A domain row written straight into the database, past the write path: `Err` with the
/// database's message when the schema refuses it.
async fn raw_domain(db: &TestDb, n: u32, account: &AccountSid, name: &str) -> Result<(), String> {
    let key = name.to_ascii_lowercase();
    raw_domain_keyed(db, n, account, name, &key.chars().rev().collect::<String>()).await
}

/// [`raw_domain`] with the reversed key given.
async fn raw_domain_keyed(
    db: &TestDb,
    n: u32,
    account: &AccountSid,
    name: &str,
    rkey: &str,
) -> Result<(), String> {
    let key = name.to_ascii_lowercase();
    let sid = format!("SD{n:032x}");
    let sql = "INSERT INTO sip_domains (sid, account_sid, domain_name, domain_key, domain_rkey, \
        voice_method, voice_fallback_method, voice_status_callback_method, sip_registration, \
        emergency_calling_enabled, secure, date_created, date_updated) \
        VALUES ($1, $2, $3, $4, $5, 'POST', 'POST', 'POST', FALSE, FALSE, FALSE, 0, 0)";
    match db.pg_client().await {
        Some(pg) => pg
            .execute(sql, &[&sid, &account.as_str(), &name, &key, &rkey])
            .await
            .map(drop)
            .map_err(|e| format!("{e:?}")),
        None => {
            let path = sipmap::store::sqlite_path(&db.url).unwrap();
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.busy_timeout(Duration::from_secs(5)).unwrap();
            conn.execute(
                sql,
                rusqlite::params![sid, account.as_str(), name, key, rkey],
            )
            .map(drop)
            .map_err(|e| e.to_string())
        }
    }
}

/// The database itself refuses a name under or above another family's, so that the rule holds
/// whatever writes: a row written past the write path is refused by the schema's trigger.
async fn the_schema_refuses_nested_names_of_another_family(db: &TestDb) {
    let store = db.open().await;
    let s = store.as_ref();
    let parent = account(s, None).await;
    let sub = account(s, Some(&parent)).await;
    let x = account(s, None).await;
    domain(s, &parent, "scranton.sip.twilio.com").await.unwrap();
    domain(s, &x, "leaf.dunder.sip.twilio.com").await.unwrap();
    let refused = |what: &str, r: Result<(), String>| match r {
        Err(e) => assert!(e.contains("sip_domains_family_names"), "{what}: {e}"),
        Ok(()) => panic!("{what}: the schema took a nested name of another family"),
    };
    refused(
        "under",
        raw_domain(db, 1, &x, "evil.scranton.sip.twilio.com").await,
    );
    refused(
        "above",
        raw_domain(db, 2, &parent, "dunder.sip.twilio.com").await,
    );
    refused(
        "a sub under",
        raw_domain(db, 3, &sub, "a.leaf.dunder.sip.twilio.com").await,
    );
    raw_domain(db, 4, &sub, "sub.scranton.sip.twilio.com")
        .await
        .expect("within the family");
    raw_domain(db, 5, &x, "xscranton.sip.twilio.com")
        .await
        .expect("not under: no label boundary");
    // A rename is checked as well.
    let rename = match db.pg_client().await {
        Some(pg) => pg
            .execute(
                "UPDATE sip_domains SET domain_key = 'evil.sub.scranton.sip.twilio.com', \
                 domain_rkey = 'moc.oiliwt.pis.notnarcs.bus.live' WHERE domain_key = $1",
                &[&"xscranton.sip.twilio.com"],
            )
            .await
            .map(drop)
            .map_err(|e| format!("{e:?}")),
        None => {
            let conn =
                rusqlite::Connection::open(sipmap::store::sqlite_path(&db.url).unwrap()).unwrap();
            conn.execute(
                "UPDATE sip_domains SET domain_key = 'evil.sub.scranton.sip.twilio.com', \
                 domain_rkey = 'moc.oiliwt.pis.notnarcs.bus.live' WHERE domain_key = $1",
                ["xscranton.sip.twilio.com"],
            )
            .map(drop)
            .map_err(|e| e.to_string())
        }
    };
    refused("a rename", rename);
    // The reversed key must be the reversal of the key.
    for wrong in ["", "moc.oiliwt.pis.yrrek", "moc.oiliwt.pis.yrre"] {
        let r = raw_domain_keyed(db, 6, &x, "jerry.sip.twilio.com", wrong).await;
        let e = r.expect_err("a wrong reversed key");
        assert!(e.contains("sip_domains_domain_rkey"), "{wrong:?}: {e}");
    }
    raw_domain(db, 6, &x, "jerry.sip.twilio.com").await.unwrap();
}

/// Undoes schema versions 7 (targets counted per account) and 6 (the nesting rule), as a
/// database made before them would be.
const UNDO_V6_SQLITE: &str = "DROP INDEX connection_policy_targets_by_account; \
    DROP TRIGGER sip_domains_family_names_insert; \
    DROP TRIGGER sip_domains_family_names_update; DROP TABLE name_positions; \
    DROP INDEX sip_domains_by_rkey; ALTER TABLE sip_domains DROP COLUMN domain_rkey; \
    PRAGMA user_version = 5;";
const UNDO_V6_POSTGRES: &str = "DROP INDEX connection_policy_targets_by_account; \
    DROP TRIGGER sip_domains_family_names_insert ON sip_domains; \
    DROP TRIGGER sip_domains_family_names_update ON sip_domains; \
    DROP FUNCTION sipmap_domain_family_names(); \
    ALTER TABLE sip_domains DROP COLUMN domain_rkey; \
    DELETE FROM sipmap_schema_version WHERE version >= 6;";

/// A database from before the nesting rule, whose domains (of two families) are then upgraded:
/// the upgrade reverses every stored name, so the names under an old domain are found at once.
async fn an_upgraded_database_keeps_its_names_apart(db: &TestDb) {
    let store = db.open().await;
    let a = account(store.as_ref(), None).await;
    let b = account(store.as_ref(), None).await;
    domain(store.as_ref(), &a, "Scranton.sip.twilio.com")
        .await
        .unwrap();
    domain(store.as_ref(), &b, "leaf.dunder.sip.twilio.com")
        .await
        .unwrap();
    drop(store);
    match db.pg_client().await {
        Some(pg) => pg.batch_execute(UNDO_V6_POSTGRES).await.unwrap(),
        None => {
            let path = sipmap::store::sqlite_path(&db.url).unwrap();
            let conn = rusqlite::Connection::open(path).unwrap();
            conn.execute_batch(UNDO_V6_SQLITE).unwrap();
        }
    }
    let store = db.open().await;
    let s = store.as_ref();
    let r = domain(s, &b, "evil.scranton.sip.twilio.com").await;
    assert!(nested(&r, Nesting::Under), "{r:?}");
    let r = domain(s, &a, "dunder.sip.twilio.com").await;
    assert!(nested(&r, Nesting::Above), "{r:?}");
    domain(s, &a, "x.scranton.sip.twilio.com").await.unwrap();
}

/// Two nodes starting at once on an empty database without an operator account: exactly one
/// account is created.
async fn first_start_on_two_nodes_creates_one_account(db: &TestDb) {
    let (n1, n2) = (db.open().await, db.open().await);
    let t1 = tokio::spawn(async move {
        let r = ensure_initial_account(n1.as_ref(), None).await;
        (r, n1)
    });
    let t2 = tokio::spawn(async move {
        let r = ensure_initial_account(n2.as_ref(), None).await;
        (r, n2)
    });
    let (r1, n1) = t1.await.unwrap();
    let (r2, _n2) = t2.await.unwrap();
    let created = [r1.unwrap(), r2.unwrap()]
        .iter()
        .filter(|r| matches!(r, InitialAccount::Created(..)))
        .count();
    assert_eq!(created, 1);
    assert_eq!(n1.count_accounts().await.unwrap(), 1);
}

/// A full run of [`first_start_on_two_nodes_creates_one_account`] is one chance for a race;
/// repeat it on fresh databases so that a lost race would show.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn first_start_races_repeated() {
    for _ in 0..5 {
        let db = TestDb::sqlite();
        first_start_on_two_nodes_creates_one_account(&db).await;
        if let Some(db) = TestDb::postgres().await {
            first_start_on_two_nodes_creates_one_account(&db).await;
            db.drop_schema().await;
        }
    }
}

/// Waits until `check` holds, for at most `limit`.
async fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < until, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Renaming a domain's friendly name logs nothing for recognition (PostgreSQL's change log only
/// grows for what nodes must apply).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_friendly_name_edits_do_not_grow_the_change_log() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let s = db.open().await;
    let a = account(s.as_ref(), None).await;
    let d = domain(s.as_ref(), &a, "quiet.sip.twilio.com")
        .await
        .unwrap();
    let pg = db.pg_client().await.unwrap();
    let count = || async {
        pg.query_one("SELECT count(*) FROM recognition_changes", &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    let before = count().await;
    for i in 0..10 {
        s.update_sip_domain(&a, &d, patch(vec![("FriendlyName", format!("n{i}"))]))
            .await
            .unwrap();
    }
    assert_eq!(count().await, before);
    drop(s);
    db.drop_schema().await;
}

/// The change log is pruned, and a node that was cut off while the entries it needed were
/// pruned reloads its table instead of missing the changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_pruned_change_log_makes_a_returning_node_reload() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let proxy = crate::proxy::Proxy::start(&db.url).await;
    let writer = db
        .open_with(&StoreOptions {
            change_log_retention: Some(Duration::ZERO),
            ..StoreOptions::default()
        })
        .await;
    let away = sipmap::store::connect_with(
        &proxy.url,
        &StoreOptions {
            key: Some(crate::storage::test_key()),
            ..StoreOptions::default()
        },
    )
    .await
    .expect("node opens");
    let w = writer.as_ref();
    let a = account(w, None).await;
    let d = domain(w, &a, "away.sip.twilio.com").await.unwrap();
    let first = map(w, &a, "10.90.0.0", 24, &d).await.unwrap();
    eventually(
        Duration::from_secs(5),
        "the node sees the first mapping",
        || recognised_at(away.as_ref(), "10.90.0.1").is_some(),
    )
    .await;

    proxy.cut();
    let mapping = w
        .list_mappings(
            &a,
            &sipmap::store::PageQuery {
                limit: 10,
                cursor: sipmap::store::Cursor::Offset(0),
            },
        )
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.ip_record_sid == first)
        .unwrap();
    w.delete_mapping(&a, &mapping.sid).await.unwrap();
    map(w, &a, "10.91.0.0", 24, &d).await.unwrap();
    let pg = db.pg_client().await.unwrap();
    let mut log_rows = i64::MAX;
    let until = Instant::now() + Duration::from_secs(10);
    while log_rows > 0 {
        assert!(Instant::now() < until, "the change log was never pruned");
        tokio::time::sleep(Duration::from_millis(200)).await;
        log_rows = pg
            .query_one("SELECT count(*) FROM recognition_changes", &[])
            .await
            .unwrap()
            .get(0);
    }

    proxy.restore();
    eventually(
        Duration::from_secs(15),
        "the returning node reloads: the new mapping in, the deleted one out",
        || {
            recognised_at(away.as_ref(), "10.91.0.1").is_some()
                && recognised_at(away.as_ref(), "10.90.0.1").is_none()
        },
    )
    .await;
    drop((writer, away));
    db.drop_schema().await;
}
