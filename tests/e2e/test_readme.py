"""The README's new-user path, pasted line by line: every ``sh``, ``python`` and ``js`` block runs
as written (see ``readme_walkthrough.py``), in a network namespace of its own so that its fixed
ports are free, and does what the README says it does."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from conftest import REPO, SIPMAP_BIN

README = REPO / "README.md"
NODE_MODULES = REPO / "tests" / "e2e" / "node" / "node_modules"
RUNNER = REPO / "tests" / "e2e" / "readme_walkthrough.py"


def blocks(lang: str) -> list[str]:
    return [
        m.group(2)
        for m in re.finditer(r"^```(\w+)\n(.*?)^```", README.read_text(), re.MULTILINE | re.DOTALL)
        if m.group(1) == lang
    ]


def run_walkthrough(tmp_path) -> dict:
    out = tmp_path / "walkthrough.json"
    argv = [sys.executable, str(RUNNER), str(README), str(SIPMAP_BIN), str(NODE_MODULES), str(out)]
    # A network namespace of its own (as an unprivileged user namespace), with loopback up.
    inner = "ip link set lo up && exec " + " ".join(f"'{a}'" for a in argv)
    done = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--net", "sh", "-c", inner],
        capture_output=True,
        timeout=600,
    )
    assert out.exists(), (
        f"the walkthrough did not run (rc={done.returncode}): {done.stderr.decode()[-2000:]}"
    )
    return json.loads(out.read_text())


def test_readme_has_the_snippets_users_paste():
    assert len(blocks("python")) == 6 and len(blocks("js")) == 2
    assert "cargo install --path ." in blocks("sh")[0]
    assert shutil.which("node"), "node is needed for the README's Node snippet (scripts/test.sh installs it)"
    assert (NODE_MODULES / "twilio").is_dir(), "run `npm ci` in tests/e2e/node (scripts/test.sh does)"
    # The voice-applications walkthrough's caller, callee and request; the HTTPS certificate.
    for tool in ("sipp", "curl", "openssl"):
        assert shutil.which(tool), f"{tool} is needed for the README walkthrough (scripts/test.sh installs it)"


def test_readme_walkthrough_works_as_written(tmp_path):
    report = run_walkthrough(tmp_path)
    assert "error" not in report, json.dumps(report, indent=1)[-6000:]
    first = report["servers"][0]
    with_sip = [s for s in report["servers"] if "--sip-listen" in s["command"]][-1]
    # The first start creates an account and prints how to use it.
    assert any(line.startswith("export TWILIO_AUTH_TOKEN=") for line in first["stdout"])
    assert first["url"] == "http://127.0.0.1:8080"
    assert any("SIP edge listening on 127.0.0.1:5060" in line for line in with_sip["stdout"])
    # The SIP over TLS step serves TLS with the certificate it made.
    assert any(
        "SIP edge listening on 127.0.0.1:5061 (TLS)" in line
        for s in report["servers"]
        for line in s["stdout"]
    )
    python, js = ([s for s in report["steps"] if s.get("lang") == lang] for lang in ("python", "js"))
    assert "203.0.113.0/24 -> acme.sip.twilio.com" in python[0]["stdout"]
    assert re.search(r"IL[0-9a-f]{32}: 198\.51\.100\.0/24", js[0]["stdout"])
    # The API key snippets authenticate with a key and see the records made before.
    assert re.fullmatch(r"SK[0-9a-f]{32}: 2 IP records\n", python[1]["stdout"])
    assert re.fullmatch(r"SK[0-9a-f]{32}: 2 IP records\n", js[1]["stdout"])
    made = [s for s in report["steps"] if s.get("command", "").startswith("sipmap keys create")]
    assert len(made) == 1 and json.loads(made[0]["stdout"])["sid"].startswith("SK")
    # The routing example points the domain at a trunk whose policy lists two targets.
    assert re.search(r"acme\.sip\.twilio\.com -> BY[0-9a-f]{32} -> sip:127\.0\.0\.2:5060", python[2]["stdout"])
    resolves = [s for s in report["steps"] if s.get("command", "").startswith("sipmap resolve")]
    resolves, over_https = resolves[:-1], resolves[-1]
    assert len(resolves) == 3
    by_source = json.loads(resolves[0]["stdout"])
    assert by_source["recognized"] is True and by_source["matched_by"] == "source_ip"
    assert by_source["auth_type"] == "IP_ACL" and by_source["decision"] == "acl"
    by_uri = json.loads(resolves[1]["stdout"])
    assert by_uri["recognized"] is True and by_uri["matched_by"] == "request_uri"
    assert by_uri["domain_name"] == "acme.sip.twilio.com"
    assert by_uri["acl_match"] is False and by_uri["decision"] == "refused"
    routed = json.loads(resolves[2]["stdout"])
    assert routed["decision"] == "acl" and routed["route"] == "target"
    assert routed["target_uri"] in ("sip:127.0.0.2:5060", "sip:127.0.0.3:5060")
    check_voice_application_walkthrough(report, python[3:])
    # Last, the API over HTTPS only, with the certificate the README makes; resolve verifies it.
    https = report["servers"][-1]
    assert https["url"] == "https://127.0.0.1:8443", https
    assert not any("listening on http://" in line for line in https["stdout"])
    assert "--url https://localhost:8443" in over_https["command"]
    assert json.loads(over_https["stdout"])["ip_address"] == "203.0.113.5"


def check_voice_application_walkthrough(report: dict, python: list[dict]) -> None:
    """The user's webhook refuses an unsigned request and accepts sipmap's; the caller hears 486
    for the `<Reject>`, is bridged to the SIPp UAS by the `<Dial>`, hears 501 for the `<Say>`; the
    SDK lists the calls with their events and notifications, as the README shows them."""
    assert [s["saved_as"] for s in report["steps"] if "saved_as" in s] == ["webhook.py"]
    (unsigned,) = [s for s in report["steps"] if s.get("command", "").startswith("curl")]
    assert unsigned["stdout"] == "403\n"
    (webhook,) = [b for b in report["background"] if b["command"] == "python3 webhook.py"]
    assert webhook["returncode"] is None, webhook  # it served until the walkthrough ended
    answers = re.findall(r'"POST /answer HTTP/1\.1" (\d+)', webhook["output"])
    assert answers == ["403", "200", "200", "200"], webhook["output"]  # RequestValidator accepted sipmap
    setup, listing = python
    assert setup["stdout"] == "calls from 127.0.0.10 -> myapp.sip.twilio.com -> http://127.0.0.1:5000/answer\n"
    sipp = [s for s in report["steps"] if s.get("command", "").startswith("sipp -sn uac")]
    assert [s["returncode"] for s in sipp] == [1, 0, 1]
    assert re.search(r"Successful call +\| +0 +\| +1\b", sipp[1]["stdout"]), sipp[1]["stdout"]
    (heard,) = [s for s in report["steps"] if s.get("command", "").startswith("grep -o")]
    assert heard["stdout"].replace("\r", "").splitlines() == [
        "busy.log:received 'SIP/2.0 486 Busy Here",
        "hello.log:received 'SIP/2.0 501 Not Implemented: <Say>",
    ]
    sid = r"CA[0-9a-f]{32}"
    lines = listing["stdout"].splitlines()
    assert len(lines) == 11, listing["stdout"]
    assert re.fullmatch(rf"{sid} inbound to sip:busy@127\.0\.0\.1:5060: busy, 0 s", lines[0])
    assert lines[1:3] == ["  POST http://127.0.0.1:5000/answer -> 200", '    <Response><Reject reason="busy"/></Response>']
    parent = re.fullmatch(rf"({sid}) inbound to sip:bob@127\.0\.0\.1:5060: completed, 2 s", lines[3])
    assert parent, lines[3]
    assert lines[5] == "    <Response><Dial><Sip>sip:bob@127.0.0.3:5070</Sip></Dial></Response>"
    assert re.fullmatch(
        rf"{sid} outbound-dial to sip:bob@127\.0\.0\.3:5070: completed, 2 s \(child of {parent.group(1)}\)", lines[6]
    ), lines[6]
    assert re.fullmatch(rf"{sid} inbound to sip:hello@127\.0\.0\.1:5060: failed, 0 s", lines[7])
    assert lines[9:] == [
        "    <Response><Say>Hello</Say></Response>",
        "  error 12200: <Say> needs media, which sipmap does not handle (it relays signalling only); the call ends",
    ]
    # The README shows this output as it is, SIDs elided.
    shown = " ".join(README.read_text().split())
    for line in lines:
        assert " ".join(re.sub(sid, "CA…", line).split()) in shown, line


def test_readme_states_the_toolchain_and_licence_the_package_declares():
    cargo = (REPO / "Cargo.toml").read_text()
    version = re.search(r'^rust-version = "([0-9.]+)"', cargo, re.MULTILINE).group(1)
    text = README.read_text()
    assert f"Rust {version} or newer" in text
    assert re.search(r'^license = "MIT OR Apache-2\.0"', cargo, re.MULTILINE)
    for name in ("LICENSE", "LICENSE-MIT", "LICENSE-APACHE"):
        assert (REPO / name).is_file(), name
    assert "LICENSE-APACHE" in text and "LICENSE-MIT" in text
    assert "C compiler" in text and "## Limits" in text


class _Sent(Exception):
    """Raised by ``_Recorder`` with the URL a request would have gone to."""


class _Recorder(TwilioHttpClient):
    """An SDK HTTP client that sends nothing and says where a request would go."""

    def request(self, method, url, *args, **kwargs):
        raise _Sent(url)


def _python_sdk_url(base_url: str) -> str:
    client = Client("AC" + "0" * 32, "token", http_client=_Recorder())
    client.voice.base_url = base_url
    try:
        client.voice.v1.ip_records.list()
    except _Sent as sent:
        return str(sent)
    raise AssertionError("the SDK sent nothing")


NODE_URLS = r"""
const twilio = require("twilio");
const record = { request: (o) => { console.log(o.uri); return Promise.reject(new Error("sent")); } };
(async () => {
  for (const clear of [false, true]) {
    const client = twilio("AC" + "0".repeat(32), "token", { httpClient: record });
    client.voice.baseUrl = process.argv[2];
    if (clear) { client.region = undefined; client.edge = undefined; }
    await client.voice.v1.ipRecords.list().catch(() => {});
  }
})();
"""


def test_readme_warns_that_the_sdks_rewrite_the_base_url_for_a_region_or_edge(sipmap, monkeypatch, tmp_path):
    """What the README says about ``TWILIO_REGION`` and ``TWILIO_EDGE``, checked against the
    installed SDKs: both rewrite the base URL's host (twilio-python an IP address too), and
    clearing them on the client, as the README says, reaches sipmap."""
    text = " ".join(README.read_text().split())
    for claim in (
        "unset TWILIO_REGION TWILIO_EDGE",
        "`http://127.ie1.0.1:8080`",
        "`http://127.dublin.0.0.1:8080`",
        "`localhost.ie1.localhost`",
        "`client.region = None` and `client.edge = None` in Python",
        "`client.region = undefined` and `client.edge = undefined` in Node",
    ):
        assert claim in text, claim
    monkeypatch.setenv("TWILIO_REGION", "ie1")
    assert _python_sdk_url("http://127.0.0.1:8080").startswith("http://127.ie1.0.1:8080/")
    monkeypatch.delenv("TWILIO_REGION")
    monkeypatch.setenv("TWILIO_EDGE", "dublin")
    assert _python_sdk_url("http://127.0.0.1:8080").startswith("http://127.dublin.0.0.1:8080/")
    monkeypatch.setenv("TWILIO_REGION", "ie1")
    # The README's remedy for Python: clear them on the client; its calls then reach sipmap.
    client = Client(sipmap.sid, sipmap.token)
    client.region = None
    client.edge = None
    client.voice.base_url = sipmap.base_url
    assert client.voice.v1.ip_records.list() == []
    # twilio-node: localhost is rewritten; cleared on the client, it is not.
    node_modules = REPO / "tests" / "e2e" / "node" / "node_modules"
    assert shutil.which("node") and (node_modules / "twilio").is_dir(), "scripts/test.sh installs them"
    monkeypatch.delenv("TWILIO_EDGE")
    script = tmp_path / "urls.js"
    script.write_text(NODE_URLS)
    env = {**os.environ, "NODE_PATH": str(node_modules)}
    out = subprocess.run(["node", str(script), "http://localhost:8080"], capture_output=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    assert out.stdout.decode().split() == [
        "http://localhost.ie1.localhost:8080/v1/IpRecords",
        "http://localhost:8080/v1/IpRecords",
    ]
