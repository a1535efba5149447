"""Voice v1 BYOC trunks, connection policies and their targets through the twilio SDK: all 15
operations, the exact field sets of Twilio's OpenAPI schemas, the validation of targets, the
reference rules (a trunk's policy and From domain, a domain's trunk: same account, 404 naming
the path otherwise; 409 for deleting what is in use), tenant isolation, and a Node SDK smoke
path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap

import pytest

from conftest import (
    REPO,
    V1_DATE_RE,
    V1_META_KEYS,
    assert_error,
    assert_sdk_error,
    load_spec,
    not_found_message,
    unique_domain,
)

SCHEMAS = load_spec("twilio_voice_v1.json")["components"]["schemas"]
TRUNK_FIELDS = set(SCHEMAS["voice.v1.byoc_trunk"]["properties"])
POLICY_FIELDS = set(SCHEMAS["voice.v1.connection_policy"]["properties"])
TARGET_FIELDS = set(SCHEMAS["voice.v1.connection_policy.connection_policy_target"]["properties"])


def assert_fields(body: dict, expected: set[str]) -> None:
    assert set(body) == expected, (set(body) ^ expected, body)
    assert V1_DATE_RE.match(body["date_created"]) and V1_DATE_RE.match(body["date_updated"])


def test_connection_policies_and_targets_every_operation(sipmap):
    v1 = sipmap.client.voice.v1
    policy = v1.connection_policies.create(friendly_name="carrier")
    assert policy.sid.startswith("NY") and policy.account_sid == sipmap.sid
    assert policy.url == f"{sipmap.base_url}/v1/ConnectionPolicies/{policy.sid}"
    assert policy.links == {"targets": f"{policy.url}/Targets"}
    assert_fields(sipmap.get(f"/v1/ConnectionPolicies/{policy.sid}").json(), POLICY_FIELDS)
    assert v1.connection_policies(policy.sid).fetch().friendly_name == "carrier"
    assert [p.sid for p in v1.connection_policies.list()] == [policy.sid]
    assert v1.connection_policies(policy.sid).update(friendly_name="main").friendly_name == "main"

    targets = v1.connection_policies(policy.sid).targets
    t = targets.create(target="sip:sip-box.example.com:5070;transport=tcp", friendly_name="box")
    assert t.sid.startswith("NE") and t.connection_policy_sid == policy.sid
    assert (t.priority, t.weight, t.enabled) == (10, 10, True)
    assert t.url == f"{policy.url}/Targets/{t.sid}"
    assert_fields(sipmap.get(f"/v1/ConnectionPolicies/{policy.sid}/Targets/{t.sid}").json(),
                  TARGET_FIELDS)
    second = targets.create(target="sip:backup.example.com", priority=20, weight=5, enabled=False)
    assert (second.priority, second.weight, second.enabled) == (20, 5, False)
    assert {x.sid for x in targets.list()} == {t.sid, second.sid}
    updated = targets(second.sid).update(enabled=True, priority=0, weight=65535)
    assert (updated.priority, updated.weight, updated.enabled) == (0, 65535, True)
    assert targets(t.sid).fetch().target == "sip:sip-box.example.com:5070;transport=tcp"
    page = sipmap.get(f"/v1/ConnectionPolicies/{policy.sid}/Targets?PageSize=1").json()
    assert set(page) == {"targets", "meta"} and set(page["meta"]) == V1_META_KEYS
    assert page["meta"]["key"] == "targets" and len(page["targets"]) == 1
    assert targets(second.sid).delete() is True
    assert_sdk_error(lambda: targets(second.sid).fetch(), 404, 20404)
    # Deleting the policy takes its targets with it.
    assert v1.connection_policies(policy.sid).delete() is True
    path = f"/v1/ConnectionPolicies/{policy.sid}/Targets/{t.sid}"
    assert_error(sipmap.get(path), 404, 20404, not_found_message(f"/ConnectionPolicies/{policy.sid}/Targets/{t.sid}"))


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"Target": "sips:secure.example.com"},
        {"Target": "http://example.com"},
        {"Target": "sip:"},
        {"Target": "sip:a.example.com", "Priority": "65536"},
        {"Target": "sip:a.example.com", "Priority": "-1"},
        {"Target": "sip:a.example.com", "Weight": "0"},
        {"Target": "sip:a.example.com", "Enabled": "yes"},
        {"Target": "sip:a.example.com", "FriendlyName": "x" * 256},
    ],
)
def test_targets_are_validated(sipmap, params):
    policy = sipmap.client.voice.v1.connection_policies.create()
    r = sipmap.post(f"/v1/ConnectionPolicies/{policy.sid}/Targets", data=params)
    assert_error(r, 400, 20001)


def test_byoc_trunks_every_operation_and_every_field(sipmap):
    v1 = sipmap.client.voice.v1
    policy = v1.connection_policies.create(friendly_name="carrier")
    domain = sipmap.client.api.v2010.accounts(sipmap.sid).sip.domains.create(
        domain_name=unique_domain("from"))
    params = dict(
        friendly_name="trunk",
        voice_url="https://byoc.example.com/twilio/app",
        voice_method="GET",
        voice_fallback_url="https://byoc.example.com/twilio/fallback",
        voice_fallback_method="GET",
        status_callback_url="https://byoc.example.com/twilio/status_callback",
        status_callback_method="GET",
        cnam_lookup_enabled=True,
        connection_policy_sid=policy.sid,
        from_domain_sid=domain.sid,
    )
    trunk = v1.byoc_trunks.create(**params)
    assert trunk.sid.startswith("BY") and trunk.account_sid == sipmap.sid
    for name, value in params.items():
        assert getattr(trunk, name) == value, name
    assert_fields(sipmap.get(f"/v1/ByocTrunks/{trunk.sid}").json(), TRUNK_FIELDS)
    assert v1.byoc_trunks(trunk.sid).fetch().voice_url == params["voice_url"]
    assert [t.sid for t in v1.byoc_trunks.list()] == [trunk.sid]
    cleared = sipmap.post(f"/v1/ByocTrunks/{trunk.sid}",
                          data={"ConnectionPolicySid": "", "FromDomainSid": "",
                                "VoiceUrl": ""}).json()
    assert (cleared["connection_policy_sid"], cleared["from_domain_sid"], cleared["voice_url"]) \
        == (None, None, None)
    defaults = v1.byoc_trunks.create()
    assert (defaults.voice_method, defaults.cnam_lookup_enabled, defaults.friendly_name) == (
        "POST", False, None)
    assert v1.byoc_trunks(defaults.sid).delete() is True
    assert_sdk_error(lambda: v1.byoc_trunks(defaults.sid).fetch(), 404, 20404)


def test_references_must_exist_in_the_account_and_in_use_blocks_deletes(sipmap):
    v1 = sipmap.client.voice.v1
    sip = sipmap.client.api.v2010.accounts(sipmap.sid).sip
    missing_policy = "NY" + "0" * 32
    assert_error(sipmap.post("/v1/ByocTrunks", data={"ConnectionPolicySid": missing_policy}),
                 404, 20404, not_found_message(f"/ConnectionPolicies/{missing_policy}"))
    missing_trunk = "BY" + "0" * 32
    r = sipmap.post(f"/2010-04-01/Accounts/{sipmap.sid}/SIP/Domains.json",
                    data={"DomainName": unique_domain("x"), "ByocTrunkSid": missing_trunk})
    assert_error(r, 404, 20404, not_found_message(f"/ByocTrunks/{missing_trunk}"))
    policy = v1.connection_policies.create()
    trunk = v1.byoc_trunks.create(connection_policy_sid=policy.sid)
    domain = sip.domains.create(domain_name=unique_domain("routed"), byoc_trunk_sid=trunk.sid)
    assert domain.byoc_trunk_sid == trunk.sid
    body = assert_error(sipmap.delete(f"/v1/ConnectionPolicies/{policy.sid}"), 409, 20409)
    assert trunk.sid in body["message"] and policy.sid in body["message"]
    body = assert_error(sipmap.delete(f"/v1/ByocTrunks/{trunk.sid}"), 409, 20409)
    assert domain.sid in body["message"]
    assert v1.byoc_trunks(trunk.sid).fetch().connection_policy_sid == policy.sid, "nothing deleted"
    sip.domains(domain.sid).update(byoc_trunk_sid="")
    assert v1.byoc_trunks(trunk.sid).delete() is True
    assert v1.connection_policies(policy.sid).delete() is True


def test_another_accounts_byoc_resources_are_absent(sipmap):
    v1 = sipmap.client.voice.v1
    policy = v1.connection_policies.create()
    target = v1.connection_policies(policy.sid).targets.create(target="sip:a.example.com")
    trunk = v1.byoc_trunks.create(connection_policy_sid=policy.sid)
    b = sipmap.other_tenant()
    for path in (f"/v1/ByocTrunks/{trunk.sid}", f"/v1/ConnectionPolicies/{policy.sid}",
                 f"/v1/ConnectionPolicies/{policy.sid}/Targets/{target.sid}",
                 f"/v1/ConnectionPolicies/{policy.sid}/Targets"):
        assert_error(b.get(path), 404, 20404, not_found_message(path[3:]))
        assert_error(b.delete(path), 404 if not path.endswith("Targets") else 405,
                     20404 if not path.endswith("Targets") else 20004)
    assert b.client.voice.v1.byoc_trunks.list() == []
    # B cannot reference A's policy or point its domain at A's trunk.
    assert_error(b.post("/v1/ByocTrunks", data={"ConnectionPolicySid": policy.sid}), 404, 20404,
                 not_found_message(f"/ConnectionPolicies/{policy.sid}"))
    r = b.post(f"/2010-04-01/Accounts/{b.sid}/SIP/Domains.json",
               data={"DomainName": unique_domain("b"), "ByocTrunkSid": trunk.sid})
    assert_error(r, 404, 20404, not_found_message(f"/ByocTrunks/{trunk.sid}"))


NODE_SMOKE = textwrap.dedent("""
    const twilio = require("twilio");
    const [sid, token, url] = process.argv.slice(2);
    const client = twilio(sid, token);
    client.voice.baseUrl = url;
    (async () => {
      const policy = await client.voice.v1.connectionPolicies.create({ friendlyName: "carrier" });
      await client.voice.v1.connectionPolicies(policy.sid).targets.create({
        target: "sip:pbx.example.com", priority: 1, weight: 20 });
      const trunk = await client.voice.v1.byocTrunks.create({ connectionPolicySid: policy.sid });
      const targets = await client.voice.v1.connectionPolicies(policy.sid).targets.list();
      const fetched = await client.voice.v1.byocTrunks(trunk.sid).fetch();
      console.log(JSON.stringify({ policy: fetched.connectionPolicySid === policy.sid,
        targets: targets.map(t => [t.target, t.priority, t.weight, t.enabled]) }));
    })().catch((e) => { console.error(e); process.exit(1); });
""")


def test_node_sdk_smoke(sipmap, tmp_path):
    node_modules = REPO / "tests" / "e2e" / "node" / "node_modules"
    if not shutil.which("node") or not (node_modules / "twilio").is_dir():
        pytest.fail("node and tests/e2e/node/node_modules are needed (scripts/test.sh installs them)")
    script = tmp_path / "smoke.js"
    script.write_text(NODE_SMOKE)
    env = {**os.environ, "NODE_PATH": str(node_modules)}
    out = subprocess.run(["node", str(script), sipmap.sid, sipmap.token, sipmap.base_url],
                         capture_output=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    assert json.loads(out.stdout) == {"policy": True,
                                      "targets": [["sip:pbx.example.com", 1, 20, True]]}
