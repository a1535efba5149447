"""Process lifecycle and durability: SIGTERM stops the server cleanly (exit 0) and a restart on
the same database serves the same data with the same SIDs and dates; SIGKILL during a burst of
concurrent creates loses no write that was acknowledged with 201; the first start on an empty
database without TWILIO_* variables creates and prints an account, later starts do not."""

from __future__ import annotations

import re
import threading
import time

import requests

from conftest import (
    HTTP_TIMEOUT,
    assert_error,
    domains_path,
    unique_domain,
)


def test_sigterm_exits_cleanly_and_restart_keeps_everything(sipmap):
    c = sipmap.client
    rec = c.voice.v1.ip_records.create(ip_address="10.2.3.4", friendly_name="keep", cidr_prefix_length=30)
    other = c.voice.v1.ip_records.create(ip_address="10.2.3.9")
    dom = c.api.v2010.accounts(sipmap.sid).sip.domains.create(
        domain_name=unique_domain(), friendly_name="dom", voice_url="https://example.com/v", secure=True
    )
    m = c.voice.v1.source_ip_mappings.create(ip_record_sid=rec.sid, sip_domain_sid=dom.sid)
    sub = c.api.v2010.accounts.create(friendly_name="child")
    c.voice.v1.ip_records(other.sid).delete()

    before = {
        "rec": sipmap.get(f"/v1/IpRecords/{rec.sid}").json(),
        "map": sipmap.get(f"/v1/SourceIpMappings/{m.sid}").json(),
        "dom": sipmap.get(domains_path(sipmap.sid, dom.sid)).json(),
        "sub": sipmap.get(f"/2010-04-01/Accounts/{sub.sid}.json").json(),
        "domains": sipmap.get(domains_path(sipmap.sid)).json()["domains"],
    }
    old_base = sipmap.base_url

    started = time.monotonic()
    rc = sipmap.stop(timeout=10)
    elapsed = time.monotonic() - started
    assert rc == 0, f"exit code {rc} after SIGTERM"
    assert elapsed < 5, f"took {elapsed:.1f}s to stop"

    sipmap.start()
    new_base = sipmap.base_url

    def rebase(obj):
        return {k: (v.replace(new_base, old_base) if k == "url" else v) for k, v in obj.items()}

    after_rec = sipmap.get(f"/v1/IpRecords/{rec.sid}").json()
    after_map = sipmap.get(f"/v1/SourceIpMappings/{m.sid}").json()
    assert after_rec["url"] == f"{new_base}/v1/IpRecords/{rec.sid}"
    assert rebase(after_rec) == before["rec"]
    assert rebase(after_map) == before["map"]
    assert sipmap.get(domains_path(sipmap.sid, dom.sid)).json() == before["dom"]
    assert sipmap.get(f"/2010-04-01/Accounts/{sub.sid}.json").json() == before["sub"]
    assert sipmap.get(domains_path(sipmap.sid)).json()["domains"] == before["domains"]
    # the deleted record stays deleted
    assert_error(sipmap.get(f"/v1/IpRecords/{other.sid}"), 404, 20404)
    # SDK through the same client object (its base URL follows the restart)
    assert [r.sid for r in c.voice.v1.ip_records.list()] == [rec.sid]
    # the subaccount's token still works, and the rules still hold
    sub_client = sipmap.client_for(sub.sid, sub.auth_token)
    assert sub_client.api.v2010.accounts(sub.sid).fetch().sid == sub.sid
    resp = sipmap.delete(f"/v1/IpRecords/{rec.sid}")
    assert_error(resp, 409, 20409)
    # new SIDs still sort after old ones
    newer = c.voice.v1.ip_records.create(ip_address="10.9.9.9")
    assert [r.sid for r in c.voice.v1.ip_records.list()] == [rec.sid, newer.sid]


def test_sigterm_while_idle_connection_is_open(sipmap):
    session = requests.Session()
    session.auth = sipmap.auth
    assert session.get(sipmap.base_url + "/v1/IpRecords", timeout=HTTP_TIMEOUT).status_code == 200
    # keep-alive connection stays open; graceful shutdown must not wait for it forever
    started = time.monotonic()
    rc = sipmap.stop(timeout=15)
    assert rc == 0
    assert time.monotonic() - started < 10
    session.close()


def test_kill9_loses_no_acknowledged_write(sipmap):
    base = sipmap.base_url
    auth = sipmap.auth
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    enough = threading.Event()
    errors: list[str] = []
    per_thread = 60  # hard upper bound on requests per thread
    target = 200

    def worker(n: int) -> None:
        s = requests.Session()
        s.auth = auth
        for i in range(per_thread):
            if stop.is_set():
                return
            try:
                r = s.post(
                    base + "/v1/IpRecords",
                    data={"IpAddress": f"10.{n}.{i // 256}.{i % 256}", "FriendlyName": f"t{n}-{i}"},
                    timeout=HTTP_TIMEOUT,
                )
            except requests.RequestException:
                return  # the server is gone
            if r.status_code == 201:
                with lock:
                    acked.append(r.json()["sid"])
                    if len(acked) >= target:
                        enough.set()
            else:
                with lock:
                    errors.append(f"{r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(8)]
    for t in threads:
        t.start()
    enough.wait(timeout=60)
    # SIGKILL while the other threads are still writing
    sipmap.kill9()
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors[:5]
    with lock:
        acknowledged = list(acked)
    assert len(acknowledged) >= target, f"only {len(acknowledged)} creates were acknowledged"

    sipmap.start()
    stored = {r.sid for r in sipmap.client.voice.v1.ip_records.list(page_size=1000)}
    missing = [sid for sid in acknowledged if sid not in stored]
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {missing[:3]}"
    # and each one is fetchable
    for sid in acknowledged[:: max(1, len(acknowledged) // 25)]:
        assert sipmap.get(f"/v1/IpRecords/{sid}").status_code == 200


def test_kill9_after_updates_and_deletes(sipmap):
    c = sipmap.client
    rec = c.voice.v1.ip_records.create(ip_address="10.0.0.1", friendly_name="v1")
    gone = c.voice.v1.ip_records.create(ip_address="10.0.0.2")
    c.voice.v1.ip_records(rec.sid).update(friendly_name="v2")
    c.voice.v1.ip_records(gone.sid).delete()
    sipmap.kill9()
    sipmap.start()
    assert c.voice.v1.ip_records(rec.sid).fetch().friendly_name == "v2"
    assert [r.sid for r in c.voice.v1.ip_records.list()] == [rec.sid]


EXPORT_SID_RE = re.compile(r"^export TWILIO_ACCOUNT_SID=(AC[0-9a-f]{32})\s*$")
EXPORT_TOKEN_RE = re.compile(r"^export TWILIO_AUTH_TOKEN=(\S+)\s*$")


def test_first_start_prints_an_account(sipmap_factory):
    srv = sipmap_factory(with_env_account=False)
    sid_m = srv.proc.wait_for_line(EXPORT_SID_RE, 5)
    tok_m = srv.proc.wait_for_line(EXPORT_TOKEN_RE, 5)
    assert sid_m and tok_m, f"stdout was: {srv.proc.stdout_text()!r}"
    sid, token = sid_m.group(1), tok_m.group(1)

    resp = srv.request("GET", "/v1/IpRecords", auth=(sid, token))
    assert resp.status_code == 200, resp.text
    client = srv.client_for(sid, token)
    rec = client.voice.v1.ip_records.create(ip_address="10.0.0.1")
    assert rec.account_sid == sid
    assert client.api.v2010.accounts(sid).fetch().status == "active"

    # second start on the same database: no new token, the old one still works
    assert srv.stop() == 0
    srv.start()
    time.sleep(0.5)  # anything printed right after the listening line
    out = srv.proc.stdout_text()
    assert not any(EXPORT_TOKEN_RE.match(line) for line in out.splitlines()), out
    resp = srv.request("GET", "/v1/IpRecords", auth=(sid, token))
    assert resp.status_code == 200
    assert [r["sid"] for r in resp.json()["ip_records"]] == [rec.sid]
    assert [a["sid"] for a in srv.request("GET", "/2010-04-01/Accounts.json", auth=(sid, token)).json()["accounts"]] == [sid]


def test_env_account_survives_restart(sipmap):
    rec = sipmap.client.voice.v1.ip_records.create(ip_address="10.0.0.1")
    sipmap.restart()
    # same env credentials, same account, no duplicate account
    assert sipmap.client.voice.v1.ip_records(rec.sid).fetch().account_sid == sipmap.sid
    accounts = sipmap.get("/2010-04-01/Accounts.json").json()["accounts"]
    assert [a["sid"] for a in accounts] == [sipmap.sid]


def test_cli_account_created_while_server_runs(sipmap):
    sipmap.client.voice.v1.ip_records.create(ip_address="10.0.0.1")
    acct = sipmap.create_account()
    client = sipmap.client_for(acct["sid"], acct["auth_token"])
    assert client.voice.v1.ip_records.list() == []
    assert client.voice.v1.ip_records.create(ip_address="10.0.0.2").account_sid == acct["sid"]
    sipmap.restart()
    assert len(sipmap.client_for(acct["sid"], acct["auth_token"]).voice.v1.ip_records.list()) == 1
