//! Routing by connection policy: which target a request goes to, the responses relayed from it,
//! the health probes and their answers, and API changes seen by the next request.

use super::*;
use crate::recognition::{Destination, RouteTarget};
use crate::sid::{ByocTrunkSid, ConnectionPolicySid};

const TRUNK: &str = "BY0000000000000000000000000000000a";
const POLICY: &str = "NY0000000000000000000000000000000a";

fn route_target(n: u8, uri: &str, priority: u16, weight: u16) -> RouteTarget {
    RouteTarget {
        sid: test_sid(n),
        uri: uri.into(),
        priority,
        weight,
        enabled: true,
    }
}

/// An edge whose domain (`acme.sip.twilio.com`, calls let in from 10.0.0.0/8) names a trunk
/// whose policy lists `targets`; with the upstream if `upstream`.
fn routed_edge(targets: Vec<RouteTarget>, upstream: bool) -> (Edge, RecognitionWriter) {
    let (edge, table, _) = edge_over(routed_state(targets), upstream);
    (edge, table)
}

/// An edge listening on `local` (on a host with the addresses `host`), forwarding to
/// `upstream`, whose domain routes to `targets`.
fn edge_listening_on(
    local: &str,
    host: &[&str],
    upstream: Option<&str>,
    targets: Vec<RouteTarget>,
) -> Edge {
    let w = crate::recognition::table();
    w.load(routed_state(targets));
    let clock = Arc::new(FixedClock::at_millis(NOW * 1000));
    let host = crate::sip::host::HostAddresses::of(host.iter().map(|a| a.parse().unwrap()));
    Edge::with_branch_key(
        w.reader(),
        upstream.map(addr),
        addr(local),
        Arc::new(Metrics::default()),
        authenticator(&clock),
        [7; 32],
    )
    .with_host_addresses(Arc::new(host))
}

/// The state of [`routed_edge`].
fn routed_state(targets: Vec<RouteTarget>) -> Vec<Change> {
    let mut domain = target();
    domain.byoc_trunk_sid = Some(trunk(TRUNK));
    let mut state = vec![
        Change::DomainSet(domain),
        Change::AclNetworkAdded(test_sid(1), Network::new("10.0.0.0".parse().unwrap(), 8)),
        Change::AuthMapped(
            target().domain_sid,
            AuthKind::CallsAcl,
            MappedList::Acl(test_sid(1)),
        ),
        Change::TrunkSet(trunk(TRUNK), Some(policy(POLICY))),
    ];
    for t in targets {
        state.push(Change::RouteTargetSet(policy(POLICY), t));
    }
    state
}

fn trunk(sid: &str) -> ByocTrunkSid {
    ByocTrunkSid::parse(sid).unwrap()
}

fn policy(sid: &str) -> ConnectionPolicySid {
    ConnectionPolicySid::parse(sid).unwrap()
}

/// An INVITE to the domain with Call-ID `call_id`, from 10.1.2.3:5070.
fn invite(call_id: &str) -> Vec<u8> {
    String::from_utf8(request("INVITE", "sip:bob@acme.sip.twilio.com", ""))
        .unwrap()
        .replace("Call-ID: c1@10.1.2.3", &format!("Call-ID: {call_id}"))
        .into_bytes()
}

/// Where `e` sends an INVITE with `call_id`, and over what.
fn hop(e: &Edge, call_id: &str) -> (SocketAddr, Transport, String) {
    match e.handle(&invite(call_id), from("10.1.2.3"), Transport::Udp) {
        Action::Send { to, via, bytes } => (to, via, String::from_utf8(bytes).unwrap()),
        other => panic!("not sent: {other:?}"),
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// `forwarded`'s response `code`, as its next hop would send it.
fn response_to(forwarded: &str, code: u16) -> Vec<u8> {
    let msg = Message::parse(forwarded.as_bytes()).unwrap();
    let vias: Vec<String> = msg
        .headers_named("Via")
        .map(|h| h.value.to_string())
        .collect();
    format!(
        "SIP/2.0 {code} Whatever\r\nVia: {}\r\nVia: {}\r\nFrom: <sip:a@10.1.2.3>;tag=1\r\n\
         To: <sip:bob@acme.sip.twilio.com>;tag=9\r\nCall-ID: {}\r\nCSeq: 1 INVITE\r\n\
         Content-Length: 0\r\n\r\n",
        vias[0],
        vias[1],
        msg.header("Call-ID").unwrap()
    )
    .into_bytes()
}

#[test]
fn requests_go_to_the_best_target_and_its_responses_come_back() {
    let (e, _) = routed_edge(
        vec![
            route_target(1, "sip:127.0.0.2:5070", 10, 10),
            route_target(2, "sip:127.0.0.3", 20, 10),
        ],
        true,
    );
    let (to, via, text) = hop(&e, "call-1");
    assert_eq!((to, via), (addr("127.0.0.2:5070"), Transport::Udp));
    assert!(
        text.starts_with("INVITE sip:bob@acme.sip.twilio.com SIP/2.0\r\n"),
        "{text}"
    );
    assert!(text.contains("X-Sipmap-Auth: ip-acl\r\n"), "{text}");
    assert_eq!(e.metrics.forwarded_to_target.load(Ordering::Relaxed), 1);
    // The target's response is relayed to the client.
    let response = response_to(&text, 180);
    let relayed = e.handle(&response, addr("127.0.0.2:5070"), Transport::Udp);
    assert!(matches!(relayed, Action::Send { to, .. } if to == from("10.1.2.3")));
    // The same response from the other target, or from the upstream, is not: the branch names
    // the address the request went to.
    for other in ["127.0.0.3:5060", UPSTREAM] {
        assert_eq!(
            e.handle(&response, addr(other), Transport::Udp),
            Action::Drop
        );
    }
    assert_eq!(
        e.metrics.responses_dropped_branch.load(Ordering::Relaxed),
        2
    );
    // From an address that is no target's, it is dropped before any branch is checked.
    assert_eq!(
        e.handle(&response, addr("127.0.0.9:5060"), Transport::Udp),
        Action::Drop
    );
    assert_eq!(
        e.metrics.responses_dropped_source.load(Ordering::Relaxed),
        1
    );
}

#[test]
fn a_dialog_stays_on_one_target_and_calls_spread_by_weight() {
    let (e, _) = routed_edge(
        vec![
            route_target(1, "sip:127.0.0.2", 10, 30),
            route_target(2, "sip:127.0.0.3", 10, 10),
        ],
        false,
    );
    let first = hop(&e, "dialog-1").0;
    for method in ["ACK", "BYE", "INVITE"] {
        let bytes = String::from_utf8(invite("dialog-1"))
            .unwrap()
            .replace("INVITE", method)
            .into_bytes();
        let Action::Send { to, .. } = e.handle(&bytes, from("10.1.2.3"), Transport::Udp) else {
            panic!("{method} dropped");
        };
        assert_eq!(to, first, "{method} follows the dialog");
    }
    let n = 4000;
    let to_first = (0..n)
        .filter(|i| hop(&e, &format!("call-{i}")).0 == addr("127.0.0.2:5060"))
        .count();
    let share = to_first as f64 / n as f64;
    assert!((share - 0.75).abs() < 0.03, "weight 30 of 40 got {share}");
}

#[test]
fn tcp_targets_are_reached_over_tcp() {
    let (e, _) = routed_edge(
        vec![route_target(1, "sip:127.0.0.2:5070;transport=tcp", 1, 1)],
        false,
    );
    let (to, via, text) = hop(&e, "call-1");
    assert_eq!((to, via), (addr("127.0.0.2:5070"), Transport::TcpOut));
    assert!(
        text.contains("Via: SIP/2.0/TCP 127.0.0.1:5060;branch="),
        "{text}"
    );
    // The response comes back on the edge's connection to the target.
    let response = response_to(&text, 200);
    let relayed = e.handle(&response, addr("127.0.0.2:5070"), Transport::Tcp(42));
    assert!(
        matches!(relayed, Action::Send { to, via: Transport::Udp, .. } if to == from("10.1.2.3"))
    );
}

#[test]
fn tls_targets_are_reached_over_tls() {
    let (e, _) = routed_edge(
        vec![route_target(1, "sip:127.0.0.2:5071;transport=TLS", 1, 1)],
        false,
    );
    let (to, via, text) = hop(&e, "call-1");
    assert_eq!((to, via), (addr("127.0.0.2:5071"), Transport::TlsOut));
    assert!(
        text.contains("Via: SIP/2.0/TLS 127.0.0.1:5060;branch="),
        "{text}"
    );
    let response = response_to(&text, 200);
    let relayed = e.handle(&response, addr("127.0.0.2:5071"), Transport::Tls(42));
    assert!(
        matches!(relayed, Action::Send { to, via: Transport::Udp, .. } if to == from("10.1.2.3"))
    );
}

#[test]
fn without_an_eligible_target_the_upstream_takes_the_request() {
    let mut disabled = route_target(1, "sip:127.0.0.2", 1, 1);
    disabled.enabled = false;
    let named = route_target(2, "sip:carrier.example.com", 1, 1);
    for upstream in [true, false] {
        let (e, _) = routed_edge(vec![disabled.clone(), named.clone()], upstream);
        let (to, _, text) = hop(&e, "call-1");
        if upstream {
            assert_eq!(to, addr(UPSTREAM), "{text}");
        } else {
            assert!(text.starts_with("SIP/2.0 480 "), "{text}");
        }
        assert_eq!(e.metrics.forwarded_to_target.load(Ordering::Relaxed), 0);
    }
}

#[test]
fn api_changes_route_the_next_request() {
    let one = route_target(1, "sip:127.0.0.2", 10, 10);
    let two = route_target(2, "sip:127.0.0.3", 20, 10);
    let (e, table) = routed_edge(vec![one.clone(), two.clone()], true);
    assert_eq!(hop(&e, "c").0, addr("127.0.0.2:5060"));
    // The first target disabled: the second takes the next request.
    let mut off = one.clone();
    off.enabled = false;
    table.apply(&[Change::RouteTargetSet(policy(POLICY), off)]);
    assert_eq!(hop(&e, "c").0, addr("127.0.0.3:5060"));
    // Enabled again, but with a worse priority: still the second.
    let mut later = one.clone();
    later.priority = 30;
    table.apply(&[Change::RouteTargetSet(policy(POLICY), later)]);
    assert_eq!(hop(&e, "c").0, addr("127.0.0.3:5060"));
    // The domain re-pointed to a trunk of another policy.
    let other_policy = "NY0000000000000000000000000000000b";
    let other_trunk = "BY0000000000000000000000000000000b";
    let mut domain = target();
    domain.byoc_trunk_sid = Some(trunk(other_trunk));
    table.apply(&[
        Change::RouteTargetSet(policy(other_policy), route_target(3, "sip:127.0.0.4", 1, 1)),
        Change::TrunkSet(trunk(other_trunk), Some(policy(other_policy))),
        Change::DomainSet(domain.clone()),
    ]);
    assert_eq!(hop(&e, "c").0, addr("127.0.0.4:5060"));
    // The trunk loses its policy: the upstream.
    table.apply(&[Change::TrunkSet(trunk(other_trunk), None)]);
    assert_eq!(hop(&e, "c").0, addr(UPSTREAM));
}

#[test]
fn routed_destinations_are_those_some_domain_routes_to() {
    let (e, table) = routed_edge(vec![route_target(1, "sip:127.0.0.2", 10, 10)], true);
    // A policy no domain uses: its destination exists, but nothing routes to it.
    let unused = "NY0000000000000000000000000000000c";
    table.apply(&[Change::RouteTargetSet(
        policy(unused),
        route_target(2, "sip:127.0.0.9", 10, 10),
    )]);
    let dest = |s: &str| Destination::from_uri(s).unwrap();
    assert_eq!(e.destinations().len(), 2);
    let routed = e.routed_destinations();
    assert_eq!(routed, vec![dest("sip:127.0.0.2")]);
    // Over a probe limit of one, the routed destination is the one probed, whatever its address.
    let probed = e.metrics.health.rebuild(&e.destinations(), 1, || routed);
    assert_eq!(probed, vec![dest("sip:127.0.0.2")]);
    // The domain re-pointed to a trunk of the other policy: its destination is now the routed one.
    let other_trunk = "BY0000000000000000000000000000000c";
    let mut domain = target();
    domain.byoc_trunk_sid = Some(trunk(other_trunk));
    table.apply(&[
        Change::TrunkSet(trunk(other_trunk), Some(policy(unused))),
        Change::DomainSet(domain),
    ]);
    assert_eq!(e.routed_destinations(), vec![dest("sip:127.0.0.9")]);
}

#[test]
fn probes_are_answered_and_consumed_and_unhealthy_targets_skipped() {
    let (e, _) = routed_edge(
        vec![
            route_target(1, "sip:127.0.0.2", 10, 10),
            route_target(2, "sip:127.0.0.3;transport=tcp", 20, 10),
        ],
        true,
    );
    let health = &e.metrics.health;
    let probed = health.rebuild(&e.destinations(), 10, Vec::new);
    assert_eq!(probed.len(), 2);
    let Action::Send { to, via, bytes } = e.probe(probed[0], 77) else {
        panic!("no probe");
    };
    assert_eq!((to, via), (addr("127.0.0.2:5060"), Transport::Udp));
    let probe = String::from_utf8(bytes).unwrap();
    assert!(
        probe.starts_with("OPTIONS sip:127.0.0.2:5060 SIP/2.0\r\n"),
        "{probe}"
    );
    let Action::Send { via, .. } = e.probe(probed[1], 78) else {
        panic!("no probe");
    };
    assert_eq!(via, Transport::TcpOut);
    // Three rounds unanswered, then the fourth takes both down: the upstream's turn.
    for _ in 0..4 {
        health.before_probes(3);
    }
    assert_eq!(hop(&e, "c").0, addr(UPSTREAM));
    // An answer to the probe, as a target would send it: the top Via with `received`.
    let msg = Message::parse(probe.as_bytes()).unwrap();
    let answer = format!(
        "SIP/2.0 200 OK\r\nVia: {};received=127.0.0.1\r\nFrom: {}\r\nTo: {};tag=x\r\n\
         Call-ID: {}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        msg.header("Via").unwrap(),
        msg.header("From").unwrap(),
        msg.header("To").unwrap(),
        msg.header("Call-ID").unwrap()
    );
    // From the other target it proves nothing.
    assert_eq!(
        e.handle(answer.as_bytes(), addr("127.0.0.3:5060"), Transport::Udp),
        Action::Drop
    );
    assert_eq!(hop(&e, "c").0, addr(UPSTREAM));
    assert_eq!(health.probes_answered.load(Ordering::Relaxed), 0);
    // From the probed target it is consumed, and the target is back.
    let relayed = e.metrics.responses_relayed.load(Ordering::Relaxed);
    assert_eq!(
        e.handle(answer.as_bytes(), addr("127.0.0.2:5060"), Transport::Udp),
        Action::Drop
    );
    assert_eq!(health.probes_answered.load(Ordering::Relaxed), 1);
    assert_eq!(e.metrics.responses_relayed.load(Ordering::Relaxed), relayed);
    assert_eq!(hop(&e, "c").0, addr("127.0.0.2:5060"));
    // A probe that comes back to the edge is a loop.
    let (_, looped) = send(e.probe(probed[0], 79));
    let (_, text) = send(e.handle(looped.as_bytes(), from("10.1.2.3"), Transport::Udp));
    assert!(text.starts_with("SIP/2.0 482 "), "{text}");
}

/// The first line of what `e` answers or forwards for an INVITE.
fn first_line(e: &Edge) -> String {
    let (_, _, text) = hop(e, "loop-1");
    text.lines().next().unwrap_or("").to_owned()
}

#[test]
fn a_next_hop_that_is_the_edge_itself_gets_482_in_any_spelling() {
    // The edge listens on 127.0.0.1:5060 (the port a target names by default).
    for own in [
        "sip:127.0.0.1",
        "sip:127.0.0.1:5060",
        "sip:[::ffff:127.0.0.1]:5060",
        "sip:[::FFFF:7f00:1]",
        "sip:bob@127.0.0.1:5060;transport=tcp",
    ] {
        let e = edge_listening_on(EDGE, &[], Some(UPSTREAM), vec![route_target(1, own, 1, 1)]);
        assert_eq!(first_line(&e), "SIP/2.0 482 Loop Detected", "{own}");
        assert_eq!(
            e.metrics
                .forwards_refused_own_address
                .load(Ordering::Relaxed),
            1
        );
        assert_eq!(e.metrics.forwarded.load(Ordering::Relaxed), 0, "{own}");
        // Its probe is never sent either.
        let dest = Destination::from_uri(own).unwrap();
        assert_eq!(e.probe(dest, 1), Action::Drop, "{own}");
    }
    // Another address or another port is someone else.
    for other in ["sip:127.0.0.2:5060", "sip:127.0.0.1:5070", "sip:[::1]:5060"] {
        let e = edge_listening_on(EDGE, &[], None, vec![route_target(1, other, 1, 1)]);
        assert!(first_line(&e).starts_with("INVITE "), "{other}");
    }
    // The upstream, likewise.
    for own in ["127.0.0.1:5060", "[::ffff:127.0.0.1]:5060", "0.0.0.0:5060"] {
        let e = edge_listening_on(EDGE, &[], Some(own), vec![]);
        assert_eq!(first_line(&e), "SIP/2.0 482 Loop Detected", "{own}");
    }
}

#[test]
fn listening_on_a_wildcard_every_address_of_the_host_is_the_edges_own() {
    let host = ["10.9.8.7", "2001:db8::7", "127.0.0.1", "::1"];
    for local in ["0.0.0.0:5060", "[::]:5060"] {
        for own in [
            "sip:10.9.8.7",
            "sip:[::ffff:10.9.8.7]:5060",
            "sip:[2001:db8::7]:5060",
            "sip:127.0.0.9",
            "sip:[::1]",
        ] {
            let e = edge_listening_on(local, &host, None, vec![route_target(1, own, 1, 1)]);
            assert_eq!(first_line(&e), "SIP/2.0 482 Loop Detected", "{local} {own}");
            let dest = Destination::from_uri(own).unwrap();
            assert_eq!(e.probe(dest, 1), Action::Drop, "{local} {own}");
        }
        for upstream in ["10.9.8.7:5060", "[::ffff:10.9.8.7]:5060", "[::]:5060"] {
            let e = edge_listening_on(local, &host, Some(upstream), vec![]);
            assert_eq!(
                first_line(&e),
                "SIP/2.0 482 Loop Detected",
                "{local} {upstream}"
            );
        }
        // Not the host's, or not the edge's port: forwarded.
        for other in ["sip:10.9.8.8", "sip:10.9.8.7:5070", "sip:[2001:db8::8]"] {
            let e = edge_listening_on(local, &host, None, vec![route_target(1, other, 1, 1)]);
            assert!(first_line(&e).starts_with("INVITE "), "{local} {other}");
        }
    }
}

#[test]
fn a_target_address_gets_few_new_ports_a_second_and_the_rest_503() {
    let targets = (0..20)
        .map(|n| route_target(n, &format!("sip:127.0.0.2:{}", 6000 + u16::from(n)), 1, 1))
        .collect();
    let (e, _) = routed_edge(targets, true);
    let clock = Arc::new(FixedClock::at_millis(NOW * 1000));
    let e = e.with_port_limit(ports::PortLimit::new(2, clock.clone()));
    let mut reached = std::collections::HashSet::new();
    let mut refused = 0;
    for i in 0..200 {
        let (to, _, text) = hop(&e, &format!("sweep-{i}"));
        if text.starts_with("SIP/2.0 503 Service Unavailable\r\n") {
            assert!(text.contains("\r\nRetry-After: 1\r\n"), "{text}");
            assert_eq!(to, from("10.1.2.3"), "answered to the caller");
            refused += 1;
        } else {
            assert!(text.starts_with("INVITE "), "{text}");
            reached.insert(to);
        }
    }
    // Two ports this second; every request that hashed to one of them went, the others got 503.
    assert_eq!(reached.len(), 2);
    assert!(refused > 100, "{refused}");
    assert_eq!(
        e.metrics.forwards_refused_new_ports.load(Ordering::Relaxed),
        refused
    );
    // The next second, two more.
    clock.set_millis((NOW + 1) * 1000);
    for i in 0..200 {
        let (to, _, text) = hop(&e, &format!("sweep-{i}"));
        if text.starts_with("INVITE ") {
            reached.insert(to);
        }
    }
    assert_eq!(reached.len(), 4);
}
