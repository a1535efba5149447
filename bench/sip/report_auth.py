#!/usr/bin/env python3
"""Markdown tables from bench/sip_auth.sh's output directory (standard library only).

  report_auth.py OUT_DIR

Reads meta.json, results-acl.jsonl, results-digest.jsonl and memory-*.json (whatever is there).
Medians are over rounds. The ACL ratio is new/old server CPU per request (per call for INVITEs):
the ratio of the medians, and the median of each round's ratio (both servers ran in the same
round, one after the other). A digest run is clean when every offered call succeeded with no
failed or lost call, no retransmission (UAC or UAS) and no unexpected, out-of-call or dead-call
message; a round's clean rate is the highest offered rate clean in that round with every lower
rate clean too; the clean rate is the highest offered rate that is clean in every round, with
every lower rate clean in every round.
"""
import json
import os
import statistics
import sys


def load(path):
    if not os.path.exists(path):
        return []
    return [json.loads(l) for l in open(path) if l.strip()]


def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


def fmt(x, nd=0):
    if x is None:
        return "–"
    return "{:,.{}f}".format(x, nd)


def ratio(a, b):
    return a / b if a is not None and b else None


def acl_tables(meta, rows):
    out = []
    key = "server_cpu_us_per_req"
    opts = [r for r in rows if "path" in r]
    calls = [r for r in rows if r.get("bench") == "acl-invite"]
    if opts:
        out.append("### ACL path cost: OPTIONS answered by the edge (server CPU per answered request)\n")
        out.append("old = %s (no security settings), %s mappings; new = %s, the same mappings + %s ACL networks, "
                   "admitted by the list holding 127.0.0.1/32. Per round: µs per request (achieved/s, retransmissions).\n"
                   % (meta.get("old_bin"), fmt(meta.get("networks")), meta.get("new_bin"), fmt(meta.get("acl_networks"))))
        out.append("| offered/s | old, per round | new, per round | old median | new median | new/old (medians) | new/old (median of rounds) | target ≤ 1.10 |")
        out.append("|---|---|---|---|---|---|---|---|")
        for rate in sorted({r["offered_per_s"] for r in opts}):
            by = {s: sorted([r for r in opts if r["server"] == s and r["offered_per_s"] == rate], key=lambda r: r["round"])
                  for s in ("old", "new")}
            cells = {s: " / ".join("%s (%s/s, %s)" % (fmt(r[key], 2), fmt(r["achieved_per_s"]), r["retrans"]) for r in by[s])
                     for s in by}
            mo, mn = med([r[key] for r in by["old"]]), med([r[key] for r in by["new"]])
            rounds = {r["round"] for r in by["old"]} & {r["round"] for r in by["new"]}
            per = [ratio(next(r[key] for r in by["new"] if r["round"] == k), next(r[key] for r in by["old"] if r["round"] == k))
                   for k in sorted(rounds)]
            rm, rr = ratio(mn, mo), med(per)
            met = "met" if rm is not None and rm <= 1.10 and (rr is None or rr <= 1.10) else "**not met**"
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (fmt(rate), cells["old"], cells["new"], fmt(mo, 2),
                                                                   fmt(mn, 2), fmt(rm, 3), fmt(rr, 3), met))
        out.append("")
    if calls:
        key = "server_cpu_us_per_call"
        out.append("### ACL path cost: INVITE/ACK/BYE calls forwarded to a SIPp UAS (server CPU per call)\n")
        out.append("| calls/s offered | old, µs/call per round | new, µs/call per round | old median | new median | new/old (medians) | new/old (median of rounds) | clean runs old / new |")
        out.append("|---|---|---|---|---|---|---|---|")
        for rate in sorted({r["offered_per_s"] for r in calls}):
            by = {s: sorted([r for r in calls if r["server"] == s and r["offered_per_s"] == rate], key=lambda r: r["round"])
                  for s in ("old", "new")}
            mo, mn = med([r[key] for r in by["old"]]), med([r[key] for r in by["new"]])
            rounds = {r["round"] for r in by["old"]} & {r["round"] for r in by["new"]}
            per = [ratio(next(r[key] for r in by["new"] if r["round"] == k), next(r[key] for r in by["old"] if r["round"] == k))
                   for k in sorted(rounds)]
            out.append("| %s | %s | %s | %s | %s | %s | %s | %d/%d / %d/%d |" % (
                fmt(rate), " / ".join(fmt(r[key], 1) for r in by["old"]), " / ".join(fmt(r[key], 1) for r in by["new"]),
                fmt(mo, 1), fmt(mn, 1), fmt(ratio(mn, mo), 3), fmt(med(per), 3),
                sum(r["clean"] for r in by["old"]), len(by["old"]), sum(r["clean"] for r in by["new"]), len(by["new"])))
        out.append("")
    return out


def memory_table(meta, out_dir):
    mem = {k: json.load(open(os.path.join(out_dir, "memory-%s.json" % k)))
           for k in ("acl", "base", "old") if os.path.exists(os.path.join(out_dir, "memory-%s.json" % k))}
    if not mem:
        return []
    n = meta.get("acl_networks") or 0
    out = ["### Memory of the ACL networks (new binary, once the first OPTIONS is answered + 1 s)\n",
           "| table | first 200 after (ms, median) | VmHWM (kB, median) | VmRSS (kB, median) | runs (VmHWM / VmRSS kB) |",
           "|---|---|---|---|---|"]
    names = {"acl": "mappings + %s ACL networks" % fmt(n), "base": "mappings + the loopback list only",
             "old": "old binary, mappings only"}
    for k in ("acl", "base", "old"):
        if k in mem:
            m = mem[k]
            out.append("| %s | %s | %s | %s | %s |" % (names[k], fmt(m["median_ms_to_200"]), fmt(m["median_vmhwm_kb"]),
                                                   fmt(m["median_vmrss_kb"]),
                                                   ", ".join("%s / %s" % (fmt(r["vmhwm_kb"]), fmt(r["vmrss_kb"])) for r in m["runs"])))
    if "acl" in mem and "base" in mem and n:
        for what, k in (("VmHWM", "median_vmhwm_kb"), ("VmRSS", "median_vmrss_kb")):
            d = (mem["acl"][k] - mem["base"][k]) * 1024
            b = d / n
            out.append("")
            out.append("%s difference: %s bytes = **%s bytes per ACL network** (target ≤ 64: %s)" % (
                what, fmt(d), fmt(b, 1), "met" if b <= 64 else "**not met**"))
    out.append("")
    return out


def digest_tables(meta, rows):
    if not rows:
        return []
    out = ["### Digest-authenticated calls: sipmap vs Kamailio 5.6\n",
           "Per offered rate and round: achieved calls/s, and why a run is not clean (f = failed, l = lost, "
           "r = retransmissions UAC+UAS, u = unexpected/out-of-call/dead-call messages). Server CPU per call: median "
           "over rounds; SIPp UAC CPU in % of a core.\n",
           "| calls/s offered | sipmap | Kamailio | sipmap µs/call | Kamailio µs/call | Kamailio/sipmap CPU | sipmap CPU % | Kamailio CPU % | SIPp UAC % (sipmap / Kamailio) |",
           "|---|---|---|---|---|---|---|---|---|"]
    servers = ("sipmap", "kamailio")

    def cell(r):
        bad = []
        if r["failed"]:
            bad.append("f %d" % r["failed"])
        if r["lost"]:
            bad.append("l %d" % r["lost"])
        rt = (r["retrans"] or 0) + ((r.get("uas") or {}).get("Retransmissions") or 0)
        if rt:
            bad.append("r %d" % rt)
        if r["unexpected"]:
            bad.append("u %d" % r["unexpected"])
        if not bad and not r["clean"]:
            bad.append("%s/%s ok" % (r["successful"], r["calls_offered"]))
        return fmt(r["achieved_per_s"]) + ("" if r["clean"] else " (**%s**)" % ", ".join(bad))

    rates = sorted({r["offered_per_s"] for r in rows})
    for rate in rates:
        by = {s: sorted([r for r in rows if r["server"] == s and r["offered_per_s"] == rate], key=lambda r: r["round"])
              for s in servers}
        cs = {s: med([r["server_cpu_us_per_call"] for r in by[s]]) for s in servers}
        pct = {s: med([r["server_cpu_pct"] for r in by[s]]) for s in servers}
        uac = {s: med([r["uac_cpu_pct"] for r in by[s]]) for s in servers}
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s / %s |" % (
            fmt(rate), " / ".join(cell(r) for r in by["sipmap"]) or "–", " / ".join(cell(r) for r in by["kamailio"]) or "–",
            fmt(cs["sipmap"], 1), fmt(cs["kamailio"], 1), fmt(ratio(cs["kamailio"], cs["sipmap"]), 2),
            fmt(pct["sipmap"]), fmt(pct["kamailio"]), fmt(uac["sipmap"]), fmt(uac["kamailio"])))
    out.append("")
    rounds = sorted({r["round"] for r in rows})
    clean = {}
    for s in servers:
        per_round = []
        for k in rounds:
            best = None
            for rate in rates:
                rr = [r for r in rows if r["server"] == s and r["round"] == k and r["offered_per_s"] == rate]
                if not rr or not all(r["clean"] for r in rr):
                    break
                best = rate
            per_round.append(best)
        strict = None
        for rate in rates:
            rr = [r for r in rows if r["server"] == s and r["offered_per_s"] == rate]
            if len({r["round"] for r in rr}) < len(rounds) or not all(r["clean"] for r in rr):
                break
            strict = rate
        ach = med([r["achieved_per_s"] for r in rows if r["server"] == s and r["offered_per_s"] == strict]) if strict else None
        top = max((r["offered_per_s"] for r in rows if r["server"] == s), default=None)
        clean[s] = (strict, per_round, ach, top)
    out.append("| | clean rate (every round), calls/s offered (achieved) | clean rate per round | highest rate tried |")
    out.append("|---|---|---|---|")
    for s in servers:
        strict, per_round, ach, top = clean[s]
        out.append("| %s | %s (%s) | %s | %s |" % (s, fmt(strict), fmt(ach), " / ".join(fmt(x) for x in per_round), fmt(top)))
    r = ratio(clean["sipmap"][0], clean["kamailio"][0])
    out.append("")
    out.append("sipmap / Kamailio clean rate: **%s×** (target ≥ 2: %s)%s" % (
        fmt(r, 2), "met" if r is not None and r >= 2 else "**not met**",
        "; sipmap was clean at the highest rate tried, so its own limit was not reached"
        if clean["sipmap"][0] is not None and clean["sipmap"][0] == clean["sipmap"][3] else ""))
    out.append("")
    return out


def main():
    d = sys.argv[1]
    meta = json.load(open(os.path.join(d, "meta.json")))
    out = ["## SIP security benchmarks (%s, %s cores, %s; repo %s; old %s, new %s)\n" % (
        meta.get("date"), meta.get("nproc"), meta.get("cpu"), meta.get("repo_head"), meta.get("old_bin_sha256"),
        meta.get("new_bin_sha256"))]
    out += acl_tables(meta, load(os.path.join(d, "results-acl.jsonl")))
    out += memory_table(meta, d)
    out += digest_tables(meta, load(os.path.join(d, "results-digest.jsonl")))
    print("\n".join(out))


if __name__ == "__main__":
    main()
