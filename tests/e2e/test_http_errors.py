"""Protocol-level errors with plain HTTP: authentication (401 20003 `Authenticate` with its
WWW-Authenticate header), unknown routes and malformed SIDs (404 20404 naming the path),
unsupported methods (405 20004), oversized bodies (413 20413) and non-UTF-8 bodies (400).
Every error must have exactly the body keys {code, message, more_info, status}."""

from __future__ import annotations

import base64

import pytest
import requests

from conftest import (
    assert_error,
    assert_sdk_error,
    domains_path,
    fake_sid,
    not_found_message,
    unique_domain,
)

WWW_AUTH = 'Basic realm="Twilio API"'


def assert_401(resp):
    assert_error(resp, 401, 20003, "Authenticate")
    assert resp.headers.get("WWW-Authenticate") == WWW_AUTH, resp.headers


# ---- 401 -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/v1/IpRecords", "/v1/SourceIpMappings", "/2010-04-01/Accounts.json", "__domains__"],
)
def test_no_credentials(sipmap, path):
    if path == "__domains__":
        path = domains_path(sipmap.sid)
    assert_401(sipmap.get(path, auth=None))


def test_wrong_token(sipmap):
    assert_401(sipmap.get("/v1/IpRecords", auth=(sipmap.sid, sipmap.token + "x")))
    assert_401(sipmap.get("/v1/IpRecords", auth=(sipmap.sid, "")))


def test_unknown_account_sid(sipmap):
    assert_401(sipmap.get("/v1/IpRecords", auth=(fake_sid("AC"), sipmap.token)))


def test_another_accounts_token(sipmap):
    b = sipmap.other_tenant()
    assert_401(sipmap.get("/v1/IpRecords", auth=(sipmap.sid, b.token)))
    assert_401(sipmap.get("/v1/IpRecords", auth=(b.sid, sipmap.token)))


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon-here").decode(),
        "Bearer abcdef",
        "Basic",
        "",
    ],
)
def test_malformed_authorization_header(sipmap, header):
    resp = sipmap.get("/v1/IpRecords", auth=None, headers={"Authorization": header})
    assert_401(resp)


def test_credentials_are_case_sensitive(sipmap):
    resp = sipmap.get("/v1/IpRecords", auth=(sipmap.sid, sipmap.token.upper()))
    if sipmap.token.upper() != sipmap.token:
        assert_401(resp)


def test_unauthenticated_write_changes_nothing(sipmap):
    resp = sipmap.post("/v1/IpRecords", data={"IpAddress": "10.0.0.1"}, auth=(sipmap.sid, "wrong"))
    assert_401(resp)
    resp = sipmap.post(domains_path(sipmap.sid), data={"DomainName": unique_domain()}, auth=None)
    assert_401(resp)
    assert sipmap.client.voice.v1.ip_records.list() == []
    assert sipmap.client.api.v2010.accounts(sipmap.sid).sip.domains.list() == []


def test_sdk_with_wrong_token(sipmap):
    client = sipmap.client_for(sipmap.sid, "not-the-token")
    assert_sdk_error(lambda: client.voice.v1.ip_records.create(ip_address="10.0.0.1"), 401, 20003, "Authenticate")
    assert_sdk_error(lambda: client.api.v2010.accounts(sipmap.sid).fetch(), 401, 20003, "Authenticate")


def test_401_on_unknown_sid_paths_too(sipmap):
    # authentication comes before lookup: nothing about existence leaks
    assert_401(sipmap.get(f"/v1/IpRecords/{fake_sid('IL')}", auth=None))


# ---- 404 -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/v1/Nope",
        "/nope",
        "/v2/IpRecords",
        "/v1/iprecords",
        "/v1/IpRecords/ILxyz/Extra",
        "/2010-04-01/Accounts/__self__/SIP/Nope.json",
    ],
)
def test_unknown_route(sipmap, path):
    path = path.replace("__self__", sipmap.sid)
    resp = sipmap.get(path)
    assert_error(resp, 404, 20404, not_found_message(path))


@pytest.mark.parametrize(
    "collection,bad",
    [
        ("IpRecords", "ILxyz"),
        ("IpRecords", "IL" + "0" * 31),
        ("IpRecords", "IL" + "0" * 33),
        ("IpRecords", "IB" + "0" * 32),
        ("IpRecords", "IL" + "z" * 32),
        ("SourceIpMappings", "IBxyz"),
        ("SourceIpMappings", "IL" + "0" * 32),
    ],
)
def test_malformed_v1_sids(sipmap, collection, bad):
    expected = not_found_message(f"/{collection}/{bad}")
    assert_error(sipmap.get(f"/v1/{collection}/{bad}"), 404, 20404, expected)
    assert_error(sipmap.post(f"/v1/{collection}/{bad}", data={"FriendlyName": "x"}), 404, 20404, expected)
    assert_error(sipmap.delete(f"/v1/{collection}/{bad}"), 404, 20404, expected)


def test_sdk_fetch_of_malformed_sid(sipmap):
    assert_sdk_error(
        lambda: sipmap.client.voice.v1.source_ip_mappings("XXnotfound").fetch(),
        404,
        20404,
        not_found_message("/SourceIpMappings/XXnotfound"),
    )


@pytest.mark.parametrize("bad", ["ACxyz", "AC" + "0" * 31, "SD" + "0" * 32])
def test_malformed_account_sid_in_2010_path(sipmap, bad):
    """Not an account the credentials may act on: 401/20003, as for any other account."""
    assert_error(sipmap.get(domains_path(bad)), 401, 20003, "Authenticate")
    assert_error(sipmap.get(f"/2010-04-01/Accounts/{bad}.json"), 401, 20003, "Authenticate")


# ---- 405 -----------------------------------------------------------------


@pytest.mark.parametrize(
    "method,path",
    [
        ("PUT", "/v1/IpRecords"),
        ("DELETE", "/v1/IpRecords"),
        ("PATCH", "/v1/IpRecords"),
        ("PUT", "/v1/IpRecords/__IL__"),
        ("PATCH", "/v1/IpRecords/__IL__"),
        ("PUT", "/v1/SourceIpMappings"),
        ("DELETE", "/v1/SourceIpMappings"),
        ("PUT", "__domains__"),
        ("DELETE", "__domains__"),
        ("PUT", "/2010-04-01/Accounts.json"),
        ("DELETE", "/2010-04-01/Accounts.json"),
        ("DELETE", "__account__"),
    ],
)
def test_method_not_allowed(sipmap, method, path):
    rec = sipmap.client.voice.v1.ip_records.create(ip_address="10.0.0.1")
    path = (
        path.replace("__IL__", rec.sid)
        .replace("__domains__", domains_path(sipmap.sid))
        .replace("__account__", f"/2010-04-01/Accounts/{sipmap.sid}.json")
    )
    resp = sipmap.request(method, path, data={"IpAddress": "10.0.0.2"})
    assert_error(resp, 405, 20004, "Method not allowed")
    # nothing was changed or created
    assert [r.sid for r in sipmap.client.voice.v1.ip_records.list()] == [rec.sid]


# ---- 413 -----------------------------------------------------------------


def padded_body(total: int) -> bytes:
    head = b"IpAddress=10.0.0.1&Padding="
    return head + b"a" * (total - len(head))


def test_body_over_64_kib_is_rejected(sipmap):
    body = padded_body(65537)
    assert len(body) == 65537
    resp = sipmap.post(
        "/v1/IpRecords", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert_error(resp, 413, 20413, "Request body exceeds 65536 bytes")
    assert sipmap.client.voice.v1.ip_records.list() == []


def test_body_of_exactly_64_kib_is_accepted(sipmap):
    body = padded_body(65536)
    resp = sipmap.post(
        "/v1/IpRecords", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert resp.status_code == 201, resp.text[:300]


def test_chunked_body_over_64_kib_is_rejected(sipmap):
    body = padded_body(200_000)

    def chunks():
        for i in range(0, len(body), 8192):
            yield body[i : i + 8192]

    try:
        resp = sipmap.post(
            "/v1/IpRecords", data=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
    except requests.ConnectionError as exc:  # pragma: no cover - reported as a failure
        pytest.fail(f"server dropped the connection instead of answering 413: {exc}")
    assert_error(resp, 413, 20413, "Request body exceeds 65536 bytes")
    assert sipmap.client.voice.v1.ip_records.list() == []


def test_large_body_on_2010_path(sipmap):
    body = b"DomainName=" + unique_domain().encode() + b"&X=" + b"b" * 70000
    resp = sipmap.post(
        domains_path(sipmap.sid), data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert_error(resp, 413, 20413, "Request body exceeds 65536 bytes")


# ---- 400 for bodies ----------------------------------------------------------


def test_non_utf8_body(sipmap):
    resp = sipmap.post(
        "/v1/IpRecords",
        data=b"IpAddress=10.0.0.1&FriendlyName=\xff\xfe\xfd",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error(resp, 400, 20001, message_prefix="Invalid request body: ")
    assert sipmap.client.voice.v1.ip_records.list() == []


def test_non_utf8_body_on_2010_path(sipmap):
    resp = sipmap.post(
        domains_path(sipmap.sid),
        data=b"DomainName=" + unique_domain().encode() + b"&FriendlyName=caf\xe9",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error(resp, 400, 20001, message_prefix="Invalid request body: ")


def test_json_body_is_not_form_data(sipmap):
    resp = sipmap.post("/v1/IpRecords", json={"IpAddress": "10.0.0.1"})
    assert_error(resp, 400, 20001, "Missing required parameter IpAddress in the post body")


def test_percent_encoded_values_are_decoded(sipmap):
    resp = sipmap.post(
        "/v1/IpRecords",
        data=b"IpAddress=10.0.0.1&FriendlyName=a%20b%2Bc+d%C3%A9",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["friendly_name"] == "a b+c dé"
