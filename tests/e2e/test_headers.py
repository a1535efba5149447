"""Response headers: every response, successful or not (201, 200, 204, 400, 401, 404, 405,
409, 413), carries `Twilio-Request-Id: RQ<32 hex>` and Twilio's CORS headers; `OPTIONS` on any
path answers 204 with those headers without credentials; JSON responses say application/json."""

from __future__ import annotations

import pytest

from conftest import CORS_HEADERS, REQUEST_ID_RE, domains_path, fake_sid, unique_domain


def assert_common_headers(resp):
    rid = resp.headers.get("Twilio-Request-Id")
    assert rid is not None, f"{resp.status_code} {resp.request.method} {resp.request.url}: no Twilio-Request-Id"
    assert REQUEST_ID_RE.match(rid), rid
    for name, value in CORS_HEADERS.items():
        assert resp.headers.get(name) == value, (resp.status_code, name, resp.headers.get(name))
    # Twilio's `Allow-Credentials: true` beside `Allow-Origin: *` is left out (docs/api.md, Headers).
    assert "Access-Control-Allow-Credentials" not in resp.headers
    return rid


def test_headers_on_every_kind_of_response(sipmap):
    dom = sipmap.client.api.v2010.accounts(sipmap.sid).sip.domains.create(domain_name=unique_domain())
    rec = sipmap.client.voice.v1.ip_records.create(ip_address="10.0.0.1")
    sipmap.client.voice.v1.source_ip_mappings.create(ip_record_sid=rec.sid, sip_domain_sid=dom.sid)
    doomed = sipmap.client.voice.v1.ip_records.create(ip_address="10.0.0.2")
    cases = [
        (201, lambda: sipmap.post("/v1/IpRecords", data={"IpAddress": "10.0.0.3"})),
        (200, lambda: sipmap.get("/v1/IpRecords")),
        (200, lambda: sipmap.get(f"/v1/IpRecords/{rec.sid}")),
        (200, lambda: sipmap.get(domains_path(sipmap.sid))),
        (200, lambda: sipmap.get("/2010-04-01/Accounts.json")),
        (204, lambda: sipmap.delete(f"/v1/IpRecords/{doomed.sid}")),
        (400, lambda: sipmap.post("/v1/IpRecords", data={})),
        (400, lambda: sipmap.post(domains_path(sipmap.sid), data={"DomainName": "bad"})),
        (401, lambda: sipmap.get("/v1/IpRecords", auth=None)),
        (401, lambda: sipmap.get(domains_path(sipmap.sid), auth=(sipmap.sid, "wrong"))),
        (404, lambda: sipmap.get(f"/v1/IpRecords/{fake_sid('IL')}")),
        (404, lambda: sipmap.get("/v1/NoSuchThing")),
        (405, lambda: sipmap.request("PUT", "/v1/IpRecords")),
        (409, lambda: sipmap.delete(f"/v1/IpRecords/{rec.sid}")),
        (
            413,
            lambda: sipmap.post(
                "/v1/IpRecords",
                data=b"IpAddress=10.0.0.1&X=" + b"x" * 70000,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ),
        ),
    ]
    ids = set()
    for status, call in cases:
        resp = call()
        assert resp.status_code == status, (status, resp.status_code, resp.text[:300])
        ids.add(assert_common_headers(resp))
        if resp.status_code != 204:
            assert resp.headers.get("Content-Type", "").split(";")[0] == "application/json", (
                status,
                resp.headers.get("Content-Type"),
            )
    assert len(ids) == len(cases), "request ids must be unique per request"


def test_sdk_sees_request_id(sipmap):
    resp = sipmap.client.voice.v1.ip_records.create_with_http_info(ip_address="10.0.0.1")
    headers = {k.lower(): v for k, v in resp.headers.items()}
    assert REQUEST_ID_RE.match(headers["twilio-request-id"])


@pytest.mark.parametrize(
    "path",
    [
        "/v1/IpRecords",
        "/v1/IpRecords/__IL__",
        "/v1/SourceIpMappings",
        "/v1/SourceIpMappings/__IB__",
        "__domains__",
        "/2010-04-01/Accounts.json",
        "/v1/NotARoute",
    ],
)
def test_options_preflight_without_credentials(sipmap, path):
    path = (
        path.replace("__IL__", fake_sid("IL"))
        .replace("__IB__", fake_sid("IB"))
        .replace("__domains__", domains_path(sipmap.sid))
    )
    resp = sipmap.request(
        "OPTIONS",
        path,
        auth=None,
        headers={
            "Origin": "https://app.example.test",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert resp.status_code == 204, (resp.status_code, resp.text[:300])
    assert resp.content == b""
    assert_common_headers(resp)


def test_options_without_preflight_headers(sipmap):
    resp = sipmap.request("OPTIONS", "/v1/IpRecords", auth=None)
    assert resp.status_code == 204
    assert_common_headers(resp)


def test_cors_headers_with_an_origin_on_normal_requests(sipmap):
    resp = sipmap.get("/v1/IpRecords", headers={"Origin": "https://app.example.test"})
    assert resp.status_code == 200
    assert_common_headers(resp)
