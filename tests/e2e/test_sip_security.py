"""A SIP domain's security family through the twilio SDK: IP access control lists and their IP
addresses, credential lists and their credentials, and the lists mapped to a domain by all five
paths (the older `Domains/{SD}/…Mappings` and `Auth/Calls/…` are one set); every operation,
the exact field sets of Twilio's OpenAPI schemas, `auth_type`, and the decisions Twilio
documents nothing for (21231 for a second mapping, 404 for another account's list, 409 for
deleting a mapped list). A password is never returned. A Node SDK smoke path runs the same
setup."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap

import pytest

from conftest import (
    REPO,
    RFC2822_RE,
    V2010_LIST_META_KEYS,
    assert_error,
    assert_sdk_error,
    load_spec,
    not_found_message,
    unique_domain,
)

SCHEMAS = load_spec("twilio_api_v2010.json")["components"]["schemas"]


def fields(name: str) -> set[str]:
    return set(SCHEMAS[f"api.v2010.account.sip.{name}"]["properties"])


ACL_FIELDS = fields("sip_ip_access_control_list")
ADDRESS_FIELDS = fields("sip_ip_access_control_list.sip_ip_address")
CREDENTIAL_LIST_FIELDS = fields("sip_credential_list")
CREDENTIAL_FIELDS = fields("sip_credential_list.sip_credential")
LEGACY_ACL_MAPPING_FIELDS = fields("sip_domain.sip_ip_access_control_list_mapping")
LEGACY_CL_MAPPING_FIELDS = fields("sip_domain.sip_credential_list_mapping")
AUTH_MAPPING_FIELDS = fields(
    "sip_domain.sip_auth.sip_auth_calls.sip_auth_calls_ip_access_control_list_mapping"
)
PASSWORD = "IWasAtSignal2018"


def sip(srv):
    return srv.client.api.v2010.accounts(srv.sid).sip


def base(srv) -> str:
    return f"/2010-04-01/Accounts/{srv.sid}/SIP"


def assert_fields(body: dict, expected: set[str]) -> None:
    assert set(body) == expected, (set(body) ^ expected, body)
    for k in ("date_created", "date_updated"):
        assert RFC2822_RE.fullmatch(body[k]), body[k]


def test_schemas_are_the_ones_we_expect():
    assert {"sid", "subresource_uris", "uri"} <= ACL_FIELDS
    assert "password" not in CREDENTIAL_FIELDS and "username" in CREDENTIAL_FIELDS
    assert "domain_sid" in LEGACY_ACL_MAPPING_FIELDS and "domain_sid" not in AUTH_MAPPING_FIELDS


def test_ip_access_control_lists_and_addresses_every_operation(sipmap):
    lists = sip(sipmap).ip_access_control_lists
    acl = lists.create(friendly_name="office")
    assert acl.sid.startswith("AL") and acl.account_sid == sipmap.sid
    assert acl.uri == f"{base(sipmap)}/IpAccessControlLists/{acl.sid}.json"
    assert acl.subresource_uris == {
        "ip_addresses": f"{base(sipmap)}/IpAccessControlLists/{acl.sid}/IpAddresses.json"
    }
    assert_fields(sipmap.get(acl.uri).json(), ACL_FIELDS)
    assert lists(acl.sid).fetch().friendly_name == "office"
    assert [l.sid for l in lists.list()] == [acl.sid]
    assert lists(acl.sid).update(friendly_name="head office").friendly_name == "head office"

    addresses = lists(acl.sid).ip_addresses
    ip = addresses.create(friendly_name="pbx", ip_address="192.0.2.10")
    assert ip.sid.startswith("IP") and ip.cidr_prefix_length == 32
    assert ip.ip_access_control_list_sid == acl.sid
    assert_fields(sipmap.get(ip.uri).json(), ADDRESS_FIELDS)
    wide = addresses.create(friendly_name="lan", ip_address="198.51.100.0", cidr_prefix_length=24)
    assert wide.cidr_prefix_length == 24
    assert {a.sid for a in addresses.list()} == {ip.sid, wide.sid}
    moved = addresses(ip.sid).update(ip_address="192.0.2.11", cidr_prefix_length=31)
    assert (moved.ip_address, moved.cidr_prefix_length, moved.friendly_name) == (
        "192.0.2.11", 31, "pbx")
    assert addresses(ip.sid).fetch().ip_address == "192.0.2.11"
    page = sipmap.get(f"{base(sipmap)}/IpAccessControlLists/{acl.sid}/IpAddresses.json?PageSize=1")
    body = page.json()
    assert set(body) == V2010_LIST_META_KEYS | {"ip_addresses"} and len(body["ip_addresses"]) == 1
    assert addresses(ip.sid).delete() is True
    assert_sdk_error(lambda: addresses(ip.sid).fetch(), 404, 20404)
    # Deleting the list takes its addresses with it.
    assert lists(acl.sid).delete() is True
    assert_error(sipmap.get(wide.uri), 404, 20404, not_found_message(wide.uri))
    assert_error(sipmap.get(acl.uri), 404, 20404, not_found_message(acl.uri))


@pytest.mark.parametrize(
    "params, name",
    [
        ({}, "FriendlyName"),
        ({"FriendlyName": "x"}, "IpAddress"),
    ],
)
def test_addresses_need_a_name_and_an_address(sipmap, params, name):
    acl = sip(sipmap).ip_access_control_lists.create(friendly_name="l")
    path = f"{base(sipmap)}/IpAccessControlLists/{acl.sid}/IpAddresses.json"
    assert_error(sipmap.post(path, data=params), 400, 20001,
                 f"Missing required parameter {name} in the post body")


@pytest.mark.parametrize(
    "params",
    [
        {"IpAddress": "2001:db8::1"},
        {"IpAddress": "10.0.0"},
        {"IpAddress": "10.0.0.1", "CidrPrefixLength": "0"},
        {"IpAddress": "10.0.0.1", "CidrPrefixLength": "33"},
        {"IpAddress": "10.0.0.1", "FriendlyName": "x" * 256},
    ],
)
def test_addresses_are_ipv4_networks(sipmap, params):
    acl = sip(sipmap).ip_access_control_lists.create(friendly_name="l")
    path = f"{base(sipmap)}/IpAccessControlLists/{acl.sid}/IpAddresses.json"
    assert_error(sipmap.post(path, data={"FriendlyName": "x", **params}), 400, 20001)


def test_lists_need_a_friendly_name_within_the_limit(sipmap):
    assert_error(sipmap.post(f"{base(sipmap)}/IpAccessControlLists.json", data={}), 400, 20001,
                 "Missing required parameter FriendlyName in the post body")
    assert_error(sipmap.post(f"{base(sipmap)}/CredentialLists.json",
                             data={"FriendlyName": "x" * 65}), 400, 20001)
    assert sip(sipmap).credential_lists.create(friendly_name="x" * 64).friendly_name == "x" * 64


def test_credential_lists_and_credentials_every_operation(sipmap):
    lists = sip(sipmap).credential_lists
    cl = lists.create(friendly_name="staff")
    assert cl.sid.startswith("CL")
    assert cl.subresource_uris == {
        "credentials": f"{base(sipmap)}/CredentialLists/{cl.sid}/Credentials.json"
    }
    assert_fields(sipmap.get(cl.uri).json(), CREDENTIAL_LIST_FIELDS)
    assert lists(cl.sid).update(friendly_name="crew").friendly_name == "crew"
    assert [l.sid for l in lists.list()] == [cl.sid]

    creds = lists(cl.sid).credentials
    raw = sipmap.post(f"{base(sipmap)}/CredentialLists/{cl.sid}/Credentials.json",
                      data={"Username": "alice", "Password": PASSWORD})
    assert raw.status_code == 201 and PASSWORD not in raw.text
    alice = raw.json()
    assert_fields(alice, CREDENTIAL_FIELDS)
    assert alice["username"] == "alice" and alice["credential_list_sid"] == cl.sid
    assert creds(alice["sid"]).fetch().username == "alice"
    assert [c.username for c in creds.list()] == ["alice"]
    updated = sipmap.post(alice["uri"], data={"Password": "An0therPassword"})
    assert updated.status_code == 200 and "An0therPassword" not in updated.text
    assert creds(alice["sid"]).update(password="Th1rdPassword!").username == "alice"
    listing = sipmap.get(f"{base(sipmap)}/CredentialLists/{cl.sid}/Credentials.json")
    assert PASSWORD not in listing.text and "password" not in listing.text.lower()
    # One username per list.
    assert_sdk_error(lambda: creds.create(username="alice", password=PASSWORD), 409, 20409)
    assert creds(alice["sid"]).delete() is True
    assert lists(cl.sid).delete() is True
    assert_sdk_error(lambda: lists(cl.sid).fetch(), 404, 20404)


@pytest.mark.parametrize(
    "password, reason",
    [
        ("Short1a", "must be at least 12 characters long"),
        ("alllowercase123", "must have mixed case"),
        ("ALLUPPERCASE123", "must have mixed case"),
        ("NoDigitsInHereAtAll", "must contain at least one digit"),
    ],
)
def test_passwords_follow_the_spec_rules(sipmap, password, reason):
    cl = sip(sipmap).credential_lists.create(friendly_name="staff")
    path = f"{base(sipmap)}/CredentialLists/{cl.sid}/Credentials.json"
    assert_error(sipmap.post(path, data={"Username": "bob", "Password": password}), 400, 20001,
                 f"Invalid parameter Password: {reason}")
    assert_error(sipmap.post(path, data={"Username": "bob"}), 400, 20001,
                 "Missing required parameter Password in the post body")


def test_the_five_mapping_paths_and_auth_type(sipmap):
    s = sip(sipmap)
    d = s.domains.create(domain_name=unique_domain("sec"))
    assert d.auth_type is None
    acl = s.ip_access_control_lists.create(friendly_name="office")
    cl = s.credential_lists.create(friendly_name="staff")
    dom = s.domains(d.sid)

    legacy = dom.ip_access_control_list_mappings.create(ip_access_control_list_sid=acl.sid)
    assert (legacy.sid, legacy.domain_sid, legacy.friendly_name) == (acl.sid, d.sid, "office")
    assert legacy.uri == f"{base(sipmap)}/Domains/{d.sid}/IpAccessControlListMappings/{acl.sid}.json"
    assert_fields(sipmap.get(legacy.uri).json(), LEGACY_ACL_MAPPING_FIELDS)
    assert s.domains(d.sid).fetch().auth_type == "IP_ACL"
    # The Auth/Calls path is the same set.
    calls = dom.auth.calls
    assert [m.sid for m in calls.ip_access_control_list_mappings.list()] == [acl.sid]
    fetched = calls.ip_access_control_list_mappings(acl.sid).fetch()
    assert fetched.friendly_name == "office"
    assert_fields(
        sipmap.get(f"{base(sipmap)}/Domains/{d.sid}/Auth/Calls/IpAccessControlListMappings/"
                   f"{acl.sid}.json").json(),
        AUTH_MAPPING_FIELDS,
    )
    # Mapped twice (by either path): 21231.
    assert_sdk_error(
        lambda: calls.ip_access_control_list_mappings.create(ip_access_control_list_sid=acl.sid),
        400, 21231)

    m = calls.credential_list_mappings.create(credential_list_sid=cl.sid)
    assert m.sid == cl.sid
    assert s.domains(d.sid).fetch().auth_type == "IP_ACL,CREDENTIAL_LIST"
    assert [x.sid for x in dom.credential_list_mappings.list()] == [cl.sid]
    legacy_cl = dom.credential_list_mappings(cl.sid).fetch()
    assert legacy_cl.domain_sid == d.sid
    assert_fields(sipmap.get(legacy_cl.uri).json(), LEGACY_CL_MAPPING_FIELDS)

    regs = dom.auth.registrations.credential_list_mappings
    assert regs.list() == []
    r = regs.create(credential_list_sid=cl.sid)
    assert r.sid == cl.sid and regs(cl.sid).fetch().friendly_name == "staff"
    listing = sipmap.get(
        f"{base(sipmap)}/Domains/{d.sid}/Auth/Registrations/CredentialListMappings.json").json()
    assert set(listing) == V2010_LIST_META_KEYS | {"contents"}

    # Unmapping through one path is seen through the other.
    assert dom.credential_list_mappings(cl.sid).delete() is True
    assert calls.credential_list_mappings.list() == []
    assert s.domains(d.sid).fetch().auth_type == "IP_ACL"
    assert calls.ip_access_control_list_mappings(acl.sid).delete() is True
    assert dom.ip_access_control_list_mappings.list() == []
    assert s.domains(d.sid).fetch().auth_type is None
    assert regs(cl.sid).delete() is True
    assert_sdk_error(lambda: regs(cl.sid).delete(), 404, 20404)
    missing = f"{base(sipmap)}/Domains/{d.sid}/CredentialListMappings/{cl.sid}.json"
    assert_error(sipmap.delete(missing), 404, 20404, not_found_message(missing))


def test_a_mapped_list_cannot_be_deleted_and_a_deleted_domain_frees_it(sipmap):
    s = sip(sipmap)
    d = s.domains.create(domain_name=unique_domain("inuse"))
    acl = s.ip_access_control_lists.create(friendly_name="office")
    s.ip_access_control_lists(acl.sid).ip_addresses.create(friendly_name="a", ip_address="192.0.2.1")
    s.domains(d.sid).auth.calls.ip_access_control_list_mappings.create(
        ip_access_control_list_sid=acl.sid)
    r = sipmap.delete(f"{base(sipmap)}/IpAccessControlLists/{acl.sid}.json")
    body = assert_error(r, 409, 20409)
    assert d.sid in body["message"] and acl.sid in body["message"]
    assert len(s.ip_access_control_lists(acl.sid).ip_addresses.list()) == 1, "nothing deleted"
    assert s.domains(d.sid).delete() is True
    assert s.ip_access_control_lists(acl.sid).delete() is True


def test_mapping_needs_a_list_of_the_right_kind(sipmap):
    s = sip(sipmap)
    d = s.domains.create(domain_name=unique_domain("kind"))
    path = f"{base(sipmap)}/Domains/{d.sid}/Auth/Calls/IpAccessControlListMappings.json"
    assert_error(sipmap.post(path, data={}), 400, 20001,
                 "Missing required parameter IpAccessControlListSid in the post body")
    cl = s.credential_lists.create(friendly_name="x")
    assert_error(sipmap.post(path, data={"IpAccessControlListSid": cl.sid}), 400, 20001)
    missing = "AL" + "0" * 32
    assert_error(sipmap.post(path, data={"IpAccessControlListSid": missing}), 404, 20404,
                 not_found_message(f"{base(sipmap)}/IpAccessControlLists/{missing}.json"))


def test_another_accounts_lists_are_not_found(sipmap):
    s = sip(sipmap)
    acl = s.ip_access_control_lists.create(friendly_name="mine")
    ip = s.ip_access_control_lists(acl.sid).ip_addresses.create(friendly_name="a",
                                                              ip_address="192.0.2.1")
    cl = s.credential_lists.create(friendly_name="mine")
    cr = s.credential_lists(cl.sid).credentials.create(username="alice", password=PASSWORD)
    b = sipmap.other_tenant()
    b_base = f"/2010-04-01/Accounts/{b.sid}/SIP"
    for path in (f"IpAccessControlLists/{acl.sid}.json",
                 f"IpAccessControlLists/{acl.sid}/IpAddresses/{ip.sid}.json",
                 f"IpAccessControlLists/{acl.sid}/IpAddresses.json",
                 f"CredentialLists/{cl.sid}.json",
                 f"CredentialLists/{cl.sid}/Credentials/{cr.sid}.json",
                 f"CredentialLists/{cl.sid}/Credentials.json"):
        full = f"{b_base}/{path}"
        assert_error(b.get(full), 404, 20404, not_found_message(full))
        gone = f"{b_base}/{path.replace(acl.sid, 'AL' + '0' * 32).replace(cl.sid, 'CL' + '0' * 32)}"
        assert_error(b.get(gone), 404, 20404, not_found_message(gone))
    for path in (f"IpAccessControlLists/{acl.sid}.json", f"CredentialLists/{cl.sid}.json"):
        assert_error(b.delete(f"{b_base}/{path}"), 404, 20404)
    # B's own domain cannot map A's lists; the 404 names B's path, as for a missing list.
    bd = b.client.api.v2010.accounts(b.sid).sip.domains.create(domain_name=unique_domain("b"))
    path = f"{b_base}/Domains/{bd.sid}/Auth/Calls/IpAccessControlListMappings.json"
    assert_error(b.post(path, data={"IpAccessControlListSid": acl.sid}), 404, 20404,
                 not_found_message(f"{b_base}/IpAccessControlLists/{acl.sid}.json"))
    # And A's path is out of B's reach altogether: 401/20003, as Twilio answers.
    assert_error(b.get(f"{base(sipmap)}/IpAccessControlLists.json"), 401, 20003, "Authenticate")
    assert b.client.api.v2010.accounts(b.sid).sip.ip_access_control_lists.list() == []


def test_a_subaccounts_lists_are_its_own(sipmap):
    sub = sipmap.client.api.v2010.accounts.create(friendly_name="child")
    sub_sip = sipmap.client.api.v2010.accounts(sub.sid).sip
    acl = sub_sip.ip_access_control_lists.create(friendly_name="child's")
    assert [l.sid for l in sub_sip.ip_access_control_lists.list()] == [acl.sid]
    assert sip(sipmap).ip_access_control_lists.list() == []
    assert_error(sipmap.get(f"{base(sipmap)}/IpAccessControlLists/{acl.sid}.json"), 404, 20404)
    # The parent's domain cannot map the subaccount's list.
    d = sip(sipmap).domains.create(domain_name=unique_domain("parent"))
    assert_sdk_error(lambda: sip(sipmap).domains(d.sid).ip_access_control_list_mappings.create(
        ip_access_control_list_sid=acl.sid), 404, 20404)


def test_every_subresource_uri_answers(sipmap):
    s = sip(sipmap)
    d = s.domains.create(domain_name=unique_domain("links"))
    acl = s.ip_access_control_lists.create(friendly_name="office")
    cl = s.credential_lists.create(friendly_name="staff")
    for uri_map in (d.subresource_uris, acl.subresource_uris, cl.subresource_uris):
        for name, uri in uri_map.items():
            r = sipmap.get(uri)
            assert r.status_code == 200, (name, uri, r.text)


NODE_SMOKE = textwrap.dedent("""
    const twilio = require("twilio");
    const [sid, token, url] = process.argv.slice(2);
    const client = twilio(sid, token);
    client.api.baseUrl = url;
    (async () => {
      const sip = client.api.v2010.accounts(sid).sip;
      const domain = await sip.domains.create({ domainName: "node-" + Date.now() + ".sip.twilio.com" });
      const acl = await sip.ipAccessControlLists.create({ friendlyName: "office" });
      await sip.ipAccessControlLists(acl.sid).ipAddresses.create({ friendlyName: "pbx", ipAddress: "192.0.2.10" });
      const cl = await sip.credentialLists.create({ friendlyName: "staff" });
      await sip.credentialLists(cl.sid).credentials.create({ username: "alice", password: "IWasAtSignal2018" });
      await sip.domains(domain.sid).auth.calls.ipAccessControlListMappings.create({ ipAccessControlListSid: acl.sid });
      await sip.domains(domain.sid).auth.calls.credentialListMappings.create({ credentialListSid: cl.sid });
      await sip.domains(domain.sid).auth.registrations.credentialListMappings.create({ credentialListSid: cl.sid });
      const fetched = await sip.domains(domain.sid).fetch();
      const addresses = await sip.ipAccessControlLists(acl.sid).ipAddresses.list();
      const creds = await sip.credentialLists(cl.sid).credentials.list();
      console.log(JSON.stringify({ authType: fetched.authType, addresses: addresses.map(a => a.ipAddress),
                                   users: creds.map(c => c.username) }));
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
    result = json.loads(out.stdout)
    assert result == {"authType": "IP_ACL,CREDENTIAL_LIST", "addresses": ["192.0.2.10"],
                      "users": ["alice"]}
