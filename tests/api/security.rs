//! The SIP security family's rules, each on both back ends: access control lists and credential
//! lists belong to their account, usernames are unique per list, passwords are sealed at rest,
//! a list maps to a domain once per kind and cannot be deleted while mapped, limits bound what
//! an account stores, and every change reaches recognition before the call returns.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use sipmap::domain::{
    AclName, Conflict, CredentialListName, CredentialPatch, IpAddressPatch, Limits, MappedList,
    NewCredential, Refusal,
};
use sipmap::recognition::AuthKind;
use sipmap::secret::{CREDENTIAL_PASSWORD, ServerKey};
use sipmap::sid::{AccountSid, AclSid, CredentialListSid, SipDomainSid};
use sipmap::store::{Cursor, PageQuery, Store, StoreError, StoreOptions};

use crate::storage::{P, TestDb, account, domain, status, test_key};

const PASSWORD: &str = "IWasAtSignal2018";

async fn acl(s: &Store, a: &AccountSid, name: &str) -> AclSid {
    let name = AclName::parse(&P(vec![("FriendlyName", name.into())])).unwrap();
    s.create_acl(a, name).await.expect("acl").sid
}

fn address(ip: &str, prefix: u8) -> IpAddressPatch {
    IpAddressPatch::parse(
        &P(vec![
            ("FriendlyName", "pbx".into()),
            ("IpAddress", ip.into()),
            ("CidrPrefixLength", prefix.to_string()),
        ]),
        true,
    )
    .unwrap()
}

async fn credential_list(s: &Store, a: &AccountSid) -> CredentialListSid {
    let name = CredentialListName::parse(&P(vec![("FriendlyName", "staff".into())])).unwrap();
    s.create_credential_list(a, name).await.expect("list").sid
}

fn credential(user: &str, password: &str) -> NewCredential {
    NewCredential::parse(&P(vec![
        ("Username", user.into()),
        ("Password", password.into()),
    ]))
    .unwrap()
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

/// What recognition lets into the domain named `host` from `ip`: (ACL admits, call secret of
/// `user`, registration secret of `user`), or `None` when the domain is not recognised.
fn admits(s: &Store, host: &str, ip: &str, user: &str) -> Option<(bool, bool, bool)> {
    let snapshot = s.recognition().snapshot();
    let ip: IpAddr = ip.parse().unwrap();
    let found = snapshot.recognise(Some(host), ip)?;
    Some((
        found.auth.acl_allows(ip),
        found.auth.call_secret(user).is_some(),
        found.auth.registration_secret(user).is_some(),
    ))
}

crate::on_both_backends!(
    lists_addresses_and_credentials_belong_to_their_account,
    a_username_is_unique_within_its_list,
    passwords_are_sealed_at_rest_and_never_returned,
    a_list_maps_to_a_domain_once_per_kind,
    a_mapped_list_cannot_be_deleted,
    deleting_a_domain_takes_its_auth_mappings,
    auth_type_follows_the_call_mappings,
    limits_bound_lists_addresses_and_credentials,
    auth_changes_reach_recognition_before_the_call_returns,
    a_suspended_account_admits_nothing_and_reactivation_restores_it,
    a_store_opened_with_another_key_refuses_to_start,
    rotating_the_key_reseals_every_password,
);

async fn lists_addresses_and_credentials_belong_to_their_account(db: &TestDb) {
    let store = db.open().await;
    let s = store.as_ref();
    let (a, b) = (account(s, None).await, account(s, None).await);
    let list = acl(s, &a, "office").await;
    let ip = s
        .create_ip_address(&a, &list, address("192.0.2.1", 32))
        .await
        .unwrap()
        .sid;
    let cl = credential_list(s, &a).await;
    let cr = s
        .create_credential(&a, &cl, credential("alice", PASSWORD))
        .await
        .unwrap()
        .sid;
    // Another account sees none of it, exactly as if it did not exist.
    assert!(s.get_acl(&b, &list).await.unwrap().is_none());
    assert!(s.get_ip_address(&b, &list, &ip).await.unwrap().is_none());
    assert!(not_found(
        s.list_ip_addresses(&b, &list, &first_page()).await
    ));
    assert!(not_found(
        s.create_ip_address(&b, &list, address("192.0.2.2", 32))
            .await
    ));
    assert!(not_found(s.delete_ip_address(&b, &list, &ip).await));
    assert!(not_found(s.delete_acl(&b, &list).await));
    assert!(s.get_credential(&b, &cl, &cr).await.unwrap().is_none());
    assert!(not_found(s.list_credentials(&b, &cl, &first_page()).await));
    assert!(not_found(
        s.create_credential(&b, &cl, credential("bob", PASSWORD))
            .await
    ));
    assert!(not_found(s.delete_credential_list(&b, &cl).await));
    assert!(s.list_acls(&b, &first_page()).await.unwrap().is_empty());
    // Nor can it map them to its own domain.
    let bd = domain(s, &b, "b.sip.twilio.com").await.unwrap();
    let mapped = s
        .create_auth_mapping(&b, &bd, AuthKind::CallsAcl, &MappedList::Acl(list.clone()))
        .await;
    assert!(not_found(mapped));
    // A subaccount's lists are its own, even to its parent.
    let sub = account(s, Some(&a)).await;
    let sub_list = acl(s, &sub, "sub").await;
    assert!(s.get_acl(&a, &sub_list).await.unwrap().is_none());
    // An address under the wrong list is not found either.
    let other = acl(s, &a, "other").await;
    assert!(s.get_ip_address(&a, &other, &ip).await.unwrap().is_none());
    assert!(s.get_ip_address(&a, &list, &ip).await.unwrap().is_some());
}

async fn a_username_is_unique_within_its_list(db: &TestDb) {
    let store = db.open().await;
    let s = store.as_ref();
    let a = account(s, None).await;
    let (l1, l2) = (credential_list(s, &a).await, credential_list(s, &a).await);
    s.create_credential(&a, &l1, credential("alice", PASSWORD))
        .await
        .unwrap();
    let again = s
        .create_credential(&a, &l1, credential("alice", "An0therPassword"))
        .await;
    assert!(
        matches!(
            again,
            Err(StoreError::Refused(Refusal::Conflict(
                Conflict::UsernameTaken { .. }
            )))
        ),
        "{again:?}"
    );
    s.create_credential(&a, &l2, credential("alice", PASSWORD))
        .await
        .expect("another list may hold the same username");
}

async fn passwords_are_sealed_at_rest_and_never_returned(db: &TestDb) {
    let store = db.open().await;
    let s = store.as_ref();
    let a = account(s, None).await;
    let cl = credential_list(s, &a).await;
    let c = s
        .create_credential(&a, &cl, credential("alice", PASSWORD))
        .await
        .unwrap();
    assert!(
        !format!("{c:?}").contains(PASSWORD),
        "Debug shows no password"
    );
    let opened = test_key()
        .open(CREDENTIAL_PASSWORD, &c.password_sealed)
        .expect("sealed with the store's key");
    assert_eq!(opened, PASSWORD.as_bytes());
    // A new password replaces the sealed one; sending none changes nothing.
    let new = CredentialPatch::parse(&P(vec![("Password", "Sec0ndPassword".into())])).unwrap();
    let updated = s.update_credential(&a, &cl, &c.sid, new).await.unwrap();
    let opened = test_key().open(CREDENTIAL_PASSWORD, &updated.password_sealed);
    assert_eq!(opened.unwrap(), b"Sec0ndPassword");
    let none = CredentialPatch::parse(&P(vec![])).unwrap();
    let same = s.update_credential(&a, &cl, &c.sid, none).await.unwrap();
    assert_eq!(same.password_sealed, updated.password_sealed);
    drop(store);
    // Nothing in the database holds either password in clear.
    match db.pg_client().await {
        Some(pg) => {
            let row = pg
                .query_one("SELECT password_sealed FROM sip_credentials", &[])
                .await
                .unwrap();
            let stored: Vec<u8> = row.get(0);
            assert_eq!(stored, updated.password_sealed);
        }
        None => {
            let path = sipmap::store::sqlite_path(&db.url).unwrap();
            for file in [path.clone(), path.with_extension("db-wal")] {
                let bytes = std::fs::read(&file).unwrap_or_default();
                for secret in [PASSWORD, "Sec0ndPassword"] {
                    assert!(
                        !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                        "{secret} in clear in {}",
                        file.display()
                    );
                }
            }
        }
    }
}

async fn a_list_maps_to_a_domain_once_per_kind(db: &TestDb) {
    let store = db.open().await;
    let s = store.as_ref();
    let a = account(s, None).await;
    let d = domain(s, &a, "once.sip.twilio.com").await.unwrap();
    let cl = MappedList::Credentials(credential_list(s, &a).await);
    let calls = s
        .create_auth_mapping(&a, &d, AuthKind::CallsCredentials, &cl)
        .await
        .unwrap();
    assert_eq!(
        (calls.list.clone(), calls.friendly_name.as_str()),
        (cl.clone(), "staff")
    );
    let again = s
        .create_auth_mapping(&a, &d, AuthKind::CallsCredentials, &cl)
        .await;
    assert!(
        matches!(
            again,
            Err(StoreError::Refused(Refusal::AlreadyMapped { .. }))
        ),
        "{again:?}"
    );
    // The same list may also be mapped for registrations.
    s.create_auth_mapping(&a, &d, AuthKind::RegistrationCredentials, &cl)
        .await
        .unwrap();
    let listed = s
        .list_auth_mappings(&a, &d, AuthKind::CallsCredentials, &first_page())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    // Unmapping for calls leaves the registration mapping.
    s.delete_auth_mapping(&a, &d, AuthKind::CallsCredentials, &cl)
        .await
        .unwrap();
    assert!(not_found(
        s.delete_auth_mapping(&a, &d, AuthKind::CallsCredentials, &cl)
            .await
    ));
    let reg = s
        .get_auth_mapping(&a, &d, AuthKind::RegistrationCredentials, &cl)
        .await
        .unwrap();
    assert!(reg.is_some());
}

async fn a_mapped_list_cannot_be_deleted(db: &TestDb) {
    let store = db.open().await;
    let s = store.as_ref();
    let a = account(s, None).await;
    let d = domain(s, &a, "inuse.sip.twilio.com").await.unwrap();
    let list = acl(s, &a, "office").await;
    s.create_ip_address(&a, &list, address("192.0.2.0", 24))
        .await
        .unwrap();
    let mapped = MappedList::Acl(list.clone());
    s.create_auth_mapping(&a, &d, AuthKind::CallsAcl, &mapped)
        .await
        .unwrap();
    let refused = s.delete_acl(&a, &list).await;
    match refused {
        Err(StoreError::Refused(Refusal::Conflict(Conflict::ListInUse { domain, .. }))) => {
            assert_eq!(domain, d, "the refusal names the domain")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        s.get_acl(&a, &list).await.unwrap().is_some(),
        "nothing deleted"
    );
    let addresses = s.list_ip_addresses(&a, &list, &first_page()).await.unwrap();
    assert_eq!(addresses.len(), 1, "its addresses are kept too");
    s.delete_auth_mapping(&a, &d, AuthKind::CallsAcl, &mapped)
        .await
        .unwrap();
    s.delete_acl(&a, &list).await.unwrap();
    assert!(s.get_acl(&a, &list).await.unwrap().is_none());
}

async fn deleting_a_domain_takes_its_auth_mappings(db: &TestDb) {
    let store = db.open().await;
    let s = store.as_ref();
    let a = account(s, None).await;
    let d = domain(s, &a, "gone.sip.twilio.com").await.unwrap();
    let cl = credential_list(s, &a).await;
    let mapped = MappedList::Credentials(cl.clone());
    s.create_auth_mapping(&a, &d, AuthKind::CallsCredentials, &mapped)
        .await
        .unwrap();
    s.delete_sip_domain(&a, &d).await.unwrap();
    s.delete_credential_list(&a, &cl)
        .await
        .expect("no domain maps it any more");
}

async fn auth_type_follows_the_call_mappings(db: &TestDb) {
    let store = db.open().await;
    let s = store.as_ref();
    let a = account(s, None).await;
    let d = domain(s, &a, "typed.sip.twilio.com").await.unwrap();
    let auth_type = || async {
        s.get_sip_domain(&a, &d)
            .await
            .unwrap()
            .unwrap()
            .calls_auth
            .auth_type()
    };
    assert_eq!(auth_type().await, None);
    let cl = MappedList::Credentials(credential_list(s, &a).await);
    s.create_auth_mapping(&a, &d, AuthKind::RegistrationCredentials, &cl)
        .await
        .unwrap();
    assert_eq!(auth_type().await, None, "registrations are not calls");
    s.create_auth_mapping(&a, &d, AuthKind::CallsCredentials, &cl)
        .await
        .unwrap();
    assert_eq!(auth_type().await, Some("CREDENTIAL_LIST"));
    let list = MappedList::Acl(acl(s, &a, "office").await);
    s.create_auth_mapping(&a, &d, AuthKind::CallsAcl, &list)
        .await
        .unwrap();
    assert_eq!(auth_type().await, Some("IP_ACL,CREDENTIAL_LIST"));
    s.delete_auth_mapping(&a, &d, AuthKind::CallsCredentials, &cl)
        .await
        .unwrap();
    assert_eq!(auth_type().await, Some("IP_ACL"));
    let listed = s.list_sip_domains(&a, &first_page()).await.unwrap();
    assert_eq!(listed[0].calls_auth.auth_type(), Some("IP_ACL"));
}

async fn limits_bound_lists_addresses_and_credentials(db: &TestDb) {
    let store = db
        .open_with(&StoreOptions {
            limits: Limits {
                lists_per_account: 2,
                addresses_per_list: 2,
                credentials_per_list: 1,
                ..Limits::default()
            },
            ..StoreOptions::default()
        })
        .await;
    let s = store.as_ref();
    let a = account(s, None).await;
    let limited = |r: &Result<_, StoreError>| {
        matches!(r, Err(StoreError::Refused(Refusal::LimitReached { .. })))
    };
    let list = acl(s, &a, "1").await;
    acl(s, &a, "2").await;
    let name = AclName::parse(&P(vec![("FriendlyName", "3".into())])).unwrap();
    assert!(limited(&s.create_acl(&a, name).await.map(|_| ())));
    for ip in ["192.0.2.1", "192.0.2.2"] {
        s.create_ip_address(&a, &list, address(ip, 32))
            .await
            .unwrap();
    }
    let third = s
        .create_ip_address(&a, &list, address("192.0.2.3", 32))
        .await;
    assert!(limited(&third.map(|_| ())));
    let cl = credential_list(s, &a).await;
    s.create_credential(&a, &cl, credential("alice", PASSWORD))
        .await
        .unwrap();
    let second = s
        .create_credential(&a, &cl, credential("bob", PASSWORD))
        .await;
    assert!(limited(&second.map(|_| ())));
    // Each account has its own allowance.
    let b = account(s, None).await;
    acl(s, &b, "b").await;
}

async fn auth_changes_reach_recognition_before_the_call_returns(db: &TestDb) {
    let store = db.open().await;
    let s = store.as_ref();
    let a = account(s, None).await;
    let host = "live.sip.twilio.com";
    let d = domain(s, &a, host).await.unwrap();
    assert_eq!(
        admits(s, host, "192.0.2.9", "alice"),
        Some((false, false, false))
    );
    let list = acl(s, &a, "office").await;
    let ip = s
        .create_ip_address(&a, &list, address("192.0.2.0", 28))
        .await
        .unwrap();
    let acl_list = MappedList::Acl(list.clone());
    s.create_auth_mapping(&a, &d, AuthKind::CallsAcl, &acl_list)
        .await
        .unwrap();
    assert!(admits(s, host, "192.0.2.9", "alice").unwrap().0);
    assert!(!admits(s, host, "192.0.2.99", "alice").unwrap().0);
    // A moved address moves what the domain admits, on the next lookup.
    let moved =
        IpAddressPatch::parse(&P(vec![("IpAddress", "198.51.100.0".into())]), false).unwrap();
    s.update_ip_address(&a, &list, &ip.sid, moved)
        .await
        .unwrap();
    assert!(!admits(s, host, "192.0.2.9", "alice").unwrap().0);
    assert!(admits(s, host, "198.51.100.9", "alice").unwrap().0);
    // Credentials, for calls and for registrations.
    let cl = credential_list(s, &a).await;
    let cred = s
        .create_credential(&a, &cl, credential("alice", PASSWORD))
        .await
        .unwrap();
    let creds = MappedList::Credentials(cl.clone());
    s.create_auth_mapping(&a, &d, AuthKind::RegistrationCredentials, &creds)
        .await
        .unwrap();
    assert_eq!(
        admits(s, host, "203.0.113.1", "alice"),
        Some((false, false, true))
    );
    s.create_auth_mapping(&a, &d, AuthKind::CallsCredentials, &creds)
        .await
        .unwrap();
    assert_eq!(
        admits(s, host, "203.0.113.1", "alice"),
        Some((false, true, true))
    );
    let snapshot = s.recognition().snapshot();
    let found = snapshot
        .recognise(Some(host), "203.0.113.1".parse().unwrap())
        .unwrap();
    let sealed = found
        .auth
        .call_secret("alice")
        .unwrap()
        .as_sealed()
        .to_vec();
    assert_eq!(
        sealed, cred.password_sealed,
        "recognition holds the sealed password"
    );
    s.delete_credential(&a, &cl, &cred.sid).await.unwrap();
    assert_eq!(
        admits(s, host, "203.0.113.1", "alice"),
        Some((false, false, false))
    );
    // Unmapping and deleting the ACL: nothing admits by address any more.
    s.delete_auth_mapping(&a, &d, AuthKind::CallsAcl, &acl_list)
        .await
        .unwrap();
    assert!(!admits(s, host, "198.51.100.9", "alice").unwrap().0);
    // A store opened now builds the same table from the database.
    drop(store);
    let again = db.open().await;
    let found = admits(again.as_ref(), host, "198.51.100.9", "alice");
    assert_eq!(found, Some((false, false, false)));
    let state = again.recognition_state().await.unwrap();
    assert_eq!(state.acl_networks.len(), 1);
    assert_eq!(state.acl_networks[0].1.len(), 1);
    assert_eq!(
        state.auth.len(),
        2,
        "calls and registrations credential mappings"
    );
}

async fn a_suspended_account_admits_nothing_and_reactivation_restores_it(db: &TestDb) {
    use sipmap::domain::AccountStatus;
    let store = db.open().await;
    let s = store.as_ref();
    let parent = account(s, None).await;
    // Only a subaccount's status can change.
    let a = account(s, Some(&parent)).await;
    let host = "paused.sip.twilio.com";
    let d = domain(s, &a, host).await.unwrap();
    let list = acl(s, &a, "office").await;
    s.create_ip_address(&a, &list, address("192.0.2.0", 24))
        .await
        .unwrap();
    s.create_auth_mapping(&a, &d, AuthKind::CallsAcl, &MappedList::Acl(list))
        .await
        .unwrap();
    assert!(admits(s, host, "192.0.2.1", "x").unwrap().0);
    s.update_account(&a, status(AccountStatus::Suspended))
        .await
        .unwrap();
    assert_eq!(admits(s, host, "192.0.2.1", "x"), None);
    s.update_account(&a, status(AccountStatus::Active))
        .await
        .unwrap();
    assert!(admits(s, host, "192.0.2.1", "x").unwrap().0);
}

async fn a_store_opened_with_another_key_refuses_to_start(db: &TestDb) {
    drop(db.open().await);
    let other = StoreOptions {
        key: Some(ServerKey::from_bytes([9; 32])),
        ..StoreOptions::default()
    };
    let refused = sipmap::store::connect_with(&db.url, &other).await;
    let message = format!("{:#}", refused.err().expect("refused"));
    assert!(message.contains("server key"), "{message}");
    drop(db.open().await);
}

/// A credential created through one node is known to another node's recognition.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_nodes_share_auth_changes() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let (n1, n2) = (db.open().await, db.open().await);
    let a = account(n1.as_ref(), None).await;
    let host = "cluster.sip.twilio.com";
    let d: SipDomainSid = domain(n1.as_ref(), &a, host).await.unwrap();
    let cl = credential_list(n1.as_ref(), &a).await;
    n1.create_credential(&a, &cl, credential("alice", PASSWORD))
        .await
        .unwrap();
    let list = acl(n1.as_ref(), &a, "office").await;
    n1.create_ip_address(&a, &list, address("192.0.2.0", 24))
        .await
        .unwrap();
    n1.create_auth_mapping(
        &a,
        &d,
        AuthKind::CallsCredentials,
        &MappedList::Credentials(cl),
    )
    .await
    .unwrap();
    n1.create_auth_mapping(&a, &d, AuthKind::CallsAcl, &MappedList::Acl(list))
        .await
        .unwrap();
    let until = Instant::now() + Duration::from_secs(5);
    while admits(n2.as_ref(), host, "192.0.2.1", "alice") != Some((true, true, false)) {
        assert!(Instant::now() < until, "node 2 never saw the changes");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop((n1, n2));
    db.drop_schema().await;
}

/// Two nodes creating one username in one list at the same moment: one wins, the other gets
/// the typed refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_concurrent_usernames_leave_one_winner() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let (n1, n2) = (db.open().await, db.open().await);
    let a = account(n1.as_ref(), None).await;
    let cl = credential_list(n1.as_ref(), &a).await;
    for round in 0..5 {
        let user = format!("user{round}");
        let (r1, r2) = tokio::join!(
            n1.create_credential(&a, &cl, credential(&user, PASSWORD)),
            n2.create_credential(&a, &cl, credential(&user, PASSWORD)),
        );
        let wins = [r1.is_ok(), r2.is_ok()].iter().filter(|w| **w).count();
        assert_eq!(wins, 1, "{r1:?} {r2:?}");
        for r in [r1, r2].into_iter().filter(Result::is_err) {
            assert!(
                matches!(
                    r,
                    Err(StoreError::Refused(Refusal::Conflict(
                        Conflict::UsernameTaken { .. }
                    )))
                ),
                "{r:?}"
            );
        }
    }
    drop((n1, n2));
    db.drop_schema().await;
}

async fn rotating_the_key_reseals_every_password(db: &TestDb) {
    let store = db.open().await;
    let s = store.as_ref();
    let a = account(s, None).await;
    let cl = credential_list(s, &a).await;
    for user in ["alice", "bob"] {
        s.create_credential(&a, &cl, credential(user, PASSWORD))
            .await
            .unwrap();
    }
    let new = ServerKey::from_bytes([42; 32]);
    let token = s.get_account(&a).await.unwrap().unwrap();
    let token = s.reveal_token(&token).unwrap().expect("a sealed token");
    let resealed = s.rotate_server_key(&new).await.unwrap();
    assert_eq!((resealed.passwords, resealed.tokens), (2, 1));
    drop(store);
    let with = |key: ServerKey| StoreOptions {
        key: Some(key),
        ..StoreOptions::default()
    };
    let old_refused = sipmap::store::connect_with(&db.url, &with(test_key())).await;
    assert!(
        old_refused.is_err(),
        "the old key no longer opens the store"
    );
    let store = db.open_with(&with(new.clone())).await;
    let listed = store
        .as_ref()
        .list_credentials(&a, &cl, &first_page())
        .await
        .unwrap();
    for c in &listed {
        let opened = new.open(CREDENTIAL_PASSWORD, &c.password_sealed).unwrap();
        assert_eq!(opened, PASSWORD.as_bytes());
        assert!(
            test_key()
                .open(CREDENTIAL_PASSWORD, &c.password_sealed)
                .is_err()
        );
    }
    // The recognition table the store builds holds the resealed passwords.
    let state = store.recognition_state().await.unwrap();
    assert_eq!(state.credentials.len(), 2);
    // The auth token was resealed too: the new key shows the same token, the old one opens
    // nothing of it.
    let after = store.as_ref().get_account(&a).await.unwrap().unwrap();
    let shown = store.as_ref().reveal_token(&after).unwrap().unwrap();
    assert_eq!(shown.expose(), token.expose());
    let sealed = after.sealed_token.as_deref().unwrap();
    assert!(test_key().open(sipmap::secret::AUTH_TOKEN, sealed).is_err());
}
