"""Monitor Alerts of the SIP edge's refusals through the official Python SDK unmodified (its
``monitor`` domain pointed at sipmap): a source on 127.0.0.2 outside a domain's IP access control
list is refused (403) twenty times and the account lists one alert per minute (32201) naming the
source, the domain and the count, never one per request; a request from 127.0.0.3 for a domain
nobody owns (404) makes no alert; a subaccount sees none. The test waits for the counts to be
written (every second) and asserts no time. It runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from conftest import clean_env, make_client, on_backend, unique_domain
from sip_client import SipClient

SIP_LINE = re.compile(r"^sipmap: SIP edge listening on (\S+):(\d+) \(UDP and TCP\)")
REQUESTS = 20
NODE_MODULES = Path(__file__).resolve().parent / "node" / "node_modules"

# The official Node SDK, unmodified but for its `monitor` domain's base URL: the account's alerts
# and the domain's events (the audit log), as it lists them.
NODE_MONITOR = r"""
const twilio = require("twilio");
const [base, sid, token, domain] = process.argv.slice(1);
async function main() {
  const client = twilio(sid, token);
  client.monitor.baseUrl = base;
  const alerts = await client.monitor.v1.alerts.list();
  const events = await client.monitor.v1.events.list({ resourceSid: domain });
  console.log(JSON.stringify({
    alerts: alerts.map((a) => [a.sid, a.errorCode, a.resourceSid]).sort(),
    events: events.map((e) => [e.sid, e.eventType]).sort(),
  }));
}
main().catch((err) => { console.error(String(err && (err.stack || err.message) || err)); process.exit(1); });
"""


def counted(alerts, monitor) -> int:
    """The requests the alerts count (a fetch shows each one's `Count`)."""
    total = 0
    for a in alerts:
        variables = parse_qs(monitor.alerts(a.sid).fetch().request_variables)
        total += int(variables["Count"][0])
    return total


@pytest.fixture(params=["sqlite", "postgres"])
def server(request, sipmap_factory):
    """A server with a SIP edge on each back end."""
    started, drop = on_backend(request.param, sipmap_factory, extra_args=["--sip-listen", "127.0.0.1:0"])
    yield started
    drop()


def test_a_refused_source_is_an_alert_with_its_count(server):
    m = server.proc.wait_for_line(SIP_LINE, 10)
    assert m, "no SIP listening line"
    edge = (m.group(1), int(m.group(2)))
    sip = server.client.api.v2010.accounts(server.sid).sip
    name = unique_domain("alerts")
    domain = sip.domains.create(domain_name=name)
    acl = sip.ip_access_control_lists.create(friendly_name="office")
    sip.ip_access_control_lists(acl.sid).ip_addresses.create(
        friendly_name="office", ip_address="10.0.0.1"
    )
    sip.domains(domain.sid).auth.calls.ip_access_control_list_mappings.create(
        ip_access_control_list_sid=acl.sid
    )
    with SipClient(edge, "127.0.0.3") as stranger:
        assert stranger.request("OPTIONS", "sip:alice@nobody.example.com").status == 404
    with SipClient(edge, "127.0.0.2") as phone:
        for _ in range(REQUESTS):
            assert phone.request("OPTIONS", f"sip:alice@{name}").status == 403

    monitor = server.client.monitor.v1
    deadline = time.monotonic() + 20
    while True:
        alerts = monitor.alerts.list()
        if counted(alerts, monitor) >= REQUESTS or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert counted(alerts, monitor) == REQUESTS
    # One alert a minute: twenty requests make one, or two if a minute turned meanwhile.
    assert 1 <= len(alerts) <= 2, [a.alert_text for a in alerts]
    for a in alerts:
        assert a.error_code == "32201" and a.log_level == "error"
        assert a.resource_sid == domain.sid and a.account_sid == server.sid
        assert "127.0.0.2" in a.alert_text and name in a.alert_text
        assert "127.0.0.3" not in a.alert_text
        assert a.more_info == "https://www.twilio.com/docs/errors/32201"
    if len(alerts) == 1:
        assert f"{REQUESTS} requests from 127.0.0.2" in alerts[0].alert_text

    # The Node SDK sees the same alerts, and the domain's creation in the audit log.
    assert shutil.which("node") and (NODE_MODULES / "twilio").is_dir(), "scripts/test.sh installs them"
    argv = ["node", "-e", NODE_MONITOR, server.base_url, server.sid, server.token, domain.sid]
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=60, env={**clean_env(), "NODE_PATH": str(NODE_MODULES)}
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout)
    assert seen["alerts"] == sorted([a.sid, a.error_code, a.resource_sid] for a in alerts)
    python_events = server.client.monitor.v1.events.list(resource_sid=domain.sid)
    assert seen["events"] == sorted([e.sid, e.event_type] for e in python_events)
    assert ["sip-domain.created"] == [e[1] for e in seen["events"] if e[1].endswith(".created")]

    sub = server.client.api.v2010.accounts.create(friendly_name="tenant")
    tenant = make_client(server.base_url, sub.sid, sub.auth_token)
    assert tenant.monitor.v1.alerts.list() == []
