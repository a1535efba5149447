"""API 2010 SIP Domains (`/2010-04-01/Accounts/{AC}/SIP/Domains.json`): every operation and
every field of the spec through the twilio SDK, the exact wire shape (the field set is read
from Twilio's own OpenAPI schema), and the domain-name and parameter validation rules."""

from __future__ import annotations

import datetime as dt
import secrets
import time

import pytest

from conftest import (
    RFC2822_RE,
    V2010_LIST_META_KEYS,
    assert_error,
    assert_sdk_error,
    domains_path,
    fake_sid,
    load_spec,
    not_found_message,
    unique_domain,
)

SPEC_DOMAIN_FIELDS = set(
    load_spec("twilio_api_v2010.json")["components"]["schemas"]["api.v2010.account.sip.sip_domain"][
        "properties"
    ]
)


def domains(sipmap):
    return sipmap.client.api.v2010.accounts(sipmap.sid).sip.domains


def full_params(sipmap):
    """Every parameter; the BYOC trunk is a real one of the account (references are checked)."""
    return dict(
        domain_name=unique_domain("scranton"),
        friendly_name="Scranton Office",
        voice_url="https://dundermifflin.example.com/twilio/app.php",
        voice_method="GET",
        voice_fallback_url="https://dundermifflin.example.com/fallback",
        voice_fallback_method="GET",
        voice_status_callback_url="http://dundermifflin.example.com/status",
        voice_status_callback_method="GET",
        sip_registration=True,
        emergency_calling_enabled=True,
        secure=True,
        byoc_trunk_sid=sipmap.client.voice.v1.byoc_trunks.create(friendly_name="carrier").sid,
        emergency_caller_sid=fake_sid("PN"),
    )


def test_spec_field_list_is_what_we_expect():
    # guard against testing against an empty or unexpected schema
    assert {"sid", "domain_name", "uri", "subresource_uris", "byoc_trunk_sid"} <= SPEC_DOMAIN_FIELDS


def test_create_with_every_field(sipmap):
    params = full_params(sipmap)
    resp = domains(sipmap).create_with_http_info(**params)
    assert resp.status_code == 201
    d = resp.data
    assert d.sid.startswith("SD") and len(d.sid) == 34
    assert d.account_sid == sipmap.sid
    assert d.api_version == "2010-04-01"
    for name, value in params.items():
        assert getattr(d, name) == value, name
    assert isinstance(d.date_created, dt.datetime)
    assert isinstance(d.date_updated, dt.datetime)
    assert d.uri == f"/2010-04-01/Accounts/{sipmap.sid}/SIP/Domains/{d.sid}.json"

    fetched = domains(sipmap)(d.sid).fetch()
    for name, value in params.items():
        assert getattr(fetched, name) == value, name


def test_create_with_false_booleans(sipmap):
    d = domains(sipmap).create(
        domain_name=unique_domain(), sip_registration=False, emergency_calling_enabled=False, secure=False
    )
    assert d.sip_registration is False
    assert d.emergency_calling_enabled is False
    assert d.secure is False


def test_wire_shape_matches_spec_schema(sipmap):
    params = full_params(sipmap)
    resp = sipmap.post(
        domains_path(sipmap.sid),
        data={
            "DomainName": params["domain_name"],
            "FriendlyName": params["friendly_name"],
            "VoiceUrl": params["voice_url"],
            "VoiceMethod": "POST",
            "VoiceFallbackUrl": "",
            "VoiceStatusCallbackUrl": "",
            "SipRegistration": "true",
            "Secure": "false",
            "ByocTrunkSid": params["byoc_trunk_sid"],
        },
    )
    assert resp.status_code == 201, resp.text
    assert resp.headers["Content-Type"].split(";")[0] == "application/json"
    body = resp.json()
    assert set(body) == SPEC_DOMAIN_FIELDS
    sid = body["sid"]
    assert body["account_sid"] == sipmap.sid
    assert body["api_version"] == "2010-04-01"
    assert body["domain_name"] == params["domain_name"]
    assert body["voice_method"] == "POST"
    assert body["sip_registration"] is True
    assert body["secure"] is False
    # an empty URL stores null
    assert body["voice_fallback_url"] is None
    assert body["voice_status_callback_url"] is None
    assert body["byoc_trunk_sid"] == params["byoc_trunk_sid"]
    assert body["uri"] == f"/2010-04-01/Accounts/{sipmap.sid}/SIP/Domains/{sid}.json"
    assert RFC2822_RE.match(body["date_created"]), body["date_created"]
    assert RFC2822_RE.match(body["date_updated"]), body["date_updated"]
    created = dt.datetime.strptime(body["date_created"], "%a, %d %b %Y %H:%M:%S +0000")
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    assert abs((now - created).total_seconds()) < 120
    subs = body["subresource_uris"]
    assert isinstance(subs, dict) and subs
    for uri in subs.values():
        assert uri.startswith(f"/2010-04-01/Accounts/{sipmap.sid}/SIP/Domains/{sid}/"), uri
        assert uri.endswith(".json"), uri

    fetched = sipmap.get(domains_path(sipmap.sid, sid))
    assert fetched.status_code == 200
    assert fetched.json() == body


def test_fetch(sipmap):
    d = domains(sipmap).create(domain_name=unique_domain(), friendly_name="f")
    got = domains(sipmap)(d.sid).fetch()
    assert got.sid == d.sid
    assert got.domain_name == d.domain_name
    assert got.friendly_name == "f"
    assert got.date_created == d.date_created


def test_list(sipmap):
    names = [unique_domain(f"l{i}") for i in range(3)]
    sids = [domains(sipmap).create(domain_name=n).sid for n in names]
    got = domains(sipmap).list()
    assert [d.sid for d in got] == sids
    assert [d.domain_name for d in got] == names

    body = sipmap.get(domains_path(sipmap.sid)).json()
    assert set(body) == V2010_LIST_META_KEYS | {"domains"}
    assert [d["sid"] for d in body["domains"]] == sids
    for item in body["domains"]:
        assert set(item) == SPEC_DOMAIN_FIELDS


def test_update_every_field(sipmap):
    d = domains(sipmap).create(domain_name=unique_domain(), friendly_name="before")
    time.sleep(1.1)
    params = full_params(sipmap)
    resp = domains(sipmap)(d.sid).update_with_http_info(**params)
    assert resp.status_code == 200
    up = resp.data
    assert up.sid == d.sid
    for name, value in params.items():
        assert getattr(up, name) == value, name
    assert up.date_created == d.date_created
    assert up.date_updated > d.date_updated
    fetched = domains(sipmap)(d.sid).fetch()
    for name, value in params.items():
        assert getattr(fetched, name) == value, name


def test_update_only_touches_given_fields(sipmap):
    params = full_params(sipmap)
    d = domains(sipmap).create(**params)
    up = domains(sipmap)(d.sid).update(friendly_name="renamed")
    assert up.friendly_name == "renamed"
    for name, value in params.items():
        if name != "friendly_name":
            assert getattr(up, name) == value, name


def test_update_empty_url_clears_it(sipmap):
    d = domains(sipmap).create(domain_name=unique_domain(), voice_url="https://example.com/a")
    assert d.voice_url == "https://example.com/a"
    up = domains(sipmap)(d.sid).update(voice_url="")
    assert up.voice_url is None
    assert domains(sipmap)(d.sid).fetch().voice_url is None


def test_update_domain_name(sipmap):
    d = domains(sipmap).create(domain_name=unique_domain())
    new = unique_domain("renamed")
    assert domains(sipmap)(d.sid).update(domain_name=new).domain_name == new
    # the old name is free again
    assert domains(sipmap).create(domain_name=d.domain_name).domain_name == d.domain_name


def test_update_domain_name_to_its_own_name(sipmap):
    d = domains(sipmap).create(domain_name=unique_domain())
    assert domains(sipmap)(d.sid).update(domain_name=d.domain_name).domain_name == d.domain_name


def test_update_domain_name_to_a_taken_name(sipmap):
    a = domains(sipmap).create(domain_name=unique_domain())
    b = domains(sipmap).create(domain_name=unique_domain())
    resp = sipmap.post(domains_path(sipmap.sid, b.sid), data={"DomainName": a.domain_name})
    assert_error(resp, 400, 21232, message_prefix="Invalid Domain: ")
    assert domains(sipmap)(b.sid).fetch().domain_name == b.domain_name


def test_delete(sipmap):
    d = domains(sipmap).create(domain_name=unique_domain())
    resp = domains(sipmap)(d.sid).delete_with_http_info()
    assert resp.status_code == 204
    assert_sdk_error(
        lambda: domains(sipmap)(d.sid).fetch(),
        404,
        20404,
        not_found_message(domains_path(sipmap.sid, d.sid)),
    )
    raw = sipmap.delete(domains_path(sipmap.sid, d.sid))
    assert_error(raw, 404, 20404, not_found_message(domains_path(sipmap.sid, d.sid)))
    # the name can be used again
    assert domains(sipmap).create(domain_name=d.domain_name).domain_name == d.domain_name


def test_delete_answers_204_with_empty_body(sipmap):
    d = domains(sipmap).create(domain_name=unique_domain())
    resp = sipmap.delete(domains_path(sipmap.sid, d.sid))
    assert resp.status_code == 204
    assert resp.content == b""


@pytest.mark.parametrize("verb", ["fetch", "update", "delete"])
def test_unknown_domain_sid(sipmap, verb):
    sid = fake_sid("SD")
    ctx = domains(sipmap)(sid)
    call = {"fetch": ctx.fetch, "update": lambda: ctx.update(friendly_name="x"), "delete": ctx.delete}
    assert_sdk_error(call[verb], 404, 20404, not_found_message(domains_path(sipmap.sid, sid)))


# ---- domain names ----------------------------------------------------------


def test_missing_domain_name(sipmap):
    resp = sipmap.post(domains_path(sipmap.sid), data={"FriendlyName": "x"})
    assert_error(resp, 400, 20001, "Missing required parameter DomainName in the post body")
    resp = sipmap.post(domains_path(sipmap.sid), data={"DomainName": ""})
    assert_error(resp, 400, 20001, "Missing required parameter DomainName in the post body")


@pytest.mark.parametrize(
    "name",
    [
        "example.com",
        "office.example.com",
        "sip.twilio.com",
        ".sip.twilio.com",
        "a..sip.twilio.com",
        "foo_bar.sip.twilio.com",
        "foo bar.sip.twilio.com",
        "foo!.sip.twilio.com",
        "föö.sip.twilio.com",
        "foo.sip.twilio.com.evil.com",
        "foo.sip-twilio.com",
        "foosip.twilio.com",
    ],
)
def test_invalid_domain_names(sipmap, name):
    resp = sipmap.post(domains_path(sipmap.sid), data={"DomainName": name})
    assert_error(resp, 400, 21232, message_prefix="Invalid Domain: ")
    assert domains(sipmap).list() == []


@pytest.mark.parametrize("label", ["a", "my-office", "office1.branch-2", "0abc", "x" * 40])
def test_valid_domain_names(sipmap, label):
    name = f"{label}.sip.twilio.com"
    assert domains(sipmap).create(domain_name=name).domain_name == name


def test_duplicate_domain_name(sipmap):
    name = unique_domain()
    domains(sipmap).create(domain_name=name)
    resp = sipmap.post(domains_path(sipmap.sid), data={"DomainName": name})
    assert_error(resp, 400, 21232, message_prefix="Invalid Domain: ")
    assert_sdk_error(lambda: domains(sipmap).create(domain_name=name), 400, 21232)
    assert len(domains(sipmap).list()) == 1


def test_duplicate_domain_name_differently_cased(sipmap):
    label = "case-" + secrets.token_hex(4)
    domains(sipmap).create(domain_name=f"{label}.sip.twilio.com")
    resp = sipmap.post(domains_path(sipmap.sid), data={"DomainName": f"{label.upper()}.SIP.twilio.com"})
    assert_error(resp, 400, 21232, message_prefix="Invalid Domain: ")


def test_duplicate_domain_name_across_accounts(sipmap):
    b = sipmap.other_tenant()
    name = unique_domain()
    domains(sipmap).create(domain_name=name)
    resp = b.post(domains_path(b.sid), data={"DomainName": name})
    assert_error(resp, 400, 21232, message_prefix="Invalid Domain: ")
    resp = b.post(domains_path(b.sid), data={"DomainName": name.upper()})
    assert_error(resp, 400, 21232, message_prefix="Invalid Domain: ")
    assert b.client.api.v2010.accounts(b.sid).sip.domains.list() == []


def test_custom_domain_suffix(sipmap_factory):
    srv = sipmap_factory(extra_args=["--domain-suffix", "example.test"])
    doms = srv.client.api.v2010.accounts(srv.sid).sip.domains
    assert doms.create(domain_name="a.example.test").domain_name == "a.example.test"
    resp = srv.post(domains_path(srv.sid), data={"DomainName": "a.sip.twilio.com"})
    assert_error(resp, 400, 21232, message_prefix="Invalid Domain: ")
    resp = srv.post(domains_path(srv.sid), data={"DomainName": "example.test"})
    assert_error(resp, 400, 21232, message_prefix="Invalid Domain: ")


# ---- other parameters ---------------------------------------------------------


def test_friendly_name_64_ok_65_rejected(sipmap):
    d = domains(sipmap).create(domain_name=unique_domain(), friendly_name="f" * 64)
    assert d.friendly_name == "f" * 64
    resp = sipmap.post(domains_path(sipmap.sid), data={"DomainName": unique_domain(), "FriendlyName": "f" * 65})
    assert_error(resp, 400, 20001, message_prefix="Invalid parameter FriendlyName: ")
    resp = sipmap.post(domains_path(sipmap.sid, d.sid), data={"FriendlyName": "f" * 65})
    assert_error(resp, 400, 20001, message_prefix="Invalid parameter FriendlyName: ")
    assert domains(sipmap)(d.sid).fetch().friendly_name == "f" * 64


INVALID_PARAMS = [
    ("VoiceUrl", "ftp://example.com/x"),
    ("VoiceUrl", "not a url"),
    ("VoiceUrl", "/relative/path"),
    ("VoiceFallbackUrl", "example.com/fallback"),
    ("VoiceStatusCallbackUrl", "mailto:ops@example.com"),
    ("VoiceMethod", "PUT"),
    ("VoiceFallbackMethod", "DELETE"),
    ("VoiceStatusCallbackMethod", "FETCH"),
    ("SipRegistration", "yes"),
    ("EmergencyCallingEnabled", "1"),
    ("Secure", "maybe"),
    ("ByocTrunkSid", "BY123"),
    ("ByocTrunkSid", "PN" + "a" * 32),
    ("ByocTrunkSid", "BY" + "g" * 32),
    ("EmergencyCallerSid", "PN" + "a" * 31),
    ("EmergencyCallerSid", "BY" + "a" * 32),
]


@pytest.mark.parametrize("name,value", INVALID_PARAMS)
def test_invalid_parameter_on_create(sipmap, name, value):
    resp = sipmap.post(domains_path(sipmap.sid), data={"DomainName": unique_domain(), name: value})
    assert_error(resp, 400, 20001, message_prefix=f"Invalid parameter {name}: ")
    assert domains(sipmap).list() == []


@pytest.mark.parametrize("name,value", INVALID_PARAMS)
def test_invalid_parameter_on_update(sipmap, name, value):
    d = domains(sipmap).create(domain_name=unique_domain())
    resp = sipmap.post(domains_path(sipmap.sid, d.sid), data={name: value})
    assert_error(resp, 400, 20001, message_prefix=f"Invalid parameter {name}: ")


def test_unknown_parameters_are_ignored(sipmap):
    resp = sipmap.post(domains_path(sipmap.sid), data={"DomainName": unique_domain(), "AuthType": "IP_ACL", "X": "y"})
    assert resp.status_code == 201, resp.text


def test_malformed_domain_sid_in_path(sipmap):
    for bad in ("SDxyz", "IL" + "a" * 32, "SD" + "a" * 33):
        path = domains_path(sipmap.sid, bad)
        assert_error(sipmap.get(path), 404, 20404, not_found_message(path))


def test_concurrent_creates_of_one_name_only_one_wins(sipmap):
    import threading

    b = sipmap.other_tenant()
    label = "race-" + secrets.token_hex(4)
    variants = [f"{label}.sip.twilio.com", f"{label.upper()}.sip.twilio.com"] * 4
    tenants = [sipmap, b] * 4
    barrier = threading.Barrier(len(variants))
    results = [None] * len(variants)

    def run(i):
        barrier.wait()
        t = tenants[i]
        results[i] = t.post(domains_path(t.sid), data={"DomainName": variants[i]})

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(variants))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(r.status_code for r in results) == [201] + [400] * 7, [r.text[:100] for r in results]
    for r in results:
        if r.status_code == 400:
            assert_error(r, 400, 21232, message_prefix="Invalid Domain: ")


@pytest.mark.parametrize("name", ["bad_name.sip.twilio.com", "office.example.com", "sip.twilio.com"])
def test_invalid_domain_name_on_update(sipmap, name):
    d = domains(sipmap).create(domain_name=unique_domain())
    resp = sipmap.post(domains_path(sipmap.sid, d.sid), data={"DomainName": name})
    assert_error(resp, 400, 21232, message_prefix="Invalid Domain: ")
    assert domains(sipmap)(d.sid).fetch().domain_name == d.domain_name
