#!/usr/bin/env python3
"""Instructions per SIP request, counted by callgrind (standard library only; loopback only).

  instr.py --bin BIN --db DB --kind options|invite --port PORT --upstream-port UPORT --out OUT.json
           [--small 500] [--large 2500] [--warmup 200] [--src 127.0.0.1] [-- extra serve args]

Starts `BIN serve` on the SQLite database DB under `valgrind --tool=callgrind --instr-atstart=no`
(the table loads at valgrind's uninstrumented speed), waits for the SIP edge, sends WARMUP requests,
then switches instrumentation on and, for N = SMALL and then N = LARGE: zeroes the counters, sends
N requests one at a time (each waits for its outcome: the edge's 200 for an OPTIONS, the forwarded
INVITE arriving at a UDP sink on UPORT for an INVITE) and dumps the counters. The instructions per
request are (Ir(LARGE) - Ir(SMALL)) / (LARGE - SMALL): whatever the server does once per window
(and the valgrind machinery of a dump) cancels out. Unlike CPU time, the count does not depend on
what else the machine is doing, so two builds compare exactly.

Prints one JSON line and writes it to OUT.
"""
import argparse
import glob
import json
import os
import queue
import random
import re
import socket
import subprocess
import sys
import threading
import time


def loopback(host):
    assert host.startswith("127."), "loopback only"
    return host


def request(kind, src, port, target_port, n, tag):
    branch = "z9hG4bK-instr-%s-%d" % (tag, n)
    call_id = "instr-%s-%d@%s" % (tag, n, src)
    method = "OPTIONS" if kind == "options" else "INVITE"
    body = b""
    if kind == "invite":
        body = (
            "v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n"
            % (src, src)
        ).encode()
    head = (
        "%s sip:bench@127.0.0.1:%d SIP/2.0\r\n"
        "Via: SIP/2.0/UDP %s:%d;branch=%s;rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:instr@%s>;tag=%s\r\n"
        "To: <sip:bench@127.0.0.1:%d>\r\n"
        "Call-ID: %s\r\n"
        "CSeq: 1 %s\r\n"
        "Contact: <sip:instr@%s:%d>\r\n"
        "%s"
        "Content-Length: %d\r\n\r\n"
        % (method, target_port, src, port, branch, src, tag, target_port, call_id, method, src, port,
           "Content-Type: application/sdp\r\n" if body else "", len(body))
    )
    return head.encode() + body


class Sender:
    """Sends one request at a time and waits for its outcome (bounded: 2 s each)."""

    def __init__(self, kind, src, target, upstream_port):
        self.kind = kind
        self.target = target
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((loopback(src), 0))
        self.sock.settimeout(2.0)
        self.src, self.port = self.sock.getsockname()
        self.sink = None
        self.forwarded = queue.Queue()
        if kind == "invite":
            self.sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sink.bind(("127.0.0.1", upstream_port))
            threading.Thread(target=self.serve_sink, daemon=True).start()
        self.tag = "%x" % random.getrandbits(48)
        self.n = 0

    def serve_sink(self):
        """The upstream (or target): answers the edge's OPTIONS probes 200, queues the rest."""
        while True:
            data, peer = self.sink.recvfrom(65535)
            text = data.decode("utf-8", "replace")
            if text.startswith("OPTIONS "):
                head = text.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
                keep = [h for h in head if h.split(":", 1)[0].strip().lower() in ("via", "from", "to", "call-id", "cseq")]
                reply = "SIP/2.0 200 OK\r\n" + "\r\n".join(keep) + "\r\nContent-Length: 0\r\n\r\n"
                self.sink.sendto(reply.encode(), peer)
            else:
                self.forwarded.put(text)

    def one(self):
        self.n += 1
        self.sock.sendto(request(self.kind, self.src, self.port, self.target[1], self.n, self.tag), self.target)
        want = "instr-%s-%d@" % (self.tag, self.n)
        for _ in range(50):
            if self.kind == "options":
                text = self.sock.recvfrom(65535)[0].decode("utf-8", "replace")
            else:
                text = self.forwarded.get(timeout=2.0)
            if want not in text:
                continue  # a late answer to an earlier request
            if self.kind == "options" and not text.startswith("SIP/2.0 200"):
                raise SystemExit("OPTIONS answered: %s" % text.split("\r\n", 1)[0])
            return
        raise SystemExit("no outcome for request %d" % self.n)

    def many(self, n):
        for _ in range(n):
            self.one()


def control(pid, *args):
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=300)


def dumped_ir(outdir, pid, before):
    """The total Ir of the newest dump of PID that was not in `before`."""
    for _ in range(600):
        files = set(glob.glob(os.path.join(outdir, "callgrind.out.%d*" % pid))) - before
        for f in sorted(files):
            text = open(f).read()
            m = re.search(r"^(?:totals|summary): (\d+)", text, re.M)
            if m:
                return int(m.group(1)), files | before
        time.sleep(0.1)
    raise SystemExit("callgrind wrote no dump")


def read_metric(log_path, name):
    """The value of counter NAME (summed over its labels) in the server's /metrics."""
    import urllib.request
    m = re.search(r"HTTP API listening on (http://[^ \n]+)", open(log_path).read())
    text = urllib.request.urlopen(m.group(1) + "/metrics", timeout=30).read().decode()
    return sum(float(l.split()[-1]) for l in text.splitlines()
               if l.startswith(name) and not l.startswith("#") and l[len(name):len(name) + 1] in (" ", "{"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--kind", choices=["options", "invite"], required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream-port", type=int, required=True)
    ap.add_argument("--src", default="127.0.0.1")
    ap.add_argument("--small", type=int, default=500)
    ap.add_argument("--large", type=int, default=2500)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--label", default="")
    ap.add_argument("--metric", help="also report this /metrics counter's value at the end")
    ap.add_argument("--wait-metric", help="before measuring, wait until this /metrics value is at least --wait-min")
    ap.add_argument("--wait-min", type=float, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("extra", nargs="*")
    a = ap.parse_args()
    outdir = os.path.dirname(os.path.abspath(a.out))
    log_path = a.out + ".server.log"
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
           "--callgrind-out-file=%s/callgrind.out.%%p" % outdir,
           a.bin, "serve", "--listen", "127.0.0.1:0", "--database-url", "sqlite://" + a.db,
           "--sip-listen", "127.0.0.1:%d" % a.port, "--sip-upstream", "127.0.0.1:%d" % a.upstream_port,
           *a.extra]
    env = dict(os.environ)
    env.pop("RUST_LOG", None)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.time() + 1800
        while "SIP edge listening" not in open(log_path).read():
            if proc.poll() is not None or time.time() > deadline:
                raise SystemExit("the server did not start; see %s" % log_path)
            time.sleep(0.5)
        sender = Sender(a.kind, a.src, ("127.0.0.1", a.port), a.upstream_port)
        if a.wait_metric:
            for _ in range(1200):
                if read_metric(log_path, a.wait_metric) >= a.wait_min:
                    break
                time.sleep(0.5)
            else:
                raise SystemExit("%s never reached %s" % (a.wait_metric, a.wait_min))
        started = time.time()
        sender.many(a.warmup)
        control(proc.pid, "-i", "on")
        sender.many(a.warmup)  # instrumented code paths translated once, not counted
        seen = set(glob.glob(os.path.join(outdir, "callgrind.out.%d*" % proc.pid)))
        counts = {}
        for n in (a.small, a.large):
            control(proc.pid, "-z")
            sender.many(n)
            control(proc.pid, "-d")
            counts[n], seen = dumped_ir(outdir, proc.pid, seen)
        per = (counts[a.large] - counts[a.small]) / (a.large - a.small)
        metric = read_metric(log_path, a.metric) if a.metric else None
        line = {"label": a.label, "kind": a.kind, "bin": a.bin, "small": a.small, "large": a.large,
                "ir_small": counts[a.small], "ir_large": counts[a.large], "ir_per_request": round(per, 1),
                "measure_s": round(time.time() - started, 1)}
        if a.metric:
            line[a.metric] = metric
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for f in glob.glob(os.path.join(outdir, "callgrind.out.%d*" % proc.pid)):
        os.remove(f)
    print(json.dumps(line))
    with open(a.out, "w") as f:
        f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    sys.exit(main())
