"""Monitor Events, the audit log, through the official Python SDK unmodified (its ``monitor``
domain pointed at sipmap): the setup steps of a secured domain are listed as events with
Twilio's fields, filtered by resource, event type and actor, paged, and fetched one by one;
a password never appears in them; an API key is named as the actor; another tenant sees none
of them. Each test runs on SQLite and on PostgreSQL (a schema of its own)."""

from __future__ import annotations

import json
import re

import pytest
from twilio.base.exceptions import TwilioRestException

from conftest import load_spec, make_client, on_backend, unique_domain

EVENT_FIELDS = set(
    load_spec("twilio_monitor_v1.json")["components"]["schemas"]["monitor.v1.event"]["properties"]
)
PASSWORD = "Sup3rSecretPassw0rd"


@pytest.fixture(params=["sqlite", "postgres"])
def sipmap(request, sipmap_factory):
    """A fresh server on each back end (the events are written in the change's transaction on
    both)."""
    server, drop = on_backend(request.param, sipmap_factory)
    yield server
    drop()


def test_setup_steps_are_events_the_sdk_lists(sipmap):
    client = sipmap.client
    sip = client.api.v2010.accounts(sipmap.sid).sip
    domain = sip.domains.create(domain_name=unique_domain("audit"))
    sip.domains(domain.sid).update(friendly_name="front door")
    staff = sip.credential_lists.create(friendly_name="staff")
    cred = sip.credential_lists(staff.sid).credentials.create(username="alice", password=PASSWORD)
    sip.domains(domain.sid).auth.calls.credential_list_mappings.create(credential_list_sid=staff.sid)

    history = client.monitor.v1.events.list(resource_sid=domain.sid)
    assert [e.event_type for e in history] == ["sip-domain.created", "sip-domain.updated"]
    created, updated = history
    assert created.resource_type == "sip-domain"
    assert created.account_sid == sipmap.sid
    assert created.actor_sid == sipmap.sid and created.actor_type == "account"
    assert created.source == "api" and created.source_ip_address == "127.0.0.1"
    assert created.event_data["domain_name"] == domain.domain_name
    assert updated.event_data == {"friendly_name": {"previous": None, "updated": "front door"}}
    assert created.event_date is not None and created.url.endswith(f"/v1/Events/{created.sid}")
    assert re.fullmatch(r"AE[0-9a-f]{32}", created.sid)

    raw = sipmap.get(f"/v1/Events/{created.sid}")
    assert raw.status_code == 200
    assert set(raw.json()) == EVENT_FIELDS
    fetched = client.monitor.v1.events(created.sid).fetch()
    assert fetched.event_type == "sip-domain.created"

    everything = client.monitor.v1.events.list()
    assert len(everything) == 5
    assert PASSWORD not in json.dumps([e.event_data for e in everything])
    (made,) = client.monitor.v1.events.list(resource_sid=cred.sid)
    assert made.event_data["password"] == "[redacted]"
    assert made.links["resource"].endswith(
        f"/SIP/CredentialLists/{staff.sid}/Credentials/{cred.sid}.json"
    )
    mapped = client.monitor.v1.events.list(event_type="sip-domain-auth-mapping.created")
    assert [e.resource_sid for e in mapped] == [staff.sid]

    # The SDK follows next_page_url with the filters kept.
    pages = list(client.monitor.v1.events.stream(event_type="sip-domain.created", page_size=1))
    assert [e.sid for e in pages] == [created.sid]
    walked = list(client.monitor.v1.events.stream(page_size=2))
    assert [e.sid for e in walked] == [e.sid for e in everything]


def test_a_key_is_the_actor_and_a_tenant_sees_only_its_own(sipmap):
    key = sipmap.client.api.v2010.accounts(sipmap.sid).new_keys.create(friendly_name="ci")
    by_key = make_client(sipmap.base_url, key.sid, key.secret, sipmap.sid)
    record = by_key.voice.v1.ip_records.create(ip_address="198.51.100.0", cidr_prefix_length=24)
    (event,) = sipmap.client.monitor.v1.events.list(actor_sid=key.sid)
    assert event.actor_type == "api-key"
    assert event.resource_sid == record.sid and event.event_type == "ip-record.created"

    tenant = sipmap.other_tenant()
    assert tenant.client.monitor.v1.events.list() == []
    with pytest.raises(TwilioRestException) as refused:
        tenant.client.monitor.v1.events(event.sid).fetch()
    assert refused.value.status == 404
