//! BYOC trunks, connection policies and their targets, each rule on both back ends: references
//! name resources of the same account, a policy or trunk in use cannot be deleted, limits bound
//! targets, and every change reaches recognition (a domain's route) before the call returns.

use sipmap::domain::{
    ByocTrunkPatch, Conflict, Limits, PolicyName, Refusal, SipDomainPatch, TargetPatch,
};
use sipmap::sid::{AccountSid, ByocTrunkSid, ConnectionPolicySid, SipDomainSid};
use sipmap::store::{Cursor, PageQuery, Store, StoreError, StoreOptions};

use crate::storage::{P, TestDb, account, domain};

async fn policy(s: &Store, a: &AccountSid) -> ConnectionPolicySid {
    let name = PolicyName::parse(&P(vec![("FriendlyName", "carrier".into())])).unwrap();
    s.create_connection_policy(a, name)
        .await
        .expect("policy")
        .sid
}

fn target(uri: &str, priority: u16) -> TargetPatch {
    TargetPatch::parse(
        &P(vec![
            ("Target", uri.into()),
            ("Priority", priority.to_string()),
        ]),
        true,
    )
    .unwrap()
}

fn trunk_params(pairs: Vec<(&'static str, String)>) -> ByocTrunkPatch {
    ByocTrunkPatch::parse(&P(pairs)).unwrap()
}

async fn trunk(s: &Store, a: &AccountSid, policy: Option<&ConnectionPolicySid>) -> ByocTrunkSid {
    let pairs = match policy {
        Some(p) => vec![("ConnectionPolicySid", p.to_string())],
        None => vec![],
    };
    s.create_byoc_trunk(a, trunk_params(pairs))
        .await
        .expect("trunk")
        .sid
}

async fn point(s: &Store, a: &AccountSid, d: &SipDomainSid, t: Option<&ByocTrunkSid>) {
    let value = t.map(ToString::to_string).unwrap_or_default();
    let patch =
        SipDomainPatch::parse(&P(vec![("ByocTrunkSid", value)]), "sip.twilio.com", false).unwrap();
    s.update_sip_domain(a, d, patch)
        .await
        .expect("domain points at the trunk");
}

fn first_page() -> PageQuery {
    PageQuery {
        limit: 50,
        cursor: Cursor::Offset(0),
    }
}

fn not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::NotFound(_)))
}

fn conflict<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Refused(Refusal::Conflict(_))))
}

/// The route recognition gives the domain named `host`: its targets' URIs in SID order.
fn route(s: &Store, host: &str) -> Option<Vec<String>> {
    let snapshot = s.recognition().snapshot();
    let found = snapshot.recognise(Some(host), "192.0.2.1".parse().unwrap())?;
    found
        .route
        .map(|r| r.targets.iter().map(|t| t.uri.clone()).collect())
}

crate::on_both_backends!(
    references_name_resources_of_the_same_account,
    policies_trunks_and_from_domains_in_use_cannot_be_deleted,
    targets_are_bounded_per_policy,
    targets_are_bounded_per_account_even_when_created_at_once,
    routes_reach_recognition_before_the_call_returns,
);

async fn references_name_resources_of_the_same_account(db: &TestDb) {
    let store = db.open().await;
    let s = store.as_ref();
    let (a, b) = (account(s, None).await, account(s, None).await);
    let pa = policy(s, &a).await;
    let da = domain(s, &a, "a.sip.twilio.com").await.unwrap();
    // B cannot name A's policy or domain, nor point its domain at A's trunk.
    let refs = [
        vec![("ConnectionPolicySid", pa.to_string())],
        vec![("FromDomainSid", da.to_string())],
        vec![("ConnectionPolicySid", format!("NY{}", "0".repeat(32)))],
    ];
    for pairs in refs {
        assert!(not_found(
            s.create_byoc_trunk(&b, trunk_params(pairs)).await
        ));
    }
    let ta = trunk(s, &a, Some(&pa)).await;
    let db_ = domain(s, &b, "b.sip.twilio.com").await.unwrap();
    let pointed = SipDomainPatch::parse(
        &P(vec![("ByocTrunkSid", ta.to_string())]),
        "sip.twilio.com",
        false,
    )
    .unwrap();
    assert!(not_found(s.update_sip_domain(&b, &db_, pointed).await));
    // Nothing of A's is visible to B.
    assert!(s.get_byoc_trunk(&b, &ta).await.unwrap().is_none());
    assert!(s.get_connection_policy(&b, &pa).await.unwrap().is_none());
    assert!(not_found(
        s.list_policy_targets(&b, &pa, &first_page()).await
    ));
    assert!(not_found(
        s.create_policy_target(&b, &pa, target("sip:x.example.com", 1))
            .await
    ));
    assert!(not_found(s.delete_byoc_trunk(&b, &ta).await));
    assert!(
        s.list_byoc_trunks(&b, &first_page())
            .await
            .unwrap()
            .is_empty()
    );
    // A's own references are accepted, and updating a trunk checks them again.
    let ta2 = trunk(s, &a, None).await;
    let bad = trunk_params(vec![("FromDomainSid", db_.to_string())]);
    assert!(not_found(s.update_byoc_trunk(&a, &ta2, bad).await));
    let good = trunk_params(vec![("FromDomainSid", da.to_string())]);
    let t = s.update_byoc_trunk(&a, &ta2, good).await.unwrap();
    assert_eq!(t.from_domain_sid.as_ref(), Some(&da));
}

async fn policies_trunks_and_from_domains_in_use_cannot_be_deleted(db: &TestDb) {
    let store = db.open().await;
    let s = store.as_ref();
    let a = account(s, None).await;
    let p = policy(s, &a).await;
    s.create_policy_target(&a, &p, target("sip:pbx.example.com", 1))
        .await
        .unwrap();
    let t = trunk(s, &a, Some(&p)).await;
    let d = domain(s, &a, "inuse.sip.twilio.com").await.unwrap();
    point(s, &a, &d, Some(&t)).await;
    let refused = s.delete_connection_policy(&a, &p).await;
    assert!(
        matches!(
            &refused,
            Err(StoreError::Refused(Refusal::Conflict(Conflict::PolicyInUse { trunk, .. }))) if trunk == &t
        ),
        "{refused:?}"
    );
    let refused = s.delete_byoc_trunk(&a, &t).await;
    assert!(conflict(&refused), "{refused:?}");
    // The trunk names the domain as its From domain: the domain cannot go either.
    let from = trunk_params(vec![("FromDomainSid", d.to_string())]);
    s.update_byoc_trunk(&a, &t, from).await.unwrap();
    point(s, &a, &d, None).await;
    assert!(conflict(&s.delete_sip_domain(&a, &d).await));
    // Nothing was deleted; unpointing everything lets each go.
    assert_eq!(
        s.list_policy_targets(&a, &p, &first_page())
            .await
            .unwrap()
            .len(),
        1
    );
    s.update_byoc_trunk(&a, &t, trunk_params(vec![("FromDomainSid", String::new())]))
        .await
        .unwrap();
    s.delete_sip_domain(&a, &d).await.unwrap();
    s.delete_byoc_trunk(&a, &t).await.unwrap();
    s.delete_connection_policy(&a, &p).await.unwrap();
    assert!(s.get_connection_policy(&a, &p).await.unwrap().is_none());
}

async fn targets_are_bounded_per_policy(db: &TestDb) {
    let store = db
        .open_with(&StoreOptions {
            limits: Limits {
                targets_per_policy: 2,
                ..Limits::default()
            },
            ..StoreOptions::default()
        })
        .await;
    let s = store.as_ref();
    let a = account(s, None).await;
    let p = policy(s, &a).await;
    for n in 0..2 {
        s.create_policy_target(&a, &p, target(&format!("sip:t{n}.example.com"), 1))
            .await
            .unwrap();
    }
    let third = s
        .create_policy_target(&a, &p, target("sip:t3.example.com", 1))
        .await;
    assert!(matches!(
        third,
        Err(StoreError::Refused(Refusal::LimitReached { .. }))
    ));
}

async fn targets_are_bounded_per_account_even_when_created_at_once(db: &TestDb) {
    let store = db
        .open_with(&StoreOptions {
            limits: Limits {
                targets_per_account: 5,
                ..Limits::default()
            },
            ..StoreOptions::default()
        })
        .await;
    let s = store.as_ref();
    let (a, b) = (account(s, None).await, account(s, None).await);
    let policies = [
        policy(s, &a).await,
        policy(s, &a).await,
        policy(s, &a).await,
    ];
    // Twelve creates at once, over three policies (none of which is full): five land.
    let creates = (0..12).map(|n| {
        let (store, a, p) = (store.clone(), a.clone(), policies[n % 3].clone());
        tokio::spawn(async move {
            store
                .create_policy_target(&a, &p, target(&format!("sip:t{n}.example.com"), 1))
                .await
        })
    });
    let mut landed = Vec::new();
    for create in creates {
        match create.await.unwrap() {
            Ok(t) => landed.push(t),
            Err(StoreError::Refused(Refusal::LimitReached { what, limit })) => {
                assert_eq!(
                    (what, limit),
                    (sipmap::domain::Limited::TargetsPerAccount, 5)
                );
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(landed.len(), 5);
    let mut held = 0;
    for p in &policies {
        held += s
            .list_policy_targets(&a, p, &first_page())
            .await
            .unwrap()
            .len();
    }
    assert_eq!(held, 5);
    // Another account has its own count; a deleted target frees a place.
    let pb = policy(s, &b).await;
    s.create_policy_target(&b, &pb, target("sip:b.example.com", 1))
        .await
        .unwrap();
    let gone = &landed[0];
    s.delete_policy_target(&a, &gone.policy_sid, &gone.sid)
        .await
        .unwrap();
    s.create_policy_target(&a, &policies[0], target("sip:again.example.com", 1))
        .await
        .unwrap();
    assert!(matches!(
        s.create_policy_target(&a, &policies[1], target("sip:over.example.com", 1))
            .await,
        Err(StoreError::Refused(Refusal::LimitReached { .. }))
    ));
}

async fn routes_reach_recognition_before_the_call_returns(db: &TestDb) {
    let store = db.open().await;
    let s = store.as_ref();
    let a = account(s, None).await;
    let host = "routed.sip.twilio.com";
    let d = domain(s, &a, host).await.unwrap();
    assert_eq!(route(s, host), None);
    let (p1, p2) = (policy(s, &a).await, policy(s, &a).await);
    let first = s
        .create_policy_target(&a, &p1, target("sip:one.example.com", 1))
        .await
        .unwrap();
    s.create_policy_target(&a, &p2, target("sip:two.example.com", 1))
        .await
        .unwrap();
    let t = trunk(s, &a, Some(&p1)).await;
    assert_eq!(route(s, host), None, "no domain names the trunk yet");
    point(s, &a, &d, Some(&t)).await;
    assert_eq!(route(s, host), Some(vec!["sip:one.example.com".to_owned()]));
    // A target changed, the trunk re-pointed, the domain re-pointed: each on the next lookup.
    let moved =
        TargetPatch::parse(&P(vec![("Target", "sip:uno.example.com".into())]), false).unwrap();
    s.update_policy_target(&a, &p1, &first.sid, moved)
        .await
        .unwrap();
    assert_eq!(route(s, host), Some(vec!["sip:uno.example.com".to_owned()]));
    s.update_byoc_trunk(
        &a,
        &t,
        trunk_params(vec![("ConnectionPolicySid", p2.to_string())]),
    )
    .await
    .unwrap();
    assert_eq!(route(s, host), Some(vec!["sip:two.example.com".to_owned()]));
    s.update_byoc_trunk(
        &a,
        &t,
        trunk_params(vec![("ConnectionPolicySid", String::new())]),
    )
    .await
    .unwrap();
    assert_eq!(route(s, host), None);
    s.update_byoc_trunk(
        &a,
        &t,
        trunk_params(vec![("ConnectionPolicySid", p1.to_string())]),
    )
    .await
    .unwrap();
    let disabled = TargetPatch::parse(&P(vec![("Enabled", "false".into())]), false).unwrap();
    s.update_policy_target(&a, &p1, &first.sid, disabled)
        .await
        .unwrap();
    let snapshot = s.recognition().snapshot();
    let found = snapshot
        .recognise(Some(host), "192.0.2.1".parse().unwrap())
        .unwrap();
    assert!(!found.route.unwrap().targets[0].enabled);
    // A store opened now builds the same routes from the database.
    drop(snapshot);
    drop(store);
    let again = db.open().await;
    assert_eq!(
        route(again.as_ref(), host),
        Some(vec!["sip:uno.example.com".to_owned()])
    );
    point(again.as_ref(), &a, &d, None).await;
    assert_eq!(route(again.as_ref(), host), None);
}

/// A target created through one node routes another node's traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_nodes_share_routes() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let (n1, n2) = (db.open().await, db.open().await);
    let a = account(n1.as_ref(), None).await;
    let host = "shared-route.sip.twilio.com";
    let d = domain(n1.as_ref(), &a, host).await.unwrap();
    let p = policy(n1.as_ref(), &a).await;
    n1.create_policy_target(&a, &p, target("sip:pbx.example.com", 1))
        .await
        .unwrap();
    let t = trunk(n1.as_ref(), &a, Some(&p)).await;
    point(n1.as_ref(), &a, &d, Some(&t)).await;
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while route(n2.as_ref(), host) != Some(vec!["sip:pbx.example.com".to_owned()]) {
        assert!(
            std::time::Instant::now() < until,
            "node 2 never saw the route"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop((n1, n2));
    db.drop_schema().await;
}
