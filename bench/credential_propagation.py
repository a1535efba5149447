#!/usr/bin/env python3
"""How long a deleted API key stays usable on the other node of a cluster: the change feed's
delay for the credential cache (standard library only; loopback only).

    bench/credential_propagation.py BIN [--writes 300]   # --pg URL or SIPMAP_TEST_POSTGRES_URL

Starts two nodes of BIN on one PostgreSQL database (a fresh schema, dropped at the end). For
each write: creates an API key through node A, authenticates with it on node B twice (so that
B's credential cache holds it), deletes it through node A, and from the moment A answered 204
sends requests with the key to B, one after another, until B answers 401. Reports the time from
A's 204 to B's first 401 (p50, p99, max) and how many requests B accepted in between; and
checks that node A itself refused the key at once, every time. Each write's requests to B come
from a loopback address of their own (127.1.x.y), so that the 401s do not add up to the
failed-authentication throttle of one address.
"""

import argparse
import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

SID = "AC" + "e" * 32
TOKEN = "propagation-token-0123456789abcd"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


class Conn:
    def __init__(self, port, source="127.0.0.1"):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=30,
                                            source_address=(source, 0))

    def send(self, method, path, auth, body=None):
        headers = {"Authorization": auth}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.c.request(method, path, body=body, headers=headers)
        r = self.c.getresponse()
        return r.status, r.read()


def start(binary, url, work, name):
    port = free_port()
    log = open(os.path.join(work, name + ".log"), "w")
    env = dict(os.environ, TWILIO_ACCOUNT_SID=SID, TWILIO_AUTH_TOKEN=TOKEN, RUST_LOG="warn",
               SIPMAP_SECRET_KEY="5e" * 32)
    proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:%d" % port,
                             "--database-url", url], stdout=log, stderr=subprocess.STDOUT, env=env)
    for _ in range(300):
        try:
            if Conn(port).send("GET", "/v1/IpRecords", basic(SID, TOKEN))[0] == 200:
                return proc, port
        except OSError:
            pass
        if proc.poll() is not None:
            raise SystemExit("%s did not start; see %s" % (binary, log.name))
        time.sleep(0.1)
    raise SystemExit("%s did not answer" % binary)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bin")
    ap.add_argument("--writes", type=int, default=300)
    ap.add_argument("--pg", default=os.environ.get("SIPMAP_TEST_POSTGRES_URL",
                                                   "postgres://root@127.0.0.1:5432/test"))
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="sipmap-credprop.")
    schema = "sipmap_credprop_%d" % os.getpid()
    env = dict(os.environ, PGOPTIONS="-c client_min_messages=warning")
    subprocess.run(["psql", a.pg, "-qc", "CREATE SCHEMA " + schema], check=True, env=env)
    sep = "&" if "?" in a.pg else "?"
    url = "%s%soptions=-c%%20search_path%%3D%s" % (a.pg, sep, schema)
    procs = []
    try:
        pa, port_a = start(a.bin, url, work, "a")
        procs.append(pa)
        pb, port_b = start(a.bin, url, work, "b")
        procs.append(pb)
        admin = basic(SID, TOKEN)
        on_a = Conn(port_a)
        delays, accepted_after, a_accepted = [], [], 0
        for i in range(a.writes):
            status, body = on_a.send("POST", "/2010-04-01/Accounts/%s/Keys.json" % SID, admin,
                                     "FriendlyName=p")
            assert status == 201, body
            key = json.loads(body)
            auth = basic(key["sid"], key["secret"])
            on_b = Conn(port_b, "127.1.%d.%d" % (i // 250, 1 + i % 250))
            for _ in range(2):
                status, body = on_b.send("GET", "/v1/IpRecords?PageSize=1", auth)
                assert status == 200, body
            status, _ = on_a.send("DELETE", "/2010-04-01/Accounts/%s/Keys/%s.json"
                                  % (SID, key["sid"]), admin)
            t0 = time.perf_counter()
            assert status == 204
            if Conn(port_a, "127.2.%d.%d" % (i // 250, 1 + i % 250)).send(
                    "GET", "/v1/IpRecords?PageSize=1", auth)[0] != 401:
                a_accepted += 1
            n = 0
            while True:
                status, _ = on_b.send("GET", "/v1/IpRecords?PageSize=1", auth)
                if status == 401:
                    break
                assert status == 200, status
                n += 1
                if time.perf_counter() - t0 > 30:
                    raise SystemExit("node B still accepts a key deleted 30 s ago")
            delays.append((time.perf_counter() - t0) * 1000)
            accepted_after.append(n)
        print("writes: %d; node A accepted a key it had deleted: %d times" % (a.writes, a_accepted))
        print("node B refuses the deleted key, from node A's 204: p50 %.2f ms, p99 %.2f ms, "
              "max %.2f ms" % (pct(delays, 50), pct(delays, 99), max(delays)))
        print("requests node B accepted after the 204: p50 %d, p99 %d, max %d (of %d writes, "
              "%d with none)" % (pct(accepted_after, 50), pct(accepted_after, 99),
                                 max(accepted_after), a.writes,
                                 sum(1 for n in accepted_after if n == 0)))
        sys.exit(1 if a_accepted else 0)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(["psql", a.pg, "-qc", "DROP SCHEMA IF EXISTS %s CASCADE" % schema], env=env)
        for f in os.listdir(work):
            os.remove(os.path.join(work, f))
        os.rmdir(work)


if __name__ == "__main__":
    main()
