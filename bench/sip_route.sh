#!/usr/bin/env bash
# SIP edge routing benchmark (issue 10, "Speed"): server CPU per forwarded call when the domain's
# calls go to a target of its connection policy, against today's single-upstream forwarding.
#
#   bench/sip_route.sh                       # 100,000 domains, 6 rounds x 10 s at 2,000 calls/s
#   SIP_ROUTE_QUICK=1 bench/sip_route.sh     # smoke run: 10,000 domains, 3 rounds x 5 s
#
# The same SQLite database for all (bench/sip/gen_route.py): N SIP domains, each on its own BYOC
# trunk and connection policy of 4 targets (4N targets); the loaded domain (SIPp's source
# 127.0.0.1 is mapped to it, and let in by an IP access control list) has 4 equal targets that
# all reach the one SIPp UAS; the other domains' targets are loopback addresses where nothing
# listens. Then, rotating which goes first each round, the same SIPp call load
# (bench/sip/callrun.py: INVITE / 200 / ACK / BYE / 200, SIP_ROUTE_RATE calls/s for
# SIP_ROUTE_DURATION s, the UAS answering OPTIONS with -aa) through
#   old  $OLD_BIN (default /tmp/sipmap-main-bin: main before routing, which ignores the
#        routes and forwards every recognised request to --sip-upstream, the same UAS; on a copy
#        of the database without the domains' trunk references, see below), and
#   base $NEW_BIN on old's database with --sip-upstream: today's single-upstream forwarding in
#        the same build (no difference of code layout between the two), and
#   new  $NEW_BIN (default target/release/sipmap: routes by policy; no --sip-upstream, so a call
#        that found no target would fail), probing targets at the default interval (10 s,
#        down after 3); its runs start once /metrics shows a destination down (so the edge reads
#        target health on every call, its slower path) and the forwarded-to-target counter must
#        cover every call.
# Reported per run: server CPU (utime+stime) per successful call; then per server the median over
# rounds, new/base (the primary figure: same build) and new/old.
#
# Environment: SIP_ROUTE_DOMAINS [100000] SIP_ROUTE_ROUNDS [6] SIP_ROUTE_DURATION [10]
#   SIP_ROUTE_RATE [2000] OLD_BIN NEW_BIN SIP_ROUTE_SIPMAP_PORT [15170] SIP_ROUTE_UAS_PORT [25180]
#   (SIPp's UAC: 127.0.0.1:25160; ports apart from the other benchmarks')
#   SIP_ROUTE_OUT_DIR [bench/.cache/sip-route-results/<UTC time>] SIP_ROUTE_KEEP [0]
#
# Loopback only. Every loop is bounded; every process started here is stopped on exit (trap).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE=$REPO/bench/sip
CACHE=$REPO/bench/.cache/sip-route

if [ "${SIP_ROUTE_QUICK:-0}" = 1 ]; then d_domains=10000 d_rounds=3 d_duration=5; else d_domains=100000 d_rounds=6 d_duration=10; fi
DOMAINS=${SIP_ROUTE_DOMAINS:-$d_domains}
ROUNDS=${SIP_ROUTE_ROUNDS:-$d_rounds}
DURATION=${SIP_ROUTE_DURATION:-$d_duration}
RATE=${SIP_ROUTE_RATE:-2000}
OLD_BIN=${OLD_BIN:-/tmp/sipmap-main-bin}
NEW_BIN=${NEW_BIN:-$REPO/target/release/sipmap}
SPORT=${SIP_ROUTE_SIPMAP_PORT:-15170}
UPORT=${SIP_ROUTE_UAS_PORT:-25180}
OUT=${SIP_ROUTE_OUT_DIR:-$REPO/bench/.cache/sip-route-results/$(date -u +%Y%m%dT%H%M%SZ)}

ACCOUNT=AC0123456789abcdef0123456789abcdef
TOKEN=bench0123456789abcdef0123456789ab
export TWILIO_ACCOUNT_SID=$ACCOUNT TWILIO_AUTH_TOKEN=$TOKEN
unset RUST_LOG

log() { printf '[sip-route %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

PIDS=()
WORK=
stop_pid() { # PID: SIGTERM, at most 10 s, then SIGKILL
    local i
    kill -TERM "$1" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
cleanup() {
    local p
    for p in "${PIDS[@]}"; do stop_pid "$p"; done
    if [ -n "$WORK" ] && [ "${SIP_ROUTE_KEEP:-0}" != 1 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for c in python3 sipp curl; do command -v "$c" >/dev/null || die "$c is not installed"; done
for b in "$OLD_BIN" "$NEW_BIN"; do [ -x "$b" ] || die "$b is not an executable (see OLD_BIN / NEW_BIN)"; done
"$NEW_BIN" serve --help | grep -q -- --sip-probe-interval || die "$NEW_BIN does not route (no --sip-probe-interval)"

mkdir -p "$OUT" "$CACHE"
WORK=$(mktemp -d /tmp/sipmap-routebench.XXXXXX)
cp "$OLD_BIN" "$WORK/sipmap-old"
cp "$NEW_BIN" "$WORK/sipmap-new"
declare -A BIN=([old]=$WORK/sipmap-old [new]=$WORK/sipmap-new)
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
log "results in $OUT"

SIPMAP_PID= HTTP_URL=
start_sipmap() { # WHICH DB LOG [extra serve args]: start it; wait for "SIP edge listening" (<= 300 s)
    local which=$1 db=$2 logf=$3 i
    shift 3
    "${BIN[$which]}" serve --listen 127.0.0.1:0 --database-url "sqlite://$db" --sip-listen "127.0.0.1:$SPORT" \
        "$@" >"$logf" 2>&1 &
    SIPMAP_PID=$!
    PIDS+=("$SIPMAP_PID")
    for ((i = 0; i < 3000; i++)); do
        grep -q "sipmap: SIP edge listening on 127.0.0.1:$SPORT" "$logf" 2>/dev/null && break
        kill -0 "$SIPMAP_PID" 2>/dev/null || die "sipmap ($which) exited; see $logf"
        sleep 0.1
    done
    grep -q "sipmap: SIP edge listening" "$logf" || die "sipmap ($which) did not start in 300 s; see $logf"
    HTTP_URL=$(sed -n 's/^sipmap: HTTP API listening on \(http:[^ ]*\).*/\1/p' "$logf" | head -1)
}
metric() { # NAME: its value in /metrics (0 if absent)
    curl -s "$HTTP_URL/metrics" | awk -v n="$1" '$1 == n {print $2; found=1} END {if (!found) print 0}'
}
copy_db() { # FROM TO: a SQLite database and its key file
    rm -f "$2" "$2-wal" "$2-shm" "$2.key"
    cp "$1" "$2"
    if [ -f "$1.key" ]; then cp -p "$1.key" "$2.key"; fi
}

# --- the database (cached by size and UAS port) ------------------------------------------------------
DB=$CACHE/route-$DOMAINS-$UPORT.db
if [ ! -s "$DB.json" ]; then
    log "generating $DOMAINS domains x 4 targets in $DB"
    rm -f "$DB" "$DB-wal" "$DB-shm" "$DB.key"
    start_sipmap new "$DB" "$OUT/create.log"   # creates and migrates it, and the account
    stop_pid "$SIPMAP_PID"
    python3 "$HERE/gen_route.py" routes "$DB" "$ACCOUNT" "$DOMAINS" "$UPORT" "$DB.json.tmp" >&2
    mv "$DB.json.tmp" "$DB.json"
fi
cp "$DB.json" "$OUT/table.json"
copy_db "$DB" "$WORK/old.db"
copy_db "$DB" "$WORK/new.db"
# main's route master finds a trunk's domains by a pass over every domain, so it loads 100,000
# domains on 100,000 trunks in quadratic time (minutes); it never routes by them anyway. Its copy
# keeps every domain, policy, trunk and target, without the domains' trunk references.
python3 - "$WORK/old.db" <<'EOF'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1]); c.execute("UPDATE sip_domains SET byoc_trunk_sid = NULL"); c.commit(); c.close()
EOF
copy_db "$WORK/old.db" "$WORK/base.db"

orders=("old base new" "new old base" "base new old")
for ((round = 1; round <= ROUNDS; round++)); do
    order=${orders[$(((round - 1) % 3))]}
    for server in $order; do
        log "round $round/$ROUNDS: $server"
        if [ "$server" = old ]; then
            start_sipmap old "$WORK/old.db" "$OUT/sipmap-old-$round.log" --sip-upstream "127.0.0.1:$UPORT"
        elif [ "$server" = base ]; then
            start_sipmap new "$WORK/base.db" "$OUT/sipmap-base-$round.log" --sip-upstream "127.0.0.1:$UPORT"
        else
            start_sipmap new "$WORK/new.db" "$OUT/sipmap-new-$round.log"
            # Meanwhile a UAS answers the loaded domain's probes (callrun.py starts its own).
            sipp -sn uas -i 127.0.0.1 -p "$UPORT" -aa -nostdin >/dev/null 2>&1 &
            prober=$!
            PIDS+=("$prober")
            for ((i = 0; i < 600; i++)); do   # at most 60 s: until some destination is down
                [ "$(metric sipmap_sip_probe_destinations_down)" != 0 ] && break
                sleep 0.1
            done
            stop_pid "$prober"
            log "  destinations probed $(metric sipmap_sip_probe_destinations), down $(metric sipmap_sip_probe_destinations_down)"
        fi
        before=$(metric sipmap_sip_requests_forwarded_to_target_total)
        python3 "$HERE/callrun.py" --server "$server" --bench route --rate "$RATE" --duration "$DURATION" \
            --round "$round" --pids "$SIPMAP_PID" --uac-scenario "$HERE/uac-call.xml" \
            --uas-scenario "$HERE/uas-call.xml" --target "127.0.0.1:$SPORT" --src 127.0.0.1 --src-port 25160 \
            --uas-port "$UPORT" --workdir "$OUT" --uas-aa --metrics "$HTTP_URL/metrics" \
            --table "$DOMAINS" >"$WORK/run.json"
        after=$(metric sipmap_sip_requests_forwarded_to_target_total)
        python3 - "$WORK/run.json" "$((after - before))" >>"$RESULTS" <<'EOF'
import json, sys
r = json.loads(open(sys.argv[1]).read()); r["forwarded_to_target"] = int(sys.argv[2]); print(json.dumps(r))
EOF
        stop_pid "$SIPMAP_PID"
        sleep 2
    done
done

python3 - "$RESULTS" <<'EOF' | tee "$OUT/table.md"
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("| round | server | calls ok | failed | to a target | achieved/s | server CPU us/call |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for r in rows:
    print("| %d | %s | %s | %s | %s | %s | %s |" % (r["round"], r["server"], r["successful"], r["failed"],
          r["forwarded_to_target"], r["achieved_per_s"], r["server_cpu_us_per_call"]))
med = {s: statistics.median(r["server_cpu_us_per_call"] for r in rows if r["server"] == s and r["server_cpu_us_per_call"])
       for s in ("old", "base", "new")}
print()
print("median server CPU per call: old %.1f us, base %.1f us, new %.1f us; new/base = %.3f, new/old = %.3f"
      % (med["old"], med["base"], med["new"], med["new"] / med["base"], med["new"] / med["old"]))
EOF
