//! Tests for the SIP message parser: RFC 4475 torture messages, edge cases, and property tests.

use super::*;
use proptest::prelude::*;

/// Text with `\n` line endings turned into CRLF, as on the wire.
fn crlf(text: &str) -> Vec<u8> {
    text.replace('\n', "\r\n").into_bytes()
}

fn parse_ok(buf: &[u8]) -> Message<'_> {
    Message::parse(buf).unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(buf)))
}

/// The 150-octet SDP body used throughout RFC 4475 (with 9-character addresses).
fn sdp(origin: &str, conn: &str) -> String {
    format!(
        "v=0\no=mhandley 29739 7272939 IN IP4 {origin}\ns=-\nc=IN IP4 {conn}\nt=0 0\n\
         m=audio 49217 RTP/AVP 0 12\nm=video 3227 RTP/AVP 31\na=rtpmap:31 LPC\n"
    )
}

fn via_hosts(m: &Message<'_>) -> Vec<String> {
    m.vias()
        .unwrap()
        .iter()
        .map(|v| v.host.to_string())
        .collect()
}

const OPTIONS: &str = "OPTIONS sip:user@example.com SIP/2.0\n\
    Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKkdjuw;rport\n\
    To: sip:user@example.com\n\
    From: sip:caller@example.net;tag=323\n\
    Call-ID: opt.1234@192.0.2.1\n\
    CSeq: 60 OPTIONS\n\
    Max-Forwards: 70\n\
    Content-Length: 0\n\
    \n";

// ---------------------------------------------------------------------------------------------
// RFC 4475 §3.1.1: valid messages.
// ---------------------------------------------------------------------------------------------

/// RFC 4475 §3.1.1.1 wsinv: whitespace, folding, compact forms, mixed case, Vias in one header.
#[test]
fn rfc4475_wsinv_short_tortuous_invite() {
    let text = format!(
        r#"INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0
TO :
 sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n
from   : "J Rosenberg \\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : 150
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch=390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
Route:
 <sip:services.example.com;lr;unknownwith=value;unknown-no-value>
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \"\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33

{}"#,
        sdp("192.0.2.3", "192.0.2.4")
    );
    let buf = crlf(&text);
    let m = parse_ok(&buf);
    assert!(m.is_request());
    assert_eq!(m.method(), Some("INVITE"));
    assert_eq!(
        m.uri(),
        Some("sip:vivekg@chair-dnrc.example.com;unknownparam")
    );
    assert_eq!(m.status(), None);
    assert_eq!(m.headers.len(), 14);
    assert_eq!(m.headers[0].name, "TO");
    assert_eq!(
        m.header("to"),
        Some("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n")
    );
    // A value that starts on a continuation line stays borrowed.
    assert!(matches!(m.headers[0].value, Cow::Borrowed(_)));
    assert_eq!(
        m.header("From"),
        Some(r#""J Rosenberg \\\""       <sip:jdrosen@example.com> ; tag = 98asjd8"#)
    );
    assert!(matches!(m.headers[1].value, Cow::Owned(_)));
    assert_eq!(m.header("Max-Forwards"), Some("0068"));
    assert_eq!(m.header("l"), Some("150"));
    assert_eq!(m.header("CSeq"), Some("0009 INVITE"));
    assert_eq!(m.header("Subject"), Some(""));
    assert_eq!(
        m.header("newfangledheader"),
        Some("newfangled value continued newfangled value")
    );
    assert_eq!(m.header("UnknownHeaderWithUnusualValue"), Some(";;,,;;,;"));
    assert_eq!(
        m.header("Route"),
        Some("<sip:services.example.com;lr;unknownwith=value;unknown-no-value>")
    );
    assert_eq!(
        m.header("Contact"),
        Some(
            r#""Quoted string \"\"" <sip:jdrosen@example.com> ; newparam = newvalue ; secondparam ; q = 0.33"#
        )
    );
    assert_eq!(m.headers_named("via").count(), 2);

    let vias = m.vias().unwrap();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[0].protocol, "SIP  /   2.0 /UDP");
    assert_eq!(vias[0].transport, "UDP");
    assert_eq!(vias[0].host, "192.0.2.2");
    assert_eq!(vias[0].param("branch"), Some(Some("390skdjuw")));
    assert_eq!(vias[1].transport, "TCP");
    assert_eq!(vias[1].host, "spindle.example.com");
    assert_eq!(vias[1].param("BRANCH"), Some(Some("z9hG4bK9ikj8")));
    assert_eq!(vias[2].transport, "UDP");
    assert_eq!(vias[2].host, "192.168.255.111");
    assert_eq!(vias[2].port, None);
    assert_eq!(vias[2].param("branch"), Some(Some("z9hG4bK30239")));

    assert_eq!(m.body.len(), 150);
    assert!(m.body.starts_with(b"v=0\r\n"));
    assert!(m.body.ends_with(b"a=rtpmap:31 LPC\r\n"));

    let uri = SipUri::parse(m.uri().unwrap()).unwrap();
    assert_eq!(uri.user, Some("vivekg"));
    assert_eq!(uri.host, "chair-dnrc.example.com");
    assert_eq!(uri.rest, ";unknownparam");
}

/// RFC 4475 §3.1.1.2 intmeth: every token character in the method, odd URIs, and NUL, BEL and
/// DEL as quoted-pairs in a display name.
#[test]
fn rfc4475_intmeth_wide_range_of_valid_characters() {
    let method = "!interesting-Method0123456789_*+`.%indeed'~";
    let uri = "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com";
    let text = format!(
        "{method} {uri} SIP/2.0\n\
         Via: SIP/2.0/TCP host1.example.com;branch=z9hG4bK-.!%66*_+`'~\n\
         To: \"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7F\" <sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*@example.com>\n\
         From: token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;fromParam''~+*_!.-%=\"работающий\";tag=_token~1'+`*%!-.\n\
         Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}}{{\n\
         CSeq: 139122385 {method}\n\
         Max-Forwards: 255\n\
         extensionHeader-!.%*+_`'~:\u{feff}大停電\n\
         Content-Length: 0\n\n"
    );
    let buf = crlf(&text);
    let m = parse_ok(&buf);
    assert_eq!(m.method(), Some(method));
    assert_eq!(m.uri(), Some(uri));
    assert_eq!(m.header("to").unwrap().as_bytes()[..8], *b"\"BEL:\\\x07 ");
    assert!(m.header("To").unwrap().contains("NUL:\\\0 DEL:\\\x7f"));
    assert!(m.header("from").unwrap().contains("\"работающий\""));
    assert_eq!(
        m.header("Call-ID"),
        Some("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{")
    );
    assert_eq!(
        m.header("EXTENSIONHEADER-!.%*+_`'~"),
        Some("\u{feff}大停電")
    );
    assert_eq!(
        m.vias().unwrap()[0].param("branch"),
        Some(Some("z9hG4bK-.!%66*_+`'~"))
    );
    let u = SipUri::parse(uri).unwrap();
    assert_eq!(
        u.user,
        Some(
            "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
        )
    );
    assert_eq!(u.host, "example.com");
    assert_eq!(u.rest, "");
    assert!(m.body.is_empty());
}

/// RFC 4475 §3.1.1.3 esc01 and §3.1.1.4 escnull: escapes are passed through, compact forms.
#[test]
fn rfc4475_esc01_and_escnull() {
    let esc01 = format!(
        "INVITE sip:sips%3Auser%40example.com@example.net SIP/2.0\n\
         To: sip:%75se%72@example.com\n\
         From: <sip:I%20have%20spaces@example.net>;tag=938\n\
         Max-Forwards: 87\n\
         i: esc01.239409asdfakjkn23onasd0-3234\n\
         CSeq: 234234 INVITE\n\
         Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bKkdjuw\n\
         C: application/sdp\n\
         Contact:\n  <sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>\n\
         Content-Length: 150\n\n{}",
        sdp("192.0.2.1", "192.0.2.1")
    );
    let buf = crlf(&esc01);
    let m = parse_ok(&buf);
    let u = SipUri::parse(m.uri().unwrap()).unwrap();
    assert_eq!(u.scheme, "sip");
    assert_eq!(u.user, Some("sips%3Auser%40example.com"));
    assert_eq!(u.host, "example.net");
    assert_eq!(
        m.header("Call-ID"),
        Some("esc01.239409asdfakjkn23onasd0-3234")
    );
    assert_eq!(m.header("content-type"), Some("application/sdp"));
    assert_eq!(
        m.header("m"),
        Some("<sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31>")
    );
    assert_eq!(m.body.len(), 150);

    let escnull = crlf(
        "REGISTER sip:example.com SIP/2.0\n\
         To: sip:null-%00-null@example.com\n\
         From: sip:null-%00-null@example.com;tag=839923423\n\
         Max-Forwards: 70\n\
         Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd\n\
         CSeq: 14398234 REGISTER\n\
         Via: SIP/2.0/UDP host5.example.com;branch=z9hG4bKkdjuw\n\
         Contact: <sip:%00@host5.example.com>\n\
         Contact: <sip:%00%00@host5.example.com>\n\
         L:0\n\n",
    );
    let m = parse_ok(&escnull);
    assert_eq!(m.header("content-length"), Some("0"));
    assert_eq!(m.headers_named("m").count(), 2);
    assert_eq!(
        SipUri::parse("sip:null-%00-null@example.com").unwrap().user,
        Some("null-%00-null")
    );
}

/// RFC 4475 §3.1.1.5 esc02: `%` that is not an escape, in a method and a header name.
#[test]
fn rfc4475_esc02_percent_not_an_escape() {
    let buf = crlf(
        "RE%47IST%45R sip:registrar.example.com SIP/2.0\n\
         To: \"%Z%45\" <sip:resource@example.com>\n\
         From: \"%Z%45\" <sip:resource@example.com>;tag=f232jadfj23\n\
         Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf\n\
         Via: SIP/2.0/TCP host.example.com;branch=z9hG4bK209%fzsnel234\n\
         CSeq: 29344 RE%47IST%45R\n\
         Max-Forwards: 70\n\
         Contact: <sip:alias1@host1.example.com>\n\
         C%6Fntact: <sip:alias2@host2.example.com>\n\
         Contact: <sip:alias3@host3.example.com>\n\
         l: 0\n\n",
    );
    let m = parse_ok(&buf);
    assert_eq!(m.method(), Some("RE%47IST%45R"));
    // `C%6Fntact` is an unknown header, not a Contact.
    let contacts: Vec<_> = m.headers_named("Contact").map(|h| &*h.value).collect();
    assert_eq!(
        contacts,
        [
            "<sip:alias1@host1.example.com>",
            "<sip:alias3@host3.example.com>"
        ]
    );
    assert_eq!(
        m.header("c%6fntact"),
        Some("<sip:alias2@host2.example.com>")
    );
}

/// RFC 4475 §3.1.1.7 longreq: long values and 34 Vias with every spelling of the name.
#[test]
fn rfc4475_longreq_long_values_and_many_via_spellings() {
    let mut text = format!(
        "INVITE sip:user@example.com SIP/2.0\n\
         To: \"I have a user name of {} proportion\" <sip:user@example.com:6000;unknownparam1=very{}value>\n\
         F: sip:{}@example.net;tag=12{}424\n\
         Call-ID: longreq.one{}longcallid\n\
         CSeq: 3882340 INVITE\n\
         Unknown-{}-Name: unknown-{}-value\n",
        "extreme".repeat(10),
        "long".repeat(20),
        "amazinglylongcallername".repeat(5),
        "982".repeat(50),
        "really".repeat(20),
        "Long".repeat(20),
        "long".repeat(20),
    );
    let spellings = [
        "Via: ", "v: ", "V: ", "Via: ", "ViA: ", "VIa: ", "VIA: ", "via: ", "viA: ", "vIa: ",
        "vIA: ", "V :  ", "v :  ", "V  : ", "v  : ", "Via : ", "Via  : ",
    ];
    for n in (1..=33).rev() {
        let name = spellings.get(33 - n).copied().unwrap_or("Via: ");
        text.push_str(&format!("{name}SIP/2.0/TCP sip{n}.example.com\n"));
    }
    text.push_str(&format!(
        "Via: SIP/2.0/TCP host.example.com;received=192.0.2.5;branch=very{}branchvalue\n\
         Max-Forwards: 70\nContent-Type: application/sdp\nl: 150\n\n{}",
        "long".repeat(50),
        sdp("192.0.2.1", "192.0.2.1")
    ));
    let buf = crlf(&text);
    let m = parse_ok(&buf);
    let hosts = via_hosts(&m);
    assert_eq!(hosts.len(), 34);
    assert_eq!(hosts[0], "sip33.example.com");
    assert_eq!(hosts[32], "sip1.example.com");
    let last = &m.vias().unwrap()[33];
    assert_eq!(last.param("received"), Some(Some("192.0.2.5")));
    assert_eq!(last.param("branch").unwrap().unwrap().len(), 4 + 200 + 11);
    assert_eq!(
        m.header("from"),
        Some(&*format!(
            "sip:{}@example.net;tag=12{}424",
            "amazinglylongcallername".repeat(5),
            "982".repeat(50)
        ))
    );
    assert_eq!(m.body.len(), 150);
}

/// RFC 4475 §3.1.1.8 dblreq: octets after `Content-Length` in a datagram are ignored.
#[test]
fn rfc4475_dblreq_extra_trailing_octets_ignored() {
    let text = format!(
        "REGISTER sip:example.com SIP/2.0\n\
         To: sip:j.user@example.com\n\
         From: sip:j.user@example.com;tag=43251j3j324\n\
         Max-Forwards: 8\n\
         I: dblreq.0ha0isndaksdj99sdfafnl3lk233412\n\
         Contact: sip:j.user@host.example.com\n\
         CSeq: 8 REGISTER\n\
         Via: SIP/2.0/UDP 192.0.2.125;branch=z9hG4bKkdjuw23492\n\
         Content-Length: 0\n\n\
         INVITE sip:joe@example.com SIP/2.0\n\
         t: sip:joe@example.com\n\
         From: sip:caller@example.net;tag=141334\n\
         Max-Forwards: 8\n\
         Call-ID: dblreq.0ha0isnda977644900765@192.0.2.15\n\
         CSeq: 8 INVITE\n\
         Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw380234\n\
         Content-Type: application/sdp\n\
         Content-Length: 150\n\n{}",
        sdp("192.0.2.15", "192.0.2.15")
    );
    let buf = crlf(&text);
    let m = parse_ok(&buf);
    assert_eq!(m.method(), Some("REGISTER"));
    assert!(m.body.is_empty());
    assert_eq!(
        m.header("i"),
        Some("dblreq.0ha0isndaksdj99sdfafnl3lk233412")
    );
    assert_eq!(m.headers.len(), 8);
}

/// RFC 4475 §3.1.1.9 semiuri and §3.1.1.10 transports.
#[test]
fn rfc4475_semiuri_and_transports() {
    let buf = crlf(
        "OPTIONS sip:user;par=u%40example.net@example.com SIP/2.0\n\
         To: sip:j_user@example.com\n\
         From: sip:caller@example.org;tag=33242\n\
         Max-Forwards: 3\n\
         Call-ID: semiuri.0ha0isndaksdj\n\
         CSeq: 8 OPTIONS\n\
         Accept: application/sdp, application/pkcs7-mime,\n        multipart/mixed, multipart/signed,\n        message/sip, message/sipfrag\n\
         Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKkdjuw\n\
         l: 0\n\n",
    );
    let m = parse_ok(&buf);
    let u = SipUri::parse(m.uri().unwrap()).unwrap();
    assert_eq!(u.user, Some("user;par=u%40example.net"));
    assert_eq!(u.host, "example.com");
    assert_eq!(u.rest, "");
    let accept = m.header("accept").unwrap();
    assert_eq!(split_header_values(accept).len(), 6);
    assert_eq!(split_header_values(accept)[2], "multipart/mixed");

    let buf = crlf(
        "OPTIONS sip:user@example.com SIP/2.0\n\
         To: sip:user@example.com\n\
         From: <sip:caller@example.com>;tag=323\n\
         Max-Forwards: 70\n\
         Call-ID:  transports.kijh4akdnaqjkwendsasfdj\n\
         Accept: application/sdp\n\
         CSeq: 60 OPTIONS\n\
         Via: SIP/2.0/UDP t1.example.com;branch=z9hG4bKkdjuw\n\
         Via: SIP/2.0/SCTP t2.example.com;branch=z9hG4bKklasjdhf\n\
         Via: SIP/2.0/TLS t3.example.com;branch=z9hG4bK2980unddj\n\
         Via: SIP/2.0/UNKNOWN t4.example.com;branch=z9hG4bKasd0f3en\n\
         Via: SIP/2.0/TCP t5.example.com;branch=z9hG4bK0a9idfnee\n\
         l: 0\n\n",
    );
    let m = parse_ok(&buf);
    let transports: Vec<_> = m.vias().unwrap().iter().map(|v| v.transport).collect();
    assert_eq!(transports, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
    assert_eq!(
        m.header("call-id"),
        Some("transports.kijh4akdnaqjkwendsasfdj")
    );
}

/// RFC 4475 §3.1.1.11 mpart01: a multipart body with binary content passes through untouched.
#[test]
fn rfc4475_mpart01_binary_body() {
    let mut body = b"--boundary42\r\nContent-Type: text/plain\r\n\r\nHello\r\n--boundary42\r\n\
Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        .to_vec();
    body.extend(0u8..=255);
    body.extend_from_slice(b"\r\n\r\n\r\n--boundary42--\r\n");
    let mut buf = format!(
        "MESSAGE sip:kumiko@example.org SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-d87543-4dade06d0bdb11ee-1--d87543-;rport\r\n\
         Max-Forwards: 70\r\n\
         To: <sip:kumiko@example.org>\r\n\
         From: <sip:fluffy@example.com>;tag=2fb0dcc9\r\n\
         Call-ID: 3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..\r\n\
         CSeq: 1 MESSAGE\r\n\
         Content-Type: multipart/mixed;boundary=boundary42\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    buf.extend_from_slice(&body);
    let m = parse_ok(&buf);
    assert_eq!(m.body, &body[..]);
    let via = &m.vias().unwrap()[0];
    assert_eq!(via.port, Some(5070));
    assert_eq!(via.param("rport"), Some(None));
    // The same bytes frame exactly on a stream.
    assert_eq!(frame_len(&buf), Ok(Some(buf.len())));
}

/// RFC 4475 §3.1.1.12 unreason and §3.1.1.13 noreason: response status lines.
#[test]
fn rfc4475_unreason_and_noreason() {
    let text = format!(
        "SIP/2.0 200 = 2**3 * 5**2 но сто девяносто девять - простое\n\
         Via: SIP/2.0/UDP 192.0.2.198;branch=z9hG4bK1324923\n\
         Call-ID: unreason.1234ksdfak3j2erwedfsASdf\n\
         CSeq: 35 INVITE\n\
         From: sip:user@example.com;tag=11141343\n\
         To: sip:user@example.edu;tag=2229\n\
         Content-Length: 154\n\
         Content-Type: application/sdp\n\
         Contact: <sip:user@host198.example.com>\n\n{}",
        sdp("192.0.2.198", "192.0.2.198")
    );
    let buf = crlf(&text);
    let m = parse_ok(&buf);
    assert!(!m.is_request());
    assert_eq!(m.status(), Some(200));
    assert_eq!(m.method(), None);
    assert_eq!(m.uri(), None);
    assert_eq!(
        m.start,
        StartLine::Response {
            version: "SIP/2.0",
            code: 200,
            reason: "= 2**3 * 5**2 но сто девяносто девять - простое"
        }
    );
    assert_eq!(m.body.len(), 154);

    for status_line in ["SIP/2.0 100 ", "SIP/2.0 100"] {
        let buf = crlf(&format!(
            "{status_line}\n\
             Via: SIP/2.0/UDP 192.0.2.105;branch=z9hG4bK2398ndaoe\n\
             Call-ID: noreason.asndj203insdf99223ndf\n\
             CSeq: 35 INVITE\n\
             From: <sip:user@example.com>;tag=39ansfi3\n\
             To: <sip:user@example.edu>;tag=902jndnke3\n\
             Content-Length: 0\n\
             Contact: <sip:user@host105.example.com>\n\n"
        ));
        let m = parse_ok(&buf);
        assert_eq!(
            m.start,
            StartLine::Response {
                version: "SIP/2.0",
                code: 100,
                reason: ""
            }
        );
    }
}

/// RFC 4475 messages whose faults are in header semantics, not in framing: the parser accepts
/// them and leaves the judgement to the layer that interprets those headers.
#[test]
fn rfc4475_semantic_errors_parse() {
    let cases: &[(&str, &str)] = &[
        (
            "scalar02",
            "REGISTER sip:example.com SIP/2.0\n\
             Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bK342sdfoi3\n\
             To: <sip:user@example.com>\n\
             From: <sip:user@example.com>;tag=239232jh3\n\
             CSeq: 36893488147419103232 REGISTER\n\
             Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32\n\
             Max-Forwards: 300\n\
             Expires: 10000000000000000000000000000000000000000000000000000000000000000000000000\n\
             Contact: <sip:user@host129.example.com>\n  ;expires=280297596632815\n\
             Content-Length: 0\n\n",
        ),
        (
            "scalarlg",
            "SIP/2.0 503 Service Unavailable\n\
             Via: SIP/2.0/TCP host129.example.com;branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129\n\
             To: <sip:user@example.com>\n\
             From: <sip:other@example.net>;tag=2easdjfejw\n\
             CSeq: 9292394834772304023312 OPTIONS\n\
             Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r\n\
             Retry-After: 949302838503028349304023988\n\
             Warning: 1812 overture \"In Progress\"\n\
             Content-Length: 0\n\n",
        ),
        (
            "quotbad",
            "INVITE sip:user@example.com SIP/2.0\n\
             To: \"Mr. J. User <sip:j.user@example.com>\n\
             From: sip:caller@example.net;tag=93334\n\
             Max-Forwards: 10\n\
             Call-ID: quotbad.034ijhf09fd8@example.net\n\
             CSeq: 40 INVITE\n\
             Via: SIP/2.0/UDP 192.0.2.15;branch=z9hG4bKkdjuw\n\
             l: 0\n\n",
        ),
        (
            "mismatch02 (unknown method, CSeq mismatch)",
            "NEWMETHOD sip:user@example.com SIP/2.0\n\
             To: sip:j.user@example.com\n\
             From: sip:caller@example.net;tag=34525\n\
             Max-Forwards: 6\n\
             Call-ID: mismatch02.dj0234sxdfl3\n\
             CSeq: 8 INVITE\n\
             Contact: <sip:caller@host.example.net>\n\
             Via: SIP/2.0/UDP host.example.net;branch=z9hG4bKkdjuw\n\
             Content-Type: application/sdp\n\
             l: 0\n\n",
        ),
        (
            "escruri (headers in the Request-URI)",
            "INVITE sip:user@example.com?Route=%3Csip:example.com%3E SIP/2.0\n\
             To: sip:user@example.com\n\
             From: sip:caller@example.net;tag=341518\n\
             Max-Forwards: 7\n\
             Call-ID: escruri.23940-asdfhj-aje3br-234q098w-fawerh2q-h4n5\n\
             CSeq: 39234321 INVITE\n\
             Via: SIP/2.0/UDP host1.example.com;branch=z9hG4bKkdjuw2349i\n\
             l: 0\n\n",
        ),
        (
            "unkscm (unknown Request-URI scheme)",
            "OPTIONS nobodyKnowsThisScheme:totallyopaquecontent SIP/2.0\n\
             To: sip:user@example.com\n\
             From: sip:caller@example.net;tag=384\n\
             Max-Forwards: 3\n\
             Call-ID: unkscm.nasdfasser0q239nwsdfasdkl34\n\
             CSeq: 3923423 OPTIONS\n\
             Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234\n\
             Content-Length: 0\n\n",
        ),
        (
            "novelsc",
            "OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0\n\
             To: sip:user@example.com\n\
             From: sip:caller@example.net;tag=384\n\
             Max-Forwards: 3\n\
             Call-ID: novelsc.asdfasser0q239nwsdfasdkl34\n\
             CSeq: 3923423 OPTIONS\n\
             Via: SIP/2.0/TCP host9.example.com;branch=z9hG4bKkdjuw39234\n\
             Content-Length: 0\n\n",
        ),
        (
            "inv2543 (RFC 2543 Via without branch)",
            "INVITE sip:UserB@example.com SIP/2.0\n\
             Via: SIP/2.0/UDP example.com:5060\n\
             From: BigGuy <sip:UserA@example.com>\n\
             To: LittleGuy <sip:UserB@example.com>\n\
             Call-ID: 12345600@example.com\n\
             CSeq: 1 INVITE\n\
             Content-Length: 0\n\n",
        ),
    ];
    for (name, text) in cases {
        let buf = crlf(text);
        let m = Message::parse(&buf).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(m.vias().is_ok(), "{name}");
    }
    let buf = crlf(cases[0].1);
    let m = parse_ok(&buf);
    assert_eq!(m.header("max-forwards"), Some("300"));
    assert_eq!(
        m.header("contact"),
        Some("<sip:user@host129.example.com> ;expires=280297596632815")
    );
    let buf = crlf(cases[2].1);
    let m = parse_ok(&buf);
    assert_eq!(split_header_values(m.header("to").unwrap()).len(), 1);
    let buf = crlf(cases[5].1);
    let m = parse_ok(&buf);
    assert_eq!(SipUri::parse(m.uri().unwrap()), Err(BadUri));
    let buf = crlf(cases[7].1);
    let m = parse_ok(&buf);
    assert_eq!(m.vias().unwrap()[0].param("branch"), None);
}

/// RFC 4475 §3.1.2.1 badinv01: the message frames, but its Via list has empty elements.
#[test]
fn rfc4475_badinv01_extraneous_separators_in_via() {
    let text = format!(
        "INVITE sip:user@example.com SIP/2.0\n\
         To: sip:j.user@example.com\n\
         From: sip:caller@example.net;tag=134161461246\n\
         Max-Forwards: 7\n\
         Call-ID: badinv01.0ha0isndaksdjasdf3234nas\n\
         CSeq: 8 INVITE\n\
         Via: SIP/2.0/UDP 192.0.2.15;;,;,,\n\
         Contact: \"Joe\" <sip:joe@example.org>;;;;\n\
         Content-Length: 152\n\
         Content-Type: application/sdp\n\n{}",
        sdp("192.0.2.15", "192.0.2.15")
    );
    let buf = crlf(&text);
    let m = parse_ok(&buf);
    assert_eq!(m.body.len(), 152);
    assert_eq!(m.vias(), Err(ParseError::BadVia));
}

// ---------------------------------------------------------------------------------------------
// RFC 4475 §3.1.2 and more: invalid messages.
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc4475_invalid_messages() {
    let body = sdp("192.0.2.1", "192.0.2.1");
    let headers = "To: sip:user@example.com\n\
                   From: sip:caller@example.net;tag=1\n\
                   Call-ID: invalid.1\n\
                   CSeq: 1 INVITE\n\
                   Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\n\
                   Max-Forwards: 70\n";
    let cases: Vec<(&str, String, ParseError)> = vec![
        (
            "clerr: Content-Length larger than the message",
            format!("INVITE sip:user@example.com SIP/2.0\n{headers}Content-Length: 9999\n\n{body}"),
            ParseError::BodyTooShort,
        ),
        (
            "ncl: negative Content-Length",
            format!("INVITE sip:user@example.com SIP/2.0\n{headers}Content-Length: -999\n\n{body}"),
            ParseError::BadContentLength,
        ),
        (
            "Content-Length overflowing 64 bits",
            format!(
                "INVITE sip:user@example.com SIP/2.0\n{headers}Content-Length: 18446744073709551616\n\n{body}"
            ),
            ParseError::BadContentLength,
        ),
        (
            "Content-Length with a sign",
            format!("INVITE sip:user@example.com SIP/2.0\n{headers}Content-Length: +150\n\n{body}"),
            ParseError::BadContentLength,
        ),
        (
            "Content-Length not a number",
            format!("INVITE sip:user@example.com SIP/2.0\n{headers}l: 1 50\n\n{body}"),
            ParseError::BadContentLength,
        ),
        (
            "empty Content-Length",
            format!("INVITE sip:user@example.com SIP/2.0\n{headers}Content-Length:\n\n{body}"),
            ParseError::BadContentLength,
        ),
        (
            "mcl01: Content-Length values that disagree",
            "OPTIONS sip:user@example.com SIP/2.0\n\
             Via: SIP/2.0/UDP host5.example.net;branch=z9hG4bK293423\n\
             To: sip:user@example.com\n\
             From: sip:other@example.net;tag=3923942\n\
             Call-ID: mcl01.fhn2323orihawfdoa3o4r52o3irsdf\n\
             CSeq: 15932 OPTIONS\n\
             Content-Length: 13\n\
             Max-Forwards: 60\n\
             Content-Length: 5\n\
             Content-Type: text/plain\n\n\
             There's no way to know how many octets are supposed to be here.\n"
                .to_string(),
            ParseError::BadContentLength,
        ),
        (
            "bigcode: overlarge status code",
            format!("SIP/2.0 4294967301 better not break the receiver\n{headers}l: 0\n\n"),
            ParseError::BadStartLine,
        ),
        (
            "status code below 100",
            format!("SIP/2.0 099 Early\n{headers}l: 0\n\n"),
            ParseError::BadStartLine,
        ),
        (
            "status code with two digits",
            format!("SIP/2.0 20 OK\n{headers}l: 0\n\n"),
            ParseError::BadStartLine,
        ),
        (
            "status code glued to the reason",
            format!("SIP/2.0 200OK\n{headers}l: 0\n\n"),
            ParseError::BadStartLine,
        ),
        (
            "ltgtruri: <> around the Request-URI",
            format!("INVITE <sip:user@example.com> SIP/2.0\n{headers}l: 0\n\n"),
            ParseError::BadStartLine,
        ),
        (
            "lwsruri: LWS inside the Request-URI",
            format!("INVITE sip:user@example.com; lr SIP/2.0\n{headers}l: 0\n\n"),
            ParseError::BadStartLine,
        ),
        (
            "lwsstart: several SP between request-line elements",
            format!("INVITE  sip:user@example.com  SIP/2.0\n{headers}l: 0\n\n"),
            ParseError::BadStartLine,
        ),
        (
            "trws: SP after the version",
            format!("OPTIONS sip:remote-target@example.com SIP/2.0  \n{headers}l: 0\n\n"),
            ParseError::BadStartLine,
        ),
        (
            "tab between request-line elements",
            format!("OPTIONS\tsip:remote-target@example.com SIP/2.0\n{headers}l: 0\n\n"),
            ParseError::BadStartLine,
        ),
        (
            "badvers: unknown protocol version",
            format!("OPTIONS sip:t.watson@example.org SIP/7.0\n{headers}l: 0\n\n"),
            ParseError::BadStartLine,
        ),
        (
            "response with an unknown version",
            format!("SIP/3.0 200 OK\n{headers}l: 0\n\n"),
            ParseError::BadStartLine,
        ),
        (
            "HTTP request",
            "GET / HTTP/1.1\nHost: example.com\n\n".to_string(),
            ParseError::BadStartLine,
        ),
        (
            "method with non-token characters",
            format!("IN(VITE sip:user@example.com SIP/2.0\n{headers}l: 0\n\n"),
            ParseError::BadStartLine,
        ),
        (
            "Request-URI without a scheme",
            format!("INVITE user@example.com SIP/2.0\n{headers}l: 0\n\n"),
            ParseError::BadStartLine,
        ),
        (
            "Request-URI with non-ASCII text",
            format!("INVITE sip:jösé@example.com SIP/2.0\n{headers}l: 0\n\n"),
            ParseError::BadStartLine,
        ),
        (
            "missing request-line element",
            format!("INVITE SIP/2.0\n{headers}l: 0\n\n"),
            ParseError::BadStartLine,
        ),
        (
            "missing empty line after the headers",
            format!("OPTIONS sip:user@example.com SIP/2.0\n{headers}l: 0\n"),
            ParseError::Incomplete,
        ),
        (
            "last header line unterminated",
            format!("OPTIONS sip:user@example.com SIP/2.0\n{headers}l: 0"),
            ParseError::Incomplete,
        ),
        (
            "start line only, unterminated",
            "OPTIONS sip:user@example.com SIP/2.0".to_string(),
            ParseError::Incomplete,
        ),
        (
            "header line without a colon",
            format!("OPTIONS sip:user@example.com SIP/2.0\n{headers}Bogus header line\nl: 0\n\n"),
            ParseError::BadHeader,
        ),
        (
            "header name with a space",
            format!("OPTIONS sip:user@example.com SIP/2.0\n{headers}Max Forwards: 70\nl: 0\n\n"),
            ParseError::BadHeader,
        ),
        (
            "empty header name",
            format!("OPTIONS sip:user@example.com SIP/2.0\n{headers}: 70\nl: 0\n\n"),
            ParseError::BadHeader,
        ),
        (
            "continuation line before any header",
            format!("OPTIONS sip:user@example.com SIP/2.0\n folded\n{headers}l: 0\n\n"),
            ParseError::BadHeader,
        ),
        (
            "bare CR inside a header value",
            format!("OPTIONS sip:user@example.com SIP/2.0\n{headers}Subject: a\rb\nl: 0\n\n"),
            ParseError::BadHeader,
        ),
        (
            "CR CR LF line ending",
            format!("OPTIONS sip:user@example.com SIP/2.0\n{headers}Subject: a\r\r\nl: 0\n\n"),
            ParseError::BadHeader,
        ),
        (
            "control character in the start line",
            format!("OPTIONS sip:user@example.com SIP/2.0\x00\n{headers}l: 0\n\n"),
            ParseError::BadStartLine,
        ),
    ];
    for (name, text, want) in cases {
        for bytes in [crlf(&text), text.clone().into_bytes()] {
            assert_eq!(Message::parse(&bytes).err(), Some(want), "{name}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Framing details, keep-alives, limits.
// ---------------------------------------------------------------------------------------------

#[test]
fn keepalives_are_skipped_or_reported_empty() {
    for ka in ["", "\r\n", "\r\n\r\n", "\n", "\r\n\n\r\n"] {
        assert_eq!(
            Message::parse(ka.as_bytes()),
            Err(ParseError::Empty),
            "{ka:?}"
        );
        let mut buf = ka.as_bytes().to_vec();
        buf.extend(crlf(OPTIONS));
        let m = parse_ok(&buf);
        assert_eq!(m.method(), Some("OPTIONS"));
        assert!(m.body.is_empty());
    }
    assert_eq!(Message::parse(b"\r"), Err(ParseError::Incomplete));
}

#[test]
fn bare_lf_and_mixed_line_endings() {
    let lf = OPTIONS.as_bytes();
    let m = parse_ok(lf);
    assert_eq!(m.headers.len(), 7);
    assert_eq!(m.header("cseq"), Some("60 OPTIONS"));
    let mixed = OPTIONS.replacen('\n', "\r\n", 3);
    let m2 = parse_ok(mixed.as_bytes());
    assert_eq!(m.headers, m2.headers);
    // Folding with bare LF.
    let folded = b"OPTIONS sip:a@b SIP/2.0\nSubject: one\n\ttwo\n  three\nl: 0\n\n";
    assert_eq!(parse_ok(folded).header("s"), Some("one two three"));
}

#[test]
fn whitespace_around_the_colon_and_empty_values() {
    let buf = crlf(
        "OPTIONS sip:a@b SIP/2.0\nVia : SIP/2.0/UDP h\nTo\t:\tsip:x@y\nSubject:\nX-Empty:   \nX-Tight:v\n\n",
    );
    let m = parse_ok(&buf);
    let names: Vec<_> = m.headers.iter().map(|h| h.name).collect();
    assert_eq!(names, ["Via", "To", "Subject", "X-Empty", "X-Tight"]);
    assert_eq!(m.header("v"), Some("SIP/2.0/UDP h"));
    assert_eq!(m.header("t"), Some("sip:x@y"));
    assert_eq!(m.header("subject"), Some(""));
    assert_eq!(m.header("x-empty"), Some(""));
    assert_eq!(m.header("x-tight"), Some("v"));
    assert_eq!(m.header("x-missing"), None);
}

#[test]
fn folding_collapses_whitespace_around_line_breaks() {
    let buf = crlf("OPTIONS sip:a@b SIP/2.0\nSubject: a  \n \t b \n\n   \n c\nl: 0\n\n");
    // The line "\n" would end the headers; use a whitespace-only continuation instead.
    let buf2 = crlf("OPTIONS sip:a@b SIP/2.0\nSubject: a  \n \t b \n   \n c\nl: 0\n\n");
    assert!(Message::parse(&buf).is_ok());
    assert_eq!(parse_ok(&buf2).header("subject"), Some("a b c"));
}

#[test]
fn utf8_display_names_and_binary_bodies() {
    let mut buf = crlf(
        "MESSAGE sip:bob@example.com SIP/2.0\n\
         From: \"Zoë Ångström 東京\" <sip:zoe@example.com>;tag=1\n\
         To: \"Борис\" <sip:bob@example.com>\n\
         Content-Type: application/octet-stream\n\
         Content-Length: 6\n\n",
    );
    buf.extend_from_slice(&[0xff, 0x00, 0xfe, b'\r', b'\n', 0x80]);
    let m = parse_ok(&buf);
    assert_eq!(
        m.header("f"),
        Some("\"Zoë Ångström 東京\" <sip:zoe@example.com>;tag=1")
    );
    assert_eq!(m.body, [0xff, 0x00, 0xfe, b'\r', b'\n', 0x80]);
    let bytes = m.to_bytes();
    assert_eq!(parse_ok(&bytes).body, m.body);
}

#[test]
fn non_utf8_start_line_or_header_is_rejected() {
    let mut buf = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: \xff\xfe\r\nl: 0\r\n\r\n".to_vec();
    assert_eq!(Message::parse(&buf), Err(ParseError::BadHeader));
    buf = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: ok\r\n \xc3\r\nl: 0\r\n\r\n".to_vec();
    assert_eq!(Message::parse(&buf), Err(ParseError::BadHeader));
    buf = b"SIP/2.0 200 \xc3\x28\r\nl: 0\r\n\r\n".to_vec();
    assert_eq!(Message::parse(&buf), Err(ParseError::BadStartLine));
}

#[test]
fn body_without_content_length_is_the_rest_of_the_datagram() {
    let buf = b"MESSAGE sip:a@b SIP/2.0\r\nTo: sip:a@b\r\n\r\nhello\r\n";
    assert_eq!(parse_ok(buf).body, b"hello\r\n");
}

#[test]
fn duplicate_content_length_that_agrees_is_accepted() {
    let buf = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 5\r\nl: 005\r\n\r\nhelloEXTRA";
    assert_eq!(parse_ok(buf).body, b"hello");
    assert_eq!(frame_len(buf), Ok(Some(buf.len() - 5)));
}

#[test]
fn folded_content_length() {
    let buf = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length:\r\n 5\r\n\r\nhello";
    assert_eq!(parse_ok(buf).body, b"hello");
    assert_eq!(frame_len(buf), Ok(Some(buf.len())));
    let split = b"MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 1\r\n 5\r\n\r\nhello";
    assert_eq!(Message::parse(split), Err(ParseError::BadContentLength));
    assert_eq!(frame_len(split), Err(ParseError::BadContentLength));
}

/// A message of `n` headers (each `X-Hn: v`), then `l: 0`.
fn with_headers(n: usize) -> Vec<u8> {
    let mut s = String::from("OPTIONS sip:a@b SIP/2.0\r\n");
    for i in 0..n - 1 {
        s.push_str(&format!("X-H{i}: v\r\n fold\r\n"));
    }
    s.push_str("l: 0\r\n\r\n");
    s.into_bytes()
}

#[test]
fn header_count_limit() {
    let m = parse_ok(&with_headers(MAX_HEADERS)).headers.len();
    assert_eq!(m, MAX_HEADERS);
    assert_eq!(
        Message::parse(&with_headers(MAX_HEADERS + 1)),
        Err(ParseError::TooManyHeaders)
    );
}

/// A request whose header section (start line to empty line) is exactly `n` bytes, padded with
/// `X-Pad` fields of at most `field` bytes each.
fn head_of_size(n: usize, field: usize) -> Vec<u8> {
    let mut s = b"OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n".to_vec();
    while s.len() + 4 < n {
        // "X-Pad: " and at least one byte of value, and CRLF.
        let room = n - 2 - s.len() - 2;
        let len = room.min(field);
        let len = if room - len < 9 && room > len {
            len - 9
        } else {
            len
        };
        s.extend_from_slice(b"X-Pad: ");
        s.extend(std::iter::repeat_n(b'p', len - 7));
        s.extend_from_slice(b"\r\n");
    }
    s.extend_from_slice(b"\r\n");
    assert_eq!(s.len(), n);
    s
}

#[test]
fn the_header_section_may_fill_the_message() {
    let at_limit = head_of_size(MAX_MESSAGE_BYTES, MAX_FIELD_BYTES);
    let parsed = parse_ok(&at_limit);
    let fields = parsed.headers.len();
    assert!(fields > MAX_MESSAGE_BYTES / MAX_FIELD_BYTES, "{fields}");
    assert!(parsed.headers.len() <= MAX_HEADERS);
    assert_eq!(frame_len(&at_limit), Ok(Some(MAX_MESSAGE_BYTES)));
    let over = head_of_size(MAX_MESSAGE_BYTES + 1, MAX_FIELD_BYTES);
    assert_eq!(Message::parse(&over), Err(ParseError::TooLarge));
    assert_eq!(frame_len(&over), Err(ParseError::TooLarge));
    // Keep-alives before the message do not count.
    let mut prefixed = b"\r\n\r\n".to_vec();
    prefixed.extend_from_slice(&at_limit);
    assert!(Message::parse(&prefixed).is_ok());
    assert_eq!(frame_len(&prefixed), Ok(Some(MAX_MESSAGE_BYTES + 4)));
    // Unterminated headers: more is needed until the message limit is reached.
    let open = &over[..MAX_MESSAGE_BYTES - 1];
    assert_eq!(frame_len(open), Ok(None));
    assert_eq!(Message::parse(open), Err(ParseError::Incomplete));
    assert_eq!(
        frame_len(&over[..MAX_MESSAGE_BYTES]),
        Err(ParseError::TooLarge)
    );
}

/// A request with a header field `X-Big` of exactly `n` bytes (`X-Big: ` and its value, with a
/// continuation line every `fold_every` bytes), between its Via and its CSeq.
fn with_field_of(n: usize, fold_every: usize) -> Vec<u8> {
    let mut field = b"X-Big: b".to_vec();
    while field.len() < n {
        if field.len().is_multiple_of(fold_every) && n - field.len() >= 4 {
            field.extend_from_slice(b"\r\n b");
        } else {
            field.push(b'b');
        }
    }
    assert_eq!(field.len(), n);
    let mut s = b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n".to_vec();
    s.extend_from_slice(&field);
    s.extend_from_slice(b"\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n");
    s
}

#[test]
fn a_header_field_and_the_start_line_are_bounded() {
    for line in [MAX_FIELD_BYTES + 10, 1000] {
        let at_limit = with_field_of(MAX_FIELD_BYTES, line);
        let folded = at_limit.windows(3).filter(|w| w == b"\r\n ").count();
        let want = if line == 1000 {
            (MAX_FIELD_BYTES - 1) / 1000
        } else {
            0
        };
        assert_eq!(folded, want);
        let m = parse_ok(&at_limit);
        assert_eq!(m.header("CSeq"), Some("1 INVITE"), "folded at {line}");
        assert_eq!(
            Message::parse(&with_field_of(MAX_FIELD_BYTES + 1, line)),
            Err(ParseError::FieldTooLong),
            "folded at {line}"
        );
    }
    // A 60 KB field in a message under the size limit.
    let big = with_field_of(60_000, 100_000);
    assert!(big.len() < MAX_MESSAGE_BYTES);
    assert_eq!(Message::parse(&big), Err(ParseError::FieldTooLong));
    assert_eq!(
        frame_len(&big),
        Ok(Some(big.len())),
        "it frames all the same"
    );
    // The start line.
    let uri = |n: usize| format!("sip:{}@b", "a".repeat(n));
    let line = |n: usize| format!("INVITE {} SIP/2.0\r\nl: 0\r\n\r\n", uri(n));
    let fits = MAX_FIELD_BYTES - "INVITE sip:@b SIP/2.0".len();
    assert!(Message::parse(line(fits).as_bytes()).is_ok());
    assert_eq!(
        Message::parse(line(fits + 1).as_bytes()),
        Err(ParseError::StartLineTooLong)
    );
}

#[test]
fn refusals_have_a_status_and_a_reason_naming_the_limits() {
    assert_eq!(ParseError::TooLarge.status(), 513);
    assert_eq!(ParseError::TooLarge.reason(), "Message Too Large");
    assert_eq!(ParseError::StartLineTooLong.status(), 414);
    assert_eq!(ParseError::FieldTooLong.status(), 400);
    assert!(
        ParseError::FieldTooLong
            .reason()
            .contains(&MAX_FIELD_BYTES.to_string())
    );
    assert!(
        ParseError::TooManyHeaders
            .reason()
            .contains(&MAX_HEADERS.to_string())
    );
    assert_eq!(ParseError::BodyTooShort.status(), 400);
}

/// Each header of `m` as (name, value).
fn pairs<'m>(m: &'m Message<'_>) -> Vec<(&'m str, &'m str)> {
    m.headers.iter().map(|h| (h.name, &*h.value)).collect()
}

#[test]
fn salvage_reads_the_answer_headers_past_what_broke_the_parse() {
    let mut s = b"INVITE sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nX-Big: ".to_vec();
    s.extend(std::iter::repeat_n(b'x', 60_000));
    s.extend_from_slice(
        b"\r\nf: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nBad line\r\ni: c1\r\nCSeq: 1\r\n  INVITE\r\n\
          From: second\r\nVia: SIP/2.0/UDP h2;branch=z9hG4bK2\r\nl: 0\r\n\r\nbody",
    );
    assert_eq!(Message::parse(&s), Err(ParseError::FieldTooLong));
    let m = salvage(&s).expect("a request");
    assert_eq!(m.method(), Some("INVITE"));
    assert_eq!(
        pairs(&m),
        [
            ("v", "SIP/2.0/UDP h;branch=z9hG4bK1"),
            ("f", "<sip:a@b>;tag=1"),
            ("To", "<sip:c@d>"),
            ("i", "c1"),
            ("CSeq", "1 INVITE"),
            ("Via", "SIP/2.0/UDP h2;branch=z9hG4bK2"),
        ]
    );
    assert!(m.body.is_empty());
    // Past the header count limit too.
    let mut many = with_headers(MAX_HEADERS + 10);
    many.truncate(many.len() - 2);
    many.extend_from_slice(b"Via: SIP/2.0/UDP h\r\nCSeq: 2 OPTIONS\r\n\r\n");
    assert_eq!(Message::parse(&many), Err(ParseError::TooManyHeaders));
    let m = salvage(&many).unwrap();
    assert_eq!(pairs(&m), [("Via", "SIP/2.0/UDP h"), ("CSeq", "2 OPTIONS")]);
}

#[test]
fn salvage_reads_requests_only_and_within_the_limits() {
    for not_a_request in [
        &b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n\r\n"[..],
        b"\x00\xffgarbage\r\n\r\n",
        b"",
        b"\r\n\r\n",
        b"INVITE sip:a@b SIP/2.0",
    ] {
        assert!(salvage(not_a_request).is_none(), "{not_a_request:?}");
    }
    // A field over the limit is skipped, folded or not; one within it is unfolded.
    let mut s = b"BYE sip:a@b SIP/2.0\r\nCall-ID: a\r\n ".to_vec();
    s.extend(std::iter::repeat_n(b'y', MAX_FIELD_BYTES));
    s.extend_from_slice(b"\r\nCall-ID: b\r\n c\r\nCSeq: ");
    s.extend(std::iter::repeat_n(b'9', MAX_FIELD_BYTES));
    s.extend_from_slice(b"\r\nCSeq: 3 BYE\r\nTo: <sip:x@y>");
    let m = salvage(&s).unwrap();
    // The last line is incomplete (no line break): not read.
    assert_eq!(pairs(&m), [("Call-ID", "b c"), ("CSeq", "3 BYE")]);
    // Nothing past the message size limit is read.
    let mut far = b"BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n".to_vec();
    while far.len() < MAX_MESSAGE_BYTES {
        far.extend_from_slice(b"X-Pad: 0123456789abcdef\r\n");
    }
    far.extend_from_slice(b"CSeq: 1 BYE\r\n\r\n");
    assert_eq!(pairs(&salvage(&far).unwrap()), [("Via", "SIP/2.0/UDP h")]);
    // At most MAX_HEADERS Vias.
    let mut vias = b"BYE sip:a@b SIP/2.0\r\n".to_vec();
    for _ in 0..MAX_HEADERS + 5 {
        vias.extend_from_slice(b"v: SIP/2.0/UDP h\r\n");
    }
    assert_eq!(salvage(&vias).unwrap().headers.len(), MAX_HEADERS);
}

#[test]
fn a_framer_fed_a_byte_at_a_time_frames_as_a_whole_buffer_does() {
    let first = crlf(OPTIONS);
    let second = b"MESSAGE sip:a@b SIP/2.0\nl: 3\n\nabc".to_vec();
    let third = b"BYE sip:a@b SIP/2.0\r\nl: 0\r\n\r\n".to_vec();
    let stream = [&b"\r\n\r\n"[..], &first, b"\r\n", &second, &third].concat();
    let frames = |feed: usize| {
        let mut framer = Framer::default();
        let (mut pending, mut frames) = (Vec::new(), Vec::new());
        for piece in stream.chunks(feed) {
            pending.extend_from_slice(piece);
            while let Some(n) = framer.next(&pending).unwrap() {
                // Keep-alives come with the message after them, or alone when it is not in.
                let frame: Vec<u8> = pending.drain(..n).collect();
                let message = &frame[keepalive_len(&frame)..];
                if !message.is_empty() {
                    frames.push(message.to_vec());
                }
            }
        }
        assert!(pending.is_empty());
        frames
    };
    let whole = frames(stream.len());
    assert_eq!(whole, [first.clone(), second.clone(), third.clone()]);
    for feed in [1, 2, 3, 7] {
        assert_eq!(frames(feed), whole, "fed {feed} bytes at a time");
    }
    // An end of headers split after "\n\r" is found when its "\n" comes.
    let mut framer = Framer::default();
    let split = b"BYE sip:a@b SIP/2.0\r\nl: 0\r\n\r".to_vec();
    assert_eq!(framer.next(&split), Ok(None));
    assert_eq!(
        framer.next(&[&split[..], b"\n"].concat()),
        Ok(Some(split.len() + 1))
    );
}

#[test]
fn message_size_limit() {
    let head = "MESSAGE sip:a@b SIP/2.0\r\nl: ";
    let make = |total: usize| {
        // Content-Length has 5 digits for bodies from 10,000 bytes.
        let body = total - head.len() - 5 - 4;
        let mut buf = format!("{head}{body:05}\r\n\r\n").into_bytes();
        buf.resize(total, b'x');
        buf
    };
    let max = make(MAX_MESSAGE_BYTES);
    assert_eq!(
        parse_ok(&max).body.len(),
        MAX_MESSAGE_BYTES - head.len() - 9
    );
    assert_eq!(frame_len(&max), Ok(Some(MAX_MESSAGE_BYTES)));
    let over = make(MAX_MESSAGE_BYTES + 1);
    assert_eq!(Message::parse(&over), Err(ParseError::TooLarge));
    assert_eq!(frame_len(&over), Err(ParseError::TooLarge));
    // The stream error comes as soon as the headers are in.
    assert_eq!(frame_len(&over[..40]), Err(ParseError::TooLarge));
    let huge = b"MESSAGE sip:a@b SIP/2.0\r\nl: 99999999999\r\n\r\n";
    assert_eq!(frame_len(huge), Err(ParseError::TooLarge));
    assert_eq!(Message::parse(huge), Err(ParseError::BodyTooShort));
}

#[test]
fn frame_len_on_streams() {
    let msg = crlf(OPTIONS);
    let n = msg.len();
    assert_eq!(frame_len(&msg), Ok(Some(n)));
    for cut in 0..n {
        assert_eq!(frame_len(&msg[..cut]), Ok(None), "cut at {cut}");
    }
    let mut two = msg.clone();
    two.extend_from_slice(&msg);
    assert_eq!(frame_len(&two), Ok(Some(n)));

    let with_body = b"MESSAGE sip:a@b SIP/2.0\r\nl: 5\r\n\r\nhello";
    assert_eq!(frame_len(&with_body[..with_body.len() - 1]), Ok(None));
    assert_eq!(frame_len(with_body), Ok(Some(with_body.len())));

    let no_length = b"OPTIONS sip:a@b SIP/2.0\r\nTo: sip:a@b\r\n\r\n";
    assert_eq!(frame_len(no_length), Err(ParseError::MissingContentLength));
    let start_only = b"OPTIONS sip:a@b SIP/2.0\r\n\r\n";
    assert_eq!(frame_len(start_only), Err(ParseError::MissingContentLength));
    let bad = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: x\r\n\r\n";
    assert_eq!(frame_len(bad), Err(ParseError::BadContentLength));
    let conflicting = b"OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\nab";
    assert_eq!(frame_len(conflicting), Err(ParseError::BadContentLength));
    let spaced = b"OPTIONS sip:a@b SIP/2.0\r\ncontent-length \t: 2\r\n\r\nab";
    assert_eq!(frame_len(spaced), Ok(Some(spaced.len())));
    // A header merely ending in "l" is not Content-Length.
    let url = b"OPTIONS sip:a@b SIP/2.0\r\nX-Url: 9\r\nl: 0\r\n\r\n";
    assert_eq!(frame_len(url), Ok(Some(url.len())));
}

#[test]
fn frame_len_reports_keepalives() {
    assert_eq!(frame_len(b""), Ok(None));
    assert_eq!(frame_len(b"\r"), Ok(None));
    assert_eq!(frame_len(b"\r\n\r\n"), Ok(Some(4)));
    assert_eq!(frame_len(b"\r\n\r"), Ok(Some(2)));
    assert_eq!(frame_len(b"\n"), Ok(Some(1)));
    let msg = crlf(OPTIONS);
    let mut buf = b"\r\n\r\n".to_vec();
    buf.extend_from_slice(&msg);
    assert_eq!(frame_len(&buf), Ok(Some(4 + msg.len())));
    assert_eq!(parse_ok(&buf).method(), Some("OPTIONS"));
    // Keep-alives before an incomplete message are a frame of their own.
    assert_eq!(frame_len(&buf[..20]), Ok(Some(4)));
    assert_eq!(Message::parse(&buf[..4]), Err(ParseError::Empty));
}

// ---------------------------------------------------------------------------------------------
// Header names.
// ---------------------------------------------------------------------------------------------

#[test]
fn canonical_names() {
    let compact = [
        ("i", "Call-ID"),
        ("m", "Contact"),
        ("e", "Content-Encoding"),
        ("l", "Content-Length"),
        ("c", "Content-Type"),
        ("f", "From"),
        ("s", "Subject"),
        ("k", "Supported"),
        ("t", "To"),
        ("v", "Via"),
        ("o", "Event"),
        ("r", "Refer-To"),
        ("b", "Referred-By"),
        ("u", "Allow-Events"),
        ("x", "Session-Expires"),
        ("a", "Accept-Contact"),
        ("j", "Reject-Contact"),
        ("d", "Request-Disposition"),
        ("y", "Identity"),
        ("n", "Identity-Info"),
    ];
    for (short, long) in compact {
        assert_eq!(canonical_name(short), long);
        assert_eq!(canonical_name(&short.to_uppercase()), long);
        assert_eq!(canonical_name(&long.to_lowercase()), long);
        assert_eq!(canonical_name(&long.to_uppercase()), long);
    }
    assert_eq!(canonical_name("via"), "Via");
    assert_eq!(canonical_name("CALL-ID"), "Call-ID");
    assert_eq!(canonical_name("cseq"), "CSeq");
    assert_eq!(canonical_name("www-authenticate"), "WWW-Authenticate");
    assert_eq!(canonical_name("X-Custom"), "X-Custom");
    assert_eq!(canonical_name("x-custom"), "x-custom");
    assert_eq!(canonical_name("q"), "q");
    assert_eq!(canonical_name(""), "");
}

#[test]
fn header_lookup_honours_compact_forms_both_ways() {
    let buf = crlf(
        "OPTIONS sip:a@b SIP/2.0\nv: SIP/2.0/UDP one\nVIA: SIP/2.0/UDP two\ni: cid\nX-Foo: 1\nx-foo: 2\nq: 3\nl: 0\n\n",
    );
    let m = parse_ok(&buf);
    for name in ["Via", "via", "v", "V"] {
        assert_eq!(m.header(name), Some("SIP/2.0/UDP one"), "{name}");
        assert_eq!(m.headers_named(name).count(), 2, "{name}");
    }
    assert_eq!(m.header("CALL-ID"), Some("cid"));
    assert_eq!(m.header("I"), Some("cid"));
    assert_eq!(
        m.headers_named("X-FOO")
            .map(|h| &*h.value)
            .collect::<Vec<_>>(),
        ["1", "2"]
    );
    assert_eq!(m.header("Q"), Some("3"));
    assert_eq!(m.header("Content-Length"), Some("0"));
    // `x` is Session-Expires, not X-Foo.
    assert_eq!(m.header("x"), None);
    assert_eq!(via_hosts(&m), ["one", "two"]);
}

// ---------------------------------------------------------------------------------------------
// Values: lists, Via, URIs.
// ---------------------------------------------------------------------------------------------

#[test]
fn split_header_values_respects_quotes_brackets_and_angles() {
    let cases: &[(&str, &[&str])] = &[
        ("a, b ,c", &["a", "b", "c"]),
        ("single", &["single"]),
        ("", &[""]),
        ("a,,b", &["a", "", "b"]),
        ("a,", &["a", ""]),
        (
            "\"Doe, John\" <sip:j@x;a=1,2>, <sip:k@y>",
            &["\"Doe, John\" <sip:j@x;a=1,2>", "<sip:k@y>"],
        ),
        (r#""a\", b", c"#, &[r#""a\", b""#, "c"]),
        (
            "SIP/2.0/UDP [2001:db8::1]:5060;branch=z, SIP/2.0/TCP h",
            &["SIP/2.0/UDP [2001:db8::1]:5060;branch=z", "SIP/2.0/TCP h"],
        ),
        ("x;a=[1,2],y", &["x;a=[1,2]", "y"]),
        ("\"unterminated, quote", &["\"unterminated, quote"]),
        ("<unclosed, angle", &["<unclosed, angle"]),
        ("a>, b", &["a>", "b"]),
        ("\t a \t,\tb\t", &["a", "b"]),
    ];
    for (input, want) in cases {
        assert_eq!(split_header_values(input), *want, "{input:?}");
    }
}

#[test]
fn via_parse_with_lws_ipv6_and_params() {
    let v = Via::parse("SIP / 2.0 / UDP 10.0.0.1:5060 ; branch=z9hG4bK1").unwrap();
    assert_eq!(v.protocol, "SIP / 2.0 / UDP");
    assert_eq!(v.transport, "UDP");
    assert_eq!(v.host, "10.0.0.1");
    assert_eq!(v.port, Some(5060));
    assert_eq!(v.params, [("branch", Some("z9hG4bK1"))]);

    let v = Via::parse("SIP/2.0/UDP [2001:db8::9:1]:5060;branch=z9hG4bK").unwrap();
    assert_eq!(v.protocol, "SIP/2.0/UDP");
    assert_eq!(v.host, "2001:db8::9:1");
    assert_eq!(v.port, Some(5060));
    assert_eq!(v.param("branch"), Some(Some("z9hG4bK")));

    let v = Via::parse("SIP/2.0/UDP [::ffff:192.0.2.1]").unwrap();
    assert_eq!(v.host, "::ffff:192.0.2.1");
    assert_eq!(v.port, None);

    let v = Via::parse(
        "SIP/2.0/TCP client.example.com : 5061 ;rport; Received = 2001:db8::5 ;x=\"a; b\" ;maddr=[2001:db8::6];branch=z9hG4bK-x",
    )
    .unwrap();
    assert_eq!(v.host, "client.example.com");
    assert_eq!(v.port, Some(5061));
    assert_eq!(v.param("RPORT"), Some(None));
    assert_eq!(v.param("received"), Some(Some("2001:db8::5")));
    assert_eq!(v.param("x"), Some(Some("\"a; b\"")));
    assert_eq!(v.param("maddr"), Some(Some("[2001:db8::6]")));
    assert_eq!(v.param("branch"), Some(Some("z9hG4bK-x")));
    assert_eq!(v.param("ttl"), None);
    assert_eq!(v.params.len(), 5);

    let v = Via::parse("  sip/2.0/tls host.example.com:0  ").unwrap();
    assert_eq!(v.transport, "tls");
    assert_eq!(v.port, Some(0));
    assert_eq!(Via::parse("SIP/2.0/UDP h:65535").unwrap().port, Some(65535));
}

#[test]
fn via_parse_rejects_malformed_values() {
    for bad in [
        "",
        "SIP/2.0/UDP",
        "SIP/2.0/UDP ",
        "SIP/2.0 UDP host",
        "SIP/2.0/ host",
        "SIP//2.0/UDP host",
        "SIP/2.0/UDP10.0.0.1",
        "SIP/2.0/UDP host:65536",
        "SIP/2.0/UDP host:99999999999999999999",
        "SIP/2.0/UDP host:",
        "SIP/2.0/UDP host:-1",
        "SIP/2.0/UDP host;",
        "SIP/2.0/UDP host;;branch=1",
        "SIP/2.0/UDP host;branch=",
        "SIP/2.0/UDP host;=x",
        "SIP/2.0/UDP host junk",
        "SIP/2.0/UDP host, SIP/2.0/UDP other",
        "SIP/2.0/UDP [::1",
        "SIP/2.0/UDP []",
        "SIP/2.0/UDP [1.2.3.4]",
        "SIP/2.0/UDP 2001:db8::1",
        "SIP/2.0/UDP host;a=\"unterminated",
        "SIP/2.0/UDP hóst",
        "SIP/2.0/UDP host;é=1",
        "<SIP/2.0/UDP host>",
    ] {
        assert_eq!(Via::parse(bad), Err(ParseError::BadVia), "{bad:?}");
    }
}

#[test]
fn sip_uri_parse_and_rewrite() {
    let u = SipUri::parse("sip:alice@10.0.0.1:5070;transport=udp").unwrap();
    assert_eq!(
        u,
        SipUri {
            scheme: "sip",
            user: Some("alice"),
            host: "10.0.0.1",
            port: Some(5070),
            rest: ";transport=udp"
        }
    );
    assert_eq!(
        u.with_host("acme.sip.twilio.com"),
        "sip:alice@acme.sip.twilio.com;transport=udp"
    );

    let u = SipUri::parse("sips:[2001:db8::1]:5061").unwrap();
    assert_eq!(u.scheme, "sips");
    assert_eq!(u.user, None);
    assert_eq!(u.host, "[2001:db8::1]");
    assert_eq!(u.host_for_match(), "2001:db8::1");
    assert_eq!(u.port, Some(5061));
    assert_eq!(u.rest, "");
    assert_eq!(u.with_host("2001:db8::2"), "sips:[2001:db8::2]");
    assert_eq!(u.with_host("[2001:db8::3]"), "sips:[2001:db8::3]");

    let u = SipUri::parse("SIP:Alice:secret@Acme.SIP.Twilio.COM.?subject=hi").unwrap();
    assert_eq!(u.scheme, "SIP");
    assert_eq!(u.user, Some("Alice:secret"));
    assert_eq!(u.host, "Acme.SIP.Twilio.COM.");
    assert_eq!(u.host_for_match(), "Acme.SIP.Twilio.COM");
    assert!(
        u.host_for_match()
            .eq_ignore_ascii_case("acme.sip.twilio.com")
    );
    assert_eq!(u.rest, "?subject=hi");
    assert_eq!(
        u.with_host("b.example"),
        "SIP:Alice:secret@b.example?subject=hi"
    );

    let u = SipUri::parse("sip:alice@[2001:db8::9:1];transport=tcp;lr").unwrap();
    assert_eq!(u.host, "[2001:db8::9:1]");
    assert_eq!(u.rest, ";transport=tcp;lr");
    assert_eq!(
        u.with_host("acme.sip.twilio.com"),
        "sip:alice@acme.sip.twilio.com;transport=tcp;lr"
    );

    let u = SipUri::parse("sip:+15551234567;npdi@carrier.example:5060;user=phone").unwrap();
    assert_eq!(u.user, Some("+15551234567;npdi"));
    assert_eq!(u.host, "carrier.example");
    assert_eq!(u.rest, ";user=phone");

    let u = SipUri::parse("sip:example.com").unwrap();
    assert_eq!(
        (u.user, u.host, u.port, u.rest),
        (None, "example.com", None, "")
    );
    assert_eq!(u.with_host("x.example"), "sip:x.example");
}

#[test]
fn sip_uri_parse_rejects_malformed_uris() {
    for bad in [
        "",
        "sip",
        "sip:",
        "tel:+15551234567",
        "mailto:a@b.example",
        "sipx:a@b",
        "sip:@host",
        "sip:alice@",
        "sip:host:",
        "sip:host:70000",
        "sip:host:5060x",
        "sip:ho st",
        "sip:<alice@host>",
        "<sip:alice@host>",
        "sip:[::1",
        "sip:[]",
        "sip:[nothex]",
        "sip:host!x",
        "sip:alice@host@other",
        "sip:al\"ice@host",
        "sip:alice@hóst",
        "sip:alice@host\t",
        "sip:alice@host;a=\x00",
    ] {
        assert_eq!(SipUri::parse(bad), Err(BadUri), "{bad:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Serialisation.
// ---------------------------------------------------------------------------------------------

#[test]
fn write_response_sets_content_length() {
    let start = StartLine::Response {
        version: "SIP/2.0",
        code: 200,
        reason: "OK",
    };
    let out = write_message(
        &start,
        &[
            (
                "Via",
                "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1;rport=5060;received=192.0.2.1",
            ),
            ("Content-Length", "999"),
            ("CSeq", "1 OPTIONS"),
            ("l", "7"),
        ],
        b"",
    );
    assert_eq!(
        out,
        b"SIP/2.0 200 OK\r\n\
          Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1;rport=5060;received=192.0.2.1\r\n\
          Content-Length: 0\r\n\
          CSeq: 1 OPTIONS\r\n\r\n"
    );
    let out = write_message(
        &StartLine::Request {
            method: "MESSAGE",
            uri: "sip:a@b",
            version: "SIP/2.0",
        },
        &[("To", "sip:a@b"), ("l", "0")],
        b"hi",
    );
    assert_eq!(
        out,
        b"MESSAGE sip:a@b SIP/2.0\r\nTo: sip:a@b\r\nl: 2\r\n\r\nhi"
    );
    let out = write_message(&start, &[], b"body");
    assert_eq!(out, b"SIP/2.0 200 OK\r\nContent-Length: 4\r\n\r\nbody");
    let empty_reason = StartLine::Response {
        version: "SIP/2.0",
        code: 100,
        reason: "",
    };
    assert_eq!(
        write_message(&empty_reason, &[], b""),
        b"SIP/2.0 100 \r\nContent-Length: 0\r\n\r\n"
    );
}

#[test]
fn write_cannot_inject_lines() {
    let start = StartLine::Response {
        version: "SIP/2.0",
        code: 480,
        reason: "Gone\r\nX-Evil: 1",
    };
    let out = write_message(&start, &[("Subject", "a\r\nContent-Length: 99\nb")], b"");
    let m = parse_ok(&out);
    assert_eq!(m.headers.len(), 2);
    assert_eq!(m.header("Subject"), Some("a  Content-Length: 99 b"));
    assert_eq!(m.header("content-length"), Some("0"));
    assert_eq!(m.status(), Some(480));
}

#[test]
fn writer_keeps_the_order_given_and_writes_content_length_last() {
    let mut w = Writer::request("INVITE", "sip:a@b");
    w.header("l", "99");
    w.header("v", "SIP/2.0/UDP h");
    w.header("Content-Length", "7");
    w.header("To", "sip:a@b");
    assert_eq!(
        w.finish(b"abc"),
        b"INVITE sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h\r\nTo: sip:a@b\r\nContent-Length: 3\r\n\r\nabc"
    );
    let mut w = Writer::response(183, "Session\r\nX-Evil: 1");
    w.header("Subject\n", "a\r\nContent-Length: 99\r\n\r\nb");
    let out = w.finish(b"");
    assert_eq!(
        out,
        b"SIP/2.0 183 Session  X-Evil: 1\r\nSubject : a  Content-Length: 99    b\r\n\
          Content-Length: 0\r\n\r\n"
    );
}

#[test]
fn to_bytes_round_trips_a_folded_message() {
    let buf = crlf(
        "\n\nINVITE sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1,\n SIP/2.0/TCP g\nSubject:\n  hi\n  there\nl: 3\n\nabcdef",
    );
    let m = parse_ok(&buf);
    let out = m.to_bytes();
    assert_eq!(
        out,
        b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1, SIP/2.0/TCP g\r\n\
          Subject: hi there\r\nl: 3\r\n\r\nabc"
    );
    assert_eq!(parse_ok(&out), m);
}

// ---------------------------------------------------------------------------------------------
// Regression tests for inputs the property tests found.
// ---------------------------------------------------------------------------------------------

/// A multi-byte character right after "SIP" in the start line must not be sliced through (found
/// in review before the property tests ran; they exercise the same path).
#[test]
fn regression_multibyte_char_after_sip_prefix() {
    assert_eq!(
        Message::parse("SIPé sip:a@b SIP/2.0\r\n\r\n".as_bytes()),
        Err(ParseError::BadStartLine)
    );
    assert_eq!(
        Message::parse("SIé/2.0 200 OK\r\n\r\n".as_bytes()),
        Err(ParseError::BadStartLine)
    );
}

// ---------------------------------------------------------------------------------------------
// Property tests.
// ---------------------------------------------------------------------------------------------

/// A generated message: start line, header fields (name, text between name and value, value
/// split into physical lines), body, optional Content-Length (position, spelling, whether its
/// value is on a continuation line), line endings (bit i set: line i ends in bare LF), leading
/// keep-alives, and bytes after the body (sent only with a Content-Length, as in a datagram).
#[derive(Debug, Clone)]
struct Spec {
    start: String,
    headers: Vec<(String, &'static str, Vec<String>)>,
    fold_ws: &'static str,
    body: Vec<u8>,
    length: Option<(usize, &'static str, bool)>,
    lf_bits: u64,
    keepalives: usize,
    trailing: Vec<u8>,
}

impl Spec {
    /// The message bytes, and where the message starts after the keep-alives; with
    /// `trailing`, followed by the trailing bytes if there is a Content-Length.
    fn render(&self, trailing: bool) -> (Vec<u8>, usize) {
        // Logical lines, each made of its physical lines.
        let mut lines: Vec<Vec<String>> = vec![vec![self.start.clone()]];
        for (name, sep, parts) in &self.headers {
            let mut physical = vec![format!("{name}{sep}{}", parts[0])];
            physical.extend(parts[1..].iter().map(|p| format!("{}{p}", self.fold_ws)));
            lines.push(physical);
        }
        if let Some((pos, name, folded)) = self.length {
            let pos = 1 + pos % (self.headers.len() + 1);
            let line = if folded {
                vec![
                    format!("{name}:"),
                    format!("{}{}", self.fold_ws, self.body.len()),
                ]
            } else {
                vec![format!("{name}: {}", self.body.len())]
            };
            lines.insert(pos, line);
        }
        lines.push(vec![String::new()]);
        let mut out = "\r\n".repeat(self.keepalives).into_bytes();
        let skip = out.len();
        for (i, line) in lines.iter().flatten().enumerate() {
            out.extend_from_slice(line.as_bytes());
            let lf_only = (self.lf_bits >> (i % 64)) & 1 == 1;
            out.extend_from_slice(if lf_only { b"\n" } else { b"\r\n" });
        }
        out.extend_from_slice(&self.body);
        if trailing && self.length.is_some() {
            out.extend_from_slice(&self.trailing);
        }
        (out, skip)
    }

    /// The values `Message::parse` should give, in order (without the added Content-Length).
    fn expected_headers(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|(name, _, parts)| {
                let segments: Vec<&str> = parts
                    .iter()
                    .map(|p| trim_wsp(p))
                    .filter(|p| !p.is_empty())
                    .collect();
                (name.clone(), segments.join(" "))
            })
            .collect()
    }
}

fn method_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "INVITE", "ACK", "OPTIONS", "BYE", "CANCEL", "REGISTER"
        ])
        .prop_map(String::from),
        "[A-Za-z0-9!%*_+`'~.-]{1,10}",
    ]
}

fn uri_strategy() -> impl Strategy<Value = String> {
    (
        prop::option::of("[a-z0-9+;=%.-]{1,10}"),
        prop_oneof![
            "[a-z0-9-]{1,10}(\\.[a-z]{2,5}){0,2}",
            "\\[2001:db8::[0-9a-f]{1,4}\\]",
            "192\\.0\\.2\\.[0-9]{1,3}",
        ],
        prop::option::of(any::<u16>()),
        "(;[a-z]{1,6}(=[a-z0-9]{1,6})?){0,2}",
    )
        .prop_map(|(user, host, port, params)| {
            let user = user.map(|u| format!("{u}@")).unwrap_or_default();
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            format!("sip:{user}{host}{port}{params}")
        })
}

fn start_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        (method_strategy(), uri_strategy()).prop_map(|(m, u)| format!("{m} {u} SIP/2.0")),
        (100u16..700, "[ -~é東]{0,20}").prop_map(|(c, r)| format!("SIP/2.0 {c} {r}")),
    ]
}

fn header_name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "Via",
            "v",
            "To",
            "t",
            "From",
            "f",
            "Call-ID",
            "i",
            "CSeq",
            "Contact",
            "m",
            "Subject",
            "Max-Forwards",
            "X-Custom",
        ])
        .prop_map(String::from),
        "[A-Za-z][A-Za-z0-9!%*_+`'~.-]{0,12}".prop_map(|n| {
            if is_content_length_name(n.as_bytes()) {
                format!("X-{n}")
            } else {
                n
            }
        }),
    ]
}

fn header_strategy() -> impl Strategy<Value = (String, &'static str, Vec<String>)> {
    (
        header_name_strategy(),
        prop::sample::select(vec![":", ": ", " : ", "\t:\t", ":   "]),
        prop::collection::vec("[\\x00\\t -~é中]{0,24}", 1..4),
    )
}

fn spec_strategy(force_length: bool) -> impl Strategy<Value = Spec> {
    let length_line = (
        any::<usize>(),
        prop::sample::select(vec!["Content-Length", "l", "content-LENGTH"]),
        prop::bool::weighted(0.2),
    );
    let length = if force_length {
        length_line.prop_map(Some).boxed()
    } else {
        prop::option::of(length_line).boxed()
    };
    (
        start_strategy(),
        prop::collection::vec(header_strategy(), 0..12),
        prop::sample::select(vec![" ", "\t", "   ", " \t "]),
        prop::collection::vec(any::<u8>(), 0..200),
        length,
        prop_oneof![Just(0u64), any::<u64>()],
        0usize..3,
        prop::collection::vec(any::<u8>(), 0..20),
    )
        .prop_map(
            |(start, headers, fold_ws, body, length, lf_bits, keepalives, trailing)| Spec {
                start,
                headers,
                fold_ws,
                body,
                length,
                lf_bits,
                keepalives,
                trailing,
            },
        )
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    DuplicateLine(usize),
}

fn mutation_strategy() -> impl Strategy<Value = Mutation> {
    let interesting = prop_oneof![
        prop::collection::vec(any::<u8>(), 1..8),
        prop::sample::select(vec![
            b"\r\n".to_vec(),
            b"\n".to_vec(),
            b"\r".to_vec(),
            b" ".to_vec(),
            b":".to_vec(),
            b",".to_vec(),
            b";".to_vec(),
            b"\"".to_vec(),
            b"[".to_vec(),
            b"\r\n ".to_vec(),
            b"\r\n\r\n".to_vec(),
            b"Content-Length: 99999\r\n".to_vec(),
            b"l: 3\r\n".to_vec(),
            b"\xff".to_vec(),
            b"\xc3".to_vec(),
        ]),
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), interesting).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<usize>().prop_map(Mutation::DuplicateLine),
    ]
}

fn apply(buf: &mut Vec<u8>, mutation: &Mutation) {
    let len = buf.len();
    match mutation {
        Mutation::Flip(i, b) if len > 0 => buf[i % len] ^= b | 1,
        Mutation::Flip(..) => {}
        Mutation::Truncate(i) => buf.truncate(i % (len + 1)),
        Mutation::Insert(i, bytes) => {
            let at = i % (len + 1);
            buf.splice(at..at, bytes.iter().copied());
        }
        Mutation::Delete(i, n) => {
            let at = i % (len + 1);
            buf.drain(at..(at + n).min(len));
        }
        Mutation::DuplicateLine(i) => {
            let starts: Vec<usize> = std::iter::once(0)
                .chain(
                    buf.iter()
                        .enumerate()
                        .filter(|(_, b)| **b == b'\n')
                        .map(|(k, _)| k + 1),
                )
                .filter(|&k| k < len)
                .collect();
            if starts.is_empty() {
                return;
            }
            let start = starts[i % starts.len()];
            let end = buf[start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(len, |k| start + k + 1);
            let line = buf[start..end].to_vec();
            buf.splice(start..start, line);
        }
    }
}

/// Runs every entry point on `buf` and checks the invariants that hold for any input.
fn exercise(buf: &[u8]) {
    let parsed = Message::parse(buf);
    if let Ok(m) = &parsed {
        check_parsed(buf, m);
    }
    check_salvaged(buf, parsed.as_ref().ok());
    match frame_len(buf) {
        Ok(Some(n)) => {
            assert!(n > 0 && n <= buf.len(), "frame {n} of {}", buf.len());
            match Message::parse(&buf[..n]) {
                Ok(m) => {
                    // The frame ends exactly where the parsed body ends.
                    let body_end = m.body.as_ptr() as usize - buf.as_ptr() as usize + m.body.len();
                    assert_eq!(body_end, n);
                    assert!(m.header("Content-Length").is_some());
                }
                Err(ParseError::Empty) => {
                    assert!(buf[..n].iter().all(|&b| b == b'\r' || b == b'\n'));
                }
                Err(_) => {}
            }
        }
        Ok(None) => assert!(buf.len() - keepalive_len(buf) < MAX_MESSAGE_BYTES),
        Err(_) => {}
    }
}

/// Invariants of a successful parse: accessors work, and serialising and re-parsing gives the
/// same message (Content-Length aside).
fn check_parsed(buf: &[u8], m: &Message<'_>) {
    assert!(m.headers.len() <= MAX_HEADERS);
    let base = buf.as_ptr() as usize;
    let body_start = m.body.as_ptr() as usize;
    assert!(
        m.body.is_empty() || (body_start >= base && body_start + m.body.len() <= base + buf.len())
    );
    for h in &m.headers {
        assert!(is_token(h.name));
        assert!(!h.value.contains(['\r', '\n']));
        assert_eq!(trim_wsp(&h.value), &*h.value);
        let _ = split_header_values(&h.value);
        let _ = canonical_name(h.name);
    }
    let _ = m.vias();
    if let Some(uri) = m.uri()
        && let Ok(u) = SipUri::parse(uri)
    {
        let rewritten = u.with_host("acme.sip.twilio.com");
        let again = SipUri::parse(&rewritten).expect("rewritten URI parses");
        assert_eq!(again.host, "acme.sip.twilio.com");
        assert_eq!((again.user, again.rest, again.port), (u.user, u.rest, None));
    }
    let out = m.to_bytes();
    match Message::parse(&out) {
        Ok(again) => {
            assert_eq!(again.start, m.start);
            assert_eq!(again.body, m.body);
            assert_eq!(without_length(&again.headers), without_length(&m.headers));
            assert_eq!(
                again.header("Content-Length"),
                Some(&*m.body.len().to_string())
            );
            assert_eq!(frame_len(&out), Ok(Some(out.len())));
            // Serialising with another body gives that body, whatever Content-Length said.
            let headers: Vec<(&str, &str)> =
                m.headers.iter().map(|h| (h.name, &*h.value)).collect();
            let longer = [m.body, b"+1"].concat();
            let out = write_message(&m.start, &headers, &longer);
            if let Ok(again) = Message::parse(&out) {
                assert_eq!(again.body, &longer[..]);
            }
        }
        // Adding a Content-Length line can push a message over a limit.
        Err(
            ParseError::TooLarge
            | ParseError::FieldTooLong
            | ParseError::StartLineTooLong
            | ParseError::TooManyHeaders,
        ) => {}
        Err(e) => panic!("re-parse failed: {e}: {:?}", String::from_utf8_lossy(&out)),
    }
}

/// Invariants of [`salvage`]: it reads requests only, takes only the answer headers, each
/// within the field limit; on a request that parses, it finds every Via and the first of each
/// other answer header, as parsed.
fn check_salvaged(buf: &[u8], parsed: Option<&Message<'_>>) {
    let Some(s) = salvage(buf) else {
        assert!(!parsed.is_some_and(Message::is_request));
        return;
    };
    assert!(s.is_request() && s.body.is_empty());
    assert!(s.headers.len() <= MAX_HEADERS + 4);
    for h in &s.headers {
        assert!(h.value.len() <= MAX_FIELD_BYTES && !h.value.contains(['\r', '\n']));
    }
    if let Some(m) = parsed {
        let mut want: Vec<(&str, &str)> = m
            .headers
            .iter()
            .filter(|h| canonical_name(h.name) == "Via")
            .map(|h| (h.name, &*h.value))
            .collect();
        for name in ["From", "To", "Call-ID", "CSeq"] {
            want.extend(m.headers_named(name).take(1).map(|h| (h.name, &*h.value)));
        }
        want.sort_unstable();
        let mut got = pairs(&s);
        got.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(s.start, m.start);
    }
}

fn without_length<'h, 'a>(headers: &'h [Header<'a>]) -> Vec<&'h Header<'a>> {
    headers
        .iter()
        .filter(|h| !is_content_length_name(h.name.as_bytes()))
        .collect()
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 2_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// (1) No panic on arbitrary bytes.
    #[test]
    fn prop_arbitrary_bytes_never_panic(buf in prop::collection::vec(any::<u8>(), 0..4096)) {
        exercise(&buf);
    }

    /// (1) No panic on bytes drawn from SIP's syntax characters, which get further.
    #[test]
    fn prop_sip_alphabet_never_panics(
        buf in prop::collection::vec(
            prop::sample::select(b"SIP/2.0 INVITE sip:a@[::1]:5;,=\"<>\\\r\n\r\n\t vVlL: 0123456789\xc3\xa9".to_vec()),
            0..600,
        )
    ) {
        exercise(&buf);
        let mut prefixed = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
        prefixed.extend_from_slice(&buf);
        exercise(&prefixed);
    }

    /// (1) No panic on mutated valid messages.
    #[test]
    fn prop_mutated_messages_never_panic(
        spec in spec_strategy(false),
        mutations in prop::collection::vec(mutation_strategy(), 1..5),
    ) {
        let (mut buf, _) = spec.render(true);
        for mutation in &mutations {
            apply(&mut buf, mutation);
            exercise(&buf);
        }
    }

    /// (2) A valid message parses as generated, and serialising and re-parsing preserves it.
    #[test]
    fn prop_valid_messages_round_trip(spec in spec_strategy(false)) {
        let (buf, _) = spec.render(true);
        let m = Message::parse(&buf).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let got: Vec<(String, String)> = without_length(&m.headers)
            .iter()
            .map(|h| (h.name.to_string(), h.value.to_string()))
            .collect();
        prop_assert_eq!(got, spec.expected_headers());
        prop_assert_eq!(m.body, &spec.body[..]);
        let start = write_message(&m.start, &[], b"");
        let want_start = [spec.start.as_bytes(), b"\r\n"].concat();
        prop_assert!(start.starts_with(&want_start));
        check_parsed(&buf, &m);
        let out = m.to_bytes();
        let again = Message::parse(&out).unwrap();
        prop_assert_eq!(&again.start, &m.start);
        prop_assert_eq!(again.body, m.body);
        prop_assert_eq!(without_length(&again.headers), without_length(&m.headers));
    }

    /// Splitting a list of elements that contain commas inside quotes, `<…>` and `[…]` gives the
    /// elements back.
    #[test]
    fn prop_split_header_values_inverts_join(
        elements in prop::collection::vec(
            prop_oneof![
                "[a-zA-Z0-9/.;=:-]{1,10}",
                r#""([a-z ,;<>]|\\["\\])*""#,
                "<sip:[a-z]{1,4}@[a-z]{1,4};p=[a-z,]{0,6}>",
                r"SIP/2\.0/UDP \[2001:db8::[0-9,]{1,3}\];x=[a-z]{0,4}",
                r#""[a-z, ]{0,6}" <sip:[a-z,]{1,6}@h>"#,
            ],
            1..5,
        ),
        separator in prop::sample::select(vec![",", ", ", " ,\t", " , "]),
    ) {
        let joined = elements.join(separator);
        prop_assert_eq!(split_header_values(&joined), elements);
    }

    /// (3) A stream of messages fed in random pieces frames into exactly those messages.
    #[test]
    fn prop_stream_framing(
        specs in prop::collection::vec(spec_strategy(true), 1..5),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut stream = Vec::new();
        let mut messages = Vec::new();
        for spec in &specs {
            let (bytes, skip) = spec.render(false);
            messages.push(bytes[skip..].to_vec());
            stream.extend_from_slice(&bytes);
        }
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
        cuts.push(stream.len());
        cuts.sort_unstable();

        let mut pending: Vec<u8> = Vec::new();
        let mut frames: Vec<Vec<u8>> = Vec::new();
        let mut fed = 0;
        // A framer that keeps its place across reads, as a connection does, on the same pieces.
        let (mut framer, mut kept, mut kept_frames) = (Framer::default(), Vec::new(), Vec::new());
        for cut in cuts {
            pending.extend_from_slice(&stream[fed..cut]);
            kept.extend_from_slice(&stream[fed..cut]);
            fed = cut;
            while let Some(n) = frame_len(&pending).map_err(|e| TestCaseError::fail(format!("{e}")))? {
                frames.push(pending.drain(..n).collect());
            }
            while let Some(n) = framer.next(&kept).map_err(|e| TestCaseError::fail(format!("{e}")))? {
                kept_frames.push(kept.drain(..n).collect::<Vec<u8>>());
            }
        }
        prop_assert!(pending.is_empty(), "left over: {:?}", pending);
        prop_assert_eq!(&kept_frames, &frames);

        let mut got = Vec::new();
        for frame in &frames {
            match Message::parse(frame) {
                Err(ParseError::Empty) => {}
                Ok(m) => {
                    prop_assert_eq!(m.body.len(), m.header("l").unwrap().parse::<usize>().unwrap());
                    got.push(frame[keepalive_len(frame)..].to_vec());
                }
                Err(e) => return Err(TestCaseError::fail(format!("frame did not parse: {e}"))),
            }
        }
        prop_assert_eq!(got, messages);
    }

    /// (4) Via and SIP URI parsing never panic on arbitrary text.
    #[test]
    fn prop_value_parsers_never_panic(s in ".{0,120}") {
        check_value_parsers(&s);
    }

    /// (4) Nor on text made of the characters those grammars care about.
    #[test]
    fn prop_value_parsers_never_panic_on_syntax(
        s in "[SIPsip/2.0UDP :;=,@\\[\\]<>\"\\\\\t a-f0-9.é-]{0,80}"
    ) {
        check_value_parsers(&s);
        check_value_parsers(&format!("SIP/2.0/UDP {s}"));
        check_value_parsers(&format!("sip:{s}"));
    }
}

fn check_value_parsers(s: &str) {
    for part in split_header_values(s) {
        if let Ok(v) = Via::parse(part) {
            assert!(!v.host.is_empty() && !v.transport.is_empty());
            assert!(v.protocol.ends_with(v.transport));
            for (name, _) in &v.params {
                assert!(v.param(name).is_some());
            }
        }
    }
    if let Ok(u) = SipUri::parse(s) {
        assert!(!u.host.is_empty());
        let _ = u.host_for_match();
        let rebuilt = u.with_host(u.host);
        let again = SipUri::parse(&rebuilt).expect("rebuilt URI parses");
        assert_eq!(again.host, u.host);
    }
    let _ = canonical_name(s);
}
