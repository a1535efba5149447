#!/usr/bin/env python3
"""The voice benchmark's webhook (bench/voice_calls.sh): a minimal asyncio HTTP/1.1 server on
loopback, standard library only, fast enough not to limit sipmap at a few hundred calls/s.

  webhook.py --port P --callee 127.0.0.1:U [--log FILE]

POST /answer (the domain's VoiceUrl) answers at once
  <Response><Dial><Sip>sip:bob@CALLEE?X-Parent=<SipCallId></Sip></Dial></Response>
(the caller's Call-ID %-encoded into an X- header of the child INVITE, so a packet capture can
pair each child INVITE with its caller's INVITE); any other path (the status callback) answers
204. Connections are kept alive (HTTP/1.1; sipmap keeps them for its next requests), unless
--close: then each request is answered with `Connection: close` and its connection closed (as
sipmap's webhooks were sent before they were kept alive). Signatures are not checked (tests/e2e
do that).

With --log, at SIGTERM one line per request is written to FILE: the wall-clock time (time.time(),
the clock a packet capture's timestamps use) the request's first bytes arrived (on a new
connection: when it was accepted), the time the response was written, the path and SipCallId:
the webhook's own time for a request is the difference.
Always, at SIGTERM, a summary line goes to stdout: {"requests": N, "by_path": {...}}.
"""
import argparse
import asyncio
import json
import signal
import time
from urllib.parse import parse_qsl, quote

LOG = []
COUNTS = {}


class Hook(asyncio.Protocol):
    def __init__(self, callee, keep, close):
        self.callee, self.keep, self.close = callee, keep, close
        self.buf = b""
        self.t0 = None
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        self.t0 = time.time()

    def data_received(self, data):
        if not self.buf and self.t0 is None:
            self.t0 = time.time()
        self.buf += data
        while self.buf and self.one():
            pass

    def one(self):
        """Answers the request at the head of the buffer, if it is whole; whether it was."""
        head, sep, body = self.buf.partition(b"\r\n\r\n")
        if not sep:
            return False
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip() or 0)
        if len(body) < length:
            return False
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        path = request_line[1].split("?", 1)[0] if len(request_line) > 1 else "/"
        params = dict(parse_qsl(body[:length].decode("utf-8", "replace")))
        call_id = params.get("SipCallId", "")
        if path == "/answer":
            twiml = ('<?xml version="1.0" encoding="UTF-8"?><Response><Dial><Sip>sip:bob@%s?X-Parent=%s'
                     '</Sip></Dial></Response>' % (self.callee, quote(call_id, safe=""))).encode()
            out = (b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n"
                   b"%s\r\n" % (len(twiml), b"Connection: close\r\n" if self.close else b"")) + twiml
        else:
            out = b"HTTP/1.1 204 No Content\r\n%s\r\n" % (b"Connection: close\r\n" if self.close else b"")
        self.transport.write(out)
        COUNTS[path] = COUNTS.get(path, 0) + 1
        if self.keep:
            LOG.append((self.t0, time.time(), path, call_id))
        self.buf = self.buf[len(head) + 4 + length:]
        self.t0 = time.time() if self.buf else None
        if self.close:
            self.transport.close()
            self.buf = b""
        return True


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--callee", required=True)
    ap.add_argument("--log", default=None)
    ap.add_argument("--close", action="store_true", help="one request per connection")
    a = ap.parse_args()
    assert a.callee.startswith("127."), "loopback only"
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, lambda: stop.done() or stop.set_result(None))
    server = await loop.create_server(lambda: Hook(a.callee, bool(a.log), a.close), "127.0.0.1", a.port, backlog=4096)
    print("webhook listening on 127.0.0.1:%d" % a.port, flush=True)
    await stop
    server.close()
    if a.log:
        with open(a.log, "w") as f:
            for t0, t1, path, call_id in LOG:
                f.write("%.6f %.6f %s %s\n" % (t0, t1, path, call_id))
    print(json.dumps({"requests": sum(COUNTS.values()), "by_path": COUNTS}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
