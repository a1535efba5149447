"""A SIP domain's security settings, enforced by the SIP edge, with real SIP peers: SIPp clients
(and, where SIPp cannot, a raw-socket client computing digests with hashlib) from loopback
sources, and a SIPp UAS (or a SIPp registrar) as the upstream.

Everything is set up through the official Twilio SDK: IP access control lists, credential lists,
their mappings to a domain for calls and for registrations, and the domain's SipRegistration.

- An INVITE from a source in a mapped IP access control list is forwarded and answered by the
  upstream; one from outside gets 403 (UDP and TCP).
- A domain with a credential list mapped for calls challenges (407), and SIPp's
  ``[authentication]`` (``-au``/``-ap``, MD5) gets through, ACK and BYE included; a wrong password
  gets 403 (UDP and TCP). SIPp 3.6 knows MD5 only and reads only the first challenge, so those
  servers offer MD5 first (``--sip-digest-algorithms MD5,SHA-256``); SHA-256, offered first by
  default, is covered by the raw-socket client (UDP and TCP).
- A domain with nothing mapped gets 403.
- REGISTER: 403 while SipRegistration is off; then 401 and, with the credentials of a list mapped
  for registrations, the upstream registrar's 200 (UDP and TCP).
- A change through the API (an address added to a list, a credential deleted, a password changed)
  applies to the very next request.
- Two cluster nodes on PostgreSQL (one server key): a nonce issued by one is accepted by the other.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from pathlib import Path

import pytest

from conftest import random_account_sid, random_token, unique_domain
from sip_client import SipClient, digest
from test_sip_edge import SIP_LINE, SIPP, free_port, map_source, received_header

PASSWORD = "CorrectHorse1Battery"

INVITE_HEAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="INVITE with digest authentication">
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@{domain} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@{domain}>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="407" auth="true"/>
  <send>
    <![CDATA[
      ACK sip:[service]@{domain} SIP/2.0
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@{domain} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@{domain}>
      Call-ID: [call_id]
      CSeq: 2 INVITE
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      [authentication]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""

INVITE_ANSWERED = """  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200"/>
  <send>
    <![CDATA[
      ACK sip:[service]@{domain} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 2 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <send retrans="500">
    <![CDATA[
      BYE sip:[service]@{domain} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 3 BYE
      [authentication]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
"""

INVITE_REFUSED = """  <recv response="403"/>
  <send>
    <![CDATA[
      ACK sip:[service]@{domain} SIP/2.0
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      CSeq: 2 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
</scenario>
"""

REGISTER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="REGISTER with digest authentication">
  <send retrans="500">
    <![CDATA[
      REGISTER sip:{domain} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:[service]@{domain}>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@{domain}>
      Call-ID: [call_id]
      CSeq: 1 REGISTER
      Contact: <sip:[service]@[local_ip]:[local_port];transport=[transport]>
      Expires: 60
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="401" auth="true"/>
  <send retrans="500">
    <![CDATA[
      REGISTER sip:{domain} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:[service]@{domain}>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@{domain}>
      Call-ID: [call_id]
      CSeq: 2 REGISTER
      Contact: <sip:[service]@[local_ip]:[local_port];transport=[transport]>
      [authentication]
      Expires: 60
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
</scenario>
"""

REGISTRAR = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="registrar: 200 to every REGISTER">
  <recv request="REGISTER"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      [last_Contact:]
      Expires: 60
      Content-Length: 0

    ]]>
  </send>
</scenario>
"""


@pytest.fixture(scope="module", autouse=True)
def _need_sipp():
    if SIPP is None:
        pytest.fail("sipp is not installed (Debian package sip-tester; scripts/test.sh installs it)")


class AuthEdge:
    """A sipmap server with its SIP edge on, its upstream (a SIPp UAS or registrar), and helpers
    to secure domains through the SDK and to run SIPp against it."""

    def __init__(self, server, workdir: Path):
        self.server = server
        self.workdir = workdir
        m = server.proc.wait_for_line(SIP_LINE, 10)
        assert m, f"no SIP listening line in {server.proc.lines!r}"
        self.addr = (m.group(1), int(m.group(2)))
        self.runs = 0

    @property
    def sip(self):
        return self.server.client.api.v2010.accounts(self.server.sid).sip

    def domain(self, label: str, **update) -> tuple[str, str]:
        name = unique_domain(label)
        sid = self.sip.domains.create(domain_name=name).sid
        if update:
            self.sip.domains(sid).update(**update)
        return sid, name

    def acl(self, domain_sid: str, ip: str, prefix: int = 32) -> tuple[str, str]:
        """A new list holding `ip`/`prefix`, mapped to the domain for calls; (list, address)."""
        acl = self.sip.ip_access_control_lists.create(friendly_name="acl").sid
        address = self.sip.ip_access_control_lists(acl).ip_addresses.create(
            friendly_name="a", ip_address=ip, cidr_prefix_length=prefix
        ).sid
        self.sip.domains(domain_sid).auth.calls.ip_access_control_list_mappings.create(
            ip_access_control_list_sid=acl
        )
        return acl, address

    def credentials(self, domain_sid: str, username: str, *, registrations: bool = False):
        """A new list holding `username` with PASSWORD, mapped to the domain for calls (or for
        registrations); (list, credential)."""
        cl = self.sip.credential_lists.create(friendly_name="phones").sid
        cred = self.sip.credential_lists(cl).credentials.create(
            username=username, password=PASSWORD
        ).sid
        auth = self.sip.domains(domain_sid).auth
        mappings = auth.registrations if registrations else auth.calls
        mappings.credential_list_mappings.create(credential_list_sid=cl)
        return cl, cred

    def sipp(self, scenario: str, source_ip: str, transport: str, *args: str):
        """Runs one SIPp call of `scenario` from `source_ip`; returns (exit code, message log)."""
        self.runs += 1
        scen = self.workdir / f"scenario-{self.runs}.xml"
        scen.write_text(scenario)
        log = self.workdir / f"sipp-{self.runs}.log"
        cmd = [
            SIPP, "-sf", str(scen), f"{self.addr[0]}:{self.addr[1]}", *args,
            "-i", source_ip, "-p", str(free_port(source_ip)), "-t", transport,
            "-m", "1", "-timeout", "15s", "-timeout_error", "-max_recv_loops", "100",
            "-trace_msg", "-message_file", str(log), "-nostdin",
        ]
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=40)
        text = log.read_text(errors="replace") if log.exists() else ""
        return done.returncode, text + done.stdout.decode(errors="replace")[-2000:]

    def call(self, source_ip: str, transport: str):
        """One call with SIPp's built-in UAC (INVITE, ACK, BYE to sip:alice@<edge address>)
        from `source_ip`; returns (exit code, message log)."""
        self.runs += 1
        log = self.workdir / f"uac-{self.runs}.log"
        cmd = [
            SIPP, "-sn", "uac", f"{self.addr[0]}:{self.addr[1]}", "-s", "alice",
            "-i", source_ip, "-p", str(free_port(source_ip)), "-t", transport,
            "-m", "1", "-timeout", "15s", "-timeout_error", "-d", "100",
            "-trace_msg", "-message_file", str(log), "-nostdin",
        ]
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=40)
        return done.returncode, (log.read_text(errors="replace") if log.exists() else "")

    def upstream_log(self) -> str:
        path = self.workdir / "upstream.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def client(self, source_ip: str, transport: str = "udp") -> SipClient:
        return SipClient(self.addr, source_ip, transport)


@pytest.fixture
def make_edge(sipmap_factory, tmp_path):
    """Starts edges: ``make_edge(upstream="uas"|"registrar"|None, extra_args=[...])``."""
    upstreams: list[subprocess.Popen] = []

    def make(upstream: str | None = "uas", extra_args: list[str] = ()) -> AuthEdge:
        workdir = tmp_path / f"edge{len(upstreams)}"
        workdir.mkdir()
        args = ["--sip-listen", "127.0.0.1:0", *extra_args]
        if upstream is not None:
            port = free_port()
            scenario = ["-sn", "uas"]
            if upstream == "registrar":
                (workdir / "registrar.xml").write_text(REGISTRAR)
                scenario = ["-sf", str(workdir / "registrar.xml")]
            upstreams.append(subprocess.Popen(
                [SIPP, *scenario, "-i", "127.0.0.1", "-p", str(port), "-t", "u1",
                 "-trace_msg", "-message_file", str(workdir / "upstream.log"), "-nostdin",
                 "-timeout", "120s"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))
            args += ["--sip-upstream", f"127.0.0.1:{port}"]
        return AuthEdge(sipmap_factory(extra_args=args), workdir)

    yield make
    for proc in upstreams:
        proc.kill()
        proc.wait(timeout=10)


def sids_in(text: str) -> bool:
    return bool(re.search(r"\b(AC|SD)[0-9a-f]{32}\b", text))


def decisions(edge: AuthEdge) -> dict[str, int]:
    """sipmap_sip_auth_decisions_total by decision."""
    text = edge.server.get("/metrics").text
    found = re.findall(r'^sipmap_sip_auth_decisions_total\{decision="(\w+)"\} (\d+)$', text, re.M)
    return {name: int(n) for name, n in found}


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_an_invite_from_a_mapped_acl_is_forwarded_and_others_get_403(make_edge, transport):
    edge = make_edge()
    domain, _ = edge.domain("acl")
    map_source(edge.server, "127.0.0.40", domain, prefix=30)
    edge.acl(domain, "127.0.0.41")
    rc, log = edge.call("127.0.0.41", transport)
    uas = edge.upstream_log()
    assert rc == 0, f"{log[-3000:]}\nUAS:\n{uas[-3000:]}"
    assert re.search(r"^INVITE sip:alice@acl-", uas, re.M), uas[-3000:]
    assert "ip-acl" in received_header(uas, "X-Sipmap-Auth")
    # Same domain (by source), outside the list, and no credential list: 403, naming nothing.
    rc, log = edge.call("127.0.0.42", transport)
    assert rc != 0
    assert re.search(r"^SIP/2\.0 403 Forbidden", log, re.M), log[-2000:]
    assert not sids_in(log.split("403 Forbidden", 1)[1]), log[-2000:]


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_sipp_authenticates_with_md5_and_a_wrong_password_gets_403(make_edge, transport):
    # SIPp 3.6 takes the first challenge and knows only MD5: offer MD5 first.
    edge = make_edge(extra_args=["--sip-digest-algorithms", "MD5,SHA-256"])
    domain, name = edge.domain("creds")
    edge.credentials(domain, "alice")
    auth = ["-s", "bob", "-au", "alice", "-auth_uri", f"bob@{name}"]
    rc, log = edge.sipp(
        (INVITE_HEAD + INVITE_ANSWERED).replace("{domain}", name), "127.0.0.43", transport,
        *auth, "-ap", PASSWORD,
    )
    uas = edge.upstream_log()
    assert rc == 0, f"{log[-4000:]}\nUAS:\n{uas[-3000:]}"
    challenge = re.search(r"^Proxy-Authenticate: (.*)$", log, re.M)
    assert challenge and f'realm="{name}"' in challenge.group(1), log[-3000:]
    # The INVITE and the BYE were authenticated; the ACK went up unchallenged.
    assert set(received_header(uas, "X-Sipmap-Auth")) == {"digest;username=alice", "none"}, uas
    assert re.search(r"^BYE sip:bob@", uas, re.M), "the BYE, authenticated again, arrived"
    assert "Proxy-Authorization" not in uas, "the edge consumed the credentials"
    assert not re.search(r"^CSeq: 1 INVITE", uas, re.M), "the challenged INVITE never went up"
    rc, log = edge.sipp(
        (INVITE_HEAD + INVITE_REFUSED).replace("{domain}", name), "127.0.0.43", transport,
        *auth, "-ap", "WrongHorse1Battery",
    )
    assert rc == 0, log[-4000:]
    assert len(re.findall(r"^CSeq: 2 INVITE", edge.upstream_log(), re.M)) >= 1
    counts = decisions(edge)
    assert counts["challenged"] >= 2 and counts["authenticated"] >= 2, counts
    assert counts["refused"] >= 1 and counts["blocked"] == 0, counts


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sha256_is_offered_first_and_authenticates(make_edge, transport):
    edge = make_edge()
    domain, name = edge.domain("sha")
    edge.credentials(domain, "alice")
    uri = f"sip:bob@{name}"
    with edge.client("127.0.0.44", transport) as c:
        first = c.request("INVITE", uri)
        assert first.status == 407, first.raw
        assert not sids_in(first.raw), first.raw
        challenges = first.challenges()
        assert [ch["algorithm"] for ch in challenges] == ["SHA-256", "MD5"], first.raw
        assert all(ch["realm"] == name and ch["qop"] == "auth" for ch in challenges)
        c.ack(uri, first, cseq=1, branch=c.last_branch)
        credentials = digest(challenges[0], method="INVITE", uri=uri, username="alice",
                             password=PASSWORD)
        answered = c.request("INVITE", uri, [("Proxy-Authorization", credentials)])
        assert answered.status == 200, answered.raw
        c.ack(uri, answered, cseq=2)
        bye = digest(challenges[0], method="BYE", uri=uri, username="alice",
                     password=PASSWORD, nc=2)
        to_tag = re.search(r";tag=([^;>\s]+)", answered.first("To")).group(1)
        done = c.request("BYE", uri, [("Proxy-Authorization", bye)], to_tag=to_tag)
        assert done.status == 200, done.raw
    uas = edge.upstream_log()
    assert "digest;username=alice" in received_header(uas, "X-Sipmap-Auth"), uas[-3000:]
    assert "Proxy-Authorization" not in uas


def test_a_wrong_password_an_unknown_user_and_a_blocked_domain_get_403(make_edge):
    edge = make_edge()
    domain, name = edge.domain("refused")
    edge.credentials(domain, "alice")
    _, blocked = edge.domain("blocked")
    uri = f"sip:bob@{name}"
    with edge.client("127.0.0.45") as c:
        challenge = c.request("OPTIONS", uri).challenges()[0]
        for username, password in [("alice", "WrongHorse1Battery"), ("mallory", PASSWORD)]:
            creds = digest(challenge, method="OPTIONS", uri=uri, username=username,
                           password=password)
            r = c.request("OPTIONS", uri, [("Proxy-Authorization", creds)])
            assert r.status == 403 and not sids_in(r.raw), r.raw
        for method in ["OPTIONS", "INVITE", "MESSAGE"]:
            r = c.request(method, f"sip:bob@{blocked}")
            assert r.status == 403 and not sids_in(r.raw), r.raw
            assert not r.challenges(), r.raw
        # An unknown domain is 404, and says no more than the rest.
        r = c.request("OPTIONS", "sip:bob@unknown.sip.twilio.com")
        assert r.status == 404 and not sids_in(r.raw), r.raw


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_register_is_refused_until_enabled_then_authenticated_and_forwarded(make_edge, transport):
    edge = make_edge(upstream="registrar", extra_args=["--sip-digest-algorithms", "MD5,SHA-256"])
    domain, name = edge.domain("reg")
    edge.credentials(domain, "bob", registrations=True)
    source = "127.0.0.46"
    with edge.client(source, "udp" if transport == "u1" else "tcp") as c:
        r = c.request("REGISTER", f"sip:{name}", to_uri=f"sip:bob@{name}")
        assert r.status == 403, r.raw
    edge.sip.domains(domain).update(sip_registration=True)
    args = ["-s", "bob", "-au", "bob", "-ap", PASSWORD, "-auth_uri", name]
    rc, log = edge.sipp(REGISTER.replace("{domain}", name), source, transport, *args)
    upstream = edge.upstream_log()
    assert rc == 0, f"{log[-4000:]}\nregistrar:\n{upstream[-3000:]}"
    assert re.search(r"^WWW-Authenticate: Digest realm=", log, re.M), log[-3000:]
    assert set(received_header(upstream, "X-Sipmap-Auth")) == {"digest;username=bob"}, upstream
    assert not re.search(r"^Authorization:", upstream, re.M), "consumed by the edge"


def test_api_changes_apply_to_the_very_next_request(make_edge):
    edge = make_edge(upstream=None)
    domain, name = edge.domain("changes")
    acl, _ = edge.acl(domain, "127.0.0.99")
    cl, credential = edge.credentials(domain, "alice")
    uri = f"sip:bob@{name}"
    with edge.client("127.0.0.47") as c:
        first = c.request("OPTIONS", uri)
        assert first.status == 407, first.raw
        # An address added to the mapped list lets the next request in, and removing it ends that.
        address = edge.sip.ip_access_control_lists(acl).ip_addresses.create(
            friendly_name="me", ip_address="127.0.0.47"
        ).sid
        r = c.request("OPTIONS", uri)
        assert r.status == 200 and domain in r.all("X-Sipmap-Domain-Sid"), r.raw
        edge.sip.ip_access_control_lists(acl).ip_addresses(address).delete()
        challenge = c.request("OPTIONS", uri).challenges()[0]
        answer = lambda nc, password=PASSWORD: [("Proxy-Authorization", digest(  # noqa: E731
            challenge, method="OPTIONS", uri=uri, username="alice", password=password, nc=nc))]
        assert c.request("OPTIONS", uri, answer(1)).status == 200
        # A new password works at once, the old one no longer.
        new_password = "BatteryStaple2Horse"
        edge.sip.credential_lists(cl).credentials(credential).update(password=new_password)
        assert c.request("OPTIONS", uri, answer(2)).status == 403
        assert c.request("OPTIONS", uri, answer(3, new_password)).status == 200
        # A deleted credential stops at once, even with a nonce issued before.
        edge.sip.credential_lists(cl).credentials(credential).delete()
        assert c.request("OPTIONS", uri, answer(4, new_password)).status == 403


PG_URL = os.environ.get("SIPMAP_TEST_POSTGRES_URL")


@pytest.mark.skipif(not PG_URL, reason="SIPMAP_TEST_POSTGRES_URL is not set")
def test_a_nonce_from_one_cluster_node_is_accepted_by_another(sipmap_factory, tmp_path):
    from test_cluster import psql, wait_until, with_schema

    schema = "sipmap_a_" + secrets.token_hex(8)
    psql(f"CREATE SCHEMA {schema}")
    sid, token = random_account_sid(), random_token()
    nodes = []
    try:
        for _ in range(2):
            node = sipmap_factory(start=False, extra_args=["--sip-listen", "127.0.0.1:0"])
            node.db_url, node.sid, node.token = with_schema(PG_URL, schema), sid, token
            node.start()
            nodes.append(AuthEdge(node, tmp_path))
        a, b = nodes
        domain, name = a.domain("cluster")
        a.credentials(domain, "alice")
        uri = f"sip:bob@{name}"

        def challenged_by_b() -> bool:
            with b.client("127.0.0.48") as c:
                c.sock.settimeout(0.5)
                return c.request("OPTIONS", uri).status == 407

        wait_until(challenged_by_b, 5, "the credential list reached node B")
        with a.client("127.0.0.48") as c:
            challenge = c.request("OPTIONS", uri).challenges()[0]
        creds = digest(challenge, method="OPTIONS", uri=uri, username="alice", password=PASSWORD)
        for node in (b, a):
            with node.client("127.0.0.48") as c:
                r = c.request("OPTIONS", uri, [("Proxy-Authorization", creds)])
                assert r.status == 200 and domain in r.all("X-Sipmap-Domain-Sid"), r.raw
    finally:
        for n in nodes:
            n.server.shutdown()
        psql(f"DROP SCHEMA {schema} CASCADE")


def test_rotating_the_server_key_keeps_credentials_working(make_edge, tmp_path):
    """`sipmap secrets rotate` reseals every password under a new key and replaces the key file
    beside the SQLite database; the restarted server still authenticates with the same password,
    and a server given the old key refuses to start."""
    from conftest import SIPMAP_BIN, clean_env

    edge = make_edge(upstream=None)
    domain, name = edge.domain("rotate")
    edge.credentials(domain, "alice")
    server = edge.server
    key_file = Path(str(server.db_path) + ".key")
    old_key = key_file.read_text().strip()
    server.stop()
    new_key = tmp_path / "new.key"
    new_key.write_text("ab" * 32 + "\n")
    done = subprocess.run(
        [str(SIPMAP_BIN), "secrets", "rotate", "--database-url", server.db_url,
         "--new-key-file", str(new_key)],
        env=clean_env(), capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert "resealed 1 credential password(s)" in done.stdout.decode()
    assert key_file.read_text().strip() == "ab" * 32
    refused = subprocess.run(
        [str(SIPMAP_BIN), "serve", "--listen", "127.0.0.1:0", "--database-url", server.db_url],
        env=clean_env() | {"SIPMAP_SECRET_KEY": old_key}, capture_output=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert refused.returncode != 0 and "server key" in refused.stderr.decode()
    server.start()
    edge = AuthEdge(server, edge.workdir)
    uri = f"sip:bob@{name}"
    with edge.client("127.0.0.45") as c:
        first = c.request("OPTIONS", uri)
        assert first.status == 407, first.raw
        credentials = digest(first.challenges()[0], method="OPTIONS", uri=uri, username="alice",
                             password=PASSWORD)
        answered = c.request("OPTIONS", uri, [("Proxy-Authorization", credentials)])
        assert answered.status == 200, answered.raw
