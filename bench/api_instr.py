#!/usr/bin/env python3
"""Instructions per API request, old build against new, counted by callgrind (standard library
only; loopback only): the noise-free companion of bench/api_cpu_ab.sh, whose CPU times a busy
machine skews.

    bench/api_instr.py OLD_BIN NEW_BIN        # --small 200 --large 1000 requests per scenario
    bench/api_instr.py BIN --keep DIR         # one binary; its callgrind dumps kept in DIR

For each binary it starts `BIN serve` on a fresh SQLite database under
`valgrind --tool=callgrind --instr-atstart=no`, creates 60 IP records, then for each scenario
(livez = GET /livez, no credentials; fetch = GET /v1/IpRecords/{Sid}, list1 = GET
/v1/IpRecords?PageSize=1, list50 = PageSize=50, create = POST /v1/IpRecords) sends requests one after another on one keep-alive connection:
a warm-up with instrumentation on, then `small` and `large` requests, each counted from zero;
(Ir(large) - Ir(small)) / (large - small) is the cost of one request, every thread of the server
included, start-up and fixed costs cancelled. Prints one line per scenario: old, new, new/old.
With --keep, each scenario's two dumps stay in DIR as callgrind.<binary index>.<scenario>.<n>,
for `callgrind_annotate --inclusive=yes` (the difference of the two is one request's profile
times large - small).
"""

import argparse
import base64
import glob
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

SID = "AC" + "c" * 32
TOKEN = "instr-token"
AUTH = "Basic " + base64.b64encode(("%s:%s" % (SID, TOKEN)).encode()).decode()


def control(pid, *args):
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=300)


def dumped_ir(outdir, pid, before):
    """The total Ir of the newest dump of PID that was not in `before`."""
    for _ in range(600):
        files = set(glob.glob(os.path.join(outdir, "callgrind.out.%d*" % pid))) - before
        for f in sorted(files):
            m = re.search(r"^(?:totals|summary): (\d+)", open(f).read(), re.M)
            if m:
                return int(m.group(1)), files | before
        time.sleep(0.1)
    raise SystemExit("callgrind wrote no dump")


class Client:
    """Requests on one keep-alive connection."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.n = 0

    def send(self, method, path, body=None, auth=True):
        headers = {"Authorization": AUTH} if auth else {}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        r = self.conn.getresponse()
        data = r.read()
        if r.status >= 300:
            raise SystemExit("%s %s answered %d: %s" % (method, path, r.status, data[:200]))
        return data

    def create(self):
        self.n += 1
        n = self.n
        return self.send("POST", "/v1/IpRecords",
                         "IpAddress=10.%d.%d.%d" % (100 + n // 65536 % 100, n // 256 % 256, n % 256))


def scenarios(client, sid):
    return {
        "livez": lambda: client.send("GET", "/livez", auth=False),
        "fetch": lambda: client.send("GET", "/v1/IpRecords/" + sid),
        "list1": lambda: client.send("GET", "/v1/IpRecords?PageSize=1"),
        "list50": lambda: client.send("GET", "/v1/IpRecords?PageSize=50"),
        "create": client.create,
    }


def measure(binary, small, large, port, keep=None, tag="0"):
    work = tempfile.mkdtemp(prefix="sipmap-api-instr.")
    log_path = os.path.join(work, "server.log")
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
           "--callgrind-out-file=%s/callgrind.out.%%p" % work,
           binary, "serve", "--listen", "127.0.0.1:%d" % port,
           "--database-url", "sqlite://%s/db.sqlite" % work]
    env = dict(os.environ, TWILIO_ACCOUNT_SID=SID, TWILIO_AUTH_TOKEN=TOKEN)
    env.pop("RUST_LOG", None)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    out = {}
    try:
        deadline = time.time() + 600
        while "listening" not in open(log_path).read():
            if proc.poll() is not None or time.time() > deadline:
                raise SystemExit("the server did not start; see %s" % log_path)
            time.sleep(0.5)
        client = Client(port)
        created = [client.create() for _ in range(60)]
        sid = re.search(rb'"sid": ?"(IL[0-9a-f]{32})"', created[0]).group(1).decode()
        control(proc.pid, "-i", "on")
        seen = set()
        for name, one in scenarios(client, sid).items():
            for _ in range(50):
                one()  # code paths translated once, not counted
            counts = {}
            for n in (small, large):
                control(proc.pid, "-z")
                for _ in range(n):
                    one()
                control(proc.pid, "-d")
                before = set(seen)
                counts[n], seen = dumped_ir(work, proc.pid, seen)
                if keep:
                    for f in sorted(seen - before):
                        shutil.copy(f, os.path.join(keep, "callgrind.%s.%s.%d" % (tag, name, n)))
            out[name] = (counts[large] - counts[small]) / (large - small)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for f in glob.glob(os.path.join(work, "*")):
            os.remove(f)
        os.rmdir(work)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new", nargs="?")
    ap.add_argument("--keep", help="a directory to keep the callgrind dumps in")
    ap.add_argument("--small", type=int, default=200)
    ap.add_argument("--large", type=int, default=1000)
    ap.add_argument("--port", type=int, default=18141)
    a = ap.parse_args()
    if a.keep:
        os.makedirs(a.keep, exist_ok=True)
    old = measure(a.old, a.small, a.large, a.port, a.keep, "0")
    if a.new is None:
        print("instructions per request (callgrind, all threads): %s" % a.old)
        for name in old:
            print("%-7s %10.0f" % (name, old[name]))
        return
    new = measure(a.new, a.small, a.large, a.port + 1, a.keep, "1")
    print("instructions per request (callgrind, all threads): old = %s, new = %s" % (a.old, a.new))
    for name in old:
        print("%-7s old %10.0f  new %10.0f  new/old %.3f" % (name, old[name], new[name],
                                                           new[name] / old[name]))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
