#!/usr/bin/env python3
"""Run one SIPp call-load run through a server to a SIPp UAS upstream, and account for it
(standard library only; loopback only; every wait bounded). Used by bench/sip_auth.sh.

  callrun.py --server NAME --bench B --rate R --duration S --round N --pids PID[,PID...] [--children]
             --uac-scenario FILE --uas-scenario FILE --target 127.0.0.1:PORT --src 127.0.0.1
             --src-port P --uas-port U --workdir DIR [--sipp-buff BYTES] [--au USER --ap PASSWORD]
             [--metrics URL] [--uas-aa] [--uas-ip IP] [--uac-args "ARGS"] [--also PID,...]
             [--settle-metric NAME --settle-max S] >> results.jsonl

A fresh SIPp UAS (-m R*S, so it exits when every call is done) listens on 127.0.0.1:U; then SIPp's
UAC offers R calls/s for S s (-r R -rp 1000 -l 10000 -m R*S, global -timeout S+15 s). One JSON
line reports, for the UAC: calls created, successful, failed, lost (created - successful - failed),
retransmissions (all messages), unexpected messages (FailedUnexpectedMessage), messages for no
call or a finished call (OutOfCallMsgs, DeadCallMsgs); the same counters of the UAS; the achieved
call rate; SIPp's CPU (both, from wait4); the server's CPU time (utime+stime of PID and, with
--children, every descendant) over the UAC's run, per successful call; and CPU used by anything
else on the box (and, with --also, the CPU time of those processes over the same window: a
webhook server's, say). With --settle-metric, the window ends not when the UAC exits but once that
metric of --metrics is 0 (at most --settle-max s later): a server that keeps each call a while
after its BYE (sipmap's voice calls: RFC 6026's Timer L, 32 s) has its work for every call
counted. "clean" = zero failed, lost, retransmitted, unexpected, out-of-call and dead-call
messages on both sides, and every offered call successful.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sipprun import CLK_TCK, all_ticks, descendants, machine, metric, ticks, udp_drops  # noqa: E402

COUNTERS = ("OutgoingCall(C)", "IncomingCall(C)", "SuccessfulCall(C)", "FailedCall(C)", "Retransmissions(C)",
            "FailedUnexpectedMessage(C)", "OutOfCallMsgs(C)", "DeadCallMsgs(C)", "FailedMaxUDPRetrans(C)",
            "FailedCallRejected(C)", "FailedCmdNotSent(C)", "FailedRegexpDoesntMatch(C)", "FailedOutboundCongestion(C)",
            "FailedTimeoutOnRecv(C)", "FailedTimeoutOnSend(C)", "AutoAnswered(C)", "Warnings(C)")


def hms(v):
    """SIPp's HH:MM:SS:uuuuuu (or HH:MM:SS) in seconds."""
    parts = [int(x) for x in v.split(":")]
    if len(parts) == 4:
        h, m, s, us = parts
        return h * 3600 + m * 60 + s + us / 1e6
    h, m, s = parts
    return h * 3600 + m * 60 + s


def final_stats(path):
    """The cumulative counters of SIPp's last statistics line, and its elapsed time."""
    try:
        lines = [l for l in open(path, errors="replace").read().splitlines() if l.strip()]
        head = lines[0].split(";")
        last = lines[-1].split(";")
    except (OSError, IndexError):
        return None
    out = {}
    for c in COUNTERS:
        if c in head:
            try:
                out[c[:-3]] = int(last[head.index(c)])
            except (ValueError, IndexError):
                out[c[:-3]] = None
    try:
        out["elapsed_s"] = hms(last[head.index("ElapsedTime(C)")])
    except (ValueError, IndexError):
        out["elapsed_s"] = None
    try:
        rows = [l.split(";") for l in lines[1:]]
        top = max(rows, key=lambda r: int(r[head.index("SuccessfulCall(C)")] or 0))
        out["rtt_mean_ms"] = hms(top[head.index("ResponseTime1(C)")]) * 1000
    except (ValueError, IndexError):
        out["rtt_mean_ms"] = None
    return out


def port_bound(port):
    try:
        with open("/proc/net/udp") as f:
            next(f)
            return any(int(l.split()[1].split(":")[1], 16) == port for l in f)
    except (OSError, ValueError, IndexError, StopIteration):
        return False


def reap(proc, seconds):
    """wait4 PROC for at most SECONDS; (status, rusage) or (None, None)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = 0
            return status, rusage
        time.sleep(0.02)
    return None, None


def finish(proc, grace):
    """Let SIPp end by itself within GRACE s, else SIGUSR1 (SIPp's "quit now": it still writes its
    final statistics), else SIGKILL. Returns (status, rusage)."""
    status, rusage = reap(proc, grace)
    if status is None:
        try:
            proc.send_signal(signal.SIGUSR1)
        except ProcessLookupError:
            pass
        status, rusage = reap(proc, 5)
    if status is None:
        proc.kill()
        _, status, rusage = os.wait4(proc.pid, 0)
        proc.returncode = 0
    return status, rusage


def main():
    ap = argparse.ArgumentParser()
    for a in ("server", "bench", "uac-scenario", "uas-scenario", "target", "src", "workdir", "pids", "metrics",
              "au", "ap", "table", "also", "settle-metric"):
        ap.add_argument("--" + a, default=None)
    ap.add_argument("--rate", type=int, required=True)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--src-port", type=int, default=25060)
    ap.add_argument("--uas-port", type=int, default=25080)
    ap.add_argument("--round", type=int, default=1)
    ap.add_argument("--children", action="store_true")
    ap.add_argument("--uas-aa", action="store_true",
                    help="the UAS answers OPTIONS (SIPp -aa: a server's health probes), and has no -m")
    ap.add_argument("--sipp-buff", type=int, default=4194304)
    ap.add_argument("--settle-max", type=float, default=45.0)
    ap.add_argument("--uas-ip", default="127.0.0.1", help="the UAS's address (loopback)")
    ap.add_argument("--uac-args", default="", help="more SIPp options for the UAC (e.g. \"-d 10\")")
    a = ap.parse_args()
    assert a.target.startswith("127.") and a.src.startswith("127.") and a.uas_ip.startswith("127."), "loopback only"
    also = [int(p) for p in (a.also or "").split(",") if p]

    pids = [int(p) for p in a.pids.split(",") if p]
    if a.children:
        pids = descendants(pids)
    tag = "%s-%s-%d-r%d" % (a.server, a.bench, a.rate, a.round)
    uac_csv = os.path.join(a.workdir, "uac-%s.csv" % tag)
    uas_csv = os.path.join(a.workdir, "uas-%s.csv" % tag)
    uac_txt = os.path.join(a.workdir, "uac-%s.txt" % tag)
    uas_txt = os.path.join(a.workdir, "uas-%s.txt" % tag)
    for f in (uac_csv, uas_csv):
        if os.path.exists(f):
            os.remove(f)
    calls = a.rate * a.duration
    buff = ["-buff_size", str(a.sipp_buff)] if a.sipp_buff else []
    uas_cmd = ["sipp", "-sf", a.uas_scenario, "-i", a.uas_ip, "-p", str(a.uas_port), "-m", str(calls),
               "-timeout", "%ds" % (a.duration + 30), "-trace_stat", "-stf", uas_csv, "-fd", "1"] + buff
    if a.uas_aa:
        # SIPp's UAS counts what it auto-answers among its -m calls, and would end before the last
        # real call: without -m it runs until finish() stops it (SIGUSR1, final statistics kept).
        i = uas_cmd.index("-m")
        del uas_cmd[i:i + 2]
        uas_cmd.append("-aa")
    uac_cmd = ["sipp", "-sf", a.uac_scenario, a.target, "-i", a.src, "-p", str(a.src_port), "-s", "service",
               "-r", str(a.rate), "-rp", "1000", "-l", "10000", "-m", str(calls),
               "-timeout", "%ds" % (a.duration + 15), "-timeout_error",
               "-trace_stat", "-stf", uac_csv, "-fd", "1"] + buff + a.uac_args.split()
    if a.au:
        uac_cmd += ["-au", a.au, "-ap", a.ap]

    procs = []

    def stop(signum, _frame):  # stopped by the script's trap: take both SIPps along
        for p in procs:
            try:
                p.kill()
                os.waitpid(p.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    uas_out = open(uas_txt, "w")
    uas = subprocess.Popen(uas_cmd, stdin=subprocess.DEVNULL, stdout=uas_out, stderr=subprocess.STDOUT,
                           cwd=a.workdir)
    procs.append(uas)
    for _ in range(250):  # at most 5 s for the UAS to bind its port
        if port_bound(a.uas_port) or uas.poll() is not None:
            break
        time.sleep(0.02)
    if uas.poll() is not None:
        raise SystemExit("callrun: the SIPp UAS exited at once; see %s" % uas_txt)

    m_recv0 = metric(a.metrics, "sipmap_sip_requests_received_total")
    server_port = int(a.target.rsplit(":", 1)[1])
    d0 = udp_drops([server_port])
    everyone0 = all_ticks()
    t_srv0 = ticks(pids)
    t_also0 = ticks(also)
    m0 = machine()
    t0 = time.monotonic()
    with open(uac_txt, "w") as out:
        uac = subprocess.Popen(uac_cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                               cwd=a.workdir)
        procs.append(uac)
        status, rusage = reap(uac, a.duration + 60)
        if status is None:
            status, rusage = finish(uac, 0)
    t_uac = time.monotonic()
    if a.settle_metric:
        while time.monotonic() - t_uac < a.settle_max and metric(a.metrics, a.settle_metric) != 0:
            time.sleep(0.1)
    settle = time.monotonic() - t_uac
    wall = time.monotonic() - t0
    t_srv1 = ticks(pids)
    t_also1 = ticks(also)
    m1 = machine()
    d1 = udp_drops([server_port])
    everyone1 = all_ticks()
    m_recv1 = metric(a.metrics, "sipmap_sip_requests_received_total")
    uas_status, uas_rusage = finish(uas, 5)
    uas_out.close()
    ours = set(pids) | set(also) | {uac.pid, uas.pid, os.getpid()}
    others = sum(everyone1[p] - everyone0[p] for p in everyone1 if p in everyone0 and p not in ours) / CLK_TCK

    c = final_stats(uac_csv) or {}
    s = final_stats(uas_csv) or {}
    ok = c.get("SuccessfulCall")
    created = c.get("OutgoingCall")
    failed = c.get("FailedCall")
    lost = created - ok - failed if None not in (created, ok, failed) else None
    unexpected = sum(x.get(k) or 0 for x in (c, s) for k in ("FailedUnexpectedMessage", "OutOfCallMsgs", "DeadCallMsgs"))
    uac_cpu = (rusage.ru_utime + rusage.ru_stime) if rusage else None
    uas_cpu = (uas_rusage.ru_utime + uas_rusage.ru_stime) if uas_rusage else None
    # the UAS's CPU is counted over its whole life (it starts before and ends after the UAC)
    srv_cpu = (t_srv1 - t_srv0) / CLK_TCK
    elapsed = c.get("elapsed_s") or wall
    busy = (m1[0] - m0[0]) / max(1, m1[1] - m0[1])
    clean = (ok == calls and failed == 0 and lost == 0 and c.get("Retransmissions") == 0
             and s.get("Retransmissions") == 0 and (s.get("FailedCall") or 0) == 0 and unexpected == 0)
    res = {
        "server": a.server, "bench": a.bench, "table": a.table, "round": a.round, "offered_per_s": a.rate,
        "duration_s": a.duration, "calls_offered": calls, "calls_created": created, "successful": ok,
        "failed": failed, "lost": lost, "retrans": c.get("Retransmissions"), "unexpected": unexpected,
        "uac": c, "uas": s, "clean": bool(clean),
        "sipp_elapsed_s": round(elapsed, 3), "wall_s": round(wall, 3), "settle_s": round(settle, 2),
        "settled": metric(a.metrics, a.settle_metric) == 0 if a.settle_metric else None,
        "achieved_per_s": round(ok / elapsed, 1) if ok and elapsed else None,
        "uac_cpu_pct": round(100 * uac_cpu / wall, 1) if uac_cpu is not None else None,
        "uas_cpu_s": round(uas_cpu, 3) if uas_cpu is not None else None,
        "server_cpu_s": round(srv_cpu, 3), "server_cpu_pct": round(100 * srv_cpu / wall, 1),
        "server_cpu_us_per_call": round(1e6 * srv_cpu / ok, 2) if ok else None,
        "server_requests": (m_recv1 - m_recv0) if None not in (m_recv0, m_recv1) else None,
        "also_cpu_s": round((t_also1 - t_also0) / CLK_TCK, 3) if also else None,
        "also_cpu_us_per_call": round(1e6 * (t_also1 - t_also0) / CLK_TCK / ok, 2) if also and ok else None,
        "server_pids": len(pids), "machine_busy_pct": round(100 * busy, 1),
        "other_cpu_pct": round(max(100 * others / wall,
                                   100 * busy * os.cpu_count() - 100 * srv_cpu / wall
                                   - (100 * uac_cpu / wall if uac_cpu is not None else 0)
                                   - (100 * uas_cpu / wall if uas_cpu is not None else 0)), 1),
        "other_procs_cpu_pct": round(100 * others / wall, 1),
        "udp_drops_server": d1[server_port] - d0[server_port],
        "sipp_buff": a.sipp_buff,
        "uac_exit": os.waitstatus_to_exitcode(status) if status is not None else None,
        "uas_exit": os.waitstatus_to_exitcode(uas_status) if uas_status is not None else None,
        "log": os.path.basename(uac_txt),
    }
    print(json.dumps(res))
    print("[sip-auth-bench]   %-10s %-10s %6d calls/s offered: %8.1f/s achieved, failed %s, lost %s, retrans %s/%s, "
          "unexpected %s -> %s; server CPU %.1f%% (%s us/call), UAC %s%%, other %s%%" % (
              a.server, a.bench, a.rate, res["achieved_per_s"] or 0, failed, lost, c.get("Retransmissions"),
              s.get("Retransmissions"), unexpected, "clean" if clean else "NOT clean", res["server_cpu_pct"],
              res["server_cpu_us_per_call"], res["uac_cpu_pct"], res["other_cpu_pct"]), file=sys.stderr)


if __name__ == "__main__":
    main()
