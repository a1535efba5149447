//! The web console's sign-in sessions over raw HTTP: sign-in, the cookie's attributes, CSRF on
//! cookie writes, sign-out, sessions that end with their credential, and the bounds.

use reqwest::{Method, StatusCode};

use crate::helpers::{Reply, SID, TOKEN, TestApp};

const SESSION: &str = "/console/session";

/// A signed-in console: the cookie (`name=value`) and the CSRF token.
struct Signed {
    cookie: String,
    csrf: String,
}

async fn sign_in_with(app: &TestApp, form: &str) -> Reply {
    app.send(
        app.raw(Method::POST, SESSION)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned()),
    )
    .await
}

async fn sign_in(app: &TestApp, form: &str) -> Signed {
    let r = sign_in_with(app, form).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let set = r.headers["set-cookie"].to_str().unwrap();
    Signed {
        cookie: set.split(';').next().unwrap().to_owned(),
        csrf: r.field("csrf_token"),
    }
}

/// A request with the session's cookie, and its CSRF token when `csrf` is given.
async fn with_cookie(
    app: &TestApp,
    s: &Signed,
    method: Method,
    path: &str,
    body: Option<&str>,
    csrf: Option<&str>,
) -> Reply {
    let mut req = app.raw(method, path).header("cookie", &s.cookie);
    if let Some(token) = csrf {
        req = req.header("x-csrf-token", token);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/x-www-form-urlencoded")
            .body(b.to_owned());
    }
    app.send(req).await
}

fn domains() -> String {
    format!("/2010-04-01/Accounts/{SID}/SIP/Domains.json")
}

#[tokio::test]
async fn the_page_and_its_files_are_served_from_the_binary() {
    let app = TestApp::spawn().await;
    for (path, kind) in [
        ("/console", "text/html"),
        ("/console/console.js", "text/javascript"),
        ("/console/console.css", "text/css"),
    ] {
        let r = app.send(app.raw(Method::GET, path)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(
            r.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
        let csp = r.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    }
    let page = app.send(app.raw(Method::GET, "/console")).await.text;
    assert!(page.contains("console.js") && !page.contains("http://") && !page.contains("https://"));
}

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_cookie_and_wrong_credentials_get_401() {
    let app = TestApp::spawn().await;
    let r = sign_in_with(&app, &format!("AccountSid={SID}&Secret={TOKEN}")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.field("account_sid"), SID);
    assert_eq!(r.field("csrf_token").len(), 64);
    let cookie = r.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("sipmap_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert_eq!(r.headers["cache-control"], "no-store");

    let wrong = sign_in_with(&app, &format!("AccountSid={SID}&Secret=nope")).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json()["code"], 20003);
    assert!(wrong.headers.get("set-cookie").is_none());
    assert!(
        wrong.headers.get("www-authenticate").is_none(),
        "no browser login dialog over the console's form"
    );
    let missing = sign_in_with(&app, &format!("AccountSid={SID}")).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(missing.text.contains("Secret"), "{}", missing.text);
}

#[tokio::test]
async fn a_cookie_reads_the_api_and_writes_only_with_its_csrf_token() {
    let app = TestApp::spawn().await;
    let s = sign_in(&app, &format!("AccountSid={SID}&Secret={TOKEN}")).await;
    let list = with_cookie(&app, &s, Method::GET, &domains(), None, None).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);

    let body = "DomainName=console.sip.twilio.com";
    let bare = with_cookie(&app, &s, Method::POST, &domains(), Some(body), None).await;
    assert_eq!(bare.status, StatusCode::FORBIDDEN, "{}", bare.text);
    assert_eq!(bare.json()["code"], 20403);
    let forged = with_cookie(&app, &s, Method::POST, &domains(), Some(body), Some("0")).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let other = sign_in(&app, &format!("AccountSid={SID}&Secret={TOKEN}")).await;
    let crossed = with_cookie(
        &app,
        &s,
        Method::POST,
        &domains(),
        Some(body),
        Some(&other.csrf),
    )
    .await;
    assert_eq!(
        crossed.status,
        StatusCode::FORBIDDEN,
        "tokens are per session"
    );
    let listed = app.get(&domains()).await.json();
    assert_eq!(
        listed["domains"].as_array().unwrap().len(),
        0,
        "nothing written"
    );

    let made = with_cookie(
        &app,
        &s,
        Method::POST,
        &domains(),
        Some(body),
        Some(&s.csrf),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let events = app.get("/v1/Events").await.json();
    assert_eq!(
        events["events"][0]["actor_sid"], SID,
        "audited as the account"
    );

    // Basic auth is unchanged: no CSRF token needed.
    let basic = app
        .post(&domains(), "DomainName=basic.sip.twilio.com")
        .await;
    assert_eq!(basic.status, StatusCode::CREATED, "{}", basic.text);
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let app = TestApp::spawn().await;
    let s = sign_in(&app, &format!("AccountSid={SID}&Secret={TOKEN}")).await;
    let me = with_cookie(&app, &s, Method::GET, SESSION, None, None).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.field("csrf_token"), s.csrf);
    let refused = with_cookie(&app, &s, Method::DELETE, SESSION, None, None).await;
    assert_eq!(
        refused.status,
        StatusCode::FORBIDDEN,
        "sign-out needs the token too"
    );
    let out = with_cookie(&app, &s, Method::DELETE, SESSION, None, Some(&s.csrf)).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let cleared = out.headers["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let after = with_cookie(&app, &s, Method::GET, &domains(), None, None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert!(after.headers.get("www-authenticate").is_none());
}

#[tokio::test]
async fn a_deleted_key_or_a_closed_account_ends_its_sessions_at_once() {
    let app = TestApp::spawn().await;
    let key = app
        .post(
            &format!("/2010-04-01/Accounts/{SID}/Keys.json"),
            "FriendlyName=console",
        )
        .await;
    let (key_sid, secret) = (key.field("sid"), key.field("secret"));
    let s = sign_in(
        &app,
        &format!("ApiKeySid={key_sid}&Secret={secret}&AccountSid={SID}"),
    )
    .await;
    let ok = with_cookie(&app, &s, Method::GET, &domains(), None, None).await;
    assert_eq!(ok.status, StatusCode::OK);
    let made = with_cookie(
        &app,
        &s,
        Method::POST,
        &domains(),
        Some("DomainName=bykey.sip.twilio.com"),
        Some(&s.csrf),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let events = app
        .get(&format!("/v1/Events?ActorSid={key_sid}"))
        .await
        .json();
    assert_eq!(
        events["events"][0]["event_type"], "sip-domain.created",
        "audited as the key"
    );
    let gone = app
        .delete(&format!("/2010-04-01/Accounts/{SID}/Keys/{key_sid}.json"))
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let after = with_cookie(&app, &s, Method::GET, &domains(), None, None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);

    // A key named with another account's SID does not sign in.
    let (sub, sub_token) = app.subaccount("console-sub").await;
    let key = app
        .post(
            &format!("/2010-04-01/Accounts/{SID}/Keys.json"),
            "FriendlyName=second",
        )
        .await;
    let wrong_account = sign_in_with(
        &app,
        &format!(
            "ApiKeySid={}&Secret={}&AccountSid={sub}",
            key.field("sid"),
            key.field("secret")
        ),
    )
    .await;
    assert_eq!(wrong_account.status, StatusCode::UNAUTHORIZED);

    let s = sign_in(&app, &format!("AccountSid={sub}&Secret={sub_token}")).await;
    let path = format!("/2010-04-01/Accounts/{sub}/SIP/Domains.json");
    assert_eq!(
        with_cookie(&app, &s, Method::GET, &path, None, None)
            .await
            .status,
        StatusCode::OK
    );
    let closed = app
        .post(&format!("/2010-04-01/Accounts/{sub}.json"), "Status=closed")
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.text);
    let after = with_cookie(&app, &s, Method::GET, &path, None, None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn failed_sign_ins_meet_the_authentication_throttle() {
    let app = TestApp::spawn().await;
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let r = sign_in_with(&app, &format!("AccountSid={SID}&Secret=guess")).await;
        statuses.push(r.status);
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(r.headers.contains_key("retry-after"));
            break;
        }
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert!(statuses[0] == StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_session_table_is_bounded() {
    let app = TestApp::spawn_with(|c| c.http_limits.console_sessions = 2).await;
    let form = format!("AccountSid={SID}&Secret={TOKEN}");
    let first = sign_in(&app, &form).await;
    sign_in(&app, &form).await;
    let third = sign_in_with(&app, &form).await;
    assert_eq!(
        third.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        third.text
    );
    assert_eq!(third.json()["code"], 20503);
    assert!(third.headers.get("set-cookie").is_none());
    let out = with_cookie(
        &app,
        &first,
        Method::DELETE,
        SESSION,
        None,
        Some(&first.csrf),
    )
    .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    sign_in(&app, &form).await;
}

#[tokio::test]
async fn another_sites_page_cannot_sign_a_visitor_in() {
    let app = TestApp::spawn().await;
    let form = format!("AccountSid={SID}&Secret={TOKEN}");
    let host = app.base.trim_start_matches("http://").to_owned();
    let send = |headers: Vec<(&'static str, String)>| {
        let mut req = app
            .raw(Method::POST, SESSION)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.clone());
        for (name, value) in headers {
            req = req.header(name, value);
        }
        app.send(req)
    };
    let evil = send(vec![("origin", "https://evil.example".into())]).await;
    assert_eq!(evil.status, StatusCode::FORBIDDEN, "{}", evil.text);
    assert_eq!(evil.json()["code"], 20403);
    assert!(evil.headers.get("set-cookie").is_none());
    let cross = send(vec![("sec-fetch-site", "cross-site".into())]).await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    let own = send(vec![
        ("origin", format!("http://{host}")),
        ("sec-fetch-site", "same-origin".into()),
    ])
    .await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.text);
}
