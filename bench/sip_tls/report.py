"""The tables of bench/sip_tls.sh from results.jsonl and meta.json: per measure, every round and
the median, sipmap's ratio to Kamailio's, and the issue's goal (met or missed).

usage: report.py results.jsonl meta.json
"""
import json
import statistics
import sys

GOALS = {  # measure -> (what, sipmap against Kamailio)
    "handshake": ("new TLS connections/s (full handshake + OPTIONS)", "at least 1.5x Kamailio's"),
    "established": ("OPTIONS/s over established connections", "at least 2x Kamailio's"),
    "idle": ("bytes per idle TLS connection", "at most 32 KB (32,768 B)"),
}


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=0):
    if x is None:
        return "-"
    return f"{x:,.{nd}f}"


def main():
    rows = [json.loads(x) for x in open(sys.argv[1]) if x.strip()]
    meta = json.load(open(sys.argv[2]))
    rows = [r for r in rows if "error" not in r]
    servers = []
    for r in rows:
        if r["server"] not in servers:
            servers.append(r["server"])
    print(f"SIP over TLS, {meta['date']}, sipmap {meta['sipmap']}, {meta['kamailio']}, {meta['openssl']}; "
          f"{meta['nproc']} cores ({meta['cpu']}); server on CPU {meta['server_cpu']}, load generator on CPU "
          f"{meta['load_cpu']}; key exchange offered: {meta['group']}; box {meta['busy_before_pct']}% busy before "
          f"(load average {meta['loadavg']})\n")
    for m, (what, goal) in GOALS.items():
        mr = [r for r in rows if r["measure"] == m]
        if not mr:
            continue
        rounds = sorted({r["round"] for r in mr})
        if m == "idle":
            print(f"### {what} ({meta['idle_conns']} connections held; goal: {goal})\n")
            print("| server | " + " | ".join(f"round {i}" for i in rounds) + " | median | Kamailio's shm allocator, median | other load % |")
            print("|---|" + "---|" * (len(rounds) + 3))
            for s in servers:
                sr = {r["round"]: r for r in mr if r["server"] == s}
                vals = [sr.get(i, {}).get("bytes_per_conn") for i in rounds]
                shm = med([sr[i].get("shm_bytes_per_conn") for i in sr])
                print(f"| {s} | " + " | ".join(fmt(v) for v in vals) + f" | **{fmt(med(vals))}** | {fmt(shm)} | "
                      f"{fmt(med([sr[i]['other_cpu_pct'] for i in sr]), 1)} |")
            sm = med([r.get("bytes_per_conn") for r in mr if r["server"] == "sipmap"])
            km = med([r.get("bytes_per_conn") for r in mr if r["server"] == "kamailio"])
            if sm is not None:
                print(f"\nsipmap: {fmt(sm)} B per idle connection: goal {'met' if sm <= 32768 else 'MISSED'}"
                      + (f"; Kamailio {fmt(km)} B ({fmt(km / sm if sm else None, 2)}x sipmap's)" if km else "") + "\n")
            continue
        print(f"### {what} (goal: sipmap {goal})\n")
        print("| server | " + " | ".join(f"round {i}" for i in rounds) +
              " | median /s | server CPU µs per request | server CPU % | load generator CPU % | other load % | errors |")
        print("|---|" + "---|" * (len(rounds) + 6))
        med_of = {}
        for s in servers:
            sr = {r["round"]: r for r in mr if r["server"] == s}
            vals = [sr.get(i, {}).get("per_s") for i in rounds]
            med_of[s] = med(vals)
            errs = sum(sr[i][k] for i in sr for k in ("other_status", "connect_err", "handshake_err", "io_err", "timeouts"))
            print(f"| {s} | " + " | ".join(fmt(v) for v in vals) + f" | **{fmt(med_of[s])}** | "
                  f"{fmt(med([sr[i]['server_cpu_us_per_req'] for i in sr]), 1)} | {fmt(med([sr[i]['server_cpu_pct'] for i in sr]), 1)} | "
                  f"{fmt(med([100 * sr[i]['client_cpu_s'] / sr[i]['seconds'] for i in sr]), 1)} | "
                  f"{fmt(med([sr[i]['other_cpu_pct'] for i in sr]), 1)} | {errs} |")
        if med_of.get("sipmap") and med_of.get("kamailio"):
            ratio = med_of["sipmap"] / med_of["kamailio"]
            need = 1.5 if m == "handshake" else 2.0
            print(f"\nsipmap / Kamailio: {ratio:.2f}x (goal {need}x): {'met' if ratio >= need else 'MISSED'}\n")
        else:
            print()


if __name__ == "__main__":
    main()
