"""The SIP edge routes a domain's calls by its BYOC trunk's connection policy, with SIPp UAS
targets on 127.0.0.x and a SIPp UAC client on 127.0.0.10.

Set up through the twilio SDK as a user would (a policy and its targets, a trunk naming the
policy, the domain naming the trunk), then proven with real calls (INVITE, ACK, BYE):

- the lowest priority value takes every call; equal priorities share calls by weight (2,000 calls
  at weights 3:1 give 75 % +/- 4 % to the heavier; the spread is a hash of the Call-ID);
- every request of a dialog reaches the target its INVITE reached (SIPp's UAC fails a call whose
  ACK or BYE goes to a target that does not know the dialog, and each UAS's log shows the
  INVITE, ACK and BYE of its calls);
- a target that stops answering the edge's OPTIONS probes is taken out of routing (seen in
  /metrics), calls go to the next priority, and it takes calls again when it answers again;
- a disabled target is never chosen; a change through the API (disable, priority, re-pointing
  the domain to another trunk) routes the very next call;
- a `transport=tcp` target is reached over TCP;
- `sipmap resolve` names the target a call would go to.

The server probes every 200 ms and takes a target out after 2 unanswered probes, so failover is
seen within about a second; every wait is bounded.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import SIPMAP_BIN, clean_env, unique_domain
from test_sip_edge import SIP_LINE, allow_loopback, free_port, map_source

SIPP = shutil.which("sipp")
CLIENT_IP = "127.0.0.10"
PROBES = ["--sip-probe-interval", "200ms", "--sip-probe-failures", "2"]


@pytest.fixture(scope="module", autouse=True)
def _need_sipp():
    if SIPP is None:
        pytest.fail("sipp is not installed (Debian package sip-tester; scripts/test.sh installs it)")


# SIPp's built-in UAS without its 180: fewer messages per call for the thousands of calls below
# (that responses keep their order through the edge is test_sip_edge's
# test_an_upstreams_responses_keep_their_order).
UAS_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="UAS answering 200">
  <recv request="INVITE" crlf="true"/>
  <send retrans="500">
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK" rtd="true" crlf="true"/>
  <recv request="BYE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>
</scenario>
"""


class Uas:
    """A SIPp UAS on `ip`: answers calls 200, and (`-aa`) the edge's OPTIONS probes."""

    def __init__(self, workdir: Path, ip: str, transport: str = "u1"):
        self.workdir, self.ip, self.transport = workdir, ip, transport
        self.proc = None
        # A port found free can be taken before SIPp binds it: then another port (at most 3).
        for _ in range(3):
            self.port = free_port(ip)
            self.log = workdir / f"uas-{ip}-{self.port}.log"
            if self.start():
                return
        raise AssertionError(f"no SIPp UAS would start on {ip}")

    def start(self) -> bool:
        """Starts SIPp and waits (at most 5 s) until it holds its port; False if it does not."""
        scenario = self.workdir / "uas.xml"
        scenario.write_text(UAS_SCENARIO)
        self.proc = subprocess.Popen(
            [SIPP, "-sf", str(scenario), "-i", self.ip, "-p", str(self.port), "-t", self.transport,
             "-aa", "-nostdin", "-trace_msg", "-message_file", str(self.log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        kind = socket.SOCK_STREAM if self.transport.startswith("t") else socket.SOCK_DGRAM
        for _ in range(100):
            if self.proc.poll() is not None:
                return False
            with socket.socket(socket.AF_INET, kind) as probe:
                try:
                    probe.bind((self.ip, self.port))
                except OSError:
                    return True  # SIPp holds it
            time.sleep(0.05)
        self.stop()
        return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    @property
    def uri(self) -> str:
        suffix = ";transport=tcp" if self.transport.startswith("t") else ""
        return f"sip:{self.ip}:{self.port}{suffix}"

    @property
    def contact(self) -> str:
        return f"{self.ip}:{self.port}"


class Routed:
    """A sipmap server with its SIP edge (fast probes, no upstream), a domain that the client's
    address is mapped to, and helpers to route it and to place calls."""

    def __init__(self, server, workdir: Path):
        self.server, self.workdir = server, workdir
        m = server.proc.wait_for_line(SIP_LINE, 10)
        assert m, f"no SIP listening line in {server.proc.lines!r}"
        self.edge = f"{m.group(1)}:{m.group(2)}"
        self.v1 = server.client.voice.v1
        self.name = unique_domain("routed")
        sip = server.client.api.v2010.accounts(server.sid).sip
        self.domain = sip.domains.create(domain_name=self.name).sid
        allow_loopback(server.client, server.sid, self.domain)
        map_source(server, CLIENT_IP, self.domain)
        self.runs = 0
        self.uases: list[Uas] = []

    def uas(self, ip: str, transport: str = "u1") -> Uas:
        u = Uas(self.workdir, ip, transport)
        self.uases.append(u)
        return u

    def policy(self, targets: list[tuple[Uas, int, int]]):
        """A policy with `(uas, priority, weight)` targets, a trunk naming it, and the domain
        pointed at the trunk; gives the policy and the target SIDs."""
        created = self.v1.connection_policies.create(friendly_name="carriers")
        policy = self.v1.connection_policies(created.sid)
        sids = [
            policy.targets.create(target=u.uri, priority=p, weight=w).sid
            for (u, p, w) in targets
        ]
        trunk = self.v1.byoc_trunks.create(connection_policy_sid=created.sid)
        self.server.client.api.v2010.accounts(self.server.sid).sip.domains(self.domain).update(
            byoc_trunk_sid=trunk.sid
        )
        return policy, sids

    def calls(self, n: int, rate: int = 300) -> dict[str, str]:
        """Places `n` calls from the client address; all must succeed. Gives, per Call-ID,
        the target (`ip:port` of the UAS Contact) that answered."""
        self.runs += 1
        log = self.workdir / f"uac-{self.runs}.log"
        errors = self.workdir / f"uac-{self.runs}.err"
        cmd = [
            SIPP, "-sn", "uac", self.edge, "-s", "bob", "-i", CLIENT_IP,
            "-p", str(free_port(CLIENT_IP)), "-t", "u1", "-m", str(n), "-r", str(rate),
            "-l", "100", "-timeout", "90s", "-timeout_error", "-d", "0",
            "-trace_msg", "-message_file", str(log), "-trace_err", "-error_file", str(errors),
            "-nostdin",
        ]
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
        text = log.read_text(errors="replace") if log.exists() else ""
        err = errors.read_text(errors="replace") if errors.exists() else ""
        assert done.returncode == 0, f"sipp uac: rc={done.returncode}\n{err[-4000:]}"
        answered = answered_by(text)
        assert len(answered) == n, f"{len(answered)} of {n} calls answered"
        return answered

    def target_up(self, sid: str):
        """Whether /metrics says target `sid` is up (None when it does not list it)."""
        text = self.server.get("/metrics").text
        m = re.search(rf'^sipmap_sip_target_up{{target="{sid}",[^}}]*}} ([01])$', text, re.M)
        return None if m is None else m.group(1) == "1"

    def wait_health(self, sid: str, up: bool) -> None:
        for _ in range(150):
            if self.target_up(sid) is up:
                return
            time.sleep(0.1)
        pytest.fail(f"target {sid} never became {'up' if up else 'down'}")


def messages(log: str) -> list[str]:
    """The messages of a SIPp message log, each with its direction line first."""
    return [m for m in re.split(r"^-{20,}.*$", log, flags=re.M) if m.strip()]


def answered_by(log: str) -> dict[str, str]:
    """Per Call-ID, the Contact (`ip:port`) of the 200 OK to its INVITE, from a UAC log."""
    out = {}
    for m in messages(log):
        if "message received" not in m or "SIP/2.0 200" not in m:
            continue
        if not re.search(r"^CSeq:\s*1 INVITE", m, re.M):
            continue
        call = re.search(r"^Call-ID:\s*(\S+)", m, re.M | re.I).group(1)
        contact = re.search(r"^Contact:.*?sip:([\d.]+:\d+)", m, re.M | re.I).group(1)
        out[call] = contact
    return out


def tally(answered: dict[str, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for contact in answered.values():
        counts[contact] = counts.get(contact, 0) + 1
    return counts


@pytest.fixture
def routed(sipmap_factory, tmp_path):
    server = sipmap_factory(extra_args=["--sip-listen", "127.0.0.1:0", *PROBES])
    r = Routed(server, tmp_path)
    try:
        yield r
    finally:
        for u in r.uases:
            u.stop()


def test_priority_then_weight_and_dialogs_stay_on_their_target(routed):
    heavy, light, backup = routed.uas("127.0.0.2"), routed.uas("127.0.0.3"), routed.uas("127.0.0.4")
    routed.policy([(heavy, 10, 30), (light, 10, 10), (backup, 20, 100)])
    n = 2000
    counts = tally(routed.calls(n))
    assert backup.contact not in counts, f"a higher priority value took calls: {counts}"
    share = counts.get(heavy.contact, 0) / n
    assert abs(share - 0.75) <= 0.04, f"weight 30 of 40 took {share:.3f} of the calls: {counts}"
    assert counts.get(heavy.contact, 0) + counts.get(light.contact, 0) == n
    # Each UAS saw the ACK and BYE of exactly the calls whose INVITE it saw.
    for u in (heavy, light):
        u.stop()
        per_method: dict[str, set[str]] = {"INVITE": set(), "ACK": set(), "BYE": set()}
        for m in messages(u.log.read_text(errors="replace")):
            first = re.search(r"^(INVITE|ACK|BYE) sip:", m, re.M)
            if first and "message received" in m:
                call = re.search(r"^Call-ID:\s*(\S+)", m, re.M | re.I).group(1)
                per_method[first.group(1)].add(call)
        assert per_method["INVITE"], f"{u.contact} saw no call"
        assert per_method["ACK"] == per_method["INVITE"] == per_method["BYE"], u.contact


def test_failover_when_the_top_target_stops_answering_probes(routed):
    top, second = routed.uas("127.0.0.2"), routed.uas("127.0.0.3")
    _, (top_sid, second_sid) = routed.policy([(top, 10, 10), (second, 20, 10)])
    routed.wait_health(top_sid, True)
    assert set(routed.calls(20).values()) == {top.contact}
    top.stop()
    routed.wait_health(top_sid, False)
    assert routed.target_up(second_sid) is True
    assert set(routed.calls(20).values()) == {second.contact}
    assert top.start(), "the top target's SIPp did not start again on its port"
    routed.wait_health(top_sid, True)
    assert set(routed.calls(20).values()) == {top.contact}
    metrics = routed.server.get("/metrics").text
    down = re.search(r"^sipmap_sip_targets_marked_down_total (\d+)$", metrics, re.M)
    assert down and int(down.group(1)) >= 1, metrics


def test_api_changes_route_the_next_call_and_disabled_is_never_chosen(routed):
    first, second, other = routed.uas("127.0.0.2"), routed.uas("127.0.0.3"), routed.uas("127.0.0.4")
    policy, (first_sid, second_sid) = routed.policy([(first, 10, 10), (second, 20, 10)])
    assert set(routed.calls(1).values()) == {first.contact}
    policy.targets(first_sid).update(enabled=False)
    assert set(routed.calls(1).values()) == {second.contact}
    assert set(routed.calls(300).values()) == {second.contact}, "a disabled target took calls"
    # Enabled again but behind the second: the second keeps the calls.
    policy.targets(first_sid).update(enabled=True, priority=30)
    assert set(routed.calls(1).values()) == {second.contact}
    policy.targets(second_sid).update(priority=40)
    assert set(routed.calls(1).values()) == {first.contact}
    # Re-pointed to a trunk of another policy.
    routed.policy([(other, 10, 10)])
    assert set(routed.calls(1).values()) == {other.contact}


def test_a_tcp_target_and_resolve(routed):
    tcp = routed.uas("127.0.0.5", "t1")
    _, (sid,) = routed.policy([(tcp, 10, 10)])
    assert set(routed.calls(20).values()) == {tcp.contact}
    routed.wait_health(sid, True)
    env = clean_env() | {
        "TWILIO_ACCOUNT_SID": routed.server.sid,
        "TWILIO_AUTH_TOKEN": routed.server.token,
        "SIPMAP_URL": routed.server.base_url,
    }
    out = subprocess.run(
        [str(SIPMAP_BIN), "resolve", CLIENT_IP, "--call-id", "abc"],
        env=env, capture_output=True, timeout=30, stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert (body["route"], body["target_sid"], body["transport"]) == ("target", sid, "tcp")
    assert body["destination"] == tcp.contact and body["target_uri"] == tcp.uri
