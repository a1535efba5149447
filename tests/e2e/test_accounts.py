"""API 2010 Accounts (`/2010-04-01/Accounts.json`): subaccount creation through the twilio SDK
(the returned auth_token authenticates; fetch and list show it again, as Twilio does; the
database holds it sealed), fetch, list with its filters,
FriendlyName and Status updates (suspended and closed accounts cannot authenticate, closed
cannot be reopened, a top-level account's status cannot change) and the 403 for subaccounts."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess

import pytest

from conftest import (
    RFC2822_RE,
    SIPMAP_BIN,
    V2010_LIST_META_KEYS,
    assert_error,
    assert_sdk_error,
    clean_env,
    fake_sid,
    load_spec,
    not_found_message,
)

SPEC_ACCOUNT_FIELDS = set(
    load_spec("twilio_api_v2010.json")["components"]["schemas"]["api.v2010.account"]["properties"]
)


def account_path(sid):
    return f"/2010-04-01/Accounts/{sid}.json"


def test_create_subaccount_returns_working_token(sipmap):
    resp = sipmap.client.api.v2010.accounts.create_with_http_info(friendly_name="child")
    assert resp.status_code == 201
    sub = resp.data
    assert sub.sid.startswith("AC") and len(sub.sid) == 34 and sub.sid != sipmap.sid
    assert sub.friendly_name == "child"
    assert sub.owner_account_sid == sipmap.sid
    assert sub.status == "active"
    assert isinstance(sub.auth_token, str) and len(sub.auth_token) >= 16
    assert isinstance(sub.date_created, dt.datetime)

    sub_client = sipmap.client_for(sub.sid, sub.auth_token)
    me = sub_client.api.v2010.accounts(sub.sid).fetch()
    assert me.sid == sub.sid
    # the subaccount can use Voice v1 with its own credentials
    rec = sub_client.voice.v1.ip_records.create(ip_address="10.0.0.1")
    assert rec.account_sid == sub.sid


def test_wire_shape_and_readable_token(sipmap):
    resp = sipmap.post("/2010-04-01/Accounts.json", data={"FriendlyName": "child"})
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert set(created) == SPEC_ACCOUNT_FIELDS
    assert isinstance(created["auth_token"], str) and created["auth_token"]
    assert created["uri"] == account_path(created["sid"])
    assert RFC2822_RE.match(created["date_created"]), created["date_created"]
    assert RFC2822_RE.match(created["date_updated"]), created["date_updated"]
    assert created["owner_account_sid"] == sipmap.sid

    fetched = sipmap.get(account_path(created["sid"]))
    assert fetched.status_code == 200
    body = fetched.json()
    assert set(body) == SPEC_ACCOUNT_FIELDS
    # the token is shown again, as Twilio shows it
    assert body == created

    listed = sipmap.get("/2010-04-01/Accounts.json").json()
    assert set(listed) == V2010_LIST_META_KEYS | {"accounts"}
    tokens = {a["sid"]: a["auth_token"] for a in listed["accounts"]}
    for acct in listed["accounts"]:
        assert set(acct) == SPEC_ACCOUNT_FIELDS
    assert tokens == {sipmap.sid: sipmap.token, created["sid"]: created["auth_token"]}

    updated = sipmap.post(account_path(created["sid"]), data={"FriendlyName": "renamed"})
    assert updated.status_code == 200
    assert updated.json()["auth_token"] == created["auth_token"]


def test_subaccount_client_from_a_fetched_token(sipmap):
    """The common pattern: fetch a subaccount, build its client from the fetched token."""
    sub_sid = sipmap.client.api.v2010.accounts.create(friendly_name="child").sid
    fetched = sipmap.client.api.v2010.accounts(sub_sid).fetch()
    assert isinstance(fetched.auth_token, str) and fetched.auth_token
    listed = {a.sid: a.auth_token for a in sipmap.client.api.v2010.accounts.list()}
    assert listed[sub_sid] == fetched.auth_token
    sub_client = sipmap.client_for(sub_sid, fetched.auth_token)
    rec = sub_client.voice.v1.ip_records.create(ip_address="10.0.0.7")
    assert rec.account_sid == sub_sid
    assert sub_client.api.v2010.accounts(sub_sid).fetch().auth_token == fetched.auth_token


def test_tokens_are_stored_sealed_not_in_plain_text(sipmap):
    sub = sipmap.client.api.v2010.accounts.create(friendly_name="child")
    db = sipmap.db_url.removeprefix("sqlite://")
    data = b"".join(open(p, "rb").read() for p in (db, db + "-wal") if os.path.exists(p))
    assert sub.auth_token.encode() not in data
    assert sipmap.token.encode() not in data


def test_fetch_own_account(sipmap):
    me = sipmap.client.api.v2010.accounts(sipmap.sid).fetch()
    assert me.sid == sipmap.sid
    assert me.status == "active"
    assert me.auth_token == sipmap.token
    body = sipmap.get(account_path(sipmap.sid)).json()
    assert set(body) == SPEC_ACCOUNT_FIELDS
    assert body["uri"] == account_path(sipmap.sid)


def test_fetch_subaccount_as_parent(sipmap):
    sub = sipmap.client.api.v2010.accounts.create(friendly_name="child")
    got = sipmap.client.api.v2010.accounts(sub.sid).fetch()
    assert got.sid == sub.sid
    assert got.friendly_name == "child"
    assert got.owner_account_sid == sipmap.sid
    assert got.auth_token == sub.auth_token


def test_list_includes_self_and_subaccounts(sipmap):
    s1 = sipmap.client.api.v2010.accounts.create(friendly_name="one")
    s2 = sipmap.client.api.v2010.accounts.create(friendly_name="two")
    sids = {a.sid for a in sipmap.client.api.v2010.accounts.list()}
    assert sids == {sipmap.sid, s1.sid, s2.sid}


def test_list_filters(sipmap):
    s1 = sipmap.client.api.v2010.accounts.create(friendly_name="alpha")
    s2 = sipmap.client.api.v2010.accounts.create(friendly_name="beta")
    s3 = sipmap.client.api.v2010.accounts.create(friendly_name="alpha")
    sipmap.client.api.v2010.accounts(s3.sid).update(status="suspended")

    by_name = sipmap.client.api.v2010.accounts.list(friendly_name="alpha")
    assert {a.sid for a in by_name} == {s1.sid, s3.sid}
    suspended = sipmap.client.api.v2010.accounts.list(status="suspended")
    assert [a.sid for a in suspended] == [s3.sid]
    active_alpha = sipmap.client.api.v2010.accounts.list(friendly_name="alpha", status="active")
    assert [a.sid for a in active_alpha] == [s1.sid]
    active = {a.sid for a in sipmap.client.api.v2010.accounts.list(status="active")}
    assert active == {sipmap.sid, s1.sid, s2.sid}
    assert sipmap.client.api.v2010.accounts.list(friendly_name="nobody") == []


def test_list_as_subaccount_shows_only_itself(sipmap):
    sub = sipmap.client.api.v2010.accounts.create(friendly_name="child")
    sipmap.client.api.v2010.accounts.create(friendly_name="sibling")
    sub_client = sipmap.client_for(sub.sid, sub.auth_token)
    assert [a.sid for a in sub_client.api.v2010.accounts.list()] == [sub.sid]


def test_update_friendly_name(sipmap):
    sub = sipmap.client.api.v2010.accounts.create(friendly_name="before")
    resp = sipmap.client.api.v2010.accounts(sub.sid).update_with_http_info(friendly_name="after")
    assert resp.status_code == 200
    assert resp.data.friendly_name == "after"
    assert sipmap.client.api.v2010.accounts(sub.sid).fetch().friendly_name == "after"
    # a top-level account can rename itself
    me = sipmap.client.api.v2010.accounts(sipmap.sid).update(friendly_name="top")
    assert me.friendly_name == "top"


def test_friendly_name_too_long(sipmap):
    resp = sipmap.post("/2010-04-01/Accounts.json", data={"FriendlyName": "a" * 65})
    assert_error(resp, 400, 20001, message_prefix="Invalid parameter FriendlyName: ")
    sub = sipmap.client.api.v2010.accounts.create(friendly_name="a" * 64)
    assert sub.friendly_name == "a" * 64
    resp = sipmap.post(account_path(sub.sid), data={"FriendlyName": "a" * 65})
    assert_error(resp, 400, 20001, message_prefix="Invalid parameter FriendlyName: ")


def test_suspend_and_reactivate(sipmap):
    sub = sipmap.client.api.v2010.accounts.create(friendly_name="child")
    sub_client = sipmap.client_for(sub.sid, sub.auth_token)
    sub_client.voice.v1.ip_records.list()

    up = sipmap.client.api.v2010.accounts(sub.sid).update(status="suspended")
    assert up.status == "suspended"
    assert_sdk_error(lambda: sub_client.voice.v1.ip_records.create(ip_address="10.0.0.1"), 401, 20003)
    resp = sipmap.request("GET", account_path(sub.sid), auth=(sub.sid, sub.auth_token))
    assert_error(resp, 401, 20003, "Authenticate")
    assert resp.headers.get("WWW-Authenticate") == 'Basic realm="Twilio API"'
    # the parent still sees it
    assert sipmap.client.api.v2010.accounts(sub.sid).fetch().status == "suspended"

    up = sipmap.client.api.v2010.accounts(sub.sid).update(status="active")
    assert up.status == "active"
    assert sub_client.voice.v1.ip_records.create(ip_address="10.0.0.1").account_sid == sub.sid


def test_closed_account_cannot_authenticate_or_reopen(sipmap):
    sub = sipmap.client.api.v2010.accounts.create(friendly_name="child")
    up = sipmap.client.api.v2010.accounts(sub.sid).update(status="closed")
    assert up.status == "closed"
    resp = sipmap.request("GET", "/v1/IpRecords", auth=(sub.sid, sub.auth_token))
    assert_error(resp, 401, 20003, "Authenticate")

    for status in ("active", "suspended"):
        resp = sipmap.post(account_path(sub.sid), data={"Status": status})
        assert_error(resp, 400, 20001, message_prefix="Invalid parameter Status: ")
    assert sipmap.client.api.v2010.accounts(sub.sid).fetch().status == "closed"
    resp = sipmap.request("GET", "/v1/IpRecords", auth=(sub.sid, sub.auth_token))
    assert resp.status_code == 401


def test_top_level_account_status_cannot_change(sipmap):
    for status in ("suspended", "closed"):
        resp = sipmap.post(account_path(sipmap.sid), data={"Status": status})
        assert_error(resp, 400, 20001, message_prefix="Invalid parameter Status: ")
    assert sipmap.client.api.v2010.accounts(sipmap.sid).fetch().status == "active"


def test_invalid_status_value(sipmap):
    sub = sipmap.client.api.v2010.accounts.create(friendly_name="child")
    resp = sipmap.post(account_path(sub.sid), data={"Status": "deleted"})
    assert_error(resp, 400, 20001, message_prefix="Invalid parameter Status: ")


def test_subaccount_cannot_create_subaccounts(sipmap):
    sub = sipmap.client.api.v2010.accounts.create(friendly_name="child")
    sub_client = sipmap.client_for(sub.sid, sub.auth_token)
    assert_sdk_error(
        lambda: sub_client.api.v2010.accounts.create(friendly_name="grandchild"),
        403,
        20403,
        "Subaccounts cannot create subaccounts",
    )
    resp = sipmap.request("POST", "/2010-04-01/Accounts.json", auth=(sub.sid, sub.auth_token), data={})
    assert_error(resp, 403, 20403, "Subaccounts cannot create subaccounts")


def test_subaccount_cannot_see_parent(sipmap):
    """Twilio: "using subaccount credentials to access master account" is 401/20003."""
    sub = sipmap.client.api.v2010.accounts.create(friendly_name="child")
    resp = sipmap.request("GET", account_path(sipmap.sid), auth=(sub.sid, sub.auth_token))
    assert_error(resp, 401, 20003, "Authenticate")
    resp = sipmap.request(
        "POST", account_path(sipmap.sid), auth=(sub.sid, sub.auth_token), data={"FriendlyName": "x"}
    )
    assert_error(resp, 401, 20003, "Authenticate")


def test_unknown_account_is_401_like_any_account_the_caller_may_not_act_on(sipmap):
    sid = fake_sid("AC")
    assert_sdk_error(lambda: sipmap.client.api.v2010.accounts(sid).fetch(), 401, 20003, "Authenticate")
    assert_sdk_error(
        lambda: sipmap.client.api.v2010.accounts(sid).update(friendly_name="x"), 401, 20003, "Authenticate"
    )


def test_cli_created_account_is_top_level(sipmap):
    acct = sipmap.create_account("Tenant B")
    client = sipmap.client_for(acct["sid"], acct["auth_token"])
    me = client.api.v2010.accounts(acct["sid"]).fetch()
    assert me.friendly_name == "Tenant B"
    assert me.status == "active"
    # a top-level account can create subaccounts, unlike a subaccount
    sub = client.api.v2010.accounts.create(friendly_name="B child")
    assert sub.owner_account_sid == acct["sid"]
    # A does not see B
    assert acct["sid"] not in {a.sid for a in sipmap.client.api.v2010.accounts.list()}


@pytest.mark.parametrize("status", ["active", "suspended", "closed"])
def test_status_filter_values_are_accepted(sipmap, status):
    resp = sipmap.get("/2010-04-01/Accounts.json", params={"Status": status})
    assert resp.status_code == 200, resp.text
    assert all(a["status"] == status for a in resp.json()["accounts"])


def test_cli_account_create_never_makes_a_second_database(sipmap, tmp_path):
    """Run in another folder, `accounts create` must not silently create a database there."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = subprocess.run(
        [str(SIPMAP_BIN), "accounts", "create"],
        cwd=elsewhere,
        env=clean_env(),
        capture_output=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode != 0
    err = out.stderr.decode()
    assert "no database at sqlite://" + str(elsewhere / "sipmap.db") in err, err
    assert list(elsewhere.iterdir()) == [], "a database was created"
    # With the server's database it works, and says which database it wrote to.
    out = subprocess.run(
        [str(SIPMAP_BIN), "accounts", "create"],
        cwd=elsewhere,
        env={**clean_env(), "SIPMAP_DATABASE_URL": sipmap.db_url},
        capture_output=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr.decode()
    sid = json.loads(out.stdout)["sid"]
    assert f"account {sid} created in sqlite://" in out.stderr.decode()
    assert sipmap.client.api.v2010.accounts(sipmap.sid).fetch().sid == sipmap.sid
