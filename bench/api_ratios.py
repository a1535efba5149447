#!/usr/bin/env python3
"""The four API ratios of issue 20, measured side by side in one run (standard library and wrk;
loopback only):

    bench/api_ratios.py BIN [BIN ...]      # --rounds 5 --duration 3; --pg URL (or
                                           # SIPMAP_TEST_POSTGRES_URL); --no-pg for SQLite only

For each binary it starts two servers: one on a fresh SQLite file, one on a fresh schema of the
PostgreSQL database (dropped at the end). Each gets 1 SIP domain, 60 IP records and 1 Source
IP Mapping. Then, round after round, binaries alternating within each round, `wrk -t2` runs:

    livez        GET /livez (no credentials, no storage)                      -c16, SQLite server
    fetch        GET /v1/SourceIpMappings/{Sid}                               -c16, SQLite server
    list50       GET /v1/IpRecords?PageSize=50                                -c16, SQLite server
    pg_fetch     the same fetch                                               -c16, PostgreSQL server
    create       POST /v1/IpRecords, a unique address per request (durable)   -c64, SQLite server
    pg_create    the same create                                              -c64, PostgreSQL server

and the ratios fetch/livez, list50/fetch, pg_fetch/fetch, pg_create/create are computed within
each round (so both terms of a ratio saw the same load on the machine), and their medians
printed per binary, with the medians of the rates and of the server's CPU per request (user +
system of the sipmap process, from /proc). Every wrk answer other than 2xx is counted and
reported; a run with any is flagged.
"""

import argparse
import base64
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

SID = "AC" + "d" * 32
TOKEN = "ratio-token-0123456789abcdef0123"
AUTH = "Basic " + base64.b64encode(("%s:%s" % (SID, TOKEN)).encode()).decode()
TICK = os.sysconf("SC_CLK_TCK")

CREATE_LUA = r"""
local counter = 0
local next_tid = 0
function setup(thread) thread:set("tid", next_tid); next_tid = next_tid + 1 end
function init(args)
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  math.randomseed(os.time() + (tonumber(tid) or 0))
  base = math.random(0, 200000)
end
function request()
  counter = counter + 1
  local n = base * 64 + counter
  local body = string.format("IpAddress=10.%d.%d.%d", (tonumber(tid) or 0) * 100 + math.floor(n / 65536) % 100,
                             math.floor(n / 256) % 256, n % 256)
  return wrk.format("POST", "/v1/IpRecords", nil, body)
end
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, data=None):
    req = urllib.request.Request(base + path, method=method, headers={"Authorization": AUTH},
                                 data=data.encode() if data else None)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


class Server:
    def __init__(self, binary, url, work, name):
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.log = open(os.path.join(work, name + ".log"), "w")
        env = dict(os.environ, TWILIO_ACCOUNT_SID=SID, TWILIO_AUTH_TOKEN=TOKEN, RUST_LOG="warn",
                   SIPMAP_SECRET_KEY="5e" * 32)
        self.proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:%d" % self.port,
                                      "--database-url", url], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env)
        for _ in range(300):
            try:
                call(self.base, "GET", "/v1/IpRecords?PageSize=1")
                break
            except Exception:
                if self.proc.poll() is not None:
                    raise SystemExit("%s did not start; see %s" % (binary, self.log.name))
                time.sleep(0.1)
        d = call(self.base, "POST", "/2010-04-01/Accounts/%s/SIP/Domains.json" % SID,
                 "DomainName=ratio-%d.sip.twilio.com" % self.port)["sid"]
        records = [call(self.base, "POST", "/v1/IpRecords", "IpAddress=192.0.2.%d" % i)["sid"]
                   for i in range(1, 61)]
        self.mapping = call(self.base, "POST", "/v1/SourceIpMappings",
                            "IpRecordSid=%s&SipDomainSid=%s" % (records[0], d))["sid"]

    def cpu_ticks(self):
        fields = open("/proc/%d/stat" % self.proc.pid).read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wrk(server, path, conns, duration, script):
    args = ["wrk", "-t2", "-c%d" % conns, "-d%ds" % duration, "-H", "Authorization: " + AUTH]
    if script:
        args += ["-s", script]
    before = server.cpu_ticks()
    out = subprocess.run(args + [server.base + path], capture_output=True, text=True,
                         timeout=duration + 60).stdout
    after = server.cpu_ticks()
    n = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rate": n / duration, "cpu_us": (after - before) * 1e6 / TICK / max(n, 1),
            "bad": int(bad.group(1)) if bad else 0, "errors": errors.group(1) if errors else ""}


SCENARIOS = [  # name, server kind, path (None: the mapping), connections, create?
    ("livez", "sqlite", "/livez", 16, False),
    ("fetch", "sqlite", None, 16, False),
    ("list50", "sqlite", "/v1/IpRecords?PageSize=50", 16, False),
    ("pg_fetch", "pg", None, 16, False),
    ("create", "sqlite", "/v1/IpRecords", 64, True),
    ("pg_create", "pg", "/v1/IpRecords", 64, True),
]
RATIOS = [("fetch/livez", "fetch", "livez", 0.80), ("list50/fetch", "list50", "fetch", 0.50),
          ("pg_fetch/fetch", "pg_fetch", "fetch", 0.80),
          ("pg_create/create", "pg_create", "create", 0.50)]


def psql(url, sql):
    env = dict(os.environ, PGOPTIONS="-c client_min_messages=warning")
    subprocess.run(["psql", url, "-qc", sql], check=True, env=env, stdout=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bins", nargs="+")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=3)
    ap.add_argument("--pg", default=os.environ.get("SIPMAP_TEST_POSTGRES_URL",
                                                   "postgres://root@127.0.0.1:5432/test"))
    ap.add_argument("--no-pg", action="store_true")
    a = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed (apt-get install wrk)")
    work = tempfile.mkdtemp(prefix="sipmap-ratios.")
    script = os.path.join(work, "create.lua")
    open(script, "w").write(CREATE_LUA)
    servers, schemas = [], []
    try:
        for i, b in enumerate(a.bins):
            s = {"sqlite": Server(b, "sqlite://%s/b%d.db" % (work, i), work, "b%d-sqlite" % i)}
            servers.append(s)
            if not a.no_pg:
                schema = "sipmap_ratio_%d_%d" % (os.getpid(), i)
                psql(a.pg, "CREATE SCHEMA " + schema)
                schemas.append(schema)
                sep = "&" if "?" in a.pg else "?"
                url = "%s%soptions=-c%%20search_path%%3D%s" % (a.pg, sep, schema)
                s["pg"] = Server(b, url, work, "b%d-pg" % i)
        results = [[] for _ in a.bins]
        for rnd in range(a.rounds):
            for i, s in enumerate(servers):
                got = {}
                for name, kind, path, conns, create in SCENARIOS:
                    if kind not in s:
                        continue
                    server = s[kind]
                    got[name] = wrk(server, path or "/v1/SourceIpMappings/" + server.mapping,
                                    conns, a.duration, script if create else None)
                results[i].append(got)
                line = "  ".join("%s %.0f/s %.1fus%s" % (n, r["rate"], r["cpu_us"],
                                                          " BAD %d %s" % (r["bad"], r["errors"])
                                                          if r["bad"] or r["errors"] else "")
                                 for n, r in got.items())
                print("round %d bin %d: %s" % (rnd + 1, i, line), file=sys.stderr, flush=True)
        for i, b in enumerate(a.bins):
            rounds = results[i]
            print("binary %d: %s" % (i, b))
            for name, *_ in SCENARIOS:
                if name not in rounds[0]:
                    continue
                rates = [r[name]["rate"] for r in rounds]
                cpu = [r[name]["cpu_us"] for r in rounds]
                bad = sum(r[name]["bad"] for r in rounds)
                print("  %-10s %9.0f req/s  %6.1f us server CPU/req  (rates %s)%s" % (
                    name, statistics.median(rates), statistics.median(cpu),
                    " ".join("%.0f" % x for x in rates), "  NON-2xx %d" % bad if bad else ""))
            for label, num, den, goal in RATIOS:
                if num not in rounds[0] or den not in rounds[0]:
                    continue
                per = [r[num]["rate"] / r[den]["rate"] for r in rounds]
                m = statistics.median(per)
                print("  %-17s median %5.1f %%  (rounds %s)  goal >= %d %%: %s" % (
                    label, 100 * m, " ".join("%.0f" % (100 * x) for x in per), 100 * goal,
                    "met" if m >= goal else "not met"))
    finally:
        for s in servers:
            for server in s.values():
                server.stop()
        for schema in schemas:
            psql(a.pg, "DROP SCHEMA IF EXISTS %s CASCADE" % schema)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
