"""The web console in a real browser: Playwright for Python driving Debian's headless Chromium
(`/usr/bin/chromium`; no browser is downloaded). A new user signs in with the printed
credentials (from the keyboard), secures a domain (an IP access control list mapped for calls),
maps a network (an IP record and a source IP mapping), routes the domain (a connection policy
with a target, a BYOC trunk), sends a SIP request from a loopback address the domain refuses,
and finds the reason as an Alert and on the decisions page; the Python SDK lists the same Alert,
and the setup steps as Events. Every main page is screenshotted at 1366×768 into
tests/e2e/artifacts/console/ (gitignored), the test's artefacts.

Everything is set up through the page; the test only reads the API, to learn a SID the page
shows and to check that what the page did is what the SDKs see.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from playwright import sync_api as playwright_api

from conftest import REPO
from sip_client import SipClient

CHROMIUM = os.environ.get("SIPMAP_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = REPO / "tests" / "e2e" / "artifacts" / "console"
SIP_LINE = re.compile(r"^sipmap: SIP edge listening on (\S+):(\d+) \(UDP and TCP\)")
DOMAIN = "console-e2e.sip.twilio.com"


@pytest.fixture
def server(sipmap_factory):
    srv = sipmap_factory(extra_args=["--sip-listen", "127.0.0.1:0"])
    m = srv.proc.wait_for_line(SIP_LINE, 10)
    assert m, "no SIP listening line"
    srv.sip_edge = (m.group(1), int(m.group(2)))
    return srv


@pytest.fixture
def page():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing (Debian package chromium; scripts/test.sh installs it)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1366, "height": 768})
        pg = context.new_page()
        pg.set_default_timeout(10_000)
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.script_errors = errors
        yield pg
        browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


def go(page, name: str, heading: str):
    page.get_by_role("navigation", name="Pages").get_by_role("link", name=heading, exact=True).click()
    page.get_by_role("heading", name=heading, level=1).wait_for()


def create(page, label: str, values: dict[str, str], within: str = ""):
    """Opens a create form (its summary `label`; `within`: the CSS scope of a nested list, such as
    ".detail"), fills it in by label, submits."""
    details = page.locator(f"{within} details.create".strip()).filter(has_text=label)
    details.locator("summary").click()
    form = details.locator("form")
    for field, value in values.items():
        form.get_by_label(field, exact=True).fill(value)
    form.get_by_role("button", name="Create").click()


def open_row(page, text: str):
    page.get_by_role("row").filter(has_text=text).get_by_role("button").first.click()


def test_a_new_user_secures_a_domain_maps_a_network_and_finds_a_refusal(server, page):
    base = server.base_url
    page.goto(f"{base}/console")

    # Wrong credentials are refused beside the form, without the browser's own login dialog.
    page.get_by_label("Account SID", exact=True).fill(server.sid)
    page.get_by_label("Auth token", exact=True).fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Those credentials are not accepted.").wait_for()
    shot(page, "sign-in")

    # Signed in from the keyboard alone: the SID field, Tab to the token, Enter.
    page.get_by_label("Account SID", exact=True).focus()
    page.keyboard.press("Tab")
    page.keyboard.type(server.token)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="SIP domains", level=1).wait_for()

    # A domain, with a bad name first: the API's message appears beside the field.
    create(page, "New SIP domain", {"Domain name *": "not a domain"})
    page.locator(".resource-form .error", has_text="Invalid Domain").wait_for()
    create_form = page.locator("details.create form").first
    create_form.get_by_label("Domain name *").fill(DOMAIN)
    create_form.get_by_role("button", name="Create").click()
    page.get_by_role("cell", name=DOMAIN, exact=True).wait_for()

    # An IP access control list holding one address that is not the caller's.
    # The navigation answers the keyboard too: focus a link, Enter.
    page.get_by_role("link", name="IP access control lists").focus()
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="IP access control lists", level=1).wait_for()
    create(page, "New IP access control list", {"Friendly name *": "office"})
    open_row(page, "office")
    create(page, "New IP address", {"Friendly name *": "the office", "IP address *": "127.0.0.9", "CIDR prefix length": "32"}, within=".detail")
    page.get_by_role("cell", name="127.0.0.9", exact=True).wait_for()
    shot(page, "ip-access-control-lists")

    # Secure the domain: the list mapped for calls, in place on the domain's page.
    go(page, "domains", "SIP domains")
    open_row(page, DOMAIN)
    calls = page.locator(".mapping").filter(has_text="IP access control lists for calls")
    acl_sid = calls.locator("select option", has_text="office").get_attribute("value")
    calls.get_by_label("Add").select_option(acl_sid)
    calls.get_by_role("button", name="Map").click()
    calls.get_by_role("button", name=re.compile("^Remove office")).wait_for()
    shot(page, "sip-domains")

    # Map a network to the domain: an IP record and a source IP mapping.
    go(page, "iprecords", "IP records")
    create(page, "New IP record", {"IP address *": "127.0.0.0", "CIDR prefix length": "24", "Friendly name": "lab"})
    page.get_by_role("cell", name="lab", exact=True).wait_for()
    record_sid = page.get_by_role("row").filter(has_text="lab").locator("td").nth(3).inner_text()
    shot(page, "ip-records")
    domain_sid = server.get(f"/2010-04-01/Accounts/{server.sid}/SIP/Domains.json").json()["domains"][0]["sid"]
    go(page, "mappings", "Source IP mappings")
    create(page, "New source IP mapping", {"IP record SID *": record_sid, "SIP domain SID *": domain_sid})
    page.get_by_role("cell", name=record_sid, exact=True).wait_for()
    shot(page, "source-ip-mappings")

    # Route the domain: a connection policy with a target, a BYOC trunk on it, the domain's trunk.
    go(page, "policies", "Connection policies")
    create(page, "New connection policy", {"Friendly name": "carrier"})
    open_row(page, "carrier")
    create(page, "New target", {"Target (sip: URI) *": "sip:127.0.0.1:5099", "Friendly name": "box"}, within=".detail")
    target_row = page.get_by_role("row").filter(has_text="sip:127.0.0.1:5099")
    target_row.wait_for()
    policy_sid = page.get_by_role("row").filter(has_text="carrier").first.locator("td").nth(1).inner_text()
    # Its health as the API reports it (GET /sipmap/v1/TargetHealth), and the hour's bars.
    health = server.get(f"/sipmap/v1/TargetHealth?ConnectionPolicySid={policy_sid}").json()
    status = health["targets"][0]["status"]
    assert target_row.locator("td").nth(5).inner_text().startswith(status), target_row.inner_text()
    assert target_row.get_by_role("img", name=re.compile("^last hour: ")).count() == 1
    shot(page, "connection-policies")
    go(page, "trunks", "BYOC trunks")
    create(page, "New BYOC trunk", {"Friendly name": "carrier trunk", "Connection policy SID": policy_sid})
    trunk_row = page.get_by_role("row").filter(has_text="carrier trunk")
    trunk_row.wait_for()
    trunk_sid = trunk_row.locator("td").nth(3).inner_text()
    shot(page, "byoc-trunks")
    go(page, "domains", "SIP domains")
    open_row(page, DOMAIN)
    edit = page.locator(".detail form.resource-form")
    edit.get_by_label("BYOC trunk SID").fill(trunk_sid)
    edit.get_by_role("button", name="Save").click()
    page.get_by_role("cell", name=trunk_sid, exact=True).wait_for()
    domain = server.get(f"/2010-04-01/Accounts/{server.sid}/SIP/Domains/{domain_sid}.json").json()
    assert domain["byoc_trunk_sid"] == trunk_sid

    # A request from 127.0.0.5: recognised by the network, outside the list: refused.
    with SipClient(server.sip_edge, "127.0.0.5") as sip:
        answer = sip.request("OPTIONS", f"sip:alice@{DOMAIN}")
        call_id = sip.call_id
    assert answer.status == 403, answer.status

    # The same refusal, as an Alert (the edge writes them once a second).
    go(page, "alerts", "Alerts")
    deadline = time.monotonic() + 10
    while not page.get_by_role("cell", name="32201").count() and time.monotonic() < deadline:
        page.wait_for_timeout(500)
        page.get_by_role("button", name="Filter").click()
    page.get_by_role("cell", name="32201").first.wait_for()
    shot(page, "alerts")

    for name, heading, file in [
        ("events", "Events", "events"),
        ("credlists", "Credential lists", "credential-lists"),
        ("calls", "Calls", "calls"),
        ("accounts", "Accounts", "accounts"),
    ]:
        go(page, name, heading)
        page.locator("table").first.wait_for()
        shot(page, file)

    # An SDK user sees the same: the refusal as an Alert, the page's setup steps as Events
    # (the page acted as the account, so the audit log names it).
    monitor = server.client.monitor.v1
    assert "32201" in {a.error_code for a in monitor.alerts.list()}
    events = monitor.events.list()
    assert {e.actor_sid for e in events} == {server.sid}
    assert {
        "sip-domain.created",
        "sip-domain.updated",
        "ip-record.created",
        "source-ip-mapping.created",
    } <= {e.event_type for e in events}, sorted({e.event_type for e in events})

    # The reason, on the decisions page, found by the Call-ID.
    go(page, "decisions", "Decisions")
    form = page.get_by_role("search")
    form.get_by_label("Call-ID").fill(call_id)
    form.get_by_role("button", name="Find").click()
    decisions = server.get(f"/sipmap/v1/Decisions?CallId={call_id}")
    assert decisions.status_code == 200, decisions.text
    row = page.get_by_role("row").filter(has_text=call_id)
    row.get_by_role("button", name="Why?").click()
    detail = page.locator(".detail")
    detail.get_by_text("Reason").wait_for()
    reason = decisions.json()["decisions"][0]["reason"]
    assert reason and reason in detail.inner_text()
    shot(page, "decisions")

    # The live view: a new refusal appears without a click.
    form.get_by_label("Call-ID").fill("")
    form.get_by_role("button", name="Find").click()
    page.get_by_label("Live (every 2 s)").check()
    with SipClient(server.sip_edge, "127.0.0.6") as sip:
        assert sip.request("OPTIONS", f"sip:bob@{DOMAIN}").status == 403
        second = sip.call_id
    page.get_by_role("button", name=second, exact=True).wait_for()

    page.get_by_role("button", name="Sign out").click()
    page.get_by_text("Signed out.").wait_for()
    assert page.script_errors == [], page.script_errors
