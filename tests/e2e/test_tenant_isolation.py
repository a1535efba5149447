"""Tenant isolation: a second top-level account (made with `sipmap accounts create`) sees none
of the first account's IP records, mappings or domains, and gets exactly the 404 a missing SID
gets under its own paths; it cannot reference them in a mapping. An API 2010 account path the
credentials may not act on (another account's, the parent's for a subaccount, a sibling's, one
that does not exist) answers 401/20003 as Twilio does, the same whether or not it exists; the
parent may use its subaccount's 2010 path but not see its Voice v1 resources. A SIP domain name
cannot lie under (or above) another family's domain name (400/21232)."""

from __future__ import annotations

import pytest

from conftest import (
    assert_error,
    assert_sdk_error,
    domains_path,
    fake_sid,
    not_found_message,
    unique_domain,
)


def assert_unauthorized(resp):
    """Twilio's answer to credentials on an account path they may not act on."""
    assert_error(resp, 401, 20003, "Authenticate")


@pytest.fixture
def two_tenants(sipmap):
    """Account A (env account) with an IP record, a domain and a mapping; account B empty."""
    a = sipmap.client
    ip = a.voice.v1.ip_records.create(ip_address="10.20.30.40", friendly_name="A's")
    spare_ip = a.voice.v1.ip_records.create(ip_address="10.20.30.41")
    dom = a.api.v2010.accounts(sipmap.sid).sip.domains.create(domain_name=unique_domain("a"))
    m = a.voice.v1.source_ip_mappings.create(ip_record_sid=ip.sid, sip_domain_sid=dom.sid)
    b = sipmap.other_tenant()
    return sipmap, b, {"ip": ip, "spare_ip": spare_ip, "dom": dom, "map": m}


def test_b_cannot_see_a_ip_records(two_tenants):
    srv, b, a = two_tenants
    sid = a["ip"].sid
    msg = not_found_message(f"/IpRecords/{sid}")
    assert_error(b.get(f"/v1/IpRecords/{sid}"), 404, 20404, msg)
    assert_error(b.post(f"/v1/IpRecords/{sid}", data={"FriendlyName": "pwned"}), 404, 20404, msg)
    assert_error(b.delete(f"/v1/IpRecords/{sid}"), 404, 20404, msg)
    assert_error(b.delete(f"/v1/IpRecords/{a['spare_ip'].sid}"), 404, 20404,
                 not_found_message(f"/IpRecords/{a['spare_ip'].sid}"))
    assert b.client.voice.v1.ip_records.list() == []
    assert_sdk_error(lambda: b.client.voice.v1.ip_records(sid).fetch(), 404, 20404, msg)
    # nothing changed for A
    got = srv.client.voice.v1.ip_records(sid).fetch()
    assert got.friendly_name == "A's"
    srv.client.voice.v1.ip_records(a["spare_ip"].sid).fetch()


def test_b_cannot_see_a_mappings(two_tenants):
    srv, b, a = two_tenants
    sid = a["map"].sid
    b_dom = b.client.api.v2010.accounts(b.sid).sip.domains.create(domain_name=unique_domain("b"))
    msg = not_found_message(f"/SourceIpMappings/{sid}")
    assert_error(b.get(f"/v1/SourceIpMappings/{sid}"), 404, 20404, msg)
    assert_error(b.post(f"/v1/SourceIpMappings/{sid}", data={"SipDomainSid": b_dom.sid}), 404, 20404, msg)
    assert_error(b.delete(f"/v1/SourceIpMappings/{sid}"), 404, 20404, msg)
    assert b.client.voice.v1.source_ip_mappings.list() == []
    assert srv.client.voice.v1.source_ip_mappings(sid).fetch().sip_domain_sid == a["dom"].sid


def test_b_cannot_see_a_domains(two_tenants):
    srv, b, a = two_tenants
    dom = a["dom"]
    # through B's own account path, A's domain SID does not exist
    own = domains_path(b.sid, dom.sid)
    assert_error(b.get(own), 404, 20404, not_found_message(own))
    assert_error(b.post(own, data={"FriendlyName": "pwned"}), 404, 20404, not_found_message(own))
    assert_error(b.delete(own), 404, 20404, not_found_message(own))
    # A's account path is not B's to act on: 401/20003, as Twilio answers
    for path in (domains_path(srv.sid, dom.sid), domains_path(srv.sid)):
        assert_unauthorized(b.get(path))
    assert_unauthorized(b.post(domains_path(srv.sid), data={"DomainName": unique_domain()}))
    assert_unauthorized(b.delete(domains_path(srv.sid, dom.sid)))
    assert b.client.api.v2010.accounts(b.sid).sip.domains.list() == []
    assert srv.client.api.v2010.accounts(srv.sid).sip.domains(dom.sid).fetch().domain_name == dom.domain_name


def test_a_lists_do_not_show_b_items(two_tenants):
    srv, b, a = two_tenants
    b_ip = b.client.voice.v1.ip_records.create(ip_address="192.168.1.1")
    b_dom = b.client.api.v2010.accounts(b.sid).sip.domains.create(domain_name=unique_domain("b"))
    b_map = b.client.voice.v1.source_ip_mappings.create(ip_record_sid=b_ip.sid, sip_domain_sid=b_dom.sid)
    assert b_ip.account_sid == b.sid
    assert {r.sid for r in srv.client.voice.v1.ip_records.list()} == {a["ip"].sid, a["spare_ip"].sid}
    assert [m.sid for m in srv.client.voice.v1.source_ip_mappings.list()] == [a["map"].sid]
    assert [d.sid for d in srv.client.api.v2010.accounts(srv.sid).sip.domains.list()] == [a["dom"].sid]
    assert [r.sid for r in b.client.voice.v1.ip_records.list()] == [b_ip.sid]
    assert [m.sid for m in b.client.voice.v1.source_ip_mappings.list()] == [b_map.sid]


def test_b_cannot_map_a_ip_record(two_tenants):
    srv, b, a = two_tenants
    b_dom = b.client.api.v2010.accounts(b.sid).sip.domains.create(domain_name=unique_domain("b"))
    sid = a["spare_ip"].sid
    resp = b.post("/v1/SourceIpMappings", data={"IpRecordSid": sid, "SipDomainSid": b_dom.sid})
    assert_error(resp, 404, 20404, not_found_message(f"/IpRecords/{sid}"))
    # A's already-mapped record answers the same 404, not a 409
    sid = a["ip"].sid
    resp = b.post("/v1/SourceIpMappings", data={"IpRecordSid": sid, "SipDomainSid": b_dom.sid})
    assert_error(resp, 404, 20404, not_found_message(f"/IpRecords/{sid}"))


def test_b_cannot_map_to_a_domain(two_tenants):
    srv, b, a = two_tenants
    b_ip = b.client.voice.v1.ip_records.create(ip_address="192.168.1.1")
    dom = a["dom"].sid
    resp = b.post("/v1/SourceIpMappings", data={"IpRecordSid": b_ip.sid, "SipDomainSid": dom})
    # exactly what an unknown SID gives: the path names B's own account
    assert_error(resp, 404, 20404, not_found_message(domains_path(b.sid, dom)))
    # nor re-point its own mapping at A's domain
    b_dom = b.client.api.v2010.accounts(b.sid).sip.domains.create(domain_name=unique_domain("b"))
    b_map = b.client.voice.v1.source_ip_mappings.create(ip_record_sid=b_ip.sid, sip_domain_sid=b_dom.sid)
    resp = b.post(f"/v1/SourceIpMappings/{b_map.sid}", data={"SipDomainSid": dom})
    assert_error(resp, 404, 20404, not_found_message(domains_path(b.sid, dom)))
    assert b.client.voice.v1.source_ip_mappings(b_map.sid).fetch().sip_domain_sid == b_dom.sid


def test_a_cannot_see_b_account(two_tenants):
    srv, b, _ = two_tenants
    path = f"/2010-04-01/Accounts/{b.sid}.json"
    assert_unauthorized(srv.get(path))
    assert_unauthorized(srv.post(path, data={"FriendlyName": "x"}))
    assert b.sid not in {acct.sid for acct in srv.client.api.v2010.accounts.list()}
    assert srv.sid not in {acct.sid for acct in b.client.api.v2010.accounts.list()}


def test_a_cannot_manage_b_subaccount(two_tenants):
    srv, b, _ = two_tenants
    b_sub = b.client.api.v2010.accounts.create(friendly_name="B child")
    path = f"/2010-04-01/Accounts/{b_sub.sid}.json"
    assert_unauthorized(srv.post(path, data={"Status": "suspended"}))
    assert_unauthorized(srv.get(domains_path(b_sub.sid)))
    assert b.client.api.v2010.accounts(b_sub.sid).fetch().status == "active"


def test_b_cannot_name_a_domain_under_or_above_a_domains(two_tenants):
    """Twilio's 21232, "a subdomain of a domain you do not control": B can take no name under A's
    domain (on create or rename, in any case), nor one above it; a name that only ends with the
    same letters is not under it, and A's own family nests freely."""
    srv, b, a = two_tenants
    a_name = a["dom"].domain_name
    b_domains = b.client.api.v2010.accounts(b.sid).sip.domains
    under = f"evil.{a_name}"
    assert_sdk_error(
        lambda: b_domains.create(domain_name=under),
        400,
        21232,
        f"Invalid Domain: {under} is a subdomain of a domain you do not control",
    )
    assert_sdk_error(lambda: b_domains.create(domain_name=f"X.Y.{a_name.upper()}"), 400, 21232)
    lookalike = b_domains.create(domain_name=f"x{a_name}")
    assert_sdk_error(lambda: b_domains(lookalike.sid).update(domain_name=under), 400, 21232)
    assert b_domains(lookalike.sid).fetch().domain_name == f"x{a_name}"
    # above: A's name has a label under a parent name B would take
    parent_name = unique_domain("top")
    srv.client.api.v2010.accounts(srv.sid).sip.domains.create(domain_name=f"a.{parent_name}")
    assert_sdk_error(
        lambda: b_domains.create(domain_name=parent_name),
        400,
        21232,
        f"Invalid Domain: {parent_name} has a subdomain that you do not control",
    )
    assert [d.domain_name for d in b_domains.list()] == [f"x{a_name}"]
    # A's subaccount may take a subdomain of A's domain
    sub = srv.client.api.v2010.accounts.create(friendly_name="A child")
    nested = srv.client.api.v2010.accounts(sub.sid).sip.domains.create(domain_name=f"sub.{a_name}")
    assert nested.account_sid == sub.sid


# ---- subaccounts --------------------------------------------------------------


def test_subaccount_cannot_reach_parent_2010_path(sipmap):
    sub = sipmap.client.api.v2010.accounts.create(friendly_name="child")
    dom = sipmap.client.api.v2010.accounts(sipmap.sid).sip.domains.create(domain_name=unique_domain())
    sub_auth = (sub.sid, sub.auth_token)
    for path in (domains_path(sipmap.sid), domains_path(sipmap.sid, dom.sid)):
        assert_unauthorized(sipmap.get(path, auth=sub_auth))
    resp = sipmap.post(domains_path(sipmap.sid), auth=sub_auth, data={"DomainName": unique_domain()})
    assert_unauthorized(resp)


def test_subaccount_cannot_reach_sibling(sipmap):
    s1 = sipmap.client.api.v2010.accounts.create(friendly_name="one")
    s2 = sipmap.client.api.v2010.accounts.create(friendly_name="two")
    assert_unauthorized(sipmap.get(domains_path(s2.sid), auth=(s1.sid, s1.auth_token)))
    apath = f"/2010-04-01/Accounts/{s2.sid}.json"
    assert_unauthorized(sipmap.get(apath, auth=(s1.sid, s1.auth_token)))


def test_subaccount_sdk_on_other_2010_paths_gets_401_20003(sipmap):
    """A subaccount client on its parent's, a sibling's, an unrelated and a non-existent
    account's 2010 paths: TwilioRestException 401/20003 each, with one body for all."""
    sub = sipmap.client.api.v2010.accounts.create(friendly_name="child")
    sibling = sipmap.client.api.v2010.accounts.create(friendly_name="sibling")
    stranger = sipmap.other_tenant()
    sub_client = sipmap.client_for(sub.sid, sub.auth_token)
    bodies = set()
    for target in (sipmap.sid, sibling.sid, stranger.sid, fake_sid("AC")):
        account = sub_client.api.v2010.accounts(target)
        assert_sdk_error(lambda: account.fetch(), 401, 20003, "Authenticate")
        domains = account.sip.domains
        assert_sdk_error(lambda: domains.create(domain_name=unique_domain()), 401, 20003, "Authenticate")
        assert_sdk_error(lambda: account.new_keys.create(friendly_name="x"), 401, 20003, "Authenticate")
        bodies.add(sipmap.get(domains_path(target), auth=(sub.sid, sub.auth_token)).text)
    assert len(bodies) == 1, bodies
    # Voice v1 has no account in its path: another account's resource stays 404/20404.
    rec = stranger.client.voice.v1.ip_records.create(ip_address="10.8.8.8")
    assert_sdk_error(
        lambda: sub_client.voice.v1.ip_records(rec.sid).fetch(),
        404,
        20404,
        not_found_message(f"/IpRecords/{rec.sid}"),
    )


def test_parent_manages_domains_under_subaccount_path(sipmap):
    sub = sipmap.client.api.v2010.accounts.create(friendly_name="child")
    parent_view = sipmap.client.api.v2010.accounts(sub.sid).sip.domains
    d = parent_view.create(domain_name=unique_domain("sub"))
    assert d.account_sid == sub.sid
    assert d.uri == f"/2010-04-01/Accounts/{sub.sid}/SIP/Domains/{d.sid}.json"
    assert [x.sid for x in parent_view.list()] == [d.sid]
    assert parent_view(d.sid).fetch().sid == d.sid
    assert parent_view(d.sid).update(friendly_name="by parent").friendly_name == "by parent"
    # the subaccount sees it with its own credentials
    sub_client = sipmap.client_for(sub.sid, sub.auth_token)
    assert [x.sid for x in sub_client.api.v2010.accounts(sub.sid).sip.domains.list()] == [d.sid]
    # but it is not in the parent's own list
    assert sipmap.client.api.v2010.accounts(sipmap.sid).sip.domains.list() == []
    # and under the parent's path it does not exist
    path = domains_path(sipmap.sid, d.sid)
    assert_error(sipmap.get(path), 404, 20404, not_found_message(path))
    parent_view(d.sid).delete()
    assert parent_view.list() == []


def test_subaccount_domain_can_be_mapped_by_subaccount_only(sipmap):
    sub = sipmap.client.api.v2010.accounts.create(friendly_name="child")
    sub_client = sipmap.client_for(sub.sid, sub.auth_token)
    d = sipmap.client.api.v2010.accounts(sub.sid).sip.domains.create(domain_name=unique_domain("sub"))
    sub_ip = sub_client.voice.v1.ip_records.create(ip_address="10.3.3.3")
    m = sub_client.voice.v1.source_ip_mappings.create(ip_record_sid=sub_ip.sid, sip_domain_sid=d.sid)
    assert m.sip_domain_sid == d.sid
    # Voice v1 belongs to the credentials' account: the parent cannot use the sub's domain
    parent_ip = sipmap.client.voice.v1.ip_records.create(ip_address="10.4.4.4")
    resp = sipmap.post("/v1/SourceIpMappings", data={"IpRecordSid": parent_ip.sid, "SipDomainSid": d.sid})
    assert_error(resp, 404, 20404, not_found_message(domains_path(sipmap.sid, d.sid)))


def test_parent_v1_does_not_see_subaccount_records(sipmap):
    sub = sipmap.client.api.v2010.accounts.create(friendly_name="child")
    sub_client = sipmap.client_for(sub.sid, sub.auth_token)
    rec = sub_client.voice.v1.ip_records.create(ip_address="10.5.5.5")
    assert rec.account_sid == sub.sid
    assert sipmap.client.voice.v1.ip_records.list() == []
    assert_sdk_error(
        lambda: sipmap.client.voice.v1.ip_records(rec.sid).fetch(),
        404,
        20404,
        not_found_message(f"/IpRecords/{rec.sid}"),
    )
    # and the subaccount does not see the parent's
    parent_rec = sipmap.client.voice.v1.ip_records.create(ip_address="10.6.6.6")
    assert [r.sid for r in sub_client.voice.v1.ip_records.list()] == [rec.sid]
    assert_sdk_error(
        lambda: sub_client.voice.v1.ip_records(parent_rec.sid).fetch(),
        404,
        20404,
        not_found_message(f"/IpRecords/{parent_rec.sid}"),
    )
