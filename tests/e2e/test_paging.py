"""Paging of list endpoints: the SDK follows next_page_url / next_page_uri across pages; the
Voice v1 `meta` block (absolute URLs on the server's public URL, PageSize/Page always present,
PA/PB page tokens); PageSize clamping and validation; offset paging without a token; and the
exact API 2010 list envelope (relative URIs, start/end, no extra keys)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import (
    V1_META_KEYS,
    V2010_LIST_META_KEYS,
    assert_error,
    domains_path,
    unique_domain,
)


def make_records(sipmap, n):
    return [sipmap.client.voice.v1.ip_records.create(ip_address=f"10.0.0.{i + 1}").sid for i in range(n)]


def query(url):
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_sdk_lists_all_records_across_pages_in_creation_order(sipmap):
    sids = make_records(sipmap, 7)
    got = [r.sid for r in sipmap.client.voice.v1.ip_records.list(page_size=2)]
    assert got == sids
    streamed = [r.sid for r in sipmap.client.voice.v1.ip_records.stream(page_size=3)]
    assert streamed == sids
    limited = [r.sid for r in sipmap.client.voice.v1.ip_records.list(limit=5, page_size=2)]
    assert limited == sids[:5]


def test_sdk_page_objects(sipmap):
    sids = make_records(sipmap, 5)
    page = sipmap.client.voice.v1.ip_records.page(page_size=2)
    seen = []
    while page is not None:
        seen.extend(r.sid for r in page)
        page = page.next_page()
    assert seen == sids


def test_meta_without_query(sipmap):
    make_records(sipmap, 2)
    resp = sipmap.get("/v1/IpRecords")
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"ip_records", "meta"}
    meta = body["meta"]
    assert set(meta) == V1_META_KEYS
    assert meta["key"] == "ip_records"
    assert meta["page"] == 0
    assert meta["page_size"] == 50
    base = f"{sipmap.base_url}/v1/IpRecords?"
    for field in ("url", "first_page_url"):
        assert meta[field].startswith(base), meta[field]
        assert query(meta[field]) == {"PageSize": "50", "Page": "0"}, meta[field]
    assert meta["next_page_url"] is None
    assert meta["previous_page_url"] is None


def test_page_tokens(sipmap):
    sids = make_records(sipmap, 5)
    first = sipmap.get("/v1/IpRecords", params={"PageSize": 2}).json()
    meta = first["meta"]
    assert [r["sid"] for r in first["ip_records"]] == sids[:2]
    assert meta["page_size"] == 2 and meta["page"] == 0
    assert meta["previous_page_url"] is None
    assert query(meta["first_page_url"]) == {"PageSize": "2", "Page": "0"}
    nxt = meta["next_page_url"]
    assert nxt.startswith(f"{sipmap.base_url}/v1/IpRecords?"), nxt
    assert query(nxt) == {"PageSize": "2", "Page": "1", "PageToken": "PA" + sids[1]}, nxt

    second = sipmap.get(nxt).json()
    meta2 = second["meta"]
    assert [r["sid"] for r in second["ip_records"]] == sids[2:4]
    assert meta2["page"] == 1
    assert meta2["url"] == nxt or query(meta2["url"]) == query(nxt)
    assert query(meta2["first_page_url"]) == {"PageSize": "2", "Page": "0"}
    prev = meta2["previous_page_url"]
    assert prev.startswith(f"{sipmap.base_url}/v1/IpRecords?"), prev
    assert query(prev)["PageToken"] == "PB" + sids[2], prev
    assert query(prev)["Page"] == "0", prev

    back = sipmap.get(prev).json()
    assert [r["sid"] for r in back["ip_records"]] == sids[:2]
    assert back["meta"]["page"] == 0

    third = sipmap.get(meta2["next_page_url"]).json()
    assert [r["sid"] for r in third["ip_records"]] == sids[4:]
    assert third["meta"]["next_page_url"] is None
    assert third["meta"]["page"] == 2


def test_page_token_is_stable_when_rows_are_deleted(sipmap):
    sids = make_records(sipmap, 6)
    first = sipmap.get("/v1/IpRecords", params={"PageSize": 2}).json()
    # delete the first item of the next page before following the link
    sipmap.client.voice.v1.ip_records(sids[2]).delete()
    second = sipmap.get(first["meta"]["next_page_url"]).json()
    assert [r["sid"] for r in second["ip_records"]] == sids[3:5]


def test_page_token_is_stable_when_rows_are_added(sipmap):
    sids = make_records(sipmap, 4)
    first = sipmap.get("/v1/IpRecords", params={"PageSize": 2}).json()
    sids += make_records(sipmap, 1)
    rest = []
    url = first["meta"]["next_page_url"]
    while url:
        page = sipmap.get(url).json()
        rest += [r["sid"] for r in page["ip_records"]]
        url = page["meta"]["next_page_url"]
    assert rest == sids[2:]


def test_page_without_token_uses_offset(sipmap):
    sids = make_records(sipmap, 6)
    body = sipmap.get("/v1/IpRecords", params={"Page": 1, "PageSize": 2}).json()
    assert [r["sid"] for r in body["ip_records"]] == sids[2:4]
    assert body["meta"]["page"] == 1
    body = sipmap.get("/v1/IpRecords", params={"Page": 5, "PageSize": 2}).json()
    assert body["ip_records"] == []


def test_page_size_is_clamped_to_1000(sipmap):
    make_records(sipmap, 3)
    body = sipmap.get("/v1/IpRecords", params={"PageSize": 5000}).json()
    assert body["meta"]["page_size"] == 1000
    assert len(body["ip_records"]) == 3
    assert query(body["meta"]["url"])["PageSize"] == "1000"
    # the SDK sends PageSize=<limit> for list(limit=N)
    assert len(sipmap.client.voice.v1.ip_records.list(limit=5000)) == 3


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5"])
def test_invalid_page_size(sipmap, value):
    resp = sipmap.get("/v1/IpRecords", params={"PageSize": value})
    assert_error(resp, 400, 20001, message_prefix="Invalid parameter PageSize: ")


@pytest.mark.parametrize("value", ["-1", "abc"])
def test_invalid_page(sipmap, value):
    resp = sipmap.get("/v1/IpRecords", params={"Page": value})
    assert_error(resp, 400, 20001, message_prefix="Invalid parameter Page: ")


@pytest.mark.parametrize("token", ["garbage", "PA", "PXIL" + "a" * 32])
def test_invalid_page_token(sipmap, token):
    make_records(sipmap, 2)
    resp = sipmap.get("/v1/IpRecords", params={"PageToken": token})
    assert_error(resp, 400, 20001, message_prefix="Invalid parameter PageToken: ")


def test_mapping_list_paging(sipmap):
    dom = sipmap.client.api.v2010.accounts(sipmap.sid).sip.domains.create(domain_name=unique_domain())
    mids = []
    for i in range(5):
        ip = sipmap.client.voice.v1.ip_records.create(ip_address=f"10.1.{i}.1")
        mids.append(
            sipmap.client.voice.v1.source_ip_mappings.create(ip_record_sid=ip.sid, sip_domain_sid=dom.sid).sid
        )
    assert [m.sid for m in sipmap.client.voice.v1.source_ip_mappings.list(page_size=2)] == mids
    body = sipmap.get("/v1/SourceIpMappings", params={"PageSize": 2}).json()
    assert body["meta"]["key"] == "source_ip_mappings"
    assert body["meta"]["next_page_url"].startswith(f"{sipmap.base_url}/v1/SourceIpMappings?")
    assert query(body["meta"]["next_page_url"])["PageToken"] == "PA" + mids[1]


def test_public_url_is_used_for_page_urls(sipmap_factory):
    srv = sipmap_factory(extra_args=["--public-url", "https://voice.example.test:8443"])
    sids = [srv.post("/v1/IpRecords", data={"IpAddress": f"10.0.0.{i}"}).json()["sid"] for i in (1, 2, 3)]
    body = srv.get("/v1/IpRecords", params={"PageSize": 2}).json()
    meta = body["meta"]
    for field in ("url", "first_page_url", "next_page_url"):
        assert meta[field].startswith("https://voice.example.test:8443/v1/IpRecords?"), meta[field]
    assert body["ip_records"][0]["url"] == f"https://voice.example.test:8443/v1/IpRecords/{sids[0]}"
    # the link is still usable against the real listener
    nxt = meta["next_page_url"].replace("https://voice.example.test:8443", srv.base_url)
    assert [r["sid"] for r in srv.get(nxt).json()["ip_records"]] == sids[2:]


# ---- API 2010 ---------------------------------------------------------------


def make_domains(sipmap, n):
    doms = sipmap.client.api.v2010.accounts(sipmap.sid).sip.domains
    return [doms.create(domain_name=unique_domain(f"p{i}")).sid for i in range(n)]


def test_2010_envelope(sipmap):
    sids = make_domains(sipmap, 3)
    resp = sipmap.get(domains_path(sipmap.sid))
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == V2010_LIST_META_KEYS | {"domains"}
    assert [d["sid"] for d in body["domains"]] == sids
    base = domains_path(sipmap.sid) + "?"
    for field in ("uri", "first_page_uri"):
        assert body[field].startswith(base), body[field]
        assert query(body[field]) == {"PageSize": "50", "Page": "0"}
    assert body["page"] == 0
    assert body["page_size"] == 50
    assert body["start"] == 0
    assert body["end"] == 2
    assert body["next_page_uri"] is None
    assert body["previous_page_uri"] is None


def test_2010_envelope_empty(sipmap):
    body = sipmap.get(domains_path(sipmap.sid)).json()
    assert set(body) == V2010_LIST_META_KEYS | {"domains"}
    assert body["domains"] == []
    assert body["start"] == 0
    assert body["next_page_uri"] is None


def test_2010_paging_links(sipmap):
    sids = make_domains(sipmap, 5)
    first = sipmap.get(domains_path(sipmap.sid), params={"PageSize": 2}).json()
    assert [d["sid"] for d in first["domains"]] == sids[:2]
    assert (first["start"], first["end"]) == (0, 1)
    nxt = first["next_page_uri"]
    assert nxt.startswith(domains_path(sipmap.sid) + "?"), nxt
    assert query(nxt) == {"PageSize": "2", "Page": "1", "PageToken": "PA" + sids[1]}

    second = sipmap.get(nxt).json()
    assert set(second) == V2010_LIST_META_KEYS | {"domains"}
    assert [d["sid"] for d in second["domains"]] == sids[2:4]
    assert second["page"] == 1
    assert (second["start"], second["end"]) == (2, 3)
    prev = second["previous_page_uri"]
    assert prev.startswith(domains_path(sipmap.sid) + "?"), prev
    assert query(prev)["PageToken"] == "PB" + sids[2]
    back = sipmap.get(prev).json()
    assert [d["sid"] for d in back["domains"]] == sids[:2]

    third = sipmap.get(second["next_page_uri"]).json()
    assert [d["sid"] for d in third["domains"]] == sids[4:]
    assert (third["start"], third["end"]) == (4, 4)
    assert third["next_page_uri"] is None


def test_2010_sdk_paging(sipmap):
    sids = make_domains(sipmap, 5)
    doms = sipmap.client.api.v2010.accounts(sipmap.sid).sip.domains
    assert [d.sid for d in doms.list(page_size=2)] == sids
    assert [d.sid for d in doms.list(limit=3, page_size=2)] == sids[:3]


def test_2010_page_size_validation(sipmap):
    resp = sipmap.get(domains_path(sipmap.sid), params={"PageSize": 0})
    assert_error(resp, 400, 20001, message_prefix="Invalid parameter PageSize: ")
    body = sipmap.get(domains_path(sipmap.sid), params={"PageSize": 1001}).json()
    assert body["page_size"] == 1000


def test_accounts_sdk_paging(sipmap):
    subs = [sipmap.client.api.v2010.accounts.create(friendly_name=f"s{i}").sid for i in range(4)]
    got = [a.sid for a in sipmap.client.api.v2010.accounts.list(page_size=2)]
    assert sorted(got) == sorted(subs + [sipmap.sid])
    assert len(got) == len(set(got)) == 5


@pytest.mark.parametrize(
    "public_url,prefix",
    [
        ("https://voice.example.test/", "https://voice.example.test/v1/IpRecords"),
        ("https://gw.example.test/sipmap", "https://gw.example.test/sipmap/v1/IpRecords"),
    ],
)
def test_public_url_variants(sipmap_factory, public_url, prefix):
    srv = sipmap_factory(extra_args=["--public-url", public_url])
    rec = srv.post("/v1/IpRecords", data={"IpAddress": "10.0.0.1"}).json()
    assert rec["url"] == f"{prefix}/{rec['sid']}"
    meta = srv.get("/v1/IpRecords").json()["meta"]
    assert meta["url"].startswith(prefix + "?"), meta["url"]
    assert meta["first_page_url"].startswith(prefix + "?"), meta["first_page_url"]


def test_2010_page_without_token_uses_offset(sipmap):
    sids = make_domains(sipmap, 5)
    body = sipmap.get(domains_path(sipmap.sid), params={"Page": 1, "PageSize": 2}).json()
    assert [d["sid"] for d in body["domains"]] == sids[2:4]
    assert body["page"] == 1
    assert (body["start"], body["end"]) == (2, 3)
