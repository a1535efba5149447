#!/usr/bin/env python3
"""The tables of bench/voice_calls.sh from its results.jsonl (standard library only).

  report.py results.jsonl
"""
import json
import statistics
import sys


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def main():
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    cpu = [r for r in rows if "phase" not in r]
    settles = [r["settle_s"] for r in cpu if r["server"] == "voice" and r.get("settle_s")]
    rounds = sorted({r["round"] for r in cpu})
    by = {(r["round"], r["server"]): r for r in cpu}
    for r in rows:
        if r.get("phase") == "idle":
            print("sipmap idle, no call: %d CPU ticks (of 1/%d s) in %d s\n" % (r["ticks"], r["clk_tck"], r["seconds"]))
    print("### CPU per call (sipmap's utime+stime per successful call)\n")
    print("| round | voice µs/call | plain µs/call | voice/plain | webhook µs/voice call | voice calls ok / offered, "
          "clean | plain calls ok / offered, clean | other CPU % (voice, plain) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    ratios = []
    for n in rounds:
        v, p = by.get((n, "voice")), by.get((n, "plain"))
        if not v or not p:
            continue
        ratio = v["server_cpu_us_per_call"] / p["server_cpu_us_per_call"] \
            if v["server_cpu_us_per_call"] and p["server_cpu_us_per_call"] else None
        ratios.append(ratio)
        print("| %s | %s | %s | %s | %s | %s / %s, %s | %s / %s, %s | %s, %s |" % (
            n, v["server_cpu_us_per_call"], p["server_cpu_us_per_call"], "%.2f" % ratio if ratio else "-",
            v.get("also_cpu_us_per_call"), v["successful"], v["calls_offered"], "yes" if v["clean"] else "no",
            p["successful"], p["calls_offered"], "yes" if p["clean"] else "no",
            v["other_cpu_pct"], p["other_cpu_pct"]))
    mv = med(by[(n, "voice")]["server_cpu_us_per_call"] for n in rounds if (n, "voice") in by)
    mp = med(by[(n, "plain")]["server_cpu_us_per_call"] for n in rounds if (n, "plain") in by)
    mh = med(by[(n, "voice")].get("also_cpu_us_per_call") for n in rounds if (n, "voice") in by)
    mr = med(ratios)
    if mv and mp:
        print("| **median** | **%.1f** | **%.1f** | **%.2f** (of medians: %.2f) | %s | | | |" % (
            mv, mp, mr, mv / mp, "%.1f" % mh if mh else "-"))
    if settles:
        print("\nEach voice run's window ran until no call was live: %.1f-%.1f s after the caller's last call "
              "(settled: %s)." % (min(settles), max(settles),
                                 all(r.get("settled") for r in cpu if r["server"] == "voice")), end="")
    for n in rounds:
        for path in ("plain", "voice"):
            r = by.get((n, path))
            if r and r.get("per_call"):
                print("\nround %s %s, kernel events per successful call (perf stat): %s" % (
                    n, path, json.dumps(r["per_call"])), end="")
    for n in rounds:
        v = by.get((n, "voice"))
        if v and v.get("sipmap"):
            s = v["sipmap"]
            print("\nround %s voice, sipmap's counters: %s" % (n, json.dumps(s)), end="")
    print("\n")
    for r in rows:
        if r.get("phase") == "latency":
            lat = r["latency"]
            print("### Setup latency (%d calls/s for %d s, %s calls ok of %s; %d caller INVITEs, %d paired)\n" % (
                r["offered_per_s"], r["duration_s"], r["successful"], r["calls_offered"], lat["caller_invites"],
                lat["paired"]))
            print("| ms | p50 | p90 | p99 | max |")
            print("| --- | --- | --- | --- | --- |")
            for k, label in (("total_ms", "caller's INVITE in → child INVITE out"),
                             ("webhook_own_ms", "the webhook's own time"),
                             ("added_ms", "**added by sipmap** (the difference, per call)")):
                s = lat[k]
                print("| %s | %s | %s | %s | %s |" % (label, s["p50"], s["p90"], s["p99"], s["max"]))
            print()
        if r.get("phase") == "memory":
            print("### Memory per live call (%d calls at %d calls/s, held %d s)\n" % (
                r["calls"], r["rate"], r["hold_ms"] // 1000))
            b = r["before_kb"]
            print("| | before (%s live) | plateau (%s live, %d samples) | after (%s live) | per live call |" % (
                r["live_before"], r["live_peak"], r["plateau_samples"], r.get("live_after")))
            print("| --- | --- | --- | --- | --- |")
            print("| VmRSS KiB | %s | %s | %s | **%s KiB** |" % (b["VmRSS"], r["plateau_rss_kb"], r["after_kb"]["VmRSS"],
                                                                 r["rss_per_call_kb"]))
            print("| RssAnon KiB | %s | %s | %s | %s KiB |" % (b["RssAnon"], r["plateau_anon_kb"],
                                                                r["after_kb"]["RssAnon"], r["anon_per_call_kb"]))
            if r.get("first_full_rss_kb"):
                print("| VmRSS KiB, first sample with all live (t = %s s) | | %s | | %s KiB |" % (
                    r["first_full_t"], r["first_full_rss_kb"], r["first_full_rss_per_call_kb"]))
            print("\nSIPp caller: %s successful, %s failed, retransmissions %s (callee %s); refused by max_calls: %s; "
                  "most calls open at the callee at once (bridged): %s" % (
                      r["uac_successful"], r["uac_failed"], r["uac_retrans"], r["uas_retrans"], r["refused"],
                      r.get("callee_peak_open")))


if __name__ == "__main__":
    main()
