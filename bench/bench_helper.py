#!/usr/bin/env python3
"""Helper for bench/api.sh (standard library only).

Subcommands:
  freeport                               print a free TCP port on 127.0.0.1
  wait BASE AUTH PATH TIMEOUT_S          poll GET BASE+PATH until it answers 200; print ms waited
  seed BASE AUTH ACCOUNT N               create a SIP domain, N IP records and one mapping; print JSON
  count BASE AUTH PATH KEY MAX_PAGES     page through a Voice v1 list (PageSize=1000); print the row count
  startup RUNS PORT PATH AUTH OUT -- CMD...
                                         spawn CMD RUNS times; time spawn -> first authenticated 200 on PATH
  wrkresult LOG SCENARIO TARGET RUN      turn wrk_api.lua's BENCH_RESULT line into one JSON line
  meta OUT.json KEY=VALUE...             write a JSON object (dotted keys nest; values parsed as JSON if possible)
  report RESULTS.jsonl META.json         print the Markdown results table

Every loop here is bounded (by a count and/or a deadline). Only 127.0.0.1 is contacted.
"""
import base64
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse


def basic(auth):
    return "Basic " + base64.b64encode(auth.encode()).decode()


def split_base(base):
    u = urllib.parse.urlsplit(base)
    assert u.hostname in ("127.0.0.1", "localhost"), "loopback only"
    return u.hostname, u.port


def request(conn, auth, method, path, form=None):
    headers = {"Authorization": basic(auth)}
    body = None
    if form is not None:
        body = urllib.parse.urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, data


def cmd_freeport():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()


def try_get(host, port, path, auth, timeout=1.0):
    """One GET on a fresh connection; returns the status or None if it could not connect."""
    try:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            status, _ = request(conn, auth, "GET", path)
            return status
        finally:
            conn.close()
    except (OSError, http.client.HTTPException):
        return None


def cmd_wait(base, auth, path, timeout_s):
    host, port = split_base(base)
    t0 = time.monotonic()
    deadline = t0 + float(timeout_s)
    last = None
    while time.monotonic() < deadline:
        last = try_get(host, port, path, auth)
        if last == 200:
            print("%.1f" % ((time.monotonic() - t0) * 1000))
            return 0
        time.sleep(0.02)
    print("no 200 from %s%s within %ss (last status %s)" % (base, path, timeout_s, last), file=sys.stderr)
    return 1


def post_ok(conn, auth, path, form, what):
    status, data = request(conn, auth, "POST", path, form)
    if status != 201:
        raise SystemExit("seed: %s answered %s: %s" % (what, status, data[:300]))
    return json.loads(data)["sid"]


def cmd_seed(base, auth, account, n):
    host, port = split_base(base)
    conn = http.client.HTTPConnection(host, port, timeout=10)
    n = int(n)
    domain = post_ok(conn, auth, "/2010-04-01/Accounts/%s/SIP/Domains.json" % account,
                     {"DomainName": "bench-%d.sip.twilio.com" % port, "FriendlyName": "bench"}, "SIP domain")
    records = []
    for i in range(n):  # 10.255.x.y: outside the ranges the create benchmark and the loader use
        ip = "10.255.%d.%d" % (i // 256, i % 256)
        records.append(post_ok(conn, auth, "/v1/IpRecords",
                               {"IpAddress": ip, "CidrPrefixLength": "32", "FriendlyName": "seed %d" % i},
                               "IP record"))
    mapping = post_ok(conn, auth, "/v1/SourceIpMappings",
                      {"IpRecordSid": records[0], "SipDomainSid": domain}, "source IP mapping")
    conn.close()
    print(json.dumps({"domain": domain, "ip_record": records[0], "mapping": mapping, "records": n}))
    return 0


def cmd_count(base, auth, path, key, max_pages):
    host, port = split_base(base)
    conn = http.client.HTTPConnection(host, port, timeout=30)
    total = 0
    next_path = path + ("&" if "?" in path else "?") + "PageSize=1000"
    for _ in range(int(max_pages)):
        status, data = request(conn, auth, "GET", next_path)
        if status != 200:
            raise SystemExit("count: GET %s answered %s: %s" % (next_path, status, data[:300]))
        page = json.loads(data)
        total += len(page[key])
        nxt = page["meta"]["next_page_url"]
        if not nxt:
            print(total)
            return 0
        u = urllib.parse.urlsplit(nxt)  # absolute URL on --public-url: keep only path + query
        next_path = u.path + ("?" + u.query if u.query else "")
    raise SystemExit("count: more than %s pages" % max_pages)


def vm_hwm_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def stop(proc, grace=10.0):
    """SIGTERM, wait (bounded), then SIGKILL. Returns ms it took to exit after SIGTERM."""
    if proc.poll() is not None:
        return 0.0
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
        return None
    return (time.monotonic() - t0) * 1000


def cmd_startup(runs, port, path, auth, out, cmd):
    """Time from spawn to the first authenticated 200 answer, RUNS times."""
    port = int(port)
    results = []
    log = open(out + ".log", "ab")
    current = []

    def on_term(signum, frame):
        for p in current:
            if p.poll() is None:
                p.kill()
        raise SystemExit(143)

    signal.signal(signal.SIGTERM, on_term)
    for run in range(int(runs)):
        # the port must be free, or we would time the previous instance
        for _ in range(200):
            if try_get("127.0.0.1", port, path, auth, timeout=0.2) is None:
                break
            time.sleep(0.05)
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        current[:] = [proc]
        first = None
        attempts = 0
        deadline = t0 + 30.0
        while time.monotonic() < deadline and proc.poll() is None:
            attempts += 1
            if try_get("127.0.0.1", port, path, auth, timeout=2.0) == 200:
                first = (time.monotonic() - t0) * 1000
                break
            time.sleep(0.001)
        hwm = vm_hwm_kb(proc.pid)
        exited = proc.poll()
        stop_ms = stop(proc)
        results.append({"run": run + 1, "first_answer_ms": first, "attempts": attempts,
                        "vmhwm_kb": hwm, "exited_early": exited, "sigterm_exit_ms": stop_ms})
        time.sleep(0.2)
    log.close()
    with open(out, "w") as f:
        json.dump(results, f)
    ok = [r["first_answer_ms"] for r in results if r["first_answer_ms"] is not None]
    print(json.dumps({"runs": results, "median_ms": statistics.median(ok) if ok else None}))
    return 0 if len(ok) == len(results) else 1


def cmd_wrkresult(log, scenario, target, run, server_ticks=None, clk_tck=None, cpu0=None, cpu1=None,
                  wrk_cpu_s=None):
    line = None
    with open(log, errors="replace") as f:
        for l in f:
            if l.startswith("BENCH_RESULT "):
                line = l[len("BENCH_RESULT "):]
    if line is None:
        raise SystemExit("no BENCH_RESULT line in %s" % log)
    r = json.loads(line)
    secs = r["duration_us"] / 1e6
    if r["mode"] == "get":
        # wrk counts answers with a status > 399; everything else here was a 2xx (fetch/list answer 200)
        ok = r["requests"] - r["status_ge_400"]
        detail = {">399": r["status_ge_400"]} if r["status_ge_400"] else {}
    else:
        ok = r["statuses"].get("201", 0)
        detail = {k: v for k, v in r["statuses"].items() if k != "201"}
    out = {"scenario": scenario, "target": target, "run": int(run), "requests": r["requests"],
           "seconds": round(secs, 3), "ok": ok, "ok_per_s": round(ok / secs, 1) if secs else None,
           "not_ok": sum(detail.values()), "not_ok_detail": detail, "p50_us": r["p50_us"],
           "p90_us": r["p90_us"], "p99_us": r["p99_us"], "max_us": r["max_us"],
           "socket_errors": r["socket_errors"], "timeouts": r["timeouts"], "next_offset": r["next_offset"]}
    if server_ticks is not None and secs:
        # CPU the server used during the run, in % of one core (200 = both cores of a 2-core machine)
        out["server_cpu_pct"] = round(100.0 * int(server_ticks) / int(clk_tck) / secs, 1)
    if cpu0 and cpu1:
        a = [float(x) for x in cpu0.split()]
        b = [float(x) for x in cpu1.split()]
        total = max(1.0, b[1] - a[1])
        out["machine_busy_pct"] = round(100.0 * (b[0] - a[0]) / total, 1)   # of all cores
        out["steal_pct"] = round(100.0 * (b[2] - a[2]) / total, 1)
        if server_ticks is not None and wrk_cpu_s is not None:
            # whatever else ran (a build, another benchmark): busy time not used by the server or wrk
            tck = int(clk_tck)
            others = (b[0] - a[0]) / tck - int(server_ticks) / tck - float(wrk_cpu_s)
            out["wrk_cpu_pct"] = round(100.0 * float(wrk_cpu_s) / secs, 1)
            out["others_pct"] = round(max(0.0, 100.0 * others / (total / tck)), 1)
    print(json.dumps(out))
    return 0


def cmd_meta(out, *pairs):
    meta = {}
    if os.path.exists(out):
        meta = json.load(open(out))
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            value = json.loads(value)
        except ValueError:
            pass
        d = meta
        parts = key.split(".")
        for p in parts[:-1]:
            d = d.setdefault(p, {})
        d[parts[-1]] = value
    with open(out, "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    return 0


# ---------------------------------------------------------------------------------------------
# report

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt_rate(x):
    return "n/a" if x is None else "{:,.0f}".format(x)


def fmt_ms(us):
    return "n/a" if us is None else ("%.2f ms" % (us / 1000.0))


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return "n/a"
    return "%.1f×" % (a / b)


def cmd_report(results_path, meta_path):
    rows = [json.loads(l) for l in open(results_path) if l.strip()]
    meta = json.load(open(meta_path))

    def pick(scenario, target):
        return [r for r in rows if r["scenario"] == scenario and r["target"] == target]

    def summ(scenario, target):
        rs = pick(scenario, target)
        if not rs:
            return None
        return {
            "n": len(rs),
            "rate": med([r["ok_per_s"] for r in rs]),
            "rates": [r["ok_per_s"] for r in rs],
            "p50": med([r["p50_us"] for r in rs]),
            "p99": med([r["p99_us"] for r in rs]),
            "bad": sum(r["not_ok"] for r in rs),
            "bad_detail": {k: v for r in rs for k, v in r.get("not_ok_detail", {}).items()},
            "socket": sum(r["socket_errors"] for r in rs),
        }

    out = []
    w = out.append
    w("Date: %s · machine: %s × %s · wrk %s · sipmap %s · Prism %s (Node %s)" % (
        meta["date"], meta["nproc"], meta["cpu"], meta["wrk"], meta["sipmap_bin"], meta["prism_version"],
        meta["node"]))
    w("Runs: %s × %s s per scenario and server (median shown), wrk -t%s; fetch/list -c%s, create -c%s." % (
        meta["runs"], meta["duration"], meta["threads"], meta["conns"], meta["create_conns"]))
    w("")
    w("| Scenario | sipmap ok/s | sipmap p50 / p99 | Prism ok/s | Prism p50 / p99 | sipmap ÷ Prism | target | met? |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |")

    def line(label, scenario, target_text, check, prism_scenario=None):
        s = summ(scenario, "sipmap")
        p = summ(prism_scenario or scenario, "prism")
        ratio = fmt_ratio(s and s["rate"], p and p["rate"])
        met = check(s, p) if s else None
        w("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label,
            fmt_rate(s and s["rate"]) + ((" (%d not ok)" % s["bad"]) if s and s["bad"] else ""),
            (fmt_ms(s["p50"]) + " / " + fmt_ms(s["p99"])) if s else "n/a",
            fmt_rate(p and p["rate"]) + ((" (%d not ok)" % p["bad"]) if p and p["bad"] else ""),
            (fmt_ms(p["p50"]) + " / " + fmt_ms(p["p99"])) if p else "n/a",
            ratio, target_text, {True: "yes", False: "**no**", None: "n/a"}[met]))

    def fetch_check(s, p):
        ok_p99 = s["p99"] is not None and s["p99"] < 5000
        if p is None or not p["rate"]:
            return None if ok_p99 else False
        return ok_p99 and s["rate"] >= 30 * p["rate"] and s["bad"] == 0

    line("fetch `GET /v1/SourceIpMappings/{Sid}`", "fetch_mapping", "≥ 30× Prism, p99 < 5 ms", fetch_check)
    line("fetch `GET /v1/IpRecords/{Sid}`", "fetch_record", "≥ 30× Prism, p99 < 5 ms", fetch_check)
    line("list `GET /v1/IpRecords?PageSize=50`", "list", "(reported)", lambda s, p: None)
    line("create `POST /v1/IpRecords` (201s/s; sipmap durable, Prism stores nothing)", "create",
         "≥ 8,000 201s/s at -c%s" % meta["create_conns"],
         lambda s, p: s["rate"] is not None and s["rate"] >= 8000)
    if pick("fetch_mapping_100k", "sipmap"):
        n_map = "{:,}".format(meta.get("memory", {}).get("mappings", 0))
        line("fetch mapping, %s mappings stored (Prism: as above)" % n_map, "fetch_mapping_100k", "p99 < 5 ms",
             lambda s, p: s["p99"] is not None and s["p99"] < 5000, prism_scenario="fetch_mapping")
        line("list, %s IP records stored (Prism: as above)" % "{:,}".format(meta.get("memory", {}).get("records", 0)),
             "list_100k", "(reported)", lambda s, p: None,
             prism_scenario="list")
    pd = summ("fetch_mapping_default_log", "prism")
    if pd:
        w("| Prism with its default log level (`-v info`), fetch mapping | | | %s | %s / %s | | (for reference) | |" % (
            fmt_rate(pd["rate"]), fmt_ms(pd["p50"]), fmt_ms(pd["p99"])))
    w("")

    # memory, start-up, durability, loader
    w("| Measure | sipmap | Prism | target | met? |")
    w("| --- | ---: | ---: | --- | --- |")
    m = meta.get("memory", {})
    if m:
        w("| peak memory (VmHWM), %s IP records + %s mappings stored: while loading them via the API | %s | | < 50 MB | %s |" % (
            "{:,}".format(m["records"]), "{:,}".format(m["mappings"]), mb(m.get("hwm_after_load_kb")),
            yn(under_50mb(m.get("hwm_after_load_kb")))))
        w("| peak memory (VmHWM), same DB after restart + fetch/list runs | %s | | < 50 MB | %s |" % (
            mb(m.get("hwm_after_restart_kb")),
            yn(under_50mb(m.get("hwm_after_restart_kb")))))
    if meta.get("hwm_phase_a_kb") or meta.get("prism_hwm_kb"):
        w("| peak memory (VmHWM) after all fetch/list/create runs (%s IP records at the end) | %s | %s | | |" % (
            "{:,}".format(meta.get("phase_a_records") or 0), mb(meta.get("hwm_phase_a_kb")),
            mb(meta.get("prism_hwm_kb"))))
    st = meta.get("startup", {})
    if st:
        s_ms, p_ms = st.get("sipmap_median_ms"), st.get("prism_median_ms")
        w("| start to first authenticated answer, median of %s (sipmap on the %s-mapping DB) | %s | %s | < 100 ms | %s |" % (
            st.get("runs"), "{:,}".format(m.get("mappings", 0)) if m else "?",
            "n/a" if s_ms is None else "%.1f ms" % s_ms, "n/a" if p_ms is None else "%.0f ms" % p_ms,
            yn(s_ms is not None and s_ms < 100)))
    d = meta.get("durability")
    if d:
        w("| durability: IP records listed after SIGTERM + restart vs. acknowledged (seeded + 201s) | %s listed, %s acknowledged | | none missing | %s |" % (
            "{:,}".format(d["found"]), "{:,}".format(d["expected"]), yn(d["found"] >= d["expected"])))
    if m:
        w("| loader: %s IP records then %s mappings via the API (wrk -c%s) | %.0f + %.0f creates/s, %s non-201 | | (reported) | |" % (
            "{:,}".format(m["records"]), "{:,}".format(m["mappings"]), meta["create_conns"],
            m.get("records_per_s") or 0, m.get("mappings_per_s") or 0, m.get("load_not_ok", 0)))
    w("")
    # per-run detail, so the spread is visible
    w("Per run: ok/s [CPU of the server / of wrk, in % of one core / of other processes, in % of the whole machine]:")
    w("")

    def runs_text(rs):
        if not rs:
            return "-"
        return ", ".join("%s [%s%% / %s%% / %s%%]" % (fmt_rate(r["ok_per_s"]), r.get("server_cpu_pct", "?"),
                                                     r.get("wrk_cpu_pct", "?"), r.get("others_pct", "?"))
                         for r in rs)

    for sc in ["fetch_mapping", "fetch_record", "list", "create", "fetch_mapping_100k", "list_100k",
               "fetch_mapping_default_log"]:
        s, p = pick(sc, "sipmap"), pick(sc, "prism")
        if s or p:
            w("- %s — sipmap: %s; Prism: %s" % (sc, runs_text(s), runs_text(p)))
    if meta.get("discarded_runs"):
        w("")
        w("%d run(s) were set aside and repeated because other processes used more than %s%% of the machine "
          "during them (they are in discarded.jsonl)." % (meta["discarded_runs"], meta.get("noise_pct")))
    noisy = [r for r in rows if (r.get("others_pct") or 0) > meta.get("noise_pct", 10)]
    if noisy:
        w("")
        w("**Warning:** other processes used more than %s%% of the machine during %d kept run(s): %s. "
          "They were kept after %s attempts; their numbers are low: rerun on a quiet machine." % (
              meta.get("noise_pct", 10), len(noisy), ", ".join(
              "%s/%s/%s (%s%%)" % (r["scenario"], r["target"], r["run"], r["others_pct"]) for r in noisy),
              meta.get("retries")))
    bad = {sc: summ(sc, t)["bad_detail"] for sc in set(r["scenario"] for r in rows) for t in ("sipmap", "prism")
           if summ(sc, t) and summ(sc, t)["bad"]}
    if bad:
        w("")
        w("Not-ok responses by status: " + json.dumps(bad, sort_keys=True))
    print("\n".join(out))
    return 0


def mb(kb):
    """VmHWM is in KiB; report decimal megabytes (1 MB = 1,000,000 bytes), the stricter reading of 50 MB."""
    return "n/a" if kb is None else "%.1f MB" % (kb * 1024 / 1e6)


def under_50mb(kb):
    return kb is not None and kb * 1024 < 50e6


def yn(b):
    return "yes" if b else "**no**"


def main(argv):
    if not argv:
        print(__doc__)
        return 2
    cmd, args = argv[0], argv[1:]
    if cmd == "freeport":
        return cmd_freeport()
    if cmd == "wait":
        return cmd_wait(*args)
    if cmd == "seed":
        return cmd_seed(*args)
    if cmd == "count":
        return cmd_count(*args)
    if cmd == "startup":
        sep = args.index("--")
        return cmd_startup(*args[:sep], args[sep + 1:])
    if cmd == "report":
        return cmd_report(*args)
    if cmd == "wrkresult":
        return cmd_wrkresult(*args)
    if cmd == "meta":
        return cmd_meta(*args)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]) or 0)
