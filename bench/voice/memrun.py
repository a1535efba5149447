#!/usr/bin/env python3
"""Memory per live call (bench/voice_calls.sh), standard library only, loopback only, every wait
bounded.

  memrun.py --pid PID --metrics URL --calls N --rate R --hold-ms H --uac-scenario F --uas-scenario F
            --target 127.0.0.1:P --src IP --src-port P --uas-ip IP --uas-port U --workdir DIR
            [--after-wait S]

Reads sipmap's VmRSS and RssAnon (/proc/PID/status) with no call live, then a SIPp UAS and a SIPp
UAC (-m N -l N -r R, each call held H ms between its ACK and its BYE: SIPp's -d) make N calls
that get answered and stay up; every 0.25 s it samples sipmap_calls_live and the RSS. The plateau
is the samples where the live count is at its maximum; per live call = (median plateau RSS -
RSS before) / that count (and the same with the first sample at the maximum: the RSS may go on
growing while the server catches up with work queued during the ramp). Then it waits (at most --after-wait s: a call stays live 32 s after its
BYE) for the calls to end and reads the RSS again.
Prints one JSON object, with the most calls the SIPp callee had open at once (bridged calls).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sip"))
from callrun import final_stats, finish, port_bound, reap  # noqa: E402
from sipprun import metric  # noqa: E402


def status_kb(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "RssAnon", "RssFile", "VmHWM", "Threads"):
                out[k] = int(v.split()[0])
    return out


def peak_current(csv_path):
    """The most calls SIPp had open at once (its CurrentCall column), or None."""
    try:
        rows = [l.split(";") for l in open(csv_path, errors="replace").read().splitlines() if l.strip()]
        i = rows[0].index("CurrentCall")
        return max(int(r[i]) for r in rows[1:] if len(r) > i and r[i].isdigit())
    except (OSError, ValueError, IndexError):
        return None


def main():
    ap = argparse.ArgumentParser()
    for a in ("metrics", "uac-scenario", "uas-scenario", "target", "src", "uas-ip", "workdir"):
        ap.add_argument("--" + a, required=True)
    for a in ("pid", "calls", "rate", "hold-ms", "src-port", "uas-port"):
        ap.add_argument("--" + a, type=int, required=True)
    ap.add_argument("--after-wait", type=float, default=40.0)
    a = ap.parse_args()
    assert a.target.startswith("127.") and a.src.startswith("127.") and a.uas_ip.startswith("127."), "loopback only"
    n = a.calls
    ramp = n / a.rate
    limit = int(ramp + a.hold_ms / 1000 + 60)
    uac_csv, uas_csv = (os.path.join(a.workdir, "mem-%s.csv" % w) for w in ("uac", "uas"))
    before = status_kb(a.pid)
    live0 = metric(a.metrics, "sipmap_calls_live")
    uas = subprocess.Popen(["sipp", "-sf", a.uas_scenario, "-i", a.uas_ip, "-p", str(a.uas_port), "-m", str(n),
                            "-l", str(n), "-timeout", "%ds" % (limit + 10), "-trace_stat", "-stf", uas_csv,
                            "-fd", "1", "-buff_size", "4194304"],
                           stdin=subprocess.DEVNULL, stdout=open(os.path.join(a.workdir, "mem-uas.txt"), "w"),
                           stderr=subprocess.STDOUT, cwd=a.workdir)
    for _ in range(250):
        if port_bound(a.uas_port) or uas.poll() is not None:
            break
        time.sleep(0.02)
    uac = subprocess.Popen(["sipp", "-sf", a.uac_scenario, a.target, "-i", a.src, "-p", str(a.src_port),
                            "-s", "bob", "-r", str(a.rate), "-rp", "1000", "-m", str(n), "-l", str(n),
                            "-d", str(a.hold_ms), "-timeout", "%ds" % limit, "-timeout_error",
                            "-trace_stat", "-stf", uac_csv, "-fd", "1", "-buff_size", "4194304"],
                           stdin=subprocess.DEVNULL, stdout=open(os.path.join(a.workdir, "mem-uac.txt"), "w"),
                           stderr=subprocess.STDOUT, cwd=a.workdir)
    t0 = time.monotonic()
    samples = []
    try:
        while uac.poll() is None and time.monotonic() - t0 < limit + 5:
            live = metric(a.metrics, "sipmap_calls_live")
            s = status_kb(a.pid)
            samples.append({"t": round(time.monotonic() - t0, 2), "live": live, **s})
            time.sleep(0.25)
            # past the plateau (the BYEs have started): stop sampling
            peak = max(x["live"] or 0 for x in samples)
            if peak and live is not None and live < 0.9 * peak:
                break
        if uac.poll() is None:
            status, _ = finish(uac, max(1, limit + 5 - (time.monotonic() - t0)))
            uac_exit = os.waitstatus_to_exitcode(status) if status is not None else None
        else:
            uac_exit = uac.returncode
        if uas.poll() is None:
            finish(uas, 10)
    finally:
        for p in (uac, uas):
            if p.poll() is None:
                p.kill()
                p.wait()
    t_end = time.monotonic()
    while time.monotonic() - t_end < a.after_wait and metric(a.metrics, "sipmap_calls_live"):
        time.sleep(0.25)
    after = status_kb(a.pid)
    live_after = metric(a.metrics, "sipmap_calls_live")
    peak = max((x["live"] or 0) for x in samples) if samples else 0
    plateau = [x for x in samples if x["live"] == peak]
    first = plateau[0] if plateau else None
    rss = statistics.median(x["VmRSS"] for x in plateau) if plateau else None
    anon = statistics.median(x["RssAnon"] for x in plateau) if plateau else None
    c, s = final_stats(uac_csv) or {}, final_stats(uas_csv) or {}
    res = {
        "calls": n, "rate": a.rate, "hold_ms": a.hold_ms, "live_before": live0, "live_peak": peak,
        "plateau_samples": len(plateau), "before_kb": before, "plateau_rss_kb": rss, "plateau_anon_kb": anon,
        "after_kb": after, "live_after": live_after,
        "first_full_rss_kb": first["VmRSS"] if first else None, "first_full_t": first["t"] if first else None,
        "first_full_rss_per_call_kb": round((first["VmRSS"] - before["VmRSS"]) / peak, 2) if first else None,
        "rss_per_call_kb": round((rss - before["VmRSS"]) / peak, 2) if peak and rss else None,
        "anon_per_call_kb": round((anon - before["RssAnon"]) / peak, 2) if peak and anon else None,
        "callee_peak_open": peak_current(uas_csv),
        "uac_successful": c.get("SuccessfulCall"), "uac_failed": c.get("FailedCall"),
        "uac_retrans": c.get("Retransmissions"), "uas_retrans": s.get("Retransmissions"),
        "refused": metric(a.metrics, 'sipmap_calls_refused_total{limit="max_calls"}'),
        "uac_exit": uac_exit,
        "samples": samples,
    }
    print(json.dumps(res))


if __name__ == "__main__":
    main()
