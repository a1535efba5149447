"""Voice applications end to end: a SIPp caller on 127.0.0.10, mapped by its source address to a
domain whose VoiceUrl is a webhook in this test (a real HTTP server on loopback), reaches a SIPp
callee on 127.0.0.3 through the TwiML the webhook returns; the official Python SDK's
`RequestValidator` checks every request sipmap sends, and `client.calls` shows the calls, their
Events and their Notifications as Twilio's API does.

Every wait is bounded: SIPp runs with -timeout and every subprocess with a timeout.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Optional, Union
from urllib.parse import parse_qsl, urlsplit

import pytest
from twilio.request_validator import RequestValidator

from conftest import unique_domain
from test_sip_auth import INVITE_HEAD, INVITE_REFUSED
from test_sip_edge import SIP_LINE, allow_loopback, free_port, map_source

SIPP = shutil.which("sipp")
CALLER_IP = "127.0.0.10"
CALLEE_IP = "127.0.0.3"


@pytest.fixture(scope="module", autouse=True)
def _need_sipp():
    if SIPP is None:
        pytest.fail("sipp is not installed (Debian package sip-tester; scripts/test.sh installs it)")


# ---- the webhook ----------------------------------------------------------------------------

Reply = Union[str, tuple[int, str, str]]


class Webhook:
    """A loopback HTTP server standing in for the developer's application: each path answers
    what `routes` says (TwiML, or `(status, content type, body)`, or a function of the request's
    parameters giving either), and every request is kept with whether the SDK's
    `RequestValidator` accepted its `X-Twilio-Signature`."""

    def __init__(self, token: str):
        self.validator = RequestValidator(token)
        self.routes: dict[str, Union[Reply, Callable[[dict], Reply]]] = {}
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                hook.serve(self, "GET", b"")

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                hook.serve(self, "POST", self.rfile.read(length))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, handler: BaseHTTPRequestHandler, method: str, body: bytes) -> None:
        url = self.url(handler.path)
        if method == "POST":
            params = dict(parse_qsl(body.decode(), keep_blank_values=True))
            signed = params
        else:
            params = dict(parse_qsl(urlsplit(handler.path).query, keep_blank_values=True))
            signed = {}
        signature = handler.headers.get("X-Twilio-Signature", "")
        record = {
            "method": method,
            "path": urlsplit(handler.path).path,
            "url": url,
            "params": params,
            "user_agent": handler.headers.get("User-Agent", ""),
            "valid": self.validator.validate(url, signed, signature),
        }
        with self.lock:
            self.requests.append(record)
        reply = self.routes.get(record["path"], (404, "text/plain", "no such route"))
        if callable(reply):
            reply = reply(params)
        if isinstance(reply, str):
            reply = (200, "application/xml", reply)
        status, ctype, text = reply
        data = text.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def to(self, path: str) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.to(path)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"{path}: {len(self.to(path))} requests, wanted {count}: {self.requests!r}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def twiml(inner: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>'


# ---- SIPp scenarios -------------------------------------------------------------------------

SDP = """v=0
o=- 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
"""

INVITE = """
  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:alice@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:alice@[local_ip]:[local_port]>
      Max-Forwards: 70
      X-Test: voice-apps
      Content-Type: application/sdp
      Content-Length: [len]

""" + SDP + """
    ]]>
  </send>
"""

ACK_2XX = """
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:alice@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      [routes]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""

BYE = """
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:alice@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      [routes]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""

OK_TO_BYE = """
  <recv request="BYE"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
"""

PROVISIONAL = """
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
"""


def uac_call(hangup: str) -> str:
    """A caller that is answered, ACKs, and then hangs up itself (`hangup="caller"`) or waits for
    sipmap's BYE (`hangup="sipmap"`)."""
    end = '<pause milliseconds="300"/>' + BYE + '<recv response="200"/>' if hangup == "caller" \
        else OK_TO_BYE
    return scenario(INVITE + PROVISIONAL + '<recv response="200" rrs="true"/>' + ACK_2XX + end)


def uac_expect(code: int) -> str:
    """A caller that expects a final `code` (and ACKs it, on the INVITE's branch)."""
    ack = """
  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
      From: <sip:alice@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""
    return scenario(INVITE + PROVISIONAL + f'<recv response="{code}"/>' + ack)


def uas_reply(status: str, extra: str = "", retrans: bool = False,
              cseq: str = "[last_CSeq:]") -> str:
    """The callee's response `status` to the last request, with its own To tag and `extra`
    header lines (and body); resent every 500 ms until answered with `retrans`."""
    attrs = ' retrans="500"' if retrans else ""
    return f"""
  <send{attrs}>
    <![CDATA[
      SIP/2.0 {status}
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      {cseq}
{extra}
    ]]>
  </send>
"""


CONTACT = "      Contact: <sip:[local_ip]:[local_port]>\n"
NO_BODY = "      Content-Length: 0\n"
INVITE_RECV = '''<recv request="INVITE" crlf="true" rrs="true"/>'''

UAS_ANSWER = (
    f"\n  {INVITE_RECV}\n"
    + uas_reply("180 Ringing", CONTACT + NO_BODY)
    + uas_reply("200 OK", CONTACT + "      Content-Type: application/sdp\n"
                "      Content-Length: [len]\n\n" + SDP, retrans=True)
    + '  <recv request="ACK" crlf="true"/>\n'
)


def uas_final(code: int, reason: str) -> str:
    """A callee that refuses with `code`."""
    return scenario(f"\n  {INVITE_RECV}\n" + uas_reply(f"{code} {reason}", NO_BODY)
                    + '  <recv request="ACK"/>\n')


UAS_RING_UNTIL_CANCEL = (
    f"\n  {INVITE_RECV}\n"
    + uas_reply("180 Ringing", CONTACT + NO_BODY)
    + '  <recv request="CANCEL"/>\n'
    + uas_reply("200 OK", NO_BODY)
    + uas_reply("487 Request Terminated", NO_BODY, cseq="CSeq: [last_cseq_number] INVITE")
    + '  <recv request="ACK"/>\n'
)


def scenario(body: str) -> str:
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
        '<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
        f'<scenario name="voice apps">{body}</scenario>\n'
    )


class Sipp:
    """One SIPp process running a scenario once, from `ip`."""

    def __init__(self, workdir: Path, name: str, xml: str, ip: str, remote: Optional[str] = None,
                 service: str = "bob", extra: tuple[str, ...] = ()):
        self.workdir, self.name, self.ip = workdir, name, ip
        path = workdir / f"{name}.xml"
        path.write_text(xml)
        self.log = workdir / f"{name}.log"
        self.err = workdir / f"{name}.err"
        self.port = free_port(ip)
        cmd = [SIPP, "-sf", str(path), "-i", ip, "-p", str(self.port), "-t", "u1", "-m", "1",
               "-s", service, "-timeout", "25s", "-timeout_error", "-nostdin", "-trace_msg",
               "-message_file", str(self.log), "-trace_err", "-error_file", str(self.err),
               *extra]
        if remote:
            cmd.append(remote)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        if remote is None:
            time.sleep(0.3)  # a UAS: let it bind before anyone calls it

    def wait(self, timeout: float = 40.0) -> str:
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            rc = "killed"
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        err = self.err.read_text(errors="replace") if self.err.exists() else ""
        assert rc == 0, f"sipp {self.name}: rc={rc}\n{err[-3000:]}\n{text[-5000:]}"
        return text

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    @property
    def uri(self) -> str:
        return f"sip:bob@{self.ip}:{self.port}"


# ---- the server -----------------------------------------------------------------------------


class App:
    """A sipmap server with its SIP edge, a webhook, and a domain that the caller's address is
    mapped to (admitted by an IP access control list of loopback), pointed at the webhook."""

    def __init__(self, sipmap_factory, workdir: Path):
        self.server = sipmap_factory(extra_args=["--sip-listen", "127.0.0.1:0"])
        m = self.server.proc.wait_for_line(SIP_LINE, 10)
        assert m, "no SIP listening line"
        self.edge = f"{m.group(1)}:{m.group(2)}"
        self.workdir = workdir
        self.hook = Webhook(self.server.token)
        self.account = self.server.client.api.v2010.accounts(self.server.sid)
        self.name = unique_domain("voice")
        self.domain = self.account.sip.domains.create(
            domain_name=self.name,
            voice_url=self.hook.url("/answer"),
            voice_fallback_url=self.hook.url("/fallback"),
            voice_status_callback_url=self.hook.url("/status"),
        ).sid
        allow_loopback(self.server.client, self.server.sid, self.domain)
        map_source(self.server, CALLER_IP, self.domain)
        self.procs: list[Sipp] = []

    def callee(self, name: str, xml: str) -> Sipp:
        p = Sipp(self.workdir, name, xml, CALLEE_IP)
        self.procs.append(p)
        return p

    def caller(self, name: str, xml: str) -> Sipp:
        p = Sipp(self.workdir, name, xml, CALLER_IP, remote=self.edge)
        self.procs.append(p)
        return p

    def calls(self, **filters) -> list:
        return self.account.calls.list(**filters)

    def wait_calls(self, count: int, ended: bool = True, timeout: float = 10.0) -> list:
        """The account's calls once `count` exist (and, with `ended`, all have ended)."""
        final = {"completed", "busy", "failed", "no-answer", "canceled"}
        deadline = time.monotonic() + timeout
        calls = []
        while time.monotonic() < deadline:
            calls = self.calls()
            if len(calls) >= count and (not ended or all(c.status in final for c in calls)):
                return calls
            time.sleep(0.1)
        raise AssertionError(f"calls: {[(c.sid, c.status) for c in calls]}")

    def close(self) -> None:
        for p in self.procs:
            p.kill()
        self.hook.close()


@pytest.fixture
def app(sipmap_factory, tmp_path):
    a = App(sipmap_factory, tmp_path)
    try:
        yield a
    finally:
        a.close()


def assert_all_signed(app: App) -> None:
    assert app.hook.requests, "sipmap sent no request"
    bad = [r for r in app.hook.requests if not r["valid"]]
    assert not bad, f"RequestValidator refused: {bad!r}"


# ---- the tests ------------------------------------------------------------------------------


def test_dial_sip_bridges_the_caller_to_the_callee(app):
    callee = app.callee("callee", scenario(UAS_ANSWER + OK_TO_BYE))
    app.hook.routes["/answer"] = twiml(f"<Dial><Sip>{callee.uri}</Sip></Dial>")
    caller = app.caller("caller", uac_call(hangup="caller"))
    caller.wait()
    callee.wait()

    (first,) = app.hook.wait_for("/answer")
    p = first["params"]
    assert first["method"] == "POST"
    assert p["CallStatus"] == "ringing" and p["Direction"] == "inbound"
    assert p["AccountSid"] == app.server.sid and p["ApiVersion"] == "2010-04-01"
    assert p["SipDomain"] == app.name and p["SipDomainSid"] == app.domain
    assert p["SipSourceIp"] == CALLER_IP
    assert p["CallSid"].startswith("CA") and p["SipCallId"]
    assert p["SipHeader_X-Test"] == "voice-apps"
    assert "SipUsername" not in p  # an access control list let it in, not a credential list
    assert p["From"].startswith("sip:alice@") and p["To"].startswith("sip:bob@")
    assert p["Caller"] == p["From"] and p["Called"] == p["To"]

    calls = app.wait_calls(2)
    parent = next(c for c in calls if c.parent_call_sid is None)
    child = next(c for c in calls if c.parent_call_sid is not None)
    assert parent.sid == p["CallSid"] and parent.direction == "inbound"
    assert parent.status == "completed" and child.status == "completed"
    assert child.parent_call_sid == parent.sid and child.direction == "outbound-dial"
    assert parent.start_time is not None and parent.end_time is not None

    events = app.account.calls(parent.sid).events.list()
    assert any(e.request["url"] == app.hook.url("/answer") for e in events), events
    app.hook.wait_for("/status")
    status = app.hook.to("/status")[-1]["params"]
    assert status["CallStatus"] == "completed" and status["CallSid"] == parent.sid
    assert_all_signed(app)


def test_callee_hangs_up_and_sipmap_ends_the_caller(app):
    # The callee keeps the INVITE's From (sipmap's side of the child dialog) for its BYE's To.
    keep_from = INVITE_RECV.replace(
        "/>", '>\n    <action>\n      <ereg regexp=".*" search_in="hdr" header="From:" '
        'check_it="true" assign_to="caller"/>\n    </action>\n  </recv>', 1)
    answer = UAS_ANSWER.replace(INVITE_RECV, keep_from, 1)
    callee_xml = scenario(answer + '<pause milliseconds="300"/>' + """
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:bob@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
      To: [$caller]
      Call-ID: [call_id]
      CSeq: 1 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
""")
    callee = app.callee("callee", callee_xml)
    app.hook.routes["/answer"] = twiml(f"<Dial><Sip>{callee.uri}</Sip></Dial>")
    caller = app.caller("caller", uac_call(hangup="sipmap"))
    caller.wait()
    callee.wait()
    statuses = {c.status for c in app.wait_calls(2)}
    assert statuses == {"completed"}


@pytest.mark.parametrize("reason,code,status", [("busy", 486, "busy"), ("rejected", 404, "no-answer")])
def test_reject(app, reason, code, status):
    app.hook.routes["/answer"] = twiml(f'<Reject reason="{reason}"/>')
    app.caller("caller", uac_expect(code)).wait()
    (call,) = app.wait_calls(1)
    assert call.status == status
    assert_all_signed(app)


def test_plain_reject_is_404(app):
    app.hook.routes["/answer"] = twiml("<Reject/>")
    app.caller("caller", uac_expect(404)).wait()
    assert app.wait_calls(1)[0].status == "no-answer"


def test_a_retransmitted_invite_makes_one_webhook(app):
    # The webhook answers slowly: SIPp resends the INVITE (T1 = 500 ms) meanwhile.
    def slow(_params):
        time.sleep(1.5)
        return twiml('<Reject reason="busy"/>')

    app.hook.routes["/answer"] = slow
    log = app.caller("caller", uac_expect(486)).wait()
    assert log.count("INVITE sip:") >= 1
    time.sleep(0.5)
    assert len(app.hook.to("/answer")) == 1
    assert len(app.wait_calls(1)) == 1


def test_fallback_after_a_failed_voice_url(app):
    app.hook.routes["/answer"] = (500, "text/plain", "boom")
    app.hook.routes["/fallback"] = twiml('<Reject reason="busy"/>')
    app.caller("caller", uac_expect(486)).wait()
    (fb,) = app.hook.wait_for("/fallback")
    assert fb["params"]["ErrorCode"] == "11200"
    assert fb["params"]["ErrorUrl"] == app.hook.url("/answer")
    (call,) = app.wait_calls(1)
    notes = app.account.calls(call.sid).notifications.list()
    assert any(n.error_code == "11200" for n in notes), [(n.error_code, n.message_text) for n in notes]
    assert_all_signed(app)


def test_both_urls_failing_gives_the_caller_a_final_error(app):
    app.hook.routes["/answer"] = (500, "text/plain", "boom")
    app.hook.routes["/fallback"] = (200, "text/plain", "not twiml")
    app.caller("caller", uac_expect(500)).wait()
    (call,) = app.wait_calls(1)
    assert call.status == "failed"
    codes = {n.error_code for n in app.account.calls(call.sid).notifications.list()}
    assert "11200" in codes and "12300" in codes, codes


def test_failing_webhooks_are_alerts_the_sdk_lists(app):
    """Monitor Alerts through the Python SDK unmodified: the call's application errors (the
    voice URL's 500, the fallback's non-TwiML) are alerts with Twilio's codes, the request's URL
    and the call as their resource, and a fetch shows the request's variables."""
    app.hook.routes["/answer"] = (500, "text/plain", "boom")
    app.hook.routes["/fallback"] = (200, "text/plain", "not twiml")
    app.caller("caller", uac_expect(500)).wait()
    (call,) = app.wait_calls(1)
    monitor = app.server.client.monitor.v1
    alerts = monitor.alerts.list()
    by_code = {a.error_code: a for a in alerts}
    assert {"11200", "12300"} <= set(by_code), [(a.error_code, a.alert_text) for a in alerts]
    failed = by_code["11200"]
    assert failed.log_level == "error" and failed.resource_sid == call.sid
    assert failed.account_sid == app.server.sid and failed.api_version == "2010-04-01"
    assert failed.request_url == app.hook.url("/answer") and failed.request_method == "POST"
    assert failed.more_info == "https://www.twilio.com/docs/errors/11200"
    assert failed.date_created is not None and failed.url.endswith(f"/v1/Alerts/{failed.sid}")
    notes = app.account.calls(call.sid).notifications.list()
    assert failed.sid in {n.sid for n in notes}, "an alert is its notification, same SID"
    fetched = monitor.alerts(failed.sid).fetch()
    assert f"CallSid={call.sid}" in fetched.request_variables
    assert app.server.token not in fetched.request_variables
    assert [a.sid for a in monitor.alerts.list(log_level="warning")] == [
        a.sid for a in alerts if a.log_level == "warning"
    ]


def test_redirect_fetches_the_next_document(app):
    app.hook.routes["/answer"] = twiml('<Redirect method="GET">/next</Redirect>')
    app.hook.routes["/next"] = twiml('<Reject reason="busy"/>')
    app.caller("caller", uac_expect(486)).wait()
    (nxt,) = app.hook.wait_for("/next")
    assert nxt["method"] == "GET" and nxt["params"]["CallStatus"] == "ringing"
    assert_all_signed(app)


def test_get_voice_method_is_signed_over_the_url(app):
    app.account.sip.domains(app.domain).update(voice_method="GET")
    app.hook.routes["/answer"] = twiml('<Reject reason="busy"/>')
    app.caller("caller", uac_expect(486)).wait()
    (req,) = app.hook.wait_for("/answer")
    assert req["method"] == "GET" and req["params"]["CallStatus"] == "ringing"
    assert_all_signed(app)


def test_a_busy_callee_goes_to_the_dial_action(app):
    callee = app.callee("callee", uas_final(486, "Busy Here"))
    app.hook.routes["/answer"] = twiml(f'<Dial action="/after"><Sip>{callee.uri}</Sip></Dial>')
    app.hook.routes["/after"] = twiml('<Reject reason="busy"/>')
    app.caller("caller", uac_expect(486)).wait()
    callee.wait()
    (after,) = app.hook.wait_for("/after")
    assert after["params"]["DialCallStatus"] == "busy"
    assert after["params"]["DialSipResponseCode"] == "486"
    assert after["params"]["DialCallSid"].startswith("CA")
    child = next(c for c in app.wait_calls(2) if c.parent_call_sid is not None)
    assert child.status == "busy"
    assert_all_signed(app)


def test_an_unanswered_dial_times_out_as_no_answer(app):
    callee = app.callee("callee", scenario(UAS_RING_UNTIL_CANCEL))
    app.hook.routes["/answer"] = twiml(
        f'<Dial timeout="2" action="/after"><Sip>{callee.uri}</Sip></Dial>'
    )
    app.hook.routes["/after"] = twiml('<Reject reason="busy"/>')
    app.caller("caller", uac_expect(486)).wait()
    callee.wait()
    (after,) = app.hook.wait_for("/after")
    assert after["params"]["DialCallStatus"] == "no-answer"


def test_the_api_hangs_up_a_live_call(app):
    callee = app.callee("callee", scenario(UAS_ANSWER + OK_TO_BYE))
    app.hook.routes["/answer"] = twiml(f"<Dial><Sip>{callee.uri}</Sip></Dial>")
    caller = app.caller("caller", uac_call(hangup="sipmap"))
    deadline = time.monotonic() + 15
    parent = None
    while time.monotonic() < deadline:
        live = [c for c in app.calls(status="in-progress") if c.parent_call_sid is None]
        if live:
            parent = live[0]
            break
        time.sleep(0.1)
    assert parent is not None, "the call never became in-progress"
    app.account.calls(parent.sid).update(status="completed")
    caller.wait()
    callee.wait()
    assert {c.status for c in app.wait_calls(2)} == {"completed"}


def test_the_api_redirects_a_ringing_call(app):
    callee = app.callee("callee", scenario(UAS_RING_UNTIL_CANCEL))
    app.hook.routes["/answer"] = twiml(f'<Dial timeout="20"><Sip>{callee.uri}</Sip></Dial>')
    app.hook.routes["/elsewhere"] = twiml('<Reject reason="busy"/>')
    caller = app.caller("caller", uac_expect(486))
    deadline = time.monotonic() + 15
    parent = None
    while time.monotonic() < deadline:
        ringing = [c for c in app.calls(status="ringing") if c.parent_call_sid is None]
        if ringing and len(app.calls()) >= 2:
            parent = ringing[0]
            break
        time.sleep(0.1)
    assert parent is not None, "the dial never started"
    app.account.calls(parent.sid).update(url=app.hook.url("/elsewhere"), method="POST")
    caller.wait()
    callee.wait()
    app.hook.wait_for("/elsewhere")


def test_dial_number_through_a_byoc_trunk(app):
    callee = app.callee("callee", scenario(UAS_ANSWER + OK_TO_BYE))
    v1 = app.server.client.voice.v1
    policy = v1.connection_policies.create(friendly_name="carrier")
    v1.connection_policies(policy.sid).targets.create(target=f"sip:{CALLEE_IP}:{callee.port}")
    trunk = v1.byoc_trunks.create(connection_policy_sid=policy.sid)
    app.hook.routes["/answer"] = twiml(f'<Dial><Number byoc="{trunk.sid}">+15558675310</Number></Dial>')
    app.caller("caller", uac_call(hangup="caller")).wait()
    log = callee.wait()
    assert "INVITE sip:+15558675310@" in log
    assert {c.status for c in app.wait_calls(2)} == {"completed"}


def test_a_media_verb_is_refused_with_a_notification(app):
    app.hook.routes["/answer"] = twiml("<Say>hello</Say>")
    app.caller("caller", uac_expect(501)).wait()
    (call,) = app.wait_calls(1)
    assert call.status == "failed"
    notes = app.account.calls(call.sid).notifications.list()
    assert any("Say" in (n.message_text or "") for n in notes), [n.message_text for n in notes]


def test_another_accounts_trunk_cannot_be_dialled(app):
    # A second tenant's trunk routes to a callee; the first tenant's TwiML names that trunk.
    other = app.server.other_tenant()
    v1 = other.client.voice.v1
    callee_port = free_port(CALLEE_IP)
    policy = v1.connection_policies.create(friendly_name="theirs")
    v1.connection_policies(policy.sid).targets.create(target=f"sip:{CALLEE_IP}:{callee_port}")
    trunk = v1.byoc_trunks.create(connection_policy_sid=policy.sid)
    app.hook.routes["/answer"] = twiml(
        f'<Dial action="/after"><Number byoc="{trunk.sid}">+15558675310</Number></Dial>'
    )
    app.hook.routes["/after"] = twiml('<Reject reason="busy"/>')
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind((CALLEE_IP, callee_port))
    listener.settimeout(0.2)
    try:
        app.caller("caller", uac_expect(486)).wait()
        (after,) = app.hook.wait_for("/after")
        assert after["params"]["DialCallStatus"] == "failed"
        try:
            data = listener.recv(65536)
        except OSError:
            data = b""
        assert not data.startswith(b"INVITE"), "another account's trunk was dialled"
    finally:
        listener.close()


def test_a_digest_authenticated_caller_reaches_the_application_with_its_username(
    sipmap_factory, tmp_path
):
    # SIPp 3.6 answers only MD5 challenges: this server offers MD5 first.
    server = sipmap_factory(
        extra_args=["--sip-listen", "127.0.0.1:0", "--sip-digest-algorithms", "MD5,SHA-256"]
    )
    m = server.proc.wait_for_line(SIP_LINE, 10)
    assert m, "no SIP listening line"
    hook = Webhook(server.token)
    try:
        hook.routes["/answer"] = twiml('<Reject reason="busy"/>')
        account = server.client.api.v2010.accounts(server.sid)
        name = unique_domain("digest")
        domain = account.sip.domains.create(domain_name=name, voice_url=hook.url("/answer")).sid
        cl = account.sip.credential_lists.create(friendly_name="callers").sid
        account.sip.credential_lists(cl).credentials.create(
            username="alice", password="CorrectHorse1Battery"
        )
        account.sip.domains(domain).auth.calls.credential_list_mappings.create(
            credential_list_sid=cl
        )
        # As test_sip_auth's refused INVITE, answered 486 by the application after 100/180.
        refused = PROVISIONAL + INVITE_REFUSED.replace('response="403"', 'response="486"')
        xml = (INVITE_HEAD + refused).replace("{domain}", name)
        caller = Sipp(tmp_path, "digest-caller", xml, CALLER_IP, remote=f"{m.group(1)}:{m.group(2)}",
                      extra=("-au", "alice", "-ap", "CorrectHorse1Battery", "-auth_uri", f"bob@{name}"))
        caller.wait()
        (req,) = hook.wait_for("/answer")
        assert req["params"]["SipUsername"] == "alice"
        assert req["params"]["SipDomainSid"] == domain
        assert req["valid"], req
    finally:
        hook.close()
