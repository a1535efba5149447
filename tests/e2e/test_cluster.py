"""A cluster: three sipmap nodes on one PostgreSQL database, on loopback.

Needs ``SIPMAP_TEST_POSTGRES_URL`` (``scripts/test.sh`` provides it, installing and starting
Debian's PostgreSQL where none runs). Each test works in a schema of its own. The "database goes
away" test puts a TCP proxy between two of the nodes and PostgreSQL and cuts it.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

import conftest
from conftest import random_account_sid, random_token, unique_domain, with_schema

PG_URL = os.environ.get("SIPMAP_TEST_POSTGRES_URL")
if not PG_URL and os.environ.get("SIPMAP_REQUIRE_POSTGRES"):
    raise RuntimeError("SIPMAP_REQUIRE_POSTGRES is set but SIPMAP_TEST_POSTGRES_URL is not")
pytestmark = pytest.mark.skipif(not PG_URL, reason="SIPMAP_TEST_POSTGRES_URL is not set")


def psql(sql: str) -> None:
    conftest.psql(PG_URL, sql)


class Proxy:
    """A TCP proxy to PostgreSQL that can be cut and restored, on a fixed loopback port."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = 0
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(64)
        self.port = ls.getsockname()[1]
        self._listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def _accept(self, ls: socket.socket) -> None:
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not.
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass


def sip_options(edge: tuple[str, int], source_ip: str, timeout: float = 1.0) -> tuple[int, str | None]:
    """One OPTIONS over UDP from `source_ip`; returns (status, X-Sipmap-Domain-Sid or None)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source_ip, 0))
        s.settimeout(timeout)
        port = s.getsockname()[1]
        branch = "z9hG4bK" + secrets.token_hex(8)
        msg = (
            f"OPTIONS sip:{edge[0]}:{edge[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {source_ip}:{port};branch={branch};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:probe@{source_ip}>;tag={secrets.token_hex(4)}\r\n"
            f"To: <sip:{edge[0]}>\r\n"
            f"Call-ID: {secrets.token_hex(8)}@{source_ip}\r\n"
            "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
        s.sendto(msg.encode(), edge)
        data, _ = s.recvfrom(65535)
    text = data.decode(errors="replace")
    status = int(text.split(" ", 2)[1])
    domain = None
    for line in text.split("\r\n"):
        if line.lower().startswith("x-sipmap-domain-sid:"):
            domain = line.split(":", 1)[1].strip()
    return status, domain


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (OSError, ValueError) as e:
            last = e
        time.sleep(0.02)
    raise AssertionError(f"{what} within {timeout}s (last: {last!r})")


@pytest.fixture
def cluster(sipmap_factory):
    schema = "sipmap_c_" + secrets.token_hex(8)
    psql(f"CREATE SCHEMA {schema}")
    pg = urlsplit(PG_URL)
    proxy = Proxy((pg.hostname or "127.0.0.1", pg.port or 5432))
    direct = with_schema(PG_URL, schema)
    proxied_base = PG_URL.replace(f"{pg.hostname}:{pg.port or 5432}", f"127.0.0.1:{proxy.port}", 1)
    if f":{proxy.port}" not in proxied_base:
        proxied_base = PG_URL.replace(pg.netloc, f"{pg.username + '@' if pg.username else ''}127.0.0.1:{proxy.port}", 1)
    proxied = with_schema(proxied_base, schema)
    sid, token = random_account_sid(), random_token()
    nodes = []
    for url in (direct, proxied, proxied):
        node = sipmap_factory(start=False, extra_args=["--sip-listen", "127.0.0.1:0"])
        node.db_url, node.sid, node.token = url, sid, token
        node.start()
        nodes.append(node)
    try:
        yield nodes, proxy
    finally:
        for n in nodes:
            n.shutdown()
        proxy.cut()
        psql(f"DROP SCHEMA {schema} CASCADE")


def sip_addr(node) -> tuple[str, int]:
    import re

    m = node.proc.wait_for_line(re.compile(r"SIP edge listening on (\S+):(\d+) "), 10)
    assert m, node.proc.lines
    return m.group(1), int(m.group(2))


def make_mapping(node, ip: str, prefix: int = 32, domain: str | None = None) -> tuple[str, str]:
    """Maps `ip`/`prefix` to `domain`, or to a new domain whose calls loopback sources may make
    (an IP access control list of 127.0.0.0/8 mapped to it, so the edge answers OPTIONS)."""
    from test_sip_edge import allow_loopback

    c = node.client
    if domain is None:
        domain = c.api.v2010.accounts(node.sid).sip.domains.create(domain_name=unique_domain("c")).sid
        allow_loopback(c, node.sid, domain)
    record = c.voice.v1.ip_records.create(ip_address=ip, cidr_prefix_length=prefix)
    c.voice.v1.source_ip_mappings.create(ip_record_sid=record.sid, sip_domain_sid=domain)
    return domain, record.sid


def test_a_write_on_one_node_is_recognised_by_the_others(cluster):
    nodes, _ = cluster
    start = time.monotonic()
    domain, _ = make_mapping(nodes[0], "127.0.0.21")
    for node in nodes:
        addr = sip_addr(node)
        wait_until(lambda: sip_options(addr, "127.0.0.21", 0.5)[0] == 200, 1.0,
                   "mapping recognised on every node")
        assert sip_options(addr, "127.0.0.21") == (200, domain)
    assert time.monotonic() - start < 5


def test_concurrent_conflicting_creates_leave_one_winner(cluster):
    nodes, _ = cluster
    c = nodes[0].client
    domain = c.api.v2010.accounts(nodes[0].sid).sip.domains.create(domain_name=unique_domain("w")).sid
    records = [c.voice.v1.ip_records.create(ip_address=f"10.50.0.{i}", cidr_prefix_length=24).sid
               for i in range(1, 4)]

    def create(i):
        return nodes[i].post("/v1/SourceIpMappings",
                             data={"IpRecordSid": records[i], "SipDomainSid": domain})

    for _ in range(3):
        with ThreadPoolExecutor(3) as pool:
            replies = list(pool.map(create, range(3)))
        wins = [r for r in replies if r.status_code == 201]
        losses = [r for r in replies if r.status_code != 201]
        assert len(wins) == 1, [(r.status_code, r.text) for r in replies]
        for r in losses:
            assert r.status_code == 409 and r.json()["code"] == 20409, r.text
        nodes[0].delete(f"/v1/SourceIpMappings/{wins[0].json()['sid']}")
    # Same network twice through different nodes, with different records: one winner again.
    with ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(
            lambda i: nodes[i].post("/v1/SourceIpMappings",
                                    data={"IpRecordSid": records[0], "SipDomainSid": domain}),
            (1, 2)))
    assert sorted(r.status_code for r in replies) == [201, 409], [r.text for r in replies]


def test_a_restarted_node_rebuilds_its_table(cluster):
    nodes, _ = cluster
    assert nodes[1].stop() == 0
    domain, _ = make_mapping(nodes[0], "127.0.0.22")
    nodes[1].start()
    assert sip_options(sip_addr(nodes[1]), "127.0.0.22") == (200, domain)


def test_nodes_recover_after_the_database_comes_back(cluster):
    nodes, proxy = cluster
    old_domain, _ = make_mapping(nodes[0], "127.0.0.23")
    for node in nodes[1:]:
        wait_until(lambda: sip_options(sip_addr(node), "127.0.0.23", 0.5)[0] == 200, 2,
                   "initial mapping recognised")
    proxy.cut()
    for node in nodes[1:]:
        wait_until(lambda: node.get("/healthz").status_code == 503, 10, "node reports unhealthy")
    # API writes fail fast with a Twilio 503; SIP keeps working from the last table.
    t0 = time.monotonic()
    r = nodes[1].post("/v1/IpRecords", data={"IpAddress": "10.60.0.1"})
    assert time.monotonic() - t0 < 12
    assert r.status_code == 503 and r.json()["code"] == 20503, r.text
    assert sip_options(sip_addr(nodes[1]), "127.0.0.23") == (200, old_domain)
    # Meanwhile the cluster changes through the node that still reaches the database.
    new_domain, _ = make_mapping(nodes[0], "127.0.0.24")
    proxy.restore()
    for node in nodes[1:]:
        wait_until(lambda: node.get("/healthz").status_code == 200, 15, "node healthy again")
        addr = sip_addr(node)
        wait_until(lambda: sip_options(addr, "127.0.0.24", 0.5)[0] == 200, 5,
                   "catch-up after reconnect")
        assert sip_options(addr, "127.0.0.24") == (200, new_domain)
    r = nodes[2].post("/v1/IpRecords", data={"IpAddress": "10.60.0.2"})
    assert r.status_code == 201, r.text


def test_nodes_log_plainly_without_notices(cluster):
    """Logs to a file or pipe carry no ANSI colour, and a node starting on a migrated database
    logs no PostgreSQL NOTICE."""
    nodes, _ = cluster
    for node in nodes:
        log = node.proc.stderr_tail(100_000)
        assert "\x1b[" not in log, log[-2000:]
        assert "NOTICE" not in log, log[-2000:]


def test_first_start_of_two_nodes_on_an_empty_database_creates_one_account(sipmap_factory):
    schema = "sipmap_b_" + secrets.token_hex(8)
    psql(f"CREATE SCHEMA {schema}")
    try:
        url = with_schema(PG_URL, schema)
        nodes = []
        for _ in range(2):
            node = sipmap_factory(start=False, with_env_account=False)
            node.db_url = url
            nodes.append(node)
        threads = [threading.Thread(target=n.start) for n in nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        created = [n for n in nodes if "export TWILIO_AUTH_TOKEN=" in n.proc.stdout_text()]
        assert len(created) == 1, [n.proc.stdout_text() for n in nodes]
        out = subprocess.run(
            ["psql", url, "-Atqc", "SELECT count(*) FROM accounts"],
            capture_output=True, timeout=30, check=True,
        )
        assert out.stdout.decode().strip() == "1"
        for n in nodes:
            n.shutdown()
    finally:
        psql(f"DROP SCHEMA {schema} CASCADE")


def test_an_unreachable_database_is_named_with_its_cause():
    from conftest import SIPMAP_BIN, clean_env

    out = subprocess.run(
        [str(SIPMAP_BIN), "serve", "--listen", "127.0.0.1:0",
         "--database-url", "postgres://nobody@127.0.0.1:1/nothing"],
        env=clean_env() | {"RUST_BACKTRACE": "0"}, capture_output=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode != 0
    err = out.stderr.decode()
    assert "127.0.0.1:1/nothing" in err and "nobody" in err, err
    assert "Connection refused" in err, err


def test_alerts_and_events_are_the_clusters_whichever_node_made_them(cluster):
    """Monitor through the official SDK on a cluster: the setup steps made through one node are
    Events listed by another, and a refusal at a third node's SIP edge is an Alert every node
    lists, with its count."""
    nodes, _ = cluster
    c0 = nodes[0].client
    sip = c0.api.v2010.accounts(nodes[0].sid).sip
    domain = sip.domains.create(domain_name=unique_domain("mon")).sid
    acl = sip.ip_access_control_lists.create(friendly_name="elsewhere").sid
    sip.ip_access_control_lists(acl).ip_addresses.create(
        friendly_name="far", ip_address="10.0.0.0", cidr_prefix_length=8)
    sip.domains(domain).auth.calls.ip_access_control_list_mappings.create(
        ip_access_control_list_sid=acl)
    record = c0.voice.v1.ip_records.create(ip_address="127.0.0.31", cidr_prefix_length=32).sid
    c0.voice.v1.source_ip_mappings.create(ip_record_sid=record, sip_domain_sid=domain)

    seen = nodes[2].client.monitor.v1.events.list(resource_sid=domain)
    assert [e.event_type for e in seen] == ["sip-domain.created"]
    assert {e.event_type for e in nodes[1].client.monitor.v1.events.list()} >= {
        "sip-domain.created", "sip-ip-access-control-list.created",
        "sip-domain-auth-mapping.created", "ip-record.created", "source-ip-mapping.created"}

    addr = sip_addr(nodes[1])
    wait_until(lambda: sip_options(addr, "127.0.0.31", 0.5)[0] == 403, 2.0,
               "the mapped source refused by the domain's ACL on node 1")
    for _ in range(4):
        assert sip_options(addr, "127.0.0.31")[0] == 403

    def alerts_on(node):
        return [a for a in node.client.monitor.v1.alerts.list() if a.resource_sid == domain]

    for node in nodes:
        (alert,) = wait_until(lambda: alerts_on(node), 10.0, "the refusal's alert listed")
        assert alert.error_code == "32201"
    (alert,) = alerts_on(nodes[0])
    fetched = nodes[2].client.monitor.v1.alerts(alert.sid).fetch()
    assert "127.0.0.31" in fetched.request_variables


def test_a_credential_change_reaches_every_node_even_across_a_cut(cluster):
    """Each node caches what authentication read; a deleted key is refused at once by the node
    that deleted it and soon by the others, also by a node that was cut off from the database
    (and so from the change feed) when the key was deleted."""
    nodes, proxy = cluster
    keys = f"/2010-04-01/Accounts/{nodes[0].sid}/Keys"

    def new_key():
        r = nodes[0].post(f"{keys}.json", data={"FriendlyName": "cached"})
        assert r.status_code == 201, r.text
        return r.json()["sid"], r.json()["secret"]

    def status(node, key):
        return node.get("/v1/IpRecords?PageSize=1", auth=key).status_code

    key = new_key()
    for node in nodes:
        assert [status(node, key), status(node, key)] == [200, 200]
    assert nodes[0].delete(f"{keys}/{key[0]}.json").status_code == 204
    assert status(nodes[0], key) == 401
    for node in nodes[1:]:
        wait_until(lambda: status(node, key) == 401, 5, "the deleted key refused")

    key = new_key()
    assert [status(nodes[1], key), status(nodes[1], key)] == [200, 200]
    proxy.cut()
    wait_until(lambda: nodes[1].get("/healthz").status_code == 503, 10, "node cut off")
    assert nodes[0].delete(f"{keys}/{key[0]}.json").status_code == 204
    # Without its feed the node does not serve from its cache: it needs the database.
    assert status(nodes[1], key) == 503
    proxy.restore()
    wait_until(lambda: nodes[1].get("/healthz").status_code == 200, 15, "node healthy again")
    wait_until(lambda: status(nodes[1], key) == 401, 5, "the key deleted during the cut refused")
