//! The rules where Twilio documents nothing: uniqueness, references, scoping, paging.

use reqwest::{Method, StatusCode};

use crate::helpers::{SID, TestApp};

#[tokio::test]
async fn one_mapping_per_record_and_per_network_across_accounts() {
    let app = TestApp::spawn().await;
    let domain = app.domain("a.sip.twilio.com").await;
    let r1 = app
        .ip_record("IpAddress=10.0.0.1&CidrPrefixLength=24")
        .await;
    let r2 = app
        .ip_record("IpAddress=10.0.0.7&CidrPrefixLength=24")
        .await;
    let nested = app
        .ip_record("IpAddress=10.0.0.0&CidrPrefixLength=16")
        .await;
    let map = |r: &str| format!("IpRecordSid={r}&SipDomainSid={domain}");
    assert_eq!(
        app.post("/v1/SourceIpMappings", &map(&r1)).await.status,
        StatusCode::CREATED
    );
    let again = app.post("/v1/SourceIpMappings", &map(&r1)).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.json()["code"], 20409);
    let same_net = app.post("/v1/SourceIpMappings", &map(&r2)).await;
    assert_eq!(same_net.status, StatusCode::CONFLICT, "{}", same_net.text);
    assert!(same_net.text.contains("10.0.0.0/24"), "{}", same_net.text);
    assert_eq!(
        app.post("/v1/SourceIpMappings", &map(&nested)).await.status,
        StatusCode::CREATED
    );

    // Another account cannot map the same network either, and learns nothing else.
    let (sub, token) = app.subaccount("other").await;
    let sub_domain = app
        .call_as(
            &sub,
            &token,
            Method::POST,
            &format!("/2010-04-01/Accounts/{sub}/SIP/Domains.json"),
            Some("DomainName=b.sip.twilio.com"),
        )
        .await
        .field("sid");
    let sub_record = app
        .call_as(
            &sub,
            &token,
            Method::POST,
            "/v1/IpRecords",
            Some("IpAddress=10.0.0.200&CidrPrefixLength=24"),
        )
        .await
        .field("sid");
    let clash = app
        .call_as(
            &sub,
            &token,
            Method::POST,
            "/v1/SourceIpMappings",
            Some(&format!(
                "IpRecordSid={sub_record}&SipDomainSid={sub_domain}"
            )),
        )
        .await;
    assert_eq!(clash.status, StatusCode::CONFLICT);
    assert!(
        !clash.text.contains(&r1),
        "must not reveal the other account's SIDs"
    );
}

#[tokio::test]
async fn referenced_records_and_domains_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let domain = app.domain("keep.sip.twilio.com").await;
    let record = app.ip_record("IpAddress=172.16.0.1").await;
    let mapping = app
        .post(
            "/v1/SourceIpMappings",
            &format!("IpRecordSid={record}&SipDomainSid={domain}"),
        )
        .await
        .field("sid");
    let r = app.delete(&format!("/v1/IpRecords/{record}")).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.text.contains(&mapping));
    let domain_path = format!("/2010-04-01/Accounts/{SID}/SIP/Domains/{domain}.json");
    let r = app.delete(&domain_path).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(app.get(&domain_path).await.status, StatusCode::OK);
    assert_eq!(
        app.get(&format!("/v1/IpRecords/{record}")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.delete(&format!("/v1/SourceIpMappings/{mapping}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&domain_path).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete(&format!("/v1/IpRecords/{record}")).await.status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn domain_names_are_unique_ignoring_case() {
    let app = TestApp::spawn().await;
    app.domain("Acme.sip.twilio.com").await;
    let (sub, _) = app.subaccount("child").await;
    let r = app
        .post(
            &format!("/2010-04-01/Accounts/{sub}/SIP/Domains.json"),
            "DomainName=acme.SIP.twilio.com",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["code"], 21232);
}

#[tokio::test]
async fn subaccounts_cannot_reach_their_parent() {
    let app = TestApp::spawn().await;
    let record = app.ip_record("IpAddress=10.9.9.9").await;
    let (sub, token) = app.subaccount("child").await;
    let as_sub = async |m: Method, p: String| app.call_as(&sub, &token, m, &p, None).await;
    assert_eq!(
        as_sub(Method::GET, format!("/v1/IpRecords/{record}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // On API 2010 the parent's paths answer as Twilio does: 401 with code 20003.
    for path in [
        format!("/2010-04-01/Accounts/{SID}/SIP/Domains.json"),
        format!("/2010-04-01/Accounts/{SID}.json"),
    ] {
        let r = as_sub(Method::GET, path).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.json()["code"], 20003);
    }
    // The parent may act on the subaccount's 2010 resources.
    let r = app
        .post(
            &format!("/2010-04-01/Accounts/{sub}/SIP/Domains.json"),
            "DomainName=child.sip.twilio.com",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.field("account_sid"), sub);
    // Suspending the subaccount locks its credentials out; reactivating lets them in again.
    let path = format!("/2010-04-01/Accounts/{sub}.json");
    assert_eq!(
        app.post(&path, "Status=suspended").await.status,
        StatusCode::OK
    );
    assert_eq!(
        as_sub(Method::GET, "/v1/IpRecords".into()).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post(&path, "Status=active").await.status,
        StatusCode::OK
    );
    assert_eq!(
        as_sub(Method::GET, "/v1/IpRecords".into()).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.post(&path, "Status=closed").await.status,
        StatusCode::OK
    );
    let reopen = app.post(&path, "Status=active").await;
    assert_eq!(reopen.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn paging_walks_every_row_once_in_creation_order() {
    let app = TestApp::spawn().await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(app.ip_record(&format!("IpAddress=10.1.0.{i}")).await);
    }
    let mut seen = Vec::new();
    let mut url = format!("{}/v1/IpRecords?PageSize=3", app.base);
    let mut pages = 0;
    while pages < 10 {
        pages += 1;
        let path = url.strip_prefix(&app.base).unwrap().to_owned();
        let body = app.get(&path).await.json();
        for r in body["ip_records"].as_array().unwrap() {
            seen.push(r["sid"].as_str().unwrap().to_owned());
        }
        match body["meta"]["next_page_url"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created);

    // The previous page of page 1 is page 0.
    let page1 = app
        .get(&format!(
            "/v1/IpRecords?PageSize=3&Page=1&PageToken=PA{}",
            created[2]
        ))
        .await
        .json();
    let prev = page1["meta"]["previous_page_url"].as_str().unwrap();
    let prev = app.get(prev.strip_prefix(&app.base).unwrap()).await.json();
    let prev_sids: Vec<_> = prev["ip_records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["sid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(prev_sids, created[..3]);

    // Offset paging without a token, and the clamp.
    let offset = app.get("/v1/IpRecords?PageSize=2&Page=1").await.json();
    assert_eq!(offset["ip_records"][0]["sid"], created[2].as_str());
    let big = app.get("/v1/IpRecords?PageSize=5000").await.json();
    assert_eq!(big["meta"]["page_size"], 1000);
}

crate::on_both_backends!(a_domain_under_or_above_another_familys_is_refused);

/// Twilio's 21232, "a subdomain of a domain you do not control": a name under, or above, a name
/// an account outside the caller's family holds is refused on create and rename, whatever the
/// case; the caller's family nests freely.
async fn a_domain_under_or_above_another_familys_is_refused(db: &crate::storage::TestDb) {
    let app = TestApp::spawn_with(|c| {
        c.database_url = db.url.clone();
        c.store.key = Some(crate::storage::test_key());
        c.sip_listen = None;
    })
    .await;
    let store = db.open().await;
    let stranger = store
        .create_account(sipmap::domain::NewAccount {
            owner_sid: None,
            friendly_name: Some("stranger".into()),
            token: sipmap::auth_token::AuthToken::from_string("stranger-token".into()),
        })
        .await
        .unwrap()
        .sid;
    let domains = |acct: &str| format!("/2010-04-01/Accounts/{acct}/SIP/Domains.json");
    let as_stranger = async |path: &str, body: &str| {
        app.call_as(
            stranger.as_str(),
            "stranger-token",
            Method::POST,
            path,
            Some(body),
        )
        .await
    };
    let refused = |r: &crate::helpers::Reply, message: &str| {
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert_eq!(r.json()["code"], 21232, "{}", r.text);
        assert_eq!(r.json()["message"], message, "{}", r.text);
    };
    app.domain("scranton.sip.twilio.com").await;

    let r = as_stranger(
        &domains(stranger.as_str()),
        "DomainName=evil.scranton.sip.twilio.com",
    )
    .await;
    refused(
        &r,
        "Invalid Domain: evil.scranton.sip.twilio.com is a subdomain of a domain you do not \
         control",
    );
    let r = as_stranger(
        &domains(stranger.as_str()),
        "DomainName=A.Evil.SCRANTON.sip.twilio.com",
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = as_stranger(
        &domains(stranger.as_str()),
        "DomainName=xscranton.sip.twilio.com",
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "no label boundary: {}",
        r.text
    );
    let theirs = r.field("sid");
    let r = as_stranger(
        &domains(stranger.as_str()),
        "DomainName=leaf.dunder.sip.twilio.com",
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

    // Above: the test account cannot take a name whose subdomain the stranger holds.
    let r = app
        .post(&domains(SID), "DomainName=Dunder.sip.twilio.com")
        .await;
    refused(
        &r,
        "Invalid Domain: Dunder.sip.twilio.com has a subdomain that you do not control",
    );
    // A rename is checked too, and a refused one changes nothing.
    let instance = format!("/2010-04-01/Accounts/{stranger}/SIP/Domains/{theirs}.json");
    let r = as_stranger(&instance, "DomainName=evil.scranton.sip.twilio.com").await;
    assert_eq!(r.json()["code"], 21232, "{}", r.text);
    let r = app
        .call_as(
            stranger.as_str(),
            "stranger-token",
            Method::GET,
            &instance,
            None,
        )
        .await;
    assert_eq!(r.field("domain_name"), "xscranton.sip.twilio.com");

    // The family nests: a subaccount under its parent's name, and the parent under that.
    let (sub, _) = app.subaccount("child").await;
    let r = app
        .post(&domains(&sub), "DomainName=one.scranton.sip.twilio.com")
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = app
        .post(&domains(SID), "DomainName=x.one.scranton.sip.twilio.com")
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

/// What a create answers: its `friendly_name` (`None`: null, `Some`: a prefix of it), or a
/// refusal (status and code).
type Created = Result<Option<&'static str>, (StatusCode, u64)>;

/// One resource kind's row of [`an_empty_value_is_not_sent_except_a_url_which_it_clears`].
struct EmptyCase {
    what: &'static str,
    /// Where it is created, and with what.
    list: String,
    create: &'static str,
    /// Its instance path, from the list path and its SID.
    instance: fn(&str, &str) -> String,
    /// An update sending empty values.
    update: &'static str,
    /// The fields the instance shows after the update (`""` for null), or its refusal.
    after: Result<&'static [(&'static str, &'static str)], (StatusCode, u64)>,
    /// A create sending `FriendlyName=` (or a required parameter empty), and its answer.
    create_empty: (&'static str, Created),
}

/// The one rule for empty values, on every resource: a URL (or an optional reference) sent
/// empty clears the field; any other parameter sent empty counts as not sent, so an update
/// keeps the field, a create takes the default, and a required one is missing.
#[tokio::test]
async fn an_empty_value_is_not_sent_except_a_url_which_it_clears() {
    let app = TestApp::spawn().await;
    let acct = format!("/2010-04-01/Accounts/{SID}");
    let created = async |path: &str, body: &str| {
        let r = app.post(path, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{path} {body}: {}", r.text);
        r.field("sid")
    };
    let policy = created("/v1/ConnectionPolicies", "FriendlyName=p").await;
    let acl = created(
        &format!("{acct}/SIP/IpAccessControlLists.json"),
        "FriendlyName=office",
    )
    .await;
    let cl = created(
        &format!("{acct}/SIP/CredentialLists.json"),
        "FriendlyName=staff",
    )
    .await;
    let domain = app.domain("empty.sip.twilio.com").await;
    let record = app.ip_record("IpAddress=10.44.0.1").await;
    let mapping = created(
        "/v1/SourceIpMappings",
        &format!("IpRecordSid={record}&SipDomainSid={domain}"),
    )
    .await;
    const NAME: &[(&str, &str)] = &[("friendly_name", "keep")];
    const MISSING: (StatusCode, u64) = (StatusCode::BAD_REQUEST, 20001);
    let v1 = |list: &str, sid: &str| format!("{list}/{sid}");
    let v2010 = |list: &str, sid: &str| list.replace(".json", &format!("/{sid}.json"));
    let cases = vec![
        EmptyCase {
            what: "account",
            list: "/2010-04-01/Accounts.json".into(),
            create: "FriendlyName=keep",
            instance: v2010,
            update: "FriendlyName=&Status=",
            after: Ok(&[("friendly_name", "keep"), ("status", "active")]),
            create_empty: ("FriendlyName=", Ok(Some("SubAccount Created at "))),
        },
        EmptyCase {
            what: "API key",
            list: format!("{acct}/Keys.json"),
            create: "FriendlyName=keep",
            instance: v2010,
            update: "FriendlyName=",
            after: Ok(NAME),
            create_empty: ("FriendlyName=", Ok(None)),
        },
        EmptyCase {
            what: "IP record",
            list: "/v1/IpRecords".into(),
            create: "IpAddress=10.45.0.1&FriendlyName=keep",
            instance: v1,
            update: "FriendlyName=",
            after: Ok(NAME),
            create_empty: ("IpAddress=10.45.0.2&FriendlyName=", Ok(None)),
        },
        EmptyCase {
            what: "BYOC trunk",
            list: "/v1/ByocTrunks".into(),
            create: "FriendlyName=keep&VoiceUrl=https://example.com/v&VoiceMethod=GET",
            instance: v1,
            update: "FriendlyName=&VoiceUrl=&VoiceMethod=&CnamLookupEnabled=",
            after: Ok(&[
                ("friendly_name", "keep"),
                ("voice_url", ""),
                ("voice_method", "GET"),
            ]),
            create_empty: ("FriendlyName=", Ok(None)),
        },
        EmptyCase {
            what: "connection policy",
            list: "/v1/ConnectionPolicies".into(),
            create: "FriendlyName=keep",
            instance: v1,
            update: "FriendlyName=",
            after: Ok(NAME),
            create_empty: ("FriendlyName=", Ok(None)),
        },
        EmptyCase {
            what: "target",
            list: format!("/v1/ConnectionPolicies/{policy}/Targets"),
            create: "Target=sip:127.0.0.2:5060&FriendlyName=keep&Priority=7",
            instance: v1,
            update: "FriendlyName=&Target=&Priority=&Weight=&Enabled=",
            after: Ok(&[
                ("friendly_name", "keep"),
                ("target", "sip:127.0.0.2:5060"),
                ("priority", "7"),
            ]),
            create_empty: ("Target=sip:127.0.0.3:5060&FriendlyName=", Ok(None)),
        },
        EmptyCase {
            what: "SIP domain",
            list: format!("{acct}/SIP/Domains.json"),
            create: "DomainName=keep.sip.twilio.com&FriendlyName=keep&VoiceUrl=https://example.com/v",
            instance: v2010,
            update: "FriendlyName=&DomainName=&VoiceUrl=&ByocTrunkSid=&SipRegistration=",
            after: Ok(&[
                ("friendly_name", "keep"),
                ("domain_name", "keep.sip.twilio.com"),
                ("voice_url", ""),
                ("byoc_trunk_sid", ""),
            ]),
            create_empty: ("DomainName=kept.sip.twilio.com&FriendlyName=", Ok(None)),
        },
        EmptyCase {
            what: "IP access control list",
            list: format!("{acct}/SIP/IpAccessControlLists.json"),
            create: "FriendlyName=keep",
            instance: v2010,
            update: "FriendlyName=",
            after: Err(MISSING),
            create_empty: ("FriendlyName=", Err(MISSING)),
        },
        EmptyCase {
            what: "IP address",
            list: format!("{acct}/SIP/IpAccessControlLists/{acl}/IpAddresses.json"),
            create: "FriendlyName=keep&IpAddress=192.0.2.7&CidrPrefixLength=32",
            instance: v2010,
            update: "FriendlyName=&IpAddress=&CidrPrefixLength=",
            after: Ok(&[
                ("friendly_name", "keep"),
                ("ip_address", "192.0.2.7"),
                ("cidr_prefix_length", "32"),
            ]),
            create_empty: ("FriendlyName=&IpAddress=192.0.2.8", Err(MISSING)),
        },
        EmptyCase {
            what: "credential list",
            list: format!("{acct}/SIP/CredentialLists.json"),
            create: "FriendlyName=keep",
            instance: v2010,
            update: "FriendlyName=",
            after: Err(MISSING),
            create_empty: ("FriendlyName=", Err(MISSING)),
        },
        EmptyCase {
            what: "credential",
            list: format!("{acct}/SIP/CredentialLists/{cl}/Credentials.json"),
            create: "Username=keep&Password=IWasAtSignal2018",
            instance: v2010,
            update: "Password=",
            after: Ok(&[("username", "keep")]),
            create_empty: ("Username=&Password=IWasAtSignal2018", Err(MISSING)),
        },
    ];
    for case in cases {
        let what = case.what;
        let sid = created(&case.list, case.create).await;
        let path = (case.instance)(&case.list, &sid);
        let r = app.post(&path, case.update).await;
        match case.after {
            Ok(fields) => {
                assert_eq!(r.status, StatusCode::OK, "{what}: {}", r.text);
                let got = app.get(&path).await.json();
                for (field, want) in fields {
                    let shown = match &got[field] {
                        serde_json::Value::Null => String::new(),
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    assert_eq!(&shown, want, "{what}: {field} in {got}");
                }
            }
            Err(refusal) => {
                let got = (r.status, r.json()["code"].as_u64().unwrap_or(0));
                assert_eq!(got, refusal, "{what}: {}", r.text);
            }
        }
        let (body, answer) = case.create_empty;
        let r = app.post(&case.list, body).await;
        match answer {
            Ok(None) => {
                assert_eq!(r.status, StatusCode::CREATED, "{what}: {}", r.text);
                assert!(r.json()["friendly_name"].is_null(), "{what}: {}", r.text);
            }
            Ok(Some(prefix)) => {
                assert_eq!(r.status, StatusCode::CREATED, "{what}: {}", r.text);
                let name = r.field("friendly_name");
                assert!(name.starts_with(prefix), "{what}: {}", r.text);
            }
            Err(refusal) => {
                let got = (r.status, r.json()["code"].as_u64().unwrap_or(0));
                assert_eq!(got, refusal, "{what}: {}", r.text);
            }
        }
    }
    // A mapping's domain is required: sent empty, it is missing.
    let r = app
        .post(&format!("/v1/SourceIpMappings/{mapping}"), "SipDomainSid=")
        .await;
    let got = (r.status, r.json()["code"].as_u64().unwrap_or(0));
    assert_eq!(got, MISSING, "{}", r.text);
    // An empty filter filters nothing.
    let count = |r: crate::helpers::Reply| r.json()["accounts"].as_array().unwrap().len();
    let all = count(app.get("/2010-04-01/Accounts.json").await);
    assert_eq!(
        count(app.get("/2010-04-01/Accounts.json?FriendlyName=").await),
        all
    );
}
