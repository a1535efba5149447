#!/usr/bin/env bash
# Fetch and durable-create throughput of sipmap on SQLite and on PostgreSQL, in the same run.
#   bench/backends.sh                    # 3 runs x 10 s per scenario and back end (medians)
#   BENCH_DURATION=3 BENCH_RUNS=1 bench/backends.sh
# PostgreSQL: SIPMAP_TEST_POSTGRES_URL (default postgres://root@127.0.0.1:5432/test); the run uses a
# schema of its own and drops it. Loopback only; every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
DURATION=${BENCH_DURATION:-10}
RUNS=${BENCH_RUNS:-3}
PG=${SIPMAP_TEST_POSTGRES_URL:-postgres://root@127.0.0.1:5432/test}
BIN=${SIPMAP_BIN:-$REPO/target/release/sipmap}
[ -x "$BIN" ] || cargo build --release --locked
command -v wrk >/dev/null || { sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo; $sudo apt-get update -qq; $sudo apt-get install -y -qq wrk; }
WORK=$(mktemp -d)
SCHEMA=sipmap_bench_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    PGOPTIONS='-c client_min_messages=warning' psql "$PG" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
PGOPTIONS='-c client_min_messages=warning' psql "$PG" -qc "CREATE SCHEMA $SCHEMA"
sep='?'; case "$PG" in *\?*) sep='&';; esac
declare -A URLS=([sqlite]="sqlite://$WORK/bench.db" [postgres]="$PG${sep}options=-c%20search_path%3D$SCHEMA")
SID=AC$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n'); TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
AUTH="Authorization: Basic $(printf '%s:%s' "$SID" "$TOKEN" | base64 -w0)"

cat > "$WORK/create.lua" <<'LUA'
-- POST /v1/IpRecords with a unique address per request: thread id in the second octet.
-- (wrk.format with a headers table would drop the -H Authorization header, so wrk.headers is used.)
local counter = 0
local next_tid = 0
function setup(thread) thread:set("tid", next_tid); next_tid = next_tid + 1 end
function init(args) wrk.headers["Content-Type"] = "application/x-www-form-urlencoded" end
function request()
  counter = counter + 1
  local body = string.format("IpAddress=10.%d.%d.%d", 100 + (tonumber(tid) or 0), math.floor(counter / 256) % 256, counter % 256)
  return wrk.format("POST", "/v1/IpRecords", nil, body)
end
LUA

start() { # backend port
    TWILIO_ACCOUNT_SID=$SID TWILIO_AUTH_TOKEN=$TOKEN RUST_LOG=warn \
        SIPMAP_SECRET_KEY=$(printf '5e%.0s' $(seq 32)) "$BIN" serve --listen "127.0.0.1:$2" --database-url "${URLS[$1]}" >"$WORK/$1.out" 2>"$WORK/$1.log" &
    PIDS+=($!)
    for _ in $(seq 1 100); do grep -q "listening" "$WORK/$1.out" 2>/dev/null && return; sleep 0.1; done
    echo "sipmap on $1 did not start" >&2; exit 1
}
declare -A PORT=([sqlite]=18711 [postgres]=18712) MAPPING=()
for b in sqlite postgres; do
    start "$b" "${PORT[$b]}"
    base=http://127.0.0.1:${PORT[$b]}
    d=$(curl -sf -H "$AUTH" -d DomainName=bench-$b-$RANDOM.sip.twilio.com "$base/2010-04-01/Accounts/$SID/SIP/Domains.json" | python3 -c 'import json,sys;print(json.load(sys.stdin)["sid"])')
    r=$(curl -sf -H "$AUTH" -d IpAddress=192.0.2.1 "$base/v1/IpRecords" | python3 -c 'import json,sys;print(json.load(sys.stdin)["sid"])')
    MAPPING[$b]=$(curl -sf -H "$AUTH" -d IpRecordSid=$r -d SipDomainSid=$d "$base/v1/SourceIpMappings" | python3 -c 'import json,sys;print(json.load(sys.stdin)["sid"])')
done

rate() { awk '/Requests\/sec/ {print $2}' "$1"; }
p99() { awk '$1=="99%" {print $2}' "$1"; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A RES
for run in $(seq 1 "$RUNS"); do
    for b in sqlite postgres; do
        base=http://127.0.0.1:${PORT[$b]}
        wrk -t2 -c16 -d"${DURATION}s" --latency -H "$AUTH" "$base/v1/SourceIpMappings/${MAPPING[$b]}" > "$WORK/fetch-$b-$run.txt"
        wrk -t2 -c64 -d"${DURATION}s" --latency -H "$AUTH" -s "$WORK/create.lua" "$base" > "$WORK/create-$b-$run.txt"
        RES[fetch-$b]+="$(rate "$WORK/fetch-$b-$run.txt") "
        RES[fetchp99-$b]+="$(p99 "$WORK/fetch-$b-$run.txt") "
        RES[create-$b]+="$(rate "$WORK/create-$b-$run.txt") "
        RES[createp99-$b]+="$(p99 "$WORK/create-$b-$run.txt") "
        grep -q "Non-2xx" "$WORK/create-$b-$run.txt" && { echo "non-2xx answers on $b:"; grep Non-2xx "$WORK/create-$b-$run.txt"; }
    done
done
echo
echo "| back end | fetch req/s (median of $RUNS) | fetch p99 | durable creates/s, 64 clients | create p99 |"
echo "|---|---|---|---|---|"
for b in sqlite postgres; do
    printf '| %s | %s | %s | %s | %s |\n' "$b" \
        "$(tr ' ' '\n' <<<"${RES[fetch-$b]}" | grep . | median)" "$(tr ' ' '\n' <<<"${RES[fetchp99-$b]}" | grep . | median)" \
        "$(tr ' ' '\n' <<<"${RES[create-$b]}" | grep . | median)" "$(tr ' ' '\n' <<<"${RES[createp99-$b]}" | grep . | median)"
done
