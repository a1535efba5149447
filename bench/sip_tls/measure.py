"""One tls_load run of bench/sip_tls.sh with the server's CPU and memory measured around it.

usage: measure.py --server NAME --measure handshake|established|idle --round N --pids "PID..."
                  [--ctl unix:PATH] [--expect N] -- tls_load command...

Prints one JSON line: tls_load's own line plus the server's CPU time (utime+stime of every PID,
all threads) per 200, what other processes used meanwhile (% of one core: the box's busy time less
the server's and the load generator's), and for `idle` the server's memory before the connections
were opened and once they were all held (sipmap: VmRSS; Kamailio: the sum of the PSS of its
processes, so shared memory counts once, and its shared-memory allocator's `used`, core.shmmem).
Every wait is bounded.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pids):
    t = 0
    for p in pids:
        try:
            f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            t += int(f[11]) + int(f[12])
        except (OSError, IndexError, ValueError):
            pass
    return t / TICK


def box_busy():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / TICK


def status_kb(pid, key):
    try:
        m = re.search(rf"^{key}:\s+(\d+) kB", open(f"/proc/{pid}/status").read(), re.M)
        return int(m.group(1)) if m else 0
    except OSError:
        return 0


def pss_kb(pid):
    try:
        m = re.search(r"^Pss:\s+(\d+) kB", open(f"/proc/{pid}/smaps_rollup").read(), re.M)
        return int(m.group(1)) if m else 0
    except OSError:
        return 0


def shm_used(ctl):
    if not ctl:
        return None
    try:
        out = subprocess.run(["kamcmd", "-s", ctl, "core.shmmem"], capture_output=True, text=True, timeout=10).stdout
        m = re.search(r"\bused:\s+(\d+)", out)
        return int(m.group(1)) if m else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def memory(pids, ctl):
    return {
        "rss_kb": sum(status_kb(p, "VmRSS") for p in pids),
        "pss_kb": sum(pss_kb(p) for p in pids),
        "shm_used": shm_used(ctl),
    }


def main():
    argv = sys.argv[1:]
    cut = argv.index("--")
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--measure", required=True)
    ap.add_argument("--round", type=int, required=True)
    ap.add_argument("--pids", required=True)
    ap.add_argument("--ctl", default="")
    ap.add_argument("--expect", type=int, default=0)
    a = ap.parse_args(argv[:cut])
    cmd = argv[cut + 1:]
    pids = [int(p) for p in a.pids.split()]

    before = memory(pids, a.ctl) if a.measure == "idle" else None
    cpu0, busy0, t0 = proc_cpu(pids), box_busy(), time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    after = None
    lines = []
    for line in proc.stdout:  # tls_load's runs are bounded by its --duration/--hold and --timeout
        lines.append(line)
        if line.startswith("READY"):
            time.sleep(1.5)  # let the server finish what the last answers left
            after = memory(pids, a.ctl)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    cpu1, busy1, t1 = proc_cpu(pids), box_busy(), time.monotonic()
    js = [x for x in lines if x.startswith("{")]
    if proc.returncode != 0 or not js:
        print(json.dumps({"server": a.server, "measure": a.measure, "round": a.round, "error": f"tls_load exited {proc.returncode}"}))
        return 1
    r = json.loads(js[-1])
    server_cpu = cpu1 - cpu0
    r.update({
        "server": a.server, "measure": a.measure, "round": a.round,
        "server_cpu_s": round(server_cpu, 3),
        "server_cpu_pct": round(100 * server_cpu / max(1e-9, t1 - t0), 1),
        "server_cpu_us_per_req": round(1e6 * server_cpu / r["ok"], 1) if r["ok"] else None,
        "other_cpu_pct": round(100 * max(0.0, (busy1 - busy0) - server_cpu - r["client_cpu_s"]) / max(1e-9, t1 - t0), 1),
    })
    if a.measure == "idle":
        n = r["opened"]
        r["mem_before"], r["mem_after"] = before, after
        if after and n:
            key = "pss_kb" if a.server != "sipmap" else "rss_kb"
            r["bytes_per_conn"] = round((after[key] - before[key]) * 1024 / n)
            if before["shm_used"] is not None and after["shm_used"] is not None:
                r["shm_bytes_per_conn"] = round((after["shm_used"] - before["shm_used"]) / n)
        if a.expect and n < a.expect:
            r["warning"] = f"only {n} of {a.expect} connections opened"
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
