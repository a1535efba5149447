#!/usr/bin/env python3
"""Run one SIPp load run and account for it (standard library only). Used by bench/sip.sh.

  sipprun.py --server NAME --table T --path 200|404|403 --rate R --duration S --pids PID[,PID...]
             --scenario FILE --target 127.0.0.1:PORT --src 127.0.0.1 --src-port 25060
             --workdir DIR [--children] [--metrics URL] [--round N] >> results.jsonl

SIPp offers R requests/s for S seconds (-m R*S, -r R -rp 1000 -l 5000) with a global -timeout of
S+5 s (so an overloaded server cannot stretch a run), then one JSON line reports: achieved rate
(successful / SIPp's wall time), failed and lost calls, OPTIONS retransmissions, SIPp's own CPU
(from wait4 rusage), the server's CPU time (utime+stime from /proc/PID/stat of PID and, with
--children, every descendant, as Kamailio forks its workers) and CPU per answered request.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")


def descendants(pids):
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
            ppid = int(s[s.rindex(")") + 2:].split()[1])
            kids.setdefault(ppid, []).append(int(d))
        except (OSError, ValueError):
            continue
    out, todo = list(pids), list(pids)
    while todo:
        for c in kids.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def ticks(pids):
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                s = f.read()
            fields = s[s.rindex(")") + 2:].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
        except (OSError, ValueError, IndexError):
            pass
    return total


def all_ticks():
    """utime+stime of every process on the box, by PID."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
            fields = s[s.rindex(")") + 2:].split()
            out[int(d)] = int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            pass
    return out


def machine():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
    return busy, sum(v[:8]), v[7]


def udp_drops(ports):
    """Datagrams dropped (receive buffer full) on the UDP sockets bound to these local ports."""
    out = {p: 0 for p in ports}
    try:
        with open("/proc/net/udp") as f:
            next(f)
            for line in f:
                parts = line.split()
                port = int(parts[1].split(":")[1], 16)
                if port in out:
                    out[port] += int(parts[-1])
    except (OSError, ValueError, IndexError, StopIteration):
        pass
    return out


def metric(url, name):
    if not url:
        return None
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return int(float(line.split()[1]))
    except OSError:
        return None
    return None


def screen_number(text, label):
    m = None
    for m in re.finditer(r"^\s*%s\s*\|[^|\n]*\|\s*([0-9.]+)" % re.escape(label), text, re.M):
        pass
    return float(m.group(1)) if m else None


def main():
    ap = argparse.ArgumentParser()
    for a in ("server", "table", "path", "scenario", "target", "src", "workdir", "pids", "metrics"):
        ap.add_argument("--" + a, default=None)
    ap.add_argument("--rate", type=int, required=True)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--src-port", type=int, default=25060)
    ap.add_argument("--round", type=int, default=1)
    ap.add_argument("--children", action="store_true")
    ap.add_argument("--sipp-buff", type=int, default=0,
                    help="SIPp -buff_size (socket send/receive buffer); 0 = SIPp's default, as in peers.md")
    a = ap.parse_args()
    assert a.target.startswith("127.") and a.src.startswith("127."), "loopback only"

    pids = [int(p) for p in a.pids.split(",") if p]
    if a.children:
        pids = descendants(pids)
    tag = "%s-%s-%s-%d-r%d%s" % (a.server, a.table, a.path, a.rate, a.round, "-b%d" % a.sipp_buff if a.sipp_buff else "")
    out_txt = os.path.join(a.workdir, "sipp-%s.txt" % tag)
    stat_csv = os.path.join(a.workdir, "sipp-%s.csv" % tag)
    for f in (stat_csv,):
        if os.path.exists(f):
            os.remove(f)
    calls = a.rate * a.duration
    cmd = ["sipp", "-sf", a.scenario, a.target, "-i", a.src, "-p", str(a.src_port),
           "-r", str(a.rate), "-rp", "1000", "-l", "5000", "-m", str(calls),
           "-timeout", "%ds" % (a.duration + 5), "-timeout_error",
           "-trace_stat", "-stf", stat_csv, "-fd", "1"]
    if a.sipp_buff:
        cmd += ["-buff_size", str(a.sipp_buff)]
    m_recv0 = metric(a.metrics, "sipmap_sip_requests_received_total")
    m_sent0 = metric(a.metrics, "sipmap_sip_responses_sent_total")
    server_port = int(a.target.rsplit(":", 1)[1])
    d0 = udp_drops([server_port, a.src_port])
    everyone0 = all_ticks()
    t_srv0 = ticks(pids)
    m0 = machine()
    t0 = time.monotonic()
    with open(out_txt, "w") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                cwd=a.workdir)

        def stop(signum, _frame):  # stopped by bench/sip.sh's trap: take SIPp along
            proc.kill()
            os.waitpid(proc.pid, 0)
            sys.exit(128 + signum)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        deadline = t0 + a.duration + 60
        status = rusage = None
        sipp_drops = 0  # SIPp's socket exists only while it runs: sample its (cumulative) drops
        while time.monotonic() < deadline:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            sipp_drops = max(sipp_drops, udp_drops([a.src_port])[a.src_port])
            time.sleep(0.02)
        else:
            proc.kill()
            _, status, rusage = os.wait4(proc.pid, 0)
        proc.returncode = 0  # reaped by wait4
    wall = time.monotonic() - t0
    t_srv1 = ticks(pids)
    m1 = machine()
    d1 = udp_drops([server_port, a.src_port])
    everyone1 = all_ticks()
    ours = set(pids) | {proc.pid, os.getpid()}
    others = sum(everyone1[p] - everyone0[p] for p in everyone1 if p in everyone0 and p not in ours) / CLK_TCK
    m_recv1 = metric(a.metrics, "sipmap_sip_requests_received_total")
    m_sent1 = metric(a.metrics, "sipmap_sip_responses_sent_total")

    text = open(out_txt, errors="replace").read()
    ok = screen_number(text, "Successful call")
    failed = screen_number(text, "Failed call")
    created = screen_number(text, "Outgoing calls created")
    m = re.search(r"OPTIONS\s+-+>\s+(\d+)\s+(\d+)\s+(\d+)", text)
    sent, retrans, timeouts = (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else (None, None, None)
    m = re.search(r"(\d{3})\s+<-+\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", text)
    unexpected = int(m.group(5)) if m else None
    start = re.search(r"Start Time\s*\|\s*\S+\s+\S+\s+([0-9.]+)", text)
    cur = None
    for cur in re.finditer(r"Current Time\s*\|\s*\S+\s+\S+\s+([0-9.]+)", text):
        pass
    sipp_elapsed = float(cur.group(1)) - float(start.group(1)) if (start and cur) else None
    # the final CSV line has the cumulative counters (a cross-check for the screen)
    csv_retrans = rtt_mean_ms = rtt_stdev_ms = None
    try:
        lines = [l for l in open(stat_csv, errors="replace").read().splitlines() if l.strip()]
        head = lines[0].split(";")
        last = lines[-1].split(";")
        csv_retrans = int(last[head.index("Retransmissions(C)")])
        # SIPp's mean answer time (ms resolution, so 0 means < 1 ms): the row with the most answers
        rows = [l.split(";") for l in lines[1:]]
        top = max(rows, key=lambda r: int(r[head.index("SuccessfulCall(C)")] or 0))

        def ms(v):
            h, m_, s_, us = (int(x) for x in v.split(":"))
            return ((h * 60 + m_) * 60 + s_) * 1000 + us / 1000

        rtt_mean_ms = ms(top[head.index("ResponseTime1(C)")])
        rtt_stdev_ms = ms(top[head.index("ResponseTime1StDev(C)")])
        if ok is None:
            ok = float(last[head.index("SuccessfulCall(C)")])
            failed = float(last[head.index("FailedCall(C)")])
            created = float(last[head.index("OutgoingCall(C)")])
        if retrans is None:
            retrans = csv_retrans
    except (OSError, ValueError, IndexError):
        pass

    sipp_cpu = (rusage.ru_utime + rusage.ru_stime) if rusage else None
    srv_cpu = (t_srv1 - t_srv0) / CLK_TCK
    elapsed = sipp_elapsed if sipp_elapsed and sipp_elapsed > 0 else wall
    busy = (m1[0] - m0[0]) / max(1, m1[1] - m0[1])
    res = {
        "server": a.server, "table": a.table, "path": a.path, "round": a.round,
        "offered_per_s": a.rate, "duration_s": a.duration, "calls_offered": calls,
        "calls_created": int(created) if created is not None else None,
        "successful": int(ok) if ok is not None else None,
        "failed": int(failed) if failed is not None else None,
        "lost": int(created - ok - failed) if None not in (created, ok, failed) else None,
        "retrans": retrans, "csv_retrans": csv_retrans, "rtt_mean_ms": rtt_mean_ms, "rtt_stdev_ms": rtt_stdev_ms, "recv_timeouts": timeouts, "unexpected": unexpected,
        "sipp_elapsed_s": round(elapsed, 3), "wall_s": round(wall, 3),
        "achieved_per_s": round(ok / elapsed, 1) if ok is not None and elapsed else None,
        "sipp_cpu_s": round(sipp_cpu, 3) if sipp_cpu is not None else None,
        "sipp_cpu_pct": round(100 * sipp_cpu / wall, 1) if sipp_cpu is not None else None,
        "server_cpu_s": round(srv_cpu, 3),
        "server_cpu_pct": round(100 * srv_cpu / wall, 1),
        "server_cpu_us_per_req": round(1e6 * srv_cpu / ok, 2) if ok else None,
        "server_pids": len(pids),
        "machine_busy_pct": round(100 * busy, 1),
        # CPU used by anything but the server and SIPp, in % of one core (another job on the box)
        # (the larger of: long-lived processes' CPU time, and what /proc/stat says the box did)
        "other_cpu_pct": round(max(100 * others / wall,
                                   100 * busy * os.cpu_count() - 100 * srv_cpu / wall
                                   - (100 * sipp_cpu / wall if sipp_cpu is not None else 0)), 1),
        "other_procs_cpu_pct": round(100 * others / wall, 1),
        "udp_drops_server": d1[server_port] - d0[server_port],
        "udp_drops_sipp": sipp_drops,
        "sipp_buff": a.sipp_buff,
        "steal_pct": round(100 * (m1[2] - m0[2]) / max(1, m1[1] - m0[1]), 1),
        "sipp_exit": os.waitstatus_to_exitcode(status) if status is not None else None,
        "server_received": (m_recv1 - m_recv0) if None not in (m_recv0, m_recv1) else None,
        "server_responses": (m_sent1 - m_sent0) if None not in (m_sent0, m_sent1) else None,
        "log": os.path.basename(out_txt),
    }
    print(json.dumps(res))
    print("[sip-bench]   %-8s %-5s %s %6d/s offered: %8.1f/s achieved, failed %s, lost %s, retrans %s; "
          "server CPU %.1f%% (%s us/req), SIPp CPU %s%%, other %s%%, UDP drops %d/%d" % (
              a.server, a.table, a.path, a.rate, res["achieved_per_s"] or 0, res["failed"], res["lost"],
              res["retrans"], res["server_cpu_pct"], res["server_cpu_us_per_req"], res["sipp_cpu_pct"],
              res["other_cpu_pct"], res["udp_drops_server"], res["udp_drops_sipp"]), file=sys.stderr)


if __name__ == "__main__":
    main()
