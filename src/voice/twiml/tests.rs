//! TwiML documents, good and bad, against the typed model and Twilio's codes.

use url::Url;

use super::dial::phone_number;
use super::*;

fn base() -> Url {
    Url::parse("https://app.example.com/voice/start?tenant=7").unwrap()
}

fn read(xml: &str) -> Document {
    parse(xml.as_bytes(), &base()).unwrap_or_else(|e| panic!("{xml}: {e}"))
}

fn codes(doc: &Document) -> Vec<u32> {
    doc.warnings.iter().map(|w| w.code.number()).collect()
}

fn only_dial(doc: &Document) -> &Dial {
    match doc.verbs.as_slice() {
        [Verb::Dial(d)] => d,
        other => panic!("not one Dial: {other:?}"),
    }
}

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

#[test]
fn reject_reasons() {
    let doc =
        read(r#"<Response><Reject/><Reject reason="busy"/><Reject reason="rejected"/></Response>"#);
    assert_eq!(
        doc.verbs,
        [
            Verb::Reject(RejectReason::Rejected),
            Verb::Reject(RejectReason::Busy),
            Verb::Reject(RejectReason::Rejected)
        ]
    );
    assert!(doc.warnings.is_empty());
    let doc = read(r#"<Response><Reject reason="later"/></Response>"#);
    assert_eq!(doc.verbs, [Verb::Reject(RejectReason::Rejected)]);
    assert_eq!(codes(&doc), [12200]);
}

#[test]
fn redirect_urls_resolve_against_the_documents_url() {
    let doc = read(
        r#"<?xml version="1.0" encoding="UTF-8"?>
        <Response>
          <Redirect>next?step=2&amp;x=1</Redirect>
          <Redirect method="GET">/other</Redirect>
          <Redirect method="get"> https://elsewhere.example.net:8443/a </Redirect>
          <Redirect><![CDATA[../up]]></Redirect>
        </Response>"#,
    );
    let want = [
        (
            Method::Post,
            "https://app.example.com/voice/next?step=2&x=1",
        ),
        (Method::Get, "https://app.example.com/other"),
        (Method::Get, "https://elsewhere.example.net:8443/a"),
        (Method::Post, "https://app.example.com/up"),
    ];
    let got: Vec<(Method, String)> = doc
        .verbs
        .iter()
        .map(|v| match v {
            Verb::Redirect(r) => (r.method, r.url.to_string()),
            other => panic!("{other:?}"),
        })
        .collect();
    let want: Vec<(Method, String)> = want.iter().map(|(m, u)| (*m, u.to_string())).collect();
    assert_eq!(got, want);
    assert!(doc.warnings.is_empty(), "{:?}", doc.warnings);
}

#[test]
fn a_redirect_with_an_invalid_method_posts_with_warning_13710() {
    let doc = read(r#"<Response><Redirect method="PUT">/n</Redirect></Response>"#);
    assert_eq!(
        doc.verbs,
        [Verb::Redirect(Redirect {
            method: Method::Post,
            url: url("https://app.example.com/n")
        })]
    );
    assert_eq!(codes(&doc), [13710]);
}

#[test]
fn a_redirect_without_a_usable_url_is_an_error_11100() {
    for body in [
        "",
        "   ",
        "ftp://files.example.com/x",
        "mailto:a@b.c",
        "http://",
    ] {
        let doc = read(&format!("<Response><Redirect>{body}</Redirect></Response>"));
        match doc.verbs.as_slice() {
            [Verb::Invalid { verb, code, .. }] => {
                assert_eq!(verb, "Redirect");
                assert_eq!(code.number(), 11100, "{body}");
            }
            other => panic!("{body}: {other:?}"),
        }
    }
}

#[test]
fn verbs_keep_their_order_and_unsupported_ones_their_names() {
    let doc = read(
        "<Response><Say>Hi</Say><Play>x.mp3</Play><Gather/><Pause length=\"2\"/><Record/>\
         <Enqueue>q</Enqueue><Leave/><Connect/><Pay/><Prompt/><Refer/><Start/><Stop/><Echo/>\
         <Sms>x</Sms><Hangup/></Response>",
    );
    let names: Vec<&str> = doc
        .verbs
        .iter()
        .map(|v| match v {
            Verb::Unsupported(n) => n.as_str(),
            Verb::Hangup => "Hangup",
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        names,
        [
            "Say", "Play", "Gather", "Pause", "Record", "Enqueue", "Leave", "Connect", "Pay",
            "Prompt", "Refer", "Start", "Stop", "Echo", "Sms", "Hangup"
        ]
    );
    assert!(doc.warnings.is_empty());
}

#[test]
fn unknown_elements_misspelt_verbs_and_stray_text_are_ignored_with_12200() {
    let doc = read("<Response>hello<say>x</say><Foo/><Number>+1</Number><Hangup/></Response>");
    assert_eq!(doc.verbs, [Verb::Hangup]);
    assert_eq!(codes(&doc), [12200, 12200, 12200, 12200]);
    assert!(doc.warnings[1].message.contains("<say>"));
}

#[test]
fn unknown_attributes_are_ignored_with_12200_and_namespaced_ones_silently() {
    let doc = read(
        r#"<Response xmlns:x="urn:x" version="2010"><Hangup bogus="1" x:note="n"><Parameter name="a" value="b"/></Hangup></Response>"#,
    );
    assert_eq!(doc.verbs, [Verb::Hangup]);
    assert_eq!(codes(&doc), [12200]);
    assert!(doc.warnings[0].message.contains("bogus"));
}

#[test]
fn an_empty_response_has_no_verbs() {
    assert_eq!(read("<Response/>").verbs, []);
    assert_eq!(read("\u{feff}<Response></Response>").verbs, []);
}

#[test]
fn a_full_dial_with_sip_and_number() {
    let doc = read(
        r#"<Response>
          <Dial action="/after" method="GET" timeout="20" timeLimit="600" callerId=" +15550001111 "
                answerOnBridge="true" record="record-from-answer" ringTone="us">
            <Sip username="u" password="p w" statusCallback="https://cb.example.com/s"
                 statusCallbackEvent="initiated ringing answered completed" statusCallbackMethod="GET"
                 url="screen" method="GET">
              sip:bob@pbx.example.com:5080;transport=TCP?X-Account=42&amp;User-to-User=3a%3Bencoding%3Dhex
            </Sip>
            <Number byoc="BY0123456789abcdef0123456789abcdef" sendDigits="1w2">+44 20 7946 0000</Number>
            <Client>alice</Client>
          </Dial>
        </Response>"#,
    );
    let dial = only_dial(&doc);
    assert!(doc.warnings.is_empty(), "{:?}", doc.warnings);
    assert_eq!(dial.action, Some(url("https://app.example.com/after")));
    assert_eq!(dial.method, Method::Get);
    assert_eq!((dial.timeout_secs, dial.time_limit_secs), (20, 600));
    assert_eq!(dial.caller_id.as_deref(), Some("+15550001111"));
    assert!(dial.answer_on_bridge);
    assert_eq!(dial.ignored_attributes, ["record", "ringTone"]);
    let [
        DialTarget::Sip(sip),
        DialTarget::Number(number),
        DialTarget::Unsupported(client),
    ] = dial.targets.as_slice()
    else {
        panic!("{:?}", dial.targets)
    };
    assert_eq!(sip.uri, "sip:bob@pbx.example.com:5080;transport=TCP");
    assert_eq!(sip.transport, Some(Transport::Tcp));
    assert_eq!(
        sip.headers,
        [
            ("X-Account".to_owned(), "42".to_owned()),
            ("User-to-User".to_owned(), "3a;encoding=hex".to_owned())
        ]
    );
    assert_eq!(
        (sip.username.as_deref(), sip.password.as_deref()),
        (Some("u"), Some("p w"))
    );
    let cb = sip.status_callback.as_ref().unwrap();
    assert_eq!(cb.url, url("https://cb.example.com/s"));
    assert_eq!(cb.method, Method::Get);
    for e in [
        Events::INITIATED,
        Events::RINGING,
        Events::ANSWERED,
        Events::COMPLETED,
    ] {
        assert!(cb.events.contains(e));
    }
    assert_eq!(
        sip.screening,
        Some(Screening {
            url: url("https://app.example.com/voice/screen"),
            method: Method::Get
        })
    );
    assert_eq!(number.number, "+442079460000");
    assert_eq!(
        number.byoc.as_ref().map(|s| s.as_str()),
        Some("BY0123456789abcdef0123456789abcdef")
    );
    assert_eq!(number.ignored_attributes, ["sendDigits"]);
    assert_eq!(number.status_callback, None);
    assert_eq!(client, "Client");
}

#[test]
fn dial_defaults() {
    let doc = read("<Response><Dial>415-555-1212</Dial></Response>");
    let dial = only_dial(&doc);
    assert_eq!(dial.action, None);
    assert_eq!(dial.method, Method::Post);
    assert_eq!((dial.timeout_secs, dial.time_limit_secs), (30, 14_400));
    assert_eq!(dial.caller_id, None);
    assert!(!dial.answer_on_bridge);
    assert!(dial.ignored_attributes.is_empty());
    match dial.targets.as_slice() {
        [DialTarget::Number(n)] => {
            assert_eq!(n.number, "+14155551212");
            assert_eq!(n.byoc, None);
        }
        other => panic!("{other:?}"),
    }
    assert!(doc.warnings.is_empty());
}

#[test]
fn invalid_dial_attributes_take_their_defaults_with_their_own_codes() {
    let doc = read(
        r#"<Response><Dial method="PUT" timeout="0" timeLimit="-5" answerOnBridge="yes" colour="red">+15551230000</Dial></Response>"#,
    );
    let dial = only_dial(&doc);
    assert_eq!(dial.method, Method::Post);
    assert_eq!((dial.timeout_secs, dial.time_limit_secs), (30, 14_400));
    assert!(!dial.answer_on_bridge);
    let mut got = codes(&doc);
    got.sort_unstable();
    assert_eq!(got, [12200, 13210, 13212, 13216, 13219]);
    for bad in ["30.5", "abc", " ", "1e3"] {
        let doc = read(&format!(
            r#"<Response><Dial timeout="{bad}">+15551230000</Dial></Response>"#
        ));
        assert_eq!(only_dial(&doc).timeout_secs, 30, "{bad}");
        assert_eq!(codes(&doc), [13212], "{bad}");
    }
}

#[test]
fn dial_timeouts_are_cut_to_their_maximums() {
    let doc = read(
        r#"<Response><Dial timeout="601" timeLimit="99999999999999999999999">+15551230000</Dial></Response>"#,
    );
    let dial = only_dial(&doc);
    assert_eq!((dial.timeout_secs, dial.time_limit_secs), (600, 86_400));
    assert!(doc.warnings.is_empty());
}

#[test]
fn a_dial_action_that_is_not_a_url_is_an_error_11100() {
    let doc =
        read(r#"<Response><Dial action="javascript:alert(1)">+15551230000</Dial></Response>"#);
    match doc.verbs.as_slice() {
        [Verb::Invalid { verb, code, .. }] => {
            assert_eq!((verb.as_str(), code.number()), ("Dial", 11100))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_dial_with_nothing_to_dial_warns_13223() {
    for xml in [
        "<Response><Dial/></Response>",
        "<Response><Dial>   </Dial></Response>",
        "<Response><Dial>call me maybe</Dial></Response>",
        "<Response><Dial><Number>12</Number></Dial></Response>",
    ] {
        let doc = read(xml);
        assert_eq!(only_dial(&doc).targets, [], "{xml}");
        assert_eq!(codes(&doc), [13223], "{xml}");
    }
}

#[test]
fn phone_numbers_as_twilio_accepts_them() {
    let good = [
        ("+14155551212", "+14155551212"),
        ("415-555-1212", "+14155551212"),
        ("(415) 555-1212", "+14155551212"),
        ("1 415 555 1212", "+14155551212"),
        ("415.555.1212", "+14155551212"),
        ("+44 20 7946 0000", "+442079460000"),
        ("+123456789012345", "+123456789012345"),
        (" +7 ", "+7"),
    ];
    for (text, want) in good {
        assert_eq!(phone_number(text).as_deref(), Some(want), "{text}");
    }
    let bad = [
        "",
        "+",
        "+0123",
        "+1234567890123456",
        "12345",
        "115-555-1212",
        "2415551212x",
        "sip:a@b",
        "++1415",
        "4155551212#",
        "14155551212 ext 3",
    ];
    for text in bad {
        assert_eq!(phone_number(text), None, "{text}");
    }
}

#[test]
fn text_beside_nouns_and_unknown_nouns_are_ignored_with_12200() {
    let doc =
        read("<Response><Dial>+15550000000<Number>+15551111111</Number><Bogus/></Dial></Response>");
    let dial = only_dial(&doc);
    match dial.targets.as_slice() {
        [DialTarget::Number(n)] => assert_eq!(n.number, "+15551111111"),
        other => panic!("{other:?}"),
    }
    let mut got = codes(&doc);
    got.sort_unstable();
    assert_eq!(got, [12200, 12200]);
}

#[test]
fn a_dial_calls_at_most_ten_parties() {
    let nouns = "<Number>+15551230000</Number>".repeat(12);
    let doc = read(&format!("<Response><Dial>{nouns}</Dial></Response>"));
    assert_eq!(only_dial(&doc).targets.len(), 10);
    assert_eq!(codes(&doc), [12200]);
}

#[test]
fn unsupported_nouns_keep_their_names() {
    let doc = read(
        "<Response><Dial><Client>a</Client><Conference>c</Conference><Queue>q</Queue>\
         <Sim>DE1</Sim><Application>AP1</Application><WhatsApp>+1</WhatsApp></Dial></Response>",
    );
    let names: Vec<&str> = only_dial(&doc)
        .targets
        .iter()
        .map(|t| match t {
            DialTarget::Unsupported(n) => n.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        names,
        [
            "Client",
            "Conference",
            "Queue",
            "Sim",
            "Application",
            "WhatsApp"
        ]
    );
}

#[test]
fn a_number_with_a_bad_byoc_or_method_or_callback() {
    let doc =
        read(r#"<Response><Dial><Number byoc="BYnope">+15551230000</Number></Dial></Response>"#);
    assert_eq!(only_dial(&doc).targets, []);
    assert_eq!(codes(&doc), [12200]);
    let doc = read(
        r#"<Response><Dial><Number method="PATCH" url="/s" statusCallback="http://" statusCallbackEvent="ringing">+15551230000</Number></Dial></Response>"#,
    );
    match only_dial(&doc).targets.as_slice() {
        [DialTarget::Number(n)] => {
            assert_eq!(n.screening.as_ref().map(|s| s.method), Some(Method::Post));
            assert_eq!(n.status_callback, None);
        }
        other => panic!("{other:?}"),
    }
    let mut got = codes(&doc);
    got.sort_unstable();
    assert_eq!(got, [12200, 13221]);
}

#[test]
fn status_callback_events() {
    let doc = read(
        r#"<Response><Dial><Sip statusCallback="/cb" statusCallbackEvent="ringing, bogus  answered">sip:a@b.example.com</Sip><Sip statusCallback="/cb">sip:c@d.example.com</Sip></Dial></Response>"#,
    );
    let events: Vec<Events> = only_dial(&doc)
        .targets
        .iter()
        .map(|t| match t {
            DialTarget::Sip(s) => s.status_callback.as_ref().unwrap().events,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(events[0], Events::RINGING.with(Events::ANSWERED));
    assert!(!events[0].contains(Events::COMPLETED));
    assert_eq!(events[1], Events::COMPLETED);
    assert_eq!(codes(&doc), [12200]);
}

fn one_sip(xml_uri: &str) -> (Option<SipTarget>, Vec<u32>) {
    let doc = read(&format!(
        "<Response><Dial><Sip>{xml_uri}</Sip></Dial></Response>"
    ));
    let sip = only_dial(&doc).targets.first().map(|t| match t {
        DialTarget::Sip(s) => s.clone(),
        other => panic!("{other:?}"),
    });
    (sip, codes(&doc))
}

#[test]
fn sip_uris_that_are_not_sip_uris_warn_13243() {
    let long = format!("sip:{}@example.com", "a".repeat(240));
    for bad in [
        "bob@example.com",
        "tel:+15551230000",
        "sip:",
        "sip:bob@",
        "sip:a b@c",
        &long,
    ] {
        let (sip, codes) = one_sip(bad);
        assert_eq!(sip, None, "{bad}");
        assert_eq!(codes, [13243], "{bad}");
    }
}

#[test]
fn sip_uri_parts_that_are_invalid_are_dropped_with_32110() {
    let (sip, codes) = one_sip(
        "sips:bob@[2001:db8::1];transport=sctp;region=ie1?X-Ok=1&amp;X-Evil=a%0D%0AVia:%20x&amp;Contact=x&amp;X-Bin=%FF&amp;X-NoValue",
    );
    let sip = sip.unwrap();
    assert_eq!(sip.uri, "sips:bob@[2001:db8::1];region=ie1");
    assert_eq!(sip.transport, None);
    assert_eq!(sip.headers, [("X-Ok".to_owned(), "1".to_owned())]);
    assert_eq!(codes, [32110; 5]);
}

#[test]
fn documents_that_are_not_xml_fail_with_12100() {
    for body in [
        "",
        "hello",
        "<Response>",
        "<Response><Dial></Response>",
        "<Response><Say loop=1>x</Say></Response>",
        " <?xml version=\"1.0\"?><Response/>",
        "<Response>&nbsp;</Response>",
        "<Response/><Response/>",
    ] {
        let err = parse(body.as_bytes(), &base()).unwrap_err();
        assert_eq!(err.code().number(), 12100, "{body:?}: {err}");
    }
    let err = parse(b"<Response>\xff</Response>", &base()).unwrap_err();
    assert_eq!(err.code().number(), 12100);
}

#[test]
fn a_root_other_than_response_fails_with_12102() {
    for body in [
        "<response/>",
        "<Dial>+15551230000</Dial>",
        "<html><body/></html>",
    ] {
        let err = parse(body.as_bytes(), &base()).unwrap_err();
        assert_eq!(err.code().number(), 12102, "{body}");
    }
}

#[test]
fn a_document_over_64_kib_fails_with_11750_before_parsing() {
    let mut body = b"<Response>".to_vec();
    body.resize(MAX_DOCUMENT_BYTES - "</Response>".len(), b' ');
    body.extend_from_slice(b"</Response>");
    assert_eq!(body.len(), MAX_DOCUMENT_BYTES);
    assert!(parse(&body, &base()).is_ok());
    body.insert(10, b' ');
    assert_eq!(
        parse(&body, &base()).unwrap_err(),
        ParseError::TooLarge(MAX_DOCUMENT_BYTES + 1)
    );
    assert_eq!(ParseError::TooLarge(0).code().number(), 11750);
}

#[test]
fn a_billion_laughs_document_is_refused() {
    let mut body =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE Response [\n<!ENTITY lol \"lol\">\n");
    body.push_str("<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n");
    for i in 2..=9 {
        let prev = format!("&lol{};", i - 1).repeat(10);
        body.push_str(&format!("<!ENTITY lol{i} \"{prev}\">\n"));
    }
    body.push_str("]>\n<Response><Redirect>&lol9;</Redirect></Response>");
    let err = parse(body.as_bytes(), &base()).unwrap_err();
    assert_eq!(err.code().number(), 12100, "{err}");
}

#[test]
fn external_entities_are_refused() {
    let body = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><Response><Redirect>&x;</Redirect></Response>";
    assert_eq!(
        parse(body.as_bytes(), &base()).unwrap_err().code().number(),
        12100
    );
}

#[test]
fn too_many_nodes_fail_with_12100() {
    let body = format!(
        "<Response>{}</Response>",
        "<Hangup/>".repeat(MAX_NODES as usize)
    );
    assert!(body.len() < MAX_DOCUMENT_BYTES);
    let err = parse(body.as_bytes(), &base()).unwrap_err();
    assert_eq!(err.code().number(), 12100);
    assert!(err.to_string().contains("4096"), "{err}");
}

#[test]
fn deep_nesting_within_the_bounds_is_read_without_recursion() {
    let depth = 4000;
    let body = format!(
        "<Response>{}{}</Response>",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    );
    let doc = read(&body);
    assert_eq!(doc.verbs, []);
    assert_eq!(codes(&doc), [12200]);
}

#[test]
fn every_parse_error_names_its_code() {
    assert_eq!(ParseError::Malformed(String::new()).code().number(), 12100);
    assert_eq!(
        ParseError::NotResponse(String::new()).code().number(),
        12102
    );
}

#[test]
fn any_dtd_is_refused_even_a_harmless_one() {
    let body = "<!DOCTYPE Response [<!ENTITY next \"/n\">]><Response><Redirect>&next;</Redirect></Response>";
    let err = parse(body.as_bytes(), &base()).unwrap_err();
    assert_eq!(err.code().number(), 12100, "{err}");
}
