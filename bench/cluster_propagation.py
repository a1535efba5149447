#!/usr/bin/env python3
"""API-write-to-recognition propagation across a two-node sipmap cluster on PostgreSQL.

Starts two `sipmap serve` nodes on one PostgreSQL database (a fresh schema, dropped at the end),
then N times: writes a mapping change through node A's HTTP API (alternately creating and deleting
a /32 mapping for a loopback source) and polls node B's SIP edge with OPTIONS from that source
until the answer changes (200 after a create, 404 after a delete). Reports p50/p99/max of the time
from the API's 2xx to node B's new answer, and from the API request's start.

Loopback only; every loop is bounded; both nodes are stopped at the end.
Usage: bench/cluster_propagation.py [--writes 1000] [--pg URL] [--bin target/release/sipmap]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


class Node:
    def __init__(self, binary, url, sid, token, log):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SIPMAP_"))}
        env.update(TWILIO_ACCOUNT_SID=sid, TWILIO_AUTH_TOKEN=token, RUST_LOG="warn",
                   SIPMAP_SECRET_KEY="5e" * 32)
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--database-url", url,
             "--sip-listen", "127.0.0.1:0"],
            env=env, stdout=subprocess.PIPE, stderr=open(log, "w"), stdin=subprocess.DEVNULL,
            text=True,
        )
        self.http = self.sip = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (self.http is None or self.sip is None):
            line = self.proc.stdout.readline()
            if not line:
                break
            if m := re.search(r"HTTP API listening on (http://\S+)", line):
                self.http = m.group(1)
            if m := re.search(r"SIP edge listening on (\S+):(\d+) ", line):
                self.sip = (m.group(1), int(m.group(2)))
        if self.http is None or self.sip is None:
            self.proc.kill()
            raise SystemExit(f"node did not start; see {log}")
        self.auth = "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode()

    def call(self, method, path, data=None):
        body = None if data is None else "&".join(f"{k}={v}" for k, v in data.items()).encode()
        req = urllib.request.Request(self.http + path, data=body, method=method)
        req.add_header("Authorization", self.auth)
        if body is not None:
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read()
            return r.status, (json.loads(text) if text else None)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def options_status(sock, edge, source):
    port = sock.getsockname()[1]
    msg = (
        f"OPTIONS sip:{edge[0]}:{edge[1]} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {source}:{port};branch=z9hG4bK{secrets.token_hex(6)};rport\r\n"
        f"From: <sip:p@{source}>;tag=1\r\nTo: <sip:{edge[0]}>\r\n"
        f"Call-ID: {secrets.token_hex(6)}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    sock.sendto(msg.encode(), edge)
    data, _ = sock.recvfrom(65535)
    return int(data.split(b" ", 2)[1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--writes", type=int, default=1000)
    ap.add_argument("--pg", default=os.environ.get("SIPMAP_TEST_POSTGRES_URL",
                                                   "postgres://root@127.0.0.1:5432/test"))
    ap.add_argument("--bin", default=str(REPO / "target" / "release" / "sipmap"))
    args = ap.parse_args()

    schema = "sipmap_bench_" + secrets.token_hex(6)
    quiet = dict(os.environ, PGOPTIONS="-c client_min_messages=warning")
    subprocess.run(["psql", args.pg, "-qc", f"CREATE SCHEMA {schema}"], check=True, env=quiet)
    sep = "&" if "?" in args.pg else "?"
    url = f"{args.pg}{sep}options=-c%20search_path%3D{schema}"
    sid, token = "AC" + secrets.token_hex(16), secrets.token_hex(16)
    logdir = Path(os.environ.get("TMPDIR", "/tmp"))
    a = Node(args.bin, url, sid, token, logdir / "sipmap-bench-node-a.log")
    b = Node(args.bin, url, sid, token, logdir / "sipmap-bench-node-b.log")
    after_ack, from_start = [], []
    try:
        _, d = a.call("POST", f"/2010-04-01/Accounts/{sid}/SIP/Domains.json",
                      {"DomainName": f"bench{secrets.token_hex(4)}.sip.twilio.com"})
        domain = d["sid"]
        # Loopback sources may call the domain: an IP access control list of 127.0.0.0/8 mapped to
        # it for calls (a domain with nothing mapped gets 403).
        sip = f"/2010-04-01/Accounts/{sid}/SIP"
        _, acl = a.call("POST", f"{sip}/IpAccessControlLists.json", {"FriendlyName": "loopback"})
        a.call("POST", f"{sip}/IpAccessControlLists/{acl['sid']}/IpAddresses.json",
               {"FriendlyName": "loopback", "IpAddress": "127.0.0.0", "CidrPrefixLength": "8"})
        a.call("POST", f"{sip}/Domains/{domain}/Auth/Calls/IpAccessControlListMappings.json",
               {"IpAccessControlListSid": acl["sid"]})
        pairs = args.writes // 2
        sources = [f"127.{20 + i // 250}.{i % 250 + 1}.1" for i in range(pairs)]
        records = [a.call("POST", "/v1/IpRecords", {"IpAddress": ip})[1]["sid"] for ip in sources]
        for ip, record in zip(sources, records):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind((ip, 0))
                sock.settimeout(1.0)
                for want, write in ((200, "create"), (404, "delete")):
                    t0 = time.perf_counter()
                    if write == "create":
                        _, m = a.call("POST", "/v1/SourceIpMappings",
                                      {"IpRecordSid": record, "SipDomainSid": domain})
                        mapping = m["sid"]
                    else:
                        a.call("DELETE", f"/v1/SourceIpMappings/{mapping}")
                    t1 = time.perf_counter()
                    deadline = t1 + 5
                    while True:
                        status = options_status(sock, b.sip, ip)
                        t2 = time.perf_counter()
                        if status == want:
                            break
                        if t2 > deadline:
                            raise SystemExit(f"node B never saw the {write} for {ip}")
                    after_ack.append((t2 - t1) * 1000)
                    from_start.append((t2 - t0) * 1000)
    finally:
        a.stop()
        b.stop()
        subprocess.run(["psql", args.pg, "-qc", f"DROP SCHEMA {schema} CASCADE"], check=False,
                       env=quiet)

    print(f"| writes | after the API's 2xx: p50 / p99 / max | from the API request: p50 / p99 / max |")
    print("|---|---|---|")
    print(f"| {len(after_ack)} | {statistics.median(after_ack):.2f} / {pct(after_ack, 99):.2f} / "
          f"{max(after_ack):.2f} ms | {statistics.median(from_start):.2f} / "
          f"{pct(from_start, 99):.2f} / {max(from_start):.2f} ms |")


if __name__ == "__main__":
    sys.exit(main())
