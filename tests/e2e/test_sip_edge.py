"""The SIP edge with a real SIP peer: SIPp clients from different loopback source addresses
(127.0.0.x) and a SIPp UAS as the upstream.

Proves that a mapped source is recognised and forwarded with the rewritten Request-URI and the
X-Sipmap headers, that an unmapped source gets 404, that the Request-URI FQDN path works, and
that creating, re-pointing and deleting a mapping through the API changes the outcome of the very
next request without a restart. Over UDP and TCP.

A domain lets requests in only through what is mapped to it for calls (see test_sip_auth.py), so
every domain here maps an IP access control list holding 127.0.0.0/8, the loopback sources these
tests send from.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import unique_domain

SIPP = shutil.which("sipp")
SIP_LINE = re.compile(r"^sipmap: SIP edge listening on (\S+):(\d+) \(UDP and TCP\)")

OPTIONS_TEMPLATE = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="OPTIONS expecting {code}">
  <send retrans="500">
    <![CDATA[
      OPTIONS {ruri} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      Max-Forwards: 70
      From: <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <{ruri}>
      Call-ID: [call_id]
      CSeq: 1 OPTIONS
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      Accept: application/sdp
      Content-Length: 0

    ]]>
  </send>
  <recv response="{code}"/>
</scenario>
"""


def free_port(ip: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on `ip`."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((ip, 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind((ip, port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


@pytest.fixture(scope="module", autouse=True)
def _need_sipp():
    if SIPP is None:
        pytest.fail("sipp is not installed (Debian package sip-tester; scripts/test.sh installs it)")


class Edge:
    """A sipmap server with its SIP edge on, an upstream SIPp UAS, and helpers."""

    def __init__(self, server, workdir: Path, uas_port: int, uas):
        self.server = server
        self.workdir = workdir
        self.uas_port = uas_port
        self.uas = uas
        m = server.proc.wait_for_line(SIP_LINE, 10)
        assert m, f"no SIP listening line in {server.proc.lines!r}"
        self.host, self.port = m.group(1), int(m.group(2))
        self.runs = 0

    def options(self, source_ip: str, expect: int, transport: str = "u1", ruri: str | None = None):
        """Sends one OPTIONS from `source_ip`; returns what SIPp received (the message log)."""
        self.runs += 1
        ruri = ruri or "sip:[remote_ip]:[remote_port]"
        scen = self.workdir / f"options-{self.runs}.xml"
        scen.write_text(OPTIONS_TEMPLATE.format(code=expect, ruri=ruri))
        log = self.workdir / f"options-{self.runs}.log"
        cmd = [
            SIPP, "-sf", str(scen), f"{self.host}:{self.port}",
            "-i", source_ip, "-p", str(free_port(source_ip)), "-t", transport,
            "-m", "1", "-timeout", "10s", "-timeout_error", "-max_recv_loops", "100",
            "-trace_msg", "-message_file", str(log), "-nostdin",
        ]
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        text = log.read_text(errors="replace") if log.exists() else ""
        assert done.returncode == 0, (
            f"sipp expected {expect} from {source_ip} over {transport}: rc={done.returncode}\n"
            f"{done.stdout.decode(errors='replace')[-2000:]}\n{text[-3000:]}"
        )
        return text

    def call(self, source_ip: str, transport: str = "u1"):
        """One INVITE/ACK/BYE call with SIPp's built-in UAC; returns its exit code and log."""
        self.runs += 1
        log = self.workdir / f"uac-{self.runs}.log"
        cmd = [
            SIPP, "-sn", "uac", f"{self.host}:{self.port}", "-s", "alice",
            "-i", source_ip, "-p", str(free_port(source_ip)), "-t", transport,
            "-m", "1", "-timeout", "15s", "-timeout_error", "-d", "100",
            "-trace_msg", "-message_file", str(log), "-nostdin",
        ]
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=40)
        return done.returncode, (log.read_text(errors="replace") if log.exists() else "")

    def uas_log(self) -> str:
        path = self.workdir / "uas.log"
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture
def edge(sipmap_factory, tmp_path):
    uas_port = free_port()
    uas_log = tmp_path / "uas.log"
    uas = subprocess.Popen(
        [SIPP, "-sn", "uas", "-i", "127.0.0.1", "-p", str(uas_port), "-t", "u1",
         "-trace_msg", "-message_file", str(uas_log), "-nostdin", "-timeout", "120s"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        server = sipmap_factory(
            extra_args=["--sip-listen", "127.0.0.1:0", "--sip-upstream", f"127.0.0.1:{uas_port}"]
        )
        yield Edge(server, tmp_path, uas_port, uas)
    finally:
        uas.kill()
        uas.wait(timeout=10)


def allow_loopback(client, account_sid: str, domain_sid: str) -> str:
    """Maps to the domain, for calls, a new IP access control list of the account holding
    127.0.0.0/8; returns the list's SID."""
    sip = client.api.v2010.accounts(account_sid).sip
    acl = sip.ip_access_control_lists.create(friendly_name="loopback")
    sip.ip_access_control_lists(acl.sid).ip_addresses.create(
        friendly_name="loopback", ip_address="127.0.0.0", cidr_prefix_length=8
    )
    sip.domains(domain_sid).auth.calls.ip_access_control_list_mappings.create(
        ip_access_control_list_sid=acl.sid
    )
    return acl.sid


def make_domain(server, name: str, *, loopback_acl: bool = True) -> str:
    """A domain of the server's account; with `loopback_acl`, one that loopback sources may
    call (see `allow_loopback`)."""
    sid = server.client.api.v2010.accounts(server.sid).sip.domains.create(domain_name=name).sid
    if loopback_acl:
        allow_loopback(server.client, server.sid, sid)
    return sid


def map_source(server, ip: str, domain_sid: str, prefix: int = 32) -> tuple[str, str]:
    record = server.client.voice.v1.ip_records.create(ip_address=ip, cidr_prefix_length=prefix)
    mapping = server.client.voice.v1.source_ip_mappings.create(
        ip_record_sid=record.sid, sip_domain_sid=domain_sid
    )
    return record.sid, mapping.sid


def received_header(log: str, name: str) -> list[str]:
    return re.findall(rf"^{re.escape(name)}:\s*(\S+)", log, flags=re.MULTILINE | re.IGNORECASE)


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_mapped_source_recognised_unmapped_refused(edge, transport):
    name = unique_domain("edge")
    domain = make_domain(edge.server, name)
    map_source(edge.server, "127.0.0.2", domain)
    log = edge.options("127.0.0.2", 200, transport)
    assert domain in received_header(log, "X-Sipmap-Domain-Sid")
    assert edge.server.sid in received_header(log, "X-Sipmap-Account-Sid")
    edge.options("127.0.0.3", 404, transport)


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_request_uri_fqdn_is_recognised_from_any_source(edge, transport):
    name = unique_domain("fqdn")
    domain = make_domain(edge.server, name)
    log = edge.options("127.0.0.5", 200, transport, ruri=f"sip:bob@{name.upper()}")
    assert domain in received_header(log, "X-Sipmap-Domain-Sid")
    edge.options("127.0.0.5", 404, transport, ruri="sip:bob@unknown.sip.twilio.com")


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_api_changes_apply_to_the_very_next_request(edge, transport):
    d1 = make_domain(edge.server, unique_domain("one"))
    d2 = make_domain(edge.server, unique_domain("two"))
    source = "127.0.0.7"
    edge.options(source, 404, transport)
    _, mapping = map_source(edge.server, source, d1)
    assert d1 in received_header(edge.options(source, 200, transport), "X-Sipmap-Domain-Sid")
    edge.server.client.voice.v1.source_ip_mappings(mapping).update(sip_domain_sid=d2)
    assert d2 in received_header(edge.options(source, 200, transport), "X-Sipmap-Domain-Sid")
    edge.server.client.voice.v1.source_ip_mappings(mapping).delete()
    edge.options(source, 404, transport)


def test_longest_prefix_wins(edge):
    wide = make_domain(edge.server, unique_domain("wide"))
    narrow = make_domain(edge.server, unique_domain("narrow"))
    map_source(edge.server, "127.0.0.0", wide, prefix=8)
    map_source(edge.server, "127.0.0.9", narrow, prefix=32)
    assert narrow in received_header(edge.options("127.0.0.9", 200), "X-Sipmap-Domain-Sid")
    assert wide in received_header(edge.options("127.0.0.10", 200), "X-Sipmap-Domain-Sid")


@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_invite_is_forwarded_to_the_upstream_with_rewritten_uri(edge, transport):
    name = unique_domain("calls")
    domain = make_domain(edge.server, name)
    map_source(edge.server, "127.0.0.11", domain)
    rc, log = edge.call("127.0.0.11", transport)
    uas = edge.uas_log()
    assert rc == 0, f"sipp uac failed rc={rc}\n{log[-3000:]}\nUAS:\n{uas[-3000:]}"
    invites = re.findall(r"^INVITE (\S+) SIP/2\.0", uas, flags=re.MULTILINE)
    assert invites, uas[-3000:]
    assert all(f"@{name}" in uri for uri in invites), invites
    assert domain in received_header(uas, "X-Sipmap-Domain-Sid")
    assert "ip-acl" in received_header(uas, "X-Sipmap-Auth")
    # sipmap's Via sits on top of the client's, which carries received/rport.
    assert re.search(r"^Via: SIP/2\.0/UDP \S+;branch=z9hG4bK-sm-", uas, flags=re.MULTILINE), uas[-3000:]
    assert re.search(r"^Via: .*received=127\.0\.0\.11", uas, flags=re.MULTILINE | re.IGNORECASE)


def test_an_upstreams_responses_keep_their_order(edge):
    """SIPp's UAS answers every INVITE with 180 then 200 at once; a UAC that saw the 200 first would
    count the 180 as unexpected and fail the call. 1,000 calls at 200/s through the edge: before
    each UDP reader had a socket of its own, about 6 in 1,000 came out reordered."""
    name = unique_domain("order")
    domain = make_domain(edge.server, name)
    map_source(edge.server, "127.0.0.12", domain)
    cmd = [
        SIPP, "-sn", "uac", f"{edge.host}:{edge.port}", "-s", "alice",
        "-i", "127.0.0.12", "-p", str(free_port("127.0.0.12")), "-t", "u1",
        "-r", "200", "-m", "1000", "-timeout", "60s", "-timeout_error", "-nostdin",
    ]
    done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=90)
    out = done.stdout.decode(errors="replace")
    assert done.returncode == 0, out[-3000:]
    assert re.search(r"Successful call\s+\|\s+\d+\s+\|\s+1000\b", out), out[-3000:]


def test_unmapped_invite_gets_404(edge):
    rc, log = edge.call("127.0.0.12")
    assert rc != 0
    assert re.search(r"^SIP/2\.0 404 Not Found", log, flags=re.MULTILINE), log[-2000:]


def test_metrics_count_what_the_edge_did(edge):
    domain = make_domain(edge.server, unique_domain("metrics"))
    map_source(edge.server, "127.0.0.13", domain)
    edge.options("127.0.0.13", 200)
    edge.options("127.0.0.14", 404)
    text = edge.server.get("/metrics").text
    assert 'sipmap_sip_requests_recognized_total{by="source_ip"} 1' in text
    assert "sipmap_sip_requests_not_recognized_total 1" in text
    assert "sipmap_sip_requests_received_total 2" in text
    assert 'sipmap_sip_auth_decisions_total{decision="acl_allowed"} 1' in text


def test_resolve_endpoint_and_cli(edge):
    from conftest import SIPMAP_BIN, clean_env

    name = unique_domain("resolve")
    domain = make_domain(edge.server, name, loopback_acl=False)
    map_source(edge.server, "10.20.0.0", domain, prefix=16)
    r = edge.server.get("/sipmap/v1/Resolve", params={"IpAddress": "10.20.3.4"})
    assert r.status_code == 200
    body = r.json()
    assert body["recognized"] is True and body["sip_domain_sid"] == domain
    assert body["matched_by"] == "source_ip"
    assert body["decision"] == "blocked" and body["auth_type"] is None
    env = clean_env() | {
        "TWILIO_ACCOUNT_SID": edge.server.sid,
        "TWILIO_AUTH_TOKEN": edge.server.token,
        "SIPMAP_URL": edge.server.base_url,
    }
    out = subprocess.run(
        [str(SIPMAP_BIN), "resolve", "10.99.0.1", "--uri", f"sip:x@{name}"],
        env=env, capture_output=True, timeout=30, stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    assert '"matched_by":"request_uri"' in out.stdout.decode()
    # Another account learns nothing about this account's mappings.
    other = edge.server.other_tenant()
    r = other.get("/sipmap/v1/Resolve", params={"IpAddress": "10.20.3.4"})
    assert r.status_code == 200 and r.json()["recognized"] is False


def test_suspended_and_closed_subaccounts_stop_being_recognised(edge):
    """A parent suspends, reactivates and closes a subaccount through the SDK; the edge follows
    on the very next request, and closing frees the network for another account."""
    parent = edge.server
    sub = parent.client.api.v2010.accounts.create(friendly_name="customer")
    sub_client = parent.client_for(sub.sid, sub.auth_token)
    domain = sub_client.api.v2010.accounts(sub.sid).sip.domains.create(
        domain_name=unique_domain("sub")
    ).sid
    allow_loopback(sub_client, sub.sid, domain)
    record = sub_client.voice.v1.ip_records.create(ip_address="127.0.0.21")
    sub_client.voice.v1.source_ip_mappings.create(ip_record_sid=record.sid, sip_domain_sid=domain)
    assert domain in received_header(edge.options("127.0.0.21", 200), "X-Sipmap-Domain-Sid")

    parent.client.api.v2010.accounts(sub.sid).update(status="suspended")
    edge.options("127.0.0.21", 404)
    parent.client.api.v2010.accounts(sub.sid).update(status="active")
    assert domain in received_header(edge.options("127.0.0.21", 200), "X-Sipmap-Domain-Sid")
    parent.client.api.v2010.accounts(sub.sid).update(status="closed")
    edge.options("127.0.0.21", 404)

    # The network is free again: another account maps it and receives the traffic.
    other = parent.other_tenant()
    other_domain = other.client.api.v2010.accounts(other.sid).sip.domains.create(
        domain_name=unique_domain("other")
    ).sid
    allow_loopback(other.client, other.sid, other_domain)
    rec = other.client.voice.v1.ip_records.create(ip_address="127.0.0.21")
    other.client.voice.v1.source_ip_mappings.create(ip_record_sid=rec.sid, sip_domain_sid=other_domain)
    assert other_domain in received_header(edge.options("127.0.0.21", 200), "X-Sipmap-Domain-Sid")


def test_one_tenant_cannot_take_another_tenants_traffic(edge):
    """A /32 inside another account's /24, or a /1 around it, is refused with a 409 that names
    nothing of the other account; the owner keeps its traffic."""
    from twilio.base.exceptions import TwilioRestException

    owner = edge.server
    domain = make_domain(owner, unique_domain("owner"))
    map_source(owner, "127.0.30.0", domain, prefix=24)
    thief = owner.other_tenant()
    thief_domain = thief.client.api.v2010.accounts(thief.sid).sip.domains.create(
        domain_name=unique_domain("thief")
    ).sid
    for ip, prefix in [("127.0.30.7", 32), ("0.0.0.0", 1), ("127.0.0.0", 8)]:
        rec = thief.client.voice.v1.ip_records.create(ip_address=ip, cidr_prefix_length=prefix)
        with pytest.raises(TwilioRestException) as err:
            thief.client.voice.v1.source_ip_mappings.create(
                ip_record_sid=rec.sid, sip_domain_sid=thief_domain
            )
        assert err.value.status == 409 and err.value.code == 20409
        assert owner.sid not in err.value.msg and domain not in err.value.msg
        assert "127.0.30.0" not in err.value.msg, err.value.msg
    assert domain in received_header(edge.options("127.0.30.7", 200), "X-Sipmap-Domain-Sid")
