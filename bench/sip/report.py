#!/usr/bin/env python3
"""Markdown tables from bench/sip.sh's results.jsonl and meta.json (standard library only).

  report.py RESULTS.jsonl META.json

"Clean" = zero OPTIONS retransmissions, zero failed and zero lost calls in every round at that
offered rate; a server's clean rate is the median achieved rate at its highest clean offered rate.
"""
import json
import statistics
import sys

NAMES = {
    "sipmap": "sipmap",
    "kam-1m": "Kamailio 5.6, same table",
    "kam-peers": "Kamailio 5.6, peers.md table",
    "kam-small": "Kamailio 5.6, 3 rows",
}


def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


def fmt(x, nd=0):
    if x is None:
        return "–"
    if nd == 0:
        return "{:,.0f}".format(x)
    return "{:,.{}f}".format(x, nd)


BUFF = None  # the SIPp -buff_size of the main sweeps (set from meta.json)


def rows_of(results, server, path, buff=None):
    out = {}
    buff = BUFF if buff is None else buff
    for r in results:
        if r["server"] == server and r["path"] == path and r.get("sipp_buff", 0) == buff:
            out.setdefault(r["offered_per_s"], []).append(r)
    return dict(sorted(out.items()))


def clean(runs):
    return all(r["retrans"] == 0 and r["failed"] == 0 and (r["lost"] or 0) == 0 and r["successful"] for r in runs)


def clean_rate(by_rate):
    best = None
    for rate, runs in by_rate.items():
        if clean(runs):
            best = (rate, med([r["achieved_per_s"] for r in runs]))
    top = max(by_rate) if by_rate else None
    return best, top


def table(results, path_of, title, servers, buff=None):
    print("### " + title)
    print()
    print("| Server | Table rows | Offered/s | Achieved/s (median) | Achieved/s per round | Retrans per round | "
          "Failed+lost (max) | SIPp CPU % | Server CPU % | Server CPU µs/request | UDP drops server / SIPp (max) | "
          "Other jobs' CPU % (max) |")
    print("|---|---:|---:|---:|---|---|---:|---:|---:|---:|---|---:|")
    for s in servers:
        for rate, runs in rows_of(results, s, path_of(s), buff).items():
            runs.sort(key=lambda r: r["round"])
            print("| %s | %s | %s | **%s** | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                NAMES.get(s, s), fmt(float(runs[0]["table"])), fmt(rate),
                fmt(med([r["achieved_per_s"] for r in runs])),
                " / ".join(fmt(r["achieved_per_s"]) for r in runs),
                " / ".join(fmt(r["retrans"]) for r in runs),
                fmt(max((r["failed"] or 0) + (r["lost"] or 0) for r in runs)),
                fmt(med([r["sipp_cpu_pct"] for r in runs])),
                fmt(med([r["server_cpu_pct"] for r in runs])),
                fmt(med([r["server_cpu_us_per_req"] for r in runs]), 1),
                "%s / %s" % (fmt(max(r.get("udp_drops_server", 0) for r in runs)),
                             fmt(max(r.get("udp_drops_sipp", 0) for r in runs))),
                fmt(max(r.get("other_cpu_pct", 0) for r in runs))))
    print()


def main():
    global BUFF
    results = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    meta = json.load(open(sys.argv[2]))
    BUFF = meta.get("sipp_buff", 0)
    servers = [s for s in meta.get("servers", "").split() if any(r["server"] == s for r in results)]
    print("Run: %s; %s × %s (nproc %s); Kamailio `%s`, %s; sipmap %s (binary built %s); "
          "%s rounds × %s s per rate; busy before the run: %s %%." % (
              meta.get("date"), meta.get("cpu"), meta.get("nproc"), meta.get("nproc"), meta.get("kamailio"),
              meta.get("sipp"), meta.get("sipmap"), meta.get("sipmap_bin_mtime"), meta.get("rounds"),
              meta.get("duration_s"), meta.get("busy_before_pct")))
    t = meta.get("table", {})
    if t:
        print()
        print("Table: %s networks + 127.0.0.1/32 (by prefix length: %s); Kamailio file: %s rows, %s of them "
              "shorter than /32 (its linear subnet array)." % (
                  fmt(t.get("networks_generated")), ", ".join("/%s %s" % (k, fmt(v)) for k, v in t.get("by_prefix_length", {}).items()),
                  fmt(meta.get("kamailio_tables", {}).get("big_rows")), fmt(meta.get("kamailio_tables", {}).get("big_subnet_rows"))))
    print()
    if results:
        table(results, lambda s: "200", "Throughput, 200 path (source 127.0.0.1, mapped); SIPp -buff_size %s" % BUFF,
              servers)
        table(results, lambda s: "404" if s == "sipmap" else "403",
              "Throughput, unmatched path (source 127.0.0.2: sipmap 404, Kamailio 403); SIPp -buff_size %s" % BUFF,
              servers)
        if BUFF and any(r.get("sipp_buff", 0) == 0 for r in results):
            table(results, lambda s: "200",
                  "peers.md's exact method (SIPp's default socket buffer), 200 path", servers, buff=0)

        print("### Clean rate (zero retransmissions, failures and losses in every round) and CPU per request "
              "(SIPp -buff_size %s)" % BUFF)
        print()
        cpu_rate = min(int(x) for x in str(meta.get("rates", "10000")).split())
        print("| Server | Path | Highest clean offered/s | Achieved/s there | Highest offered/s tried | "
              "Server CPU µs/request at %s/s | SIPp CPU %% at the highest rate |" % fmt(cpu_rate))
        print("|---|---|---:|---:|---:|---:|---:|")
        summary = {}
        for s in servers:
            for path in (("200", "404") if s == "sipmap" else ("200", "403")):
                by_rate = rows_of(results, s, path)
                if not by_rate:
                    continue
                best, top = clean_rate(by_rate)
                cpu = med([r["server_cpu_us_per_req"] for r in by_rate.get(cpu_rate, [])])
                sipp_top = med([r["sipp_cpu_pct"] for r in by_rate[top]])
                summary[(s, path)] = (best, top, cpu)
                print("| %s | %s | %s | %s | %s | %s | %s |" % (
                    NAMES.get(s, s), path, fmt(best[0]) if best else "none", fmt(best[1]) if best else "–",
                    fmt(top), fmt(cpu, 1), fmt(sipp_top)))
        print()
        base = summary.get(("sipmap", "200"))
        if base:
            print("| Ratio (200 path) | clean rate, sipmap ÷ Kamailio | CPU per request, Kamailio ÷ sipmap |")
            print("|---|---:|---:|")
            for s in servers:
                if s == "sipmap" or (s, "200") not in summary:
                    continue
                k = summary[(s, "200")]
                rate_ratio = (base[0][1] / k[0][1]) if (base[0] and k[0]) else None
                at_top = base[0] and base[0][0] == base[1]
                cpu_ratio = (k[2] / base[2]) if (k[2] and base[2]) else None
                print("| sipmap vs %s | %s%s | %s |" % (
                    NAMES.get(s, s), "≥ " if at_top else "", fmt(rate_ratio, 2), fmt(cpu_ratio, 2)))
            print()
            print("(\"≥\": sipmap was still clean at the highest offered rate, so its own limit was not reached.)")
            print()

    st = [(k, meta[k]) for k in ("startup_sipmap", "startup_kam-1m", "startup_kam-peers") if k in meta]
    if st:
        print("### Start-up: spawn → first OPTIONS from 127.0.0.1 answered 200")
        print()
        print("| Server | Runs (ms) | Median ms | VmHWM (MB) |")
        print("|---|---|---:|---:|")
        for k, v in st:
            name = {"startup_sipmap": "sipmap, %s networks" % fmt(meta.get("networks")),
                    "startup_kam-1m": "Kamailio, same table (main process)",
                    "startup_kam-peers": "Kamailio, peers.md 101,003 rows (main process)"}[k]
            print("| %s | %s | **%s** | %s |" % (name, " / ".join(fmt(r["ms"]) for r in v["runs"]),
                                              fmt(v["median_ms"]), fmt((v["vmhwm_kb_max"] or 0) / 1024)))
        print()
    rl = [(k, meta[k]) for k in ("reload_kam-1m", "reload_kam-peers") if k in meta]
    if rl:
        print("### Kamailio: `kamcmd permissions.addressReload` (its only way to change the table)")
        print()
        print("| Table | Reloads (ms) | Answer | Second reload at once |")
        print("|---|---|---|---|")
        for k, v in rl:
            print("| %s | %s | %s | %s |" % ("same table" if k == "reload_kam-1m" else "peers.md 101,003 rows",
                                             " / ".join(str(x) for x in v["ms"]), v["answer"],
                                             v["immediate_second_reload"]))
        print()
    pr = meta.get("propagation")
    if pr:
        print("### API → edge propagation (%s networks loaded)" % fmt(meta.get("networks")))
        print()
        print("| Change | Trials | API 2xx p50 / p99 ms | Edge changed, from request start, p50 / p99 ms | "
              "Edge changed, after the 2xx, p50 / p99 ms | First OPTIONS sent after the 2xx saw the change | "
              "Edge changed before the 2xx arrived |")
        print("|---|---:|---|---|---|---:|---:|")
        labels = {"create": "create mapping for a /32 (404 → 200)", "delete": "delete it (200 → 404)",
                  "create_/8": "create mapping for 127.0.0.0/8", "delete_/8": "delete it",
                  "create_/1": "create mapping for 0.0.0.0/1 (half of all /16 slots)", "delete_/1": "delete it"}
        for name in [n for n in labels if n in pr]:
            v = pr[name]
            print("| %s | %d | %s / %s | **%s / %s** | %s / %s | %d / %d | %d |" % (
                labels[name], v["trials"],
                fmt(v["api_ms"]["p50"], 2), fmt(v["api_ms"]["p99"], 2),
                fmt(v["edge_from_request_start_ms"]["p50"], 2), fmt(v["edge_from_request_start_ms"]["p99"], 2),
                fmt(v["edge_after_2xx_ms"]["p50"], 3), fmt(v["edge_after_2xx_ms"]["p99"], 3),
                v["first_probe_after_2xx_saw_change"], v["trials"], v["edge_changed_before_2xx"]))
        print()
    widecost(meta)


def widecost(meta):
    w = meta.get("widecost")
    if not w:
        return
    print("### API create/delete of a mapping for a wide network (%s networks loaded)" % fmt(meta.get("networks")))
    print()
    print("| Network | /16 slots rebuilt | Create ms (runs) | Delete ms (runs) |")
    print("|---|---:|---|---|")
    for net, v in w.items():
        plen = int(net.split("/")[1])
        print("| %s | %s | %s | %s |" % (net, fmt(2 ** max(0, 16 - plen)), " / ".join("%.1f" % x for x in v["create_ms"]),
                                         " / ".join("%.1f" % x for x in v["delete_ms"])))
    print()


if __name__ == "__main__":
    main()
