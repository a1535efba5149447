#!/usr/bin/env bash
# Same-run A/B of two sipmap binaries by the server's CPU time per request, which a busy machine
# skews far less than throughput: each binary serves its own fresh SQLite database with 300 IP
# records, and the scenarios run alternately against A and B for ROUNDS rounds.
#
#   bench/api_cpu_ab.sh BIN_A BIN_B        # ROUNDS [4], DUR seconds per run [3]
#
# Scenarios (wrk -t2): list50 = GET /v1/IpRecords?PageSize=50 (-c16), create = POST /v1/IpRecords
# (-c64, durable), list1 = GET /v1/IpRecords?PageSize=1 (-c16), fetch = GET /v1/IpRecords/{Sid}
# (-c16). Prints one line per scenario and binary: µs of server CPU (user + system, from
# /proc/PID/stat) per request, one value per round; then the same for requests per second.
# Loopback only; both servers are stopped on exit.
set -euo pipefail
A=${1:?usage: bench/api_cpu_ab.sh BIN_A BIN_B}
B=${2:?usage: bench/api_cpu_ab.sh BIN_A BIN_B}
ROUNDS=${ROUNDS:-4}
DUR=${DUR:-3}
for c in wrk curl python3; do command -v $c >/dev/null || { echo "$c is needed" >&2; exit 2; }; done
W=$(mktemp -d "${TMPDIR:-/tmp}/sipmap-cpu-ab.XXXXXX")
SID=AC$(printf 'b%.0s' $(seq 32))
TOK=bench-token
declare -A PIDS SIDS
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
start() { # binary port name
  TWILIO_ACCOUNT_SID=$SID TWILIO_AUTH_TOKEN=$TOK RUST_LOG=warn "$1" serve \
    --listen "127.0.0.1:$2" --database-url "sqlite://$W/$3.db" >"$W/$3.out" 2>&1 &
  PIDS[$2]=$!
  for _ in $(seq 1 100); do grep -q "listening" "$W/$3.out" 2>/dev/null && return; sleep 0.1; done
  echo "$1 did not start" >&2
  exit 1
}
start "$A" 18101 a
start "$B" 18102 b
for p in 18101 18102; do
  for i in $(seq 1 300); do
    curl -s -u "$SID:$TOK" "http://127.0.0.1:$p/v1/IpRecords" -d "IpAddress=10.1.$((i / 256)).$((i % 256))" >/dev/null
  done
  SIDS[$p]=$(curl -s -u "$SID:$TOK" "http://127.0.0.1:$p/v1/IpRecords?PageSize=1" |
    python3 -c 'import sys, json; print(json.load(sys.stdin)["ip_records"][0]["sid"])')
done
AUTH=$(printf '%s:%s' "$SID" "$TOK" | base64 -w0)
cat >"$W/create.lua" <<LUA
counter = 0
request = function()
  counter = counter + 1
  local body = string.format("IpAddress=10.%d.%d.%d", 100 + math.random(0, 99), math.floor(counter / 256) % 256, counter % 256)
  return wrk.format("POST", "/v1/IpRecords", {["Authorization"] = "Basic $AUTH", ["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
LUA
echo "wrk.headers['Authorization'] = 'Basic $AUTH'" >"$W/get.lua"
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A RESULTS RATES
run() { # port scenario wrk-args...
  local p=$1 name=$2
  shift 2
  local c0 n c1
  c0=$(cpu "${PIDS[$p]}")
  n=$(wrk "$@" | awk '/requests in/ {print $1}')
  c1=$(cpu "${PIDS[$p]}")
  RESULTS["$name $p"]+=" $(((c1 - c0) * 1000000 / $(getconf CLK_TCK) / n))"
  RATES["$name $p"]+=" $((n / DUR))"
}
for _ in $(seq 1 "$ROUNDS"); do
  for p in 18101 18102; do
    base="http://127.0.0.1:$p/v1/IpRecords"
    run "$p" list50 -t2 -c16 -d"${DUR}s" -s "$W/get.lua" "$base?PageSize=50"
    run "$p" create -t2 -c64 -d"${DUR}s" -s "$W/create.lua" "$base"
    run "$p" list1 -t2 -c16 -d"${DUR}s" -s "$W/get.lua" "$base?PageSize=1"
    run "$p" fetch -t2 -c16 -d"${DUR}s" -s "$W/get.lua" "$base/${SIDS[$p]}"
  done
done
echo "µs of server CPU per request, one value per round (A = $A, B = $B)"
for name in list50 create list1 fetch; do
  echo "$name A:${RESULTS["$name 18101"]}"
  echo "$name B:${RESULTS["$name 18102"]}"
done
echo "requests per second, one value per round"
for name in list50 create list1 fetch; do
  echo "$name A:${RATES["$name 18101"]}"
  echo "$name B:${RATES["$name 18102"]}"
done
