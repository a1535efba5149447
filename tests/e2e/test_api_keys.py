"""API keys (`SK…`) through the official SDKs, as Twilio users hold them: a key made through the
API 2010 Keys resource (or `sipmap keys create`) builds a client with
`Client(key_sid, secret, account_sid)` that runs the whole IP record / SIP domain / mapping flow;
the secret appears once, in the create response; a deleted key fails at the next call."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import (
    RFC2822_RE,
    SIPMAP_BIN,
    V2010_LIST_META_KEYS,
    assert_error,
    assert_sdk_error,
    clean_env,
    load_spec,
    make_client,
    not_found_message,
    unique_domain,
)

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = load_spec("twilio_api_v2010.json")["components"]["schemas"]
KEY_FIELDS = set(SCHEMAS["api.v2010.account.key"]["properties"])
NEW_KEY_FIELDS = set(SCHEMAS["api.v2010.account.new_key"]["properties"])


def key_client(sipmap, key):
    return make_client(sipmap.base_url, key.sid, key.secret, sipmap.sid)


def run_flow(client, account_sid):
    """The IP record / SIP domain / mapping flow, every step with `client`."""
    rec = client.voice.v1.ip_records.create(ip_address="10.77.0.1", cidr_prefix_length=32)
    assert rec.account_sid == account_sid
    dom = client.api.v2010.accounts(account_sid).sip.domains.create(domain_name=unique_domain("key"))
    m = client.voice.v1.source_ip_mappings.create(ip_record_sid=rec.sid, sip_domain_sid=dom.sid)
    assert [x.sid for x in client.voice.v1.source_ip_mappings.list()] == [m.sid]
    assert client.voice.v1.ip_records(rec.sid).update(friendly_name="pbx").friendly_name == "pbx"
    assert client.voice.v1.source_ip_mappings(m.sid).fetch().sip_domain_sid == dom.sid
    assert client.voice.v1.source_ip_mappings(m.sid).delete() is True
    assert client.api.v2010.accounts(account_sid).sip.domains(dom.sid).delete() is True
    assert client.voice.v1.ip_records(rec.sid).delete() is True


def test_a_key_client_runs_the_whole_flow_and_a_deleted_key_fails(sipmap):
    key = sipmap.client.new_keys.create(friendly_name="ci")
    assert key.sid.startswith("SK") and len(key.sid) == 34
    assert isinstance(key.secret, str) and len(key.secret) == 32
    client = key_client(sipmap, key)
    run_flow(client, sipmap.sid)
    # The key manages keys too, as the account's token does.
    assert key.sid in {k.sid for k in client.keys.list()}
    sipmap.client.keys(key.sid).delete()
    assert_sdk_error(lambda: client.voice.v1.ip_records.create(ip_address="10.77.0.2"), 401, 20003,
                     "Authenticate")
    assert_sdk_error(lambda: client.api.v2010.accounts(sipmap.sid).fetch(), 401, 20003, "Authenticate")


def test_key_wire_shape_and_secret_only_on_create(sipmap):
    resp = sipmap.post(f"/2010-04-01/Accounts/{sipmap.sid}/Keys.json", data={"FriendlyName": "k"})
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert set(created) == NEW_KEY_FIELDS
    assert created["friendly_name"] == "k"
    assert RFC2822_RE.match(created["date_created"]) and created["date_created"] == created["date_updated"]
    path = f"/2010-04-01/Accounts/{sipmap.sid}/Keys/{created['sid']}.json"
    fetched = sipmap.get(path).json()
    assert set(fetched) == KEY_FIELDS
    assert fetched == {k: v for k, v in created.items() if k != "secret"}
    listed = sipmap.get(f"/2010-04-01/Accounts/{sipmap.sid}/Keys.json").json()
    assert set(listed) == V2010_LIST_META_KEYS | {"keys"}
    assert listed["keys"] == [fetched]
    # through the SDK: fetch, update, list, delete
    keys = sipmap.client.keys
    assert keys(created["sid"]).fetch().friendly_name == "k"
    assert keys(created["sid"]).update(friendly_name="renamed").friendly_name == "renamed"
    assert [k.friendly_name for k in keys.list()] == ["renamed"]
    assert keys(created["sid"]).delete() is True
    assert_error(sipmap.get(path), 404, 20404, not_found_message(path))
    long = sipmap.post(f"/2010-04-01/Accounts/{sipmap.sid}/Keys.json", data={"FriendlyName": "x" * 65})
    assert_error(long, 400, 20001, message_prefix="Invalid parameter FriendlyName: ")


def test_a_subaccounts_key_acts_as_the_subaccount_only(sipmap):
    sub = sipmap.client.api.v2010.accounts.create(friendly_name="child")
    key = sipmap.client.api.v2010.accounts(sub.sid).new_keys.create(friendly_name="sub")
    client = make_client(sipmap.base_url, key.sid, key.secret, sub.sid)
    run_flow(client, sub.sid)
    parent = make_client(sipmap.base_url, key.sid, key.secret, sipmap.sid)
    assert_sdk_error(lambda: parent.api.v2010.accounts(sipmap.sid).fetch(), 401, 20003, "Authenticate")
    # A parent's key reaches its subaccount's 2010 resources.
    parent_key = sipmap.client.new_keys.create()
    as_parent = key_client(sipmap, parent_key)
    assert as_parent.api.v2010.accounts(sub.sid).sip.domains.list() == []


def test_cli_keys_create(sipmap):
    out = subprocess.run(
        [str(SIPMAP_BIN), "keys", "create", "--account-sid", sipmap.sid, "--friendly-name", "cli",
         "--database-url", sipmap.db_url],
        env=clean_env(), capture_output=True, timeout=30, stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr.decode()
    made = json.loads(out.stdout)
    assert made["sid"].startswith("SK") and made["account_sid"] == sipmap.sid
    assert made["friendly_name"] == "cli" and len(made["secret"]) == 32
    client = make_client(sipmap.base_url, made["sid"], made["secret"], sipmap.sid)
    assert client.api.v2010.accounts(sipmap.sid).fetch().sid == sipmap.sid
    assert made["secret"] not in out.stderr.decode()

    def cli(*args):
        argv = [str(SIPMAP_BIN), "keys", "create", "--database-url", sipmap.db_url, *args]
        return subprocess.run(argv, env=clean_env(), capture_output=True, timeout=30,
                              stdin=subprocess.DEVNULL)

    # The limit `serve` reads from SIPMAP_MAX_KEYS_PER_ACCOUNT holds here too.
    full = cli("--account-sid", sipmap.sid, "--max-keys-per-account", "1")
    assert full.returncode != 0 and b"at most 1 API Keys" in full.stderr, full.stderr
    missing = cli("--account-sid", "AC" + "0" * 32)
    assert missing.returncode != 0 and b"there is no account" in missing.stderr, missing.stderr


NODE_KEYS = textwrap.dedent("""
    const twilio = require("twilio");
    const [sid, token, url, domain] = process.argv.slice(2);
    const admin = twilio(sid, token);
    admin.api.baseUrl = url;
    (async () => {
      const key = await admin.api.v2010.accounts(sid).newKeys.create({ friendlyName: "node" });
      const client = twilio(key.sid, key.secret, { accountSid: sid });
      client.voice.baseUrl = url;
      client.api.baseUrl = url;
      const rec = await client.voice.v1.ipRecords.create({ ipAddress: "10.88.0.1" });
      const dom = await client.api.v2010.accounts(sid).sip.domains.create({ domainName: domain });
      const map = await client.voice.v1.sourceIpMappings.create({
        ipRecordSid: rec.sid, sipDomainSid: dom.sid });
      await client.voice.v1.sourceIpMappings(map.sid).remove();
      await admin.api.v2010.accounts(sid).keys(key.sid).remove();
      let after = null;
      try { await client.voice.v1.ipRecords.list(); } catch (e) { after = [e.status, e.code]; }
      console.log(JSON.stringify({ account: rec.accountSid === sid, domain: dom.accountSid, after }));
    })().catch((e) => { console.error(e); process.exit(1); });
""")


def test_node_sdk_with_an_api_key(sipmap, tmp_path):
    node_modules = REPO / "tests" / "e2e" / "node" / "node_modules"
    if not shutil.which("node") or not (node_modules / "twilio").is_dir():
        pytest.fail("node and tests/e2e/node/node_modules are needed (scripts/test.sh installs them)")
    script = tmp_path / "keys.js"
    script.write_text(NODE_KEYS)
    env = {**os.environ, "NODE_PATH": str(node_modules)}
    argv = ["node", str(script), sipmap.sid, sipmap.token, sipmap.base_url, unique_domain("node")]
    out = subprocess.run(argv, capture_output=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    assert json.loads(out.stdout) == {"account": True, "domain": sipmap.sid, "after": [401, 20003]}


def test_secrets_and_tokens_never_reach_the_log(sipmap_factory, monkeypatch):
    monkeypatch.setenv("RUST_LOG", "debug")
    srv = sipmap_factory()
    key = srv.client.new_keys.create(friendly_name="log")
    key_client(srv, key).voice.v1.ip_records.create(ip_address="10.66.0.1")
    wrong = make_client(srv.base_url, key.sid, "x" * 32, srv.sid)
    assert_sdk_error(lambda: wrong.api.v2010.accounts(srv.sid).fetch(), 401, 20003, "Authenticate")
    sub = srv.client.api.v2010.accounts.create(friendly_name="child")
    assert srv.client.api.v2010.accounts(sub.sid).fetch().auth_token == sub.auth_token
    srv.client.keys(key.sid).delete()
    log = srv.proc.log_path.read_text()
    assert "DEBUG" in log, "the server logged at debug level"
    for secret in (key.secret, srv.token, sub.auth_token):
        assert secret not in log
