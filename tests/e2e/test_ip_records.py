"""Voice v1 IP Records (`/v1/IpRecords`): every operation through the official twilio SDK,
the exact wire shape of the resource, and every validation error of docs/api.md."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from twilio.base.exceptions import TwilioRestException

from conftest import (
    IP_RECORD_KEYS,
    V1_DATE_RE,
    assert_error,
    assert_sdk_error,
    fake_sid,
    not_found_message,
)


def test_create_with_all_parameters(sipmap):
    resp = sipmap.client.voice.v1.ip_records.create_with_http_info(
        ip_address="10.2.3.4", friendly_name="office", cidr_prefix_length=30
    )
    assert resp.status_code == 201
    rec = resp.data
    assert rec.sid.startswith("IL") and len(rec.sid) == 34
    assert rec.account_sid == sipmap.sid
    assert rec.friendly_name == "office"
    # stored as given, not normalised to the network address
    assert rec.ip_address == "10.2.3.4"
    assert rec.cidr_prefix_length == 30
    assert isinstance(rec.date_created, dt.datetime)
    assert isinstance(rec.date_updated, dt.datetime)
    assert rec.date_created == rec.date_updated
    assert rec.url == f"{sipmap.base_url}/v1/IpRecords/{rec.sid}"


def test_create_minimal_defaults_to_prefix_32(sipmap):
    rec = sipmap.client.voice.v1.ip_records.create(ip_address="192.0.2.10")
    assert rec.ip_address == "192.0.2.10"
    assert rec.cidr_prefix_length == 32
    assert rec.friendly_name is None or isinstance(rec.friendly_name, str)


def test_ip_address_is_stored_as_given_not_masked(sipmap):
    rec = sipmap.client.voice.v1.ip_records.create(ip_address="10.2.3.7", cidr_prefix_length=24)
    assert rec.ip_address == "10.2.3.7"
    assert rec.cidr_prefix_length == 24
    assert sipmap.client.voice.v1.ip_records(rec.sid).fetch().ip_address == "10.2.3.7"


@pytest.mark.parametrize("prefix", [1, 32])
def test_cidr_prefix_length_bounds_accepted(sipmap, prefix):
    rec = sipmap.client.voice.v1.ip_records.create(ip_address="10.0.0.1", cidr_prefix_length=prefix)
    assert rec.cidr_prefix_length == prefix


def test_wire_shape_of_ip_record(sipmap):
    resp = sipmap.post(
        "/v1/IpRecords",
        data={"IpAddress": "10.2.3.4", "FriendlyName": "friendly_name", "CidrPrefixLength": "30"},
    )
    assert resp.status_code == 201, resp.text
    assert resp.headers["Content-Type"].split(";")[0] == "application/json"
    body = resp.json()
    assert set(body) == IP_RECORD_KEYS
    assert body["account_sid"] == sipmap.sid
    assert body["ip_address"] == "10.2.3.4"
    assert body["cidr_prefix_length"] == 30 and isinstance(body["cidr_prefix_length"], int)
    assert body["friendly_name"] == "friendly_name"
    assert V1_DATE_RE.match(body["date_created"]), body["date_created"]
    assert V1_DATE_RE.match(body["date_updated"]), body["date_updated"]
    assert body["url"] == f"{sipmap.base_url}/v1/IpRecords/{body['sid']}"
    created = dt.datetime.strptime(body["date_created"], "%Y-%m-%dT%H:%M:%SZ")
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    assert abs((now - created).total_seconds()) < 120, "date_created is not the current UTC time"

    fetched = sipmap.get(f"/v1/IpRecords/{body['sid']}")
    assert fetched.status_code == 200
    assert fetched.json() == body


def test_fetch(sipmap):
    created = sipmap.client.voice.v1.ip_records.create(ip_address="10.9.8.7", friendly_name="x")
    rec = sipmap.client.voice.v1.ip_records(created.sid).fetch()
    assert rec.sid == created.sid
    assert rec.account_sid == sipmap.sid
    assert rec.friendly_name == "x"
    assert rec.ip_address == "10.9.8.7"
    assert rec.cidr_prefix_length == 32
    assert rec.date_created == created.date_created
    assert rec.url == created.url


def test_list(sipmap):
    ips = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    sids = [sipmap.client.voice.v1.ip_records.create(ip_address=ip).sid for ip in ips]
    records = sipmap.client.voice.v1.ip_records.list()
    assert [r.sid for r in records] == sids
    assert [r.ip_address for r in records] == ips

    body = sipmap.get("/v1/IpRecords").json()
    assert set(body) == {"ip_records", "meta"}
    for item in body["ip_records"]:
        assert set(item) == IP_RECORD_KEYS


def test_list_empty(sipmap):
    assert sipmap.client.voice.v1.ip_records.list() == []
    body = sipmap.get("/v1/IpRecords").json()
    assert body["ip_records"] == []
    assert body["meta"]["key"] == "ip_records"
    assert body["meta"]["next_page_url"] is None
    assert body["meta"]["previous_page_url"] is None


def test_update_friendly_name(sipmap):
    created = sipmap.client.voice.v1.ip_records.create(
        ip_address="10.1.1.1", friendly_name="before", cidr_prefix_length=28
    )
    time.sleep(1.1)  # dates have a resolution of one second
    resp = sipmap.client.voice.v1.ip_records(created.sid).update_with_http_info(
        friendly_name="after"
    )
    assert resp.status_code == 200
    updated = resp.data
    assert updated.sid == created.sid
    assert updated.friendly_name == "after"
    # IpAddress and CidrPrefixLength are not updatable
    assert updated.ip_address == "10.1.1.1"
    assert updated.cidr_prefix_length == 28
    assert updated.date_created == created.date_created
    assert updated.date_updated > created.date_updated
    assert sipmap.client.voice.v1.ip_records(created.sid).fetch().friendly_name == "after"


def test_update_ignores_ip_address_and_prefix(sipmap):
    created = sipmap.client.voice.v1.ip_records.create(ip_address="10.1.1.1")
    resp = sipmap.post(
        f"/v1/IpRecords/{created.sid}",
        data={"FriendlyName": "n", "IpAddress": "10.7.7.7", "CidrPrefixLength": "8"},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["ip_address"] == "10.1.1.1"
    assert body["cidr_prefix_length"] == 32
    assert body["friendly_name"] == "n"


def test_update_with_empty_body_changes_nothing(sipmap):
    created = sipmap.client.voice.v1.ip_records.create(ip_address="10.1.1.1", friendly_name="keep")
    # the SDK sends an empty form body when no parameter is given
    updated = sipmap.client.voice.v1.ip_records(created.sid).update()
    assert updated.friendly_name == "keep"
    assert updated.ip_address == "10.1.1.1"


def test_delete_then_fetch_is_404(sipmap):
    created = sipmap.client.voice.v1.ip_records.create(ip_address="10.1.1.1")
    resp = sipmap.client.voice.v1.ip_records(created.sid).delete_with_http_info()
    assert resp.status_code == 204
    assert resp.data is True
    assert_sdk_error(
        lambda: sipmap.client.voice.v1.ip_records(created.sid).fetch(),
        404,
        20404,
        not_found_message(f"/IpRecords/{created.sid}"),
    )
    assert sipmap.client.voice.v1.ip_records.list() == []


def test_delete_has_empty_body(sipmap):
    created = sipmap.client.voice.v1.ip_records.create(ip_address="10.1.1.1")
    resp = sipmap.delete(f"/v1/IpRecords/{created.sid}")
    assert resp.status_code == 204
    assert resp.content == b""
    again = sipmap.delete(f"/v1/IpRecords/{created.sid}")
    assert_error(again, 404, 20404, not_found_message(f"/IpRecords/{created.sid}"))


@pytest.mark.parametrize("verb", ["fetch", "update", "delete"])
def test_unknown_sid_is_404(sipmap, verb):
    sid = fake_sid("IL")
    ctx = sipmap.client.voice.v1.ip_records(sid)
    call = {"fetch": ctx.fetch, "update": lambda: ctx.update(friendly_name="x"), "delete": ctx.delete}
    assert_sdk_error(call[verb], 404, 20404, not_found_message(f"/IpRecords/{sid}"))


# ---- validation ----------------------------------------------------------


def test_create_missing_ip_address(sipmap):
    resp = sipmap.post("/v1/IpRecords", data={"FriendlyName": "x"})
    assert_error(resp, 400, 20001, "Missing required parameter IpAddress in the post body")


def test_create_empty_ip_address_counts_as_missing(sipmap):
    resp = sipmap.post("/v1/IpRecords", data={"IpAddress": ""})
    assert_error(resp, 400, 20001, "Missing required parameter IpAddress in the post body")


def test_create_with_no_body_at_all(sipmap):
    resp = sipmap.post(
        "/v1/IpRecords", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert_error(resp, 400, 20001, "Missing required parameter IpAddress in the post body")


def test_parameter_names_are_case_sensitive(sipmap):
    resp = sipmap.post("/v1/IpRecords", data={"ipAddress": "10.0.0.1"})
    assert_error(resp, 400, 20001, "Missing required parameter IpAddress in the post body")


def test_sdk_surfaces_missing_parameter(sipmap):
    assert_sdk_error(
        lambda: sipmap.client.voice.v1.ip_records.create(ip_address=""),
        400,
        20001,
        "Missing required parameter IpAddress in the post body",
    )


@pytest.mark.parametrize(
    "ip", ["10.0.0", "::1", "abc", "256.1.1.1", "10.0.0.1/24", "10.0.0.0.1", " 10.0.0.1", "1.2.3.-4"]
)
def test_create_invalid_ip_address(sipmap, ip):
    resp = sipmap.post("/v1/IpRecords", data={"IpAddress": ip})
    assert_error(resp, 400, 20001, message_prefix="Invalid parameter IpAddress: ")
    assert sipmap.client.voice.v1.ip_records.list() == []


@pytest.mark.parametrize("prefix", ["0", "33", "x", "-1", "1.5", "999999999999999999999"])
def test_create_invalid_cidr_prefix_length(sipmap, prefix):
    resp = sipmap.post("/v1/IpRecords", data={"IpAddress": "10.0.0.1", "CidrPrefixLength": prefix})
    assert_error(resp, 400, 20001, message_prefix="Invalid parameter CidrPrefixLength: ")
    assert sipmap.client.voice.v1.ip_records.list() == []


def test_sdk_surfaces_invalid_cidr(sipmap):
    err = assert_sdk_error(
        lambda: sipmap.client.voice.v1.ip_records.create(ip_address="10.0.0.1", cidr_prefix_length=33),
        400,
        20001,
    )
    assert "Invalid parameter CidrPrefixLength: " in err.msg


def test_friendly_name_255_characters_accepted(sipmap):
    name = "n" * 255
    rec = sipmap.client.voice.v1.ip_records.create(ip_address="10.0.0.1", friendly_name=name)
    assert rec.friendly_name == name


def test_friendly_name_counts_characters_not_bytes(sipmap):
    name = "é" * 255  # 510 bytes of UTF-8, 255 characters
    rec = sipmap.client.voice.v1.ip_records.create(ip_address="10.0.0.1", friendly_name=name)
    assert rec.friendly_name == name
    assert sipmap.client.voice.v1.ip_records(rec.sid).fetch().friendly_name == name


def test_friendly_name_256_characters_rejected_on_create(sipmap):
    resp = sipmap.post("/v1/IpRecords", data={"IpAddress": "10.0.0.1", "FriendlyName": "n" * 256})
    assert_error(resp, 400, 20001, message_prefix="Invalid parameter FriendlyName: ")
    assert sipmap.client.voice.v1.ip_records.list() == []


def test_friendly_name_256_characters_rejected_on_update(sipmap):
    rec = sipmap.client.voice.v1.ip_records.create(ip_address="10.0.0.1", friendly_name="keep")
    resp = sipmap.post(f"/v1/IpRecords/{rec.sid}", data={"FriendlyName": "n" * 256})
    assert_error(resp, 400, 20001, message_prefix="Invalid parameter FriendlyName: ")
    assert sipmap.client.voice.v1.ip_records(rec.sid).fetch().friendly_name == "keep"


def test_unicode_friendly_name_round_trips(sipmap):
    name = "Büro 東京 ☎"
    rec = sipmap.client.voice.v1.ip_records.create(ip_address="10.0.0.1", friendly_name=name)
    assert sipmap.client.voice.v1.ip_records(rec.sid).fetch().friendly_name == name


def test_unknown_parameters_are_ignored(sipmap):
    resp = sipmap.post("/v1/IpRecords", data={"IpAddress": "10.0.0.1", "Bogus": "1", "Sid": "ILx"})
    assert resp.status_code == 201, resp.text
    assert resp.json()["sid"] != "ILx"


def test_duplicate_ip_records_are_allowed(sipmap):
    a = sipmap.client.voice.v1.ip_records.create(ip_address="10.0.0.1")
    b = sipmap.client.voice.v1.ip_records.create(ip_address="10.0.0.1")
    assert a.sid != b.sid
    assert len(sipmap.client.voice.v1.ip_records.list()) == 2


def test_sids_are_unique_and_well_formed(sipmap):
    sids = [sipmap.client.voice.v1.ip_records.create(ip_address="10.0.0.1").sid for _ in range(20)]
    assert len(set(sids)) == 20
    for sid in sids:
        assert len(sid) == 34 and sid.startswith("IL")
        int(sid[2:], 16)


@pytest.mark.parametrize("ip", ["0.0.0.0", "255.255.255.255", "1.2.3.4"])
def test_edge_ipv4_addresses_accepted(sipmap, ip):
    assert sipmap.client.voice.v1.ip_records.create(ip_address=ip).ip_address == ip


def test_control_characters_in_friendly_name_survive_restart(sipmap):
    name = "tab\there cr\r lf\n end"
    rec = sipmap.client.voice.v1.ip_records.create(ip_address="10.0.0.1", friendly_name=name)
    assert rec.friendly_name == name
    sipmap.restart()
    assert sipmap.client.voice.v1.ip_records(rec.sid).fetch().friendly_name == name


def test_nul_in_a_parameter_is_refused(sipmap):
    # PostgreSQL cannot store NUL in text; SQLite could. Both refuse it the same way.
    with pytest.raises(TwilioRestException) as err:
        sipmap.client.voice.v1.ip_records.create(ip_address="10.0.0.1", friendly_name="nul\x00")
    assert err.value.status == 400 and err.value.code == 20001
    assert list(sipmap.client.voice.v1.ip_records.list()) == []
