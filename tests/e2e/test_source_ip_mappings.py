"""Voice v1 Source IP Mappings (`/v1/SourceIpMappings`): every operation through the twilio
SDK, the exact wire shape, and the mapping rules of docs/api.md (one mapping per IP record,
one mapping per network across all accounts, nested networks allowed, referenced resources
cannot be deleted, unknown references answer 404 naming the resource)."""

from __future__ import annotations

import datetime as dt
import time

from conftest import (
    MAPPING_KEYS,
    V1_DATE_RE,
    assert_error,
    assert_sdk_error,
    domains_path,
    fake_sid,
    not_found_message,
    unique_domain,
)


def new_domain(client, account_sid):
    return client.api.v2010.accounts(account_sid).sip.domains.create(domain_name=unique_domain())


def new_ip(client, ip="10.0.0.1", prefix=None):
    kwargs = {} if prefix is None else {"cidr_prefix_length": prefix}
    return client.voice.v1.ip_records.create(ip_address=ip, **kwargs)


def test_create_mapping(sipmap):
    ip = new_ip(sipmap.client)
    dom = new_domain(sipmap.client, sipmap.sid)
    resp = sipmap.client.voice.v1.source_ip_mappings.create_with_http_info(
        ip_record_sid=ip.sid, sip_domain_sid=dom.sid
    )
    assert resp.status_code == 201
    m = resp.data
    assert m.sid.startswith("IB") and len(m.sid) == 34
    assert m.ip_record_sid == ip.sid
    assert m.sip_domain_sid == dom.sid
    assert isinstance(m.date_created, dt.datetime)
    assert isinstance(m.date_updated, dt.datetime)
    assert m.url == f"{sipmap.base_url}/v1/SourceIpMappings/{m.sid}"


def test_wire_shape_has_no_account_sid(sipmap):
    ip = new_ip(sipmap.client)
    dom = new_domain(sipmap.client, sipmap.sid)
    resp = sipmap.post("/v1/SourceIpMappings", data={"IpRecordSid": ip.sid, "SipDomainSid": dom.sid})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert set(body) == MAPPING_KEYS
    assert V1_DATE_RE.match(body["date_created"])
    assert V1_DATE_RE.match(body["date_updated"])
    assert body["url"] == f"{sipmap.base_url}/v1/SourceIpMappings/{body['sid']}"
    fetched = sipmap.get(f"/v1/SourceIpMappings/{body['sid']}")
    assert fetched.status_code == 200
    assert fetched.json() == body
    listed = sipmap.get("/v1/SourceIpMappings").json()
    assert set(listed) == {"source_ip_mappings", "meta"}
    assert listed["meta"]["key"] == "source_ip_mappings"
    assert listed["source_ip_mappings"] == [body]


def test_fetch_and_list(sipmap):
    dom = new_domain(sipmap.client, sipmap.sid)
    sids = []
    for i in range(3):
        ip = new_ip(sipmap.client, f"10.0.{i}.1")
        sids.append(
            sipmap.client.voice.v1.source_ip_mappings.create(ip_record_sid=ip.sid, sip_domain_sid=dom.sid).sid
        )
    fetched = sipmap.client.voice.v1.source_ip_mappings(sids[1]).fetch()
    assert fetched.sid == sids[1]
    assert fetched.sip_domain_sid == dom.sid
    assert [m.sid for m in sipmap.client.voice.v1.source_ip_mappings.list()] == sids


def test_update_sip_domain_sid(sipmap):
    ip = new_ip(sipmap.client)
    d1 = new_domain(sipmap.client, sipmap.sid)
    d2 = new_domain(sipmap.client, sipmap.sid)
    m = sipmap.client.voice.v1.source_ip_mappings.create(ip_record_sid=ip.sid, sip_domain_sid=d1.sid)
    time.sleep(1.1)
    resp = sipmap.client.voice.v1.source_ip_mappings(m.sid).update_with_http_info(sip_domain_sid=d2.sid)
    assert resp.status_code == 200
    up = resp.data
    assert up.sid == m.sid
    assert up.sip_domain_sid == d2.sid
    assert up.ip_record_sid == ip.sid
    assert up.date_created == m.date_created
    assert up.date_updated > m.date_updated
    assert sipmap.client.voice.v1.source_ip_mappings(m.sid).fetch().sip_domain_sid == d2.sid
    # d1 is no longer referenced, so it can go; d2 is referenced
    sipmap.client.api.v2010.accounts(sipmap.sid).sip.domains(d1.sid).delete()


def test_update_cannot_change_ip_record(sipmap):
    ip1 = new_ip(sipmap.client, "10.0.0.1")
    ip2 = new_ip(sipmap.client, "10.0.0.2")
    dom = new_domain(sipmap.client, sipmap.sid)
    m = sipmap.client.voice.v1.source_ip_mappings.create(ip_record_sid=ip1.sid, sip_domain_sid=dom.sid)
    resp = sipmap.post(
        f"/v1/SourceIpMappings/{m.sid}", data={"SipDomainSid": dom.sid, "IpRecordSid": ip2.sid}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["ip_record_sid"] == ip1.sid


def test_update_missing_sip_domain_sid(sipmap):
    ip = new_ip(sipmap.client)
    dom = new_domain(sipmap.client, sipmap.sid)
    m = sipmap.client.voice.v1.source_ip_mappings.create(ip_record_sid=ip.sid, sip_domain_sid=dom.sid)
    resp = sipmap.post(f"/v1/SourceIpMappings/{m.sid}", data={})
    assert_error(resp, 400, 20001, "Missing required parameter SipDomainSid in the post body")


def test_update_unknown_sip_domain_sid(sipmap):
    ip = new_ip(sipmap.client)
    dom = new_domain(sipmap.client, sipmap.sid)
    m = sipmap.client.voice.v1.source_ip_mappings.create(ip_record_sid=ip.sid, sip_domain_sid=dom.sid)
    missing = fake_sid("SD")
    assert_sdk_error(
        lambda: sipmap.client.voice.v1.source_ip_mappings(m.sid).update(sip_domain_sid=missing),
        404,
        20404,
        not_found_message(domains_path(sipmap.sid, missing)),
    )
    assert sipmap.client.voice.v1.source_ip_mappings(m.sid).fetch().sip_domain_sid == dom.sid


def test_delete_mapping(sipmap):
    ip = new_ip(sipmap.client)
    dom = new_domain(sipmap.client, sipmap.sid)
    m = sipmap.client.voice.v1.source_ip_mappings.create(ip_record_sid=ip.sid, sip_domain_sid=dom.sid)
    resp = sipmap.client.voice.v1.source_ip_mappings(m.sid).delete_with_http_info()
    assert resp.status_code == 204
    assert_sdk_error(
        lambda: sipmap.client.voice.v1.source_ip_mappings(m.sid).fetch(),
        404,
        20404,
        not_found_message(f"/SourceIpMappings/{m.sid}"),
    )
    # once unmapped, both referenced resources can be deleted
    sipmap.client.voice.v1.ip_records(ip.sid).delete()
    sipmap.client.api.v2010.accounts(sipmap.sid).sip.domains(dom.sid).delete()


def test_unknown_mapping_sid(sipmap):
    sid = fake_sid("IB")
    for call in (
        lambda: sipmap.client.voice.v1.source_ip_mappings(sid).fetch(),
        lambda: sipmap.client.voice.v1.source_ip_mappings(sid).delete(),
    ):
        assert_sdk_error(call, 404, 20404, not_found_message(f"/SourceIpMappings/{sid}"))


# ---- required parameters and references ------------------------------------


def test_create_missing_ip_record_sid(sipmap):
    dom = new_domain(sipmap.client, sipmap.sid)
    resp = sipmap.post("/v1/SourceIpMappings", data={"SipDomainSid": dom.sid})
    assert_error(resp, 400, 20001, "Missing required parameter IpRecordSid in the post body")


def test_create_missing_sip_domain_sid(sipmap):
    ip = new_ip(sipmap.client)
    resp = sipmap.post("/v1/SourceIpMappings", data={"IpRecordSid": ip.sid})
    assert_error(resp, 400, 20001, "Missing required parameter SipDomainSid in the post body")


def test_create_empty_sip_domain_sid_counts_as_missing(sipmap):
    ip = new_ip(sipmap.client)
    resp = sipmap.post("/v1/SourceIpMappings", data={"IpRecordSid": ip.sid, "SipDomainSid": ""})
    assert_error(resp, 400, 20001, "Missing required parameter SipDomainSid in the post body")


def test_create_unknown_ip_record(sipmap):
    dom = new_domain(sipmap.client, sipmap.sid)
    missing = fake_sid("IL")
    resp = sipmap.post("/v1/SourceIpMappings", data={"IpRecordSid": missing, "SipDomainSid": dom.sid})
    assert_error(resp, 404, 20404, not_found_message(f"/IpRecords/{missing}"))
    assert_sdk_error(
        lambda: sipmap.client.voice.v1.source_ip_mappings.create(ip_record_sid=missing, sip_domain_sid=dom.sid),
        404,
        20404,
        not_found_message(f"/IpRecords/{missing}"),
    )


def test_create_unknown_sip_domain(sipmap):
    ip = new_ip(sipmap.client)
    missing = fake_sid("SD")
    resp = sipmap.post("/v1/SourceIpMappings", data={"IpRecordSid": ip.sid, "SipDomainSid": missing})
    assert_error(resp, 404, 20404, not_found_message(domains_path(sipmap.sid, missing)))
    assert sipmap.client.voice.v1.source_ip_mappings.list() == []


def test_create_with_deleted_ip_record(sipmap):
    ip = new_ip(sipmap.client)
    dom = new_domain(sipmap.client, sipmap.sid)
    sipmap.client.voice.v1.ip_records(ip.sid).delete()
    resp = sipmap.post("/v1/SourceIpMappings", data={"IpRecordSid": ip.sid, "SipDomainSid": dom.sid})
    assert_error(resp, 404, 20404, not_found_message(f"/IpRecords/{ip.sid}"))


# ---- uniqueness --------------------------------------------------------------


def test_second_mapping_of_one_ip_record_conflicts(sipmap):
    ip = new_ip(sipmap.client)
    d1 = new_domain(sipmap.client, sipmap.sid)
    d2 = new_domain(sipmap.client, sipmap.sid)
    m = sipmap.client.voice.v1.source_ip_mappings.create(ip_record_sid=ip.sid, sip_domain_sid=d1.sid)
    expected = f"IP Record {ip.sid} is already mapped by Source IP Mapping {m.sid}"
    for dom in (d1, d2):
        resp = sipmap.post("/v1/SourceIpMappings", data={"IpRecordSid": ip.sid, "SipDomainSid": dom.sid})
        assert_error(resp, 409, 20409, expected)
    assert_sdk_error(
        lambda: sipmap.client.voice.v1.source_ip_mappings.create(ip_record_sid=ip.sid, sip_domain_sid=d2.sid),
        409,
        20409,
        expected,
    )
    assert [x.sid for x in sipmap.client.voice.v1.source_ip_mappings.list()] == [m.sid]


def test_same_masked_network_cannot_be_mapped_twice(sipmap):
    a = new_ip(sipmap.client, "10.0.0.1", 24)
    b = new_ip(sipmap.client, "10.0.0.7", 24)
    dom = new_domain(sipmap.client, sipmap.sid)
    sipmap.client.voice.v1.source_ip_mappings.create(ip_record_sid=a.sid, sip_domain_sid=dom.sid)
    resp = sipmap.post("/v1/SourceIpMappings", data={"IpRecordSid": b.sid, "SipDomainSid": dom.sid})
    # The record named is the caller's own (the one it tried to map): across accounts,
    # naming the other account's record would leak it.
    assert_error(resp, 409, 20409, f"Network 10.0.0.0/24 of IP Record {b.sid} is already mapped")
    assert len(sipmap.client.voice.v1.source_ip_mappings.list()) == 1


def test_network_is_free_again_after_its_mapping_is_deleted(sipmap):
    a = new_ip(sipmap.client, "10.0.0.1", 24)
    b = new_ip(sipmap.client, "10.0.0.7", 24)
    dom = new_domain(sipmap.client, sipmap.sid)
    m = sipmap.client.voice.v1.source_ip_mappings.create(ip_record_sid=a.sid, sip_domain_sid=dom.sid)
    sipmap.client.voice.v1.source_ip_mappings(m.sid).delete()
    m2 = sipmap.client.voice.v1.source_ip_mappings.create(ip_record_sid=b.sid, sip_domain_sid=dom.sid)
    assert m2.ip_record_sid == b.sid


def test_same_address_different_prefix_is_a_different_network(sipmap):
    a = new_ip(sipmap.client, "10.0.0.1", 32)
    b = new_ip(sipmap.client, "10.0.0.1", 31)
    dom = new_domain(sipmap.client, sipmap.sid)
    sipmap.client.voice.v1.source_ip_mappings.create(ip_record_sid=a.sid, sip_domain_sid=dom.sid)
    sipmap.client.voice.v1.source_ip_mappings.create(ip_record_sid=b.sid, sip_domain_sid=dom.sid)
    assert len(sipmap.client.voice.v1.source_ip_mappings.list()) == 2


def test_same_masked_network_across_accounts_conflicts(sipmap):
    b = sipmap.other_tenant()
    ip_a = new_ip(sipmap.client, "172.16.5.1", 24)
    dom_a = new_domain(sipmap.client, sipmap.sid)
    sipmap.client.voice.v1.source_ip_mappings.create(ip_record_sid=ip_a.sid, sip_domain_sid=dom_a.sid)

    ip_b = new_ip(b.client, "172.16.5.200", 24)
    dom_b = new_domain(b.client, b.sid)
    resp = b.post("/v1/SourceIpMappings", data={"IpRecordSid": ip_b.sid, "SipDomainSid": dom_b.sid})
    assert_error(resp, 409, 20409, f"Network 172.16.5.0/24 of IP Record {ip_b.sid} is already mapped")
    assert ip_a.sid not in resp.text  # never name another account's record
    assert b.client.voice.v1.source_ip_mappings.list() == []


def test_nested_networks_can_both_be_mapped(sipmap):
    wide = new_ip(sipmap.client, "10.0.0.0", 16)
    narrow = new_ip(sipmap.client, "10.0.0.0", 24)
    host = new_ip(sipmap.client, "10.0.0.9", 32)
    d1 = new_domain(sipmap.client, sipmap.sid)
    d2 = new_domain(sipmap.client, sipmap.sid)
    for ip, dom in ((wide, d1), (narrow, d2), (host, d1)):
        resp = sipmap.client.voice.v1.source_ip_mappings.create_with_http_info(
            ip_record_sid=ip.sid, sip_domain_sid=dom.sid
        )
        assert resp.status_code == 201
    assert len(sipmap.client.voice.v1.source_ip_mappings.list()) == 3


# ---- referential integrity ---------------------------------------------------------


def test_mapped_ip_record_cannot_be_deleted(sipmap):
    ip = new_ip(sipmap.client)
    dom = new_domain(sipmap.client, sipmap.sid)
    m = sipmap.client.voice.v1.source_ip_mappings.create(ip_record_sid=ip.sid, sip_domain_sid=dom.sid)
    resp = sipmap.delete(f"/v1/IpRecords/{ip.sid}")
    assert_error(resp, 409, 20409, f"IP Record {ip.sid} is still referenced by Source IP Mapping {m.sid}")
    assert_sdk_error(
        lambda: sipmap.client.voice.v1.ip_records(ip.sid).delete(),
        409,
        20409,
        f"IP Record {ip.sid} is still referenced by Source IP Mapping {m.sid}",
    )
    assert sipmap.client.voice.v1.ip_records(ip.sid).fetch().sid == ip.sid
    assert sipmap.client.voice.v1.source_ip_mappings(m.sid).fetch().ip_record_sid == ip.sid


def test_mapped_sip_domain_cannot_be_deleted(sipmap):
    ip = new_ip(sipmap.client)
    dom = new_domain(sipmap.client, sipmap.sid)
    m = sipmap.client.voice.v1.source_ip_mappings.create(ip_record_sid=ip.sid, sip_domain_sid=dom.sid)
    resp = sipmap.delete(domains_path(sipmap.sid, dom.sid))
    assert_error(resp, 409, 20409, f"SIP Domain {dom.sid} is still referenced by Source IP Mapping {m.sid}")
    assert sipmap.client.api.v2010.accounts(sipmap.sid).sip.domains(dom.sid).fetch().sid == dom.sid
    assert sipmap.client.voice.v1.source_ip_mappings(m.sid).fetch().sip_domain_sid == dom.sid


def test_domain_referenced_after_update_cannot_be_deleted(sipmap):
    ip = new_ip(sipmap.client)
    d1 = new_domain(sipmap.client, sipmap.sid)
    d2 = new_domain(sipmap.client, sipmap.sid)
    m = sipmap.client.voice.v1.source_ip_mappings.create(ip_record_sid=ip.sid, sip_domain_sid=d1.sid)
    sipmap.client.voice.v1.source_ip_mappings(m.sid).update(sip_domain_sid=d2.sid)
    resp = sipmap.delete(domains_path(sipmap.sid, d2.sid))
    assert_error(resp, 409, 20409, f"SIP Domain {d2.sid} is still referenced by Source IP Mapping {m.sid}")


# ---- races ---------------------------------------------------------------------


def _race(calls):
    """Run the callables at (nearly) the same moment; return their results in order."""
    import threading

    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, call):
        barrier.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_concurrent_mappings_of_one_network_only_one_wins(sipmap):
    b = sipmap.other_tenant()
    dom_a = new_domain(sipmap.client, sipmap.sid)
    dom_b = new_domain(b.client, b.sid)
    calls = []
    for i in range(8):
        tenant, dom = (sipmap, dom_a) if i % 2 == 0 else (b, dom_b)
        ip = new_ip(tenant.client, f"10.77.0.{i + 1}", 24)
        data = {"IpRecordSid": ip.sid, "SipDomainSid": dom.sid}
        calls.append(lambda t=tenant, d=data: t.post("/v1/SourceIpMappings", data=d))
    results = _race(calls)
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201] + [409] * 7, [(r.status_code, r.text[:120]) for r in results]
    for r in results:
        if r.status_code == 409:
            assert_error(r, 409, 20409, message_re=r"Network 10\.77\.0\.0/24 of IP Record IL[0-9a-fA-F]{32} is already mapped")
    total = len(sipmap.client.voice.v1.source_ip_mappings.list()) + len(b.client.voice.v1.source_ip_mappings.list())
    assert total == 1


def test_concurrent_mappings_of_one_ip_record_only_one_wins(sipmap):
    ip = new_ip(sipmap.client)
    doms = [new_domain(sipmap.client, sipmap.sid) for _ in range(6)]
    results = _race(
        [
            (lambda d=d: sipmap.post("/v1/SourceIpMappings", data={"IpRecordSid": ip.sid, "SipDomainSid": d.sid}))
            for d in doms
        ]
    )
    assert sorted(r.status_code for r in results) == [201] + [409] * 5
    assert len(sipmap.client.voice.v1.source_ip_mappings.list()) == 1


def test_concurrent_delete_of_ip_record_and_mapping_create(sipmap):
    """Either the mapping wins (delete answers 409) or the delete wins (mapping answers 404);
    never both succeed, which would leave a mapping to a deleted IP record."""
    dom = new_domain(sipmap.client, sipmap.sid)
    for i in range(10):
        ip = new_ip(sipmap.client, f"10.88.{i}.1")
        create, delete = _race(
            [
                lambda: sipmap.post("/v1/SourceIpMappings", data={"IpRecordSid": ip.sid, "SipDomainSid": dom.sid}),
                lambda: sipmap.delete(f"/v1/IpRecords/{ip.sid}"),
            ]
        )
        outcome = (create.status_code, delete.status_code)
        assert outcome in {(201, 409), (404, 204)}, (outcome, create.text, delete.text)
    for m in sipmap.client.voice.v1.source_ip_mappings.list():
        sipmap.client.voice.v1.ip_records(m.ip_record_sid).fetch()
