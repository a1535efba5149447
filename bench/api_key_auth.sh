#!/usr/bin/env bash
# Same-run comparison of the two ways to authenticate, by the server's CPU time per request: one
# sipmap serves a fresh SQLite database with 300 IP records, and GET /v1/IpRecords/{Sid} runs
# alternately with the account's auth token (AC…:token) and with an API key (SK…:secret), for
# ROUNDS rounds.
#
#   bench/api_key_auth.sh [BIN]        # BIN [target/release/sipmap], ROUNDS [6], DUR seconds [3]
#
# wrk -t2 -c16 per run. Prints one line per credential: µs of server CPU (user + system, from
# /proc/PID/stat) per request, one value per round, then the medians. Loopback only; the server
# is stopped on exit.
set -euo pipefail
BIN=${1:-target/release/sipmap}
ROUNDS=${ROUNDS:-6}
DUR=${DUR:-3}
for c in wrk curl python3; do command -v $c >/dev/null || { echo "$c is needed" >&2; exit 2; }; done
W=$(mktemp -d "${TMPDIR:-/tmp}/sipmap-key-auth.XXXXXX")
SID=AC$(printf 'b%.0s' $(seq 32))
TOK=bench-token
PORT=18111
PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
TWILIO_ACCOUNT_SID=$SID TWILIO_AUTH_TOKEN=$TOK RUST_LOG=warn "$BIN" serve \
  --listen "127.0.0.1:$PORT" --database-url "sqlite://$W/bench.db" >"$W/out" 2>&1 &
PID=$!
for _ in $(seq 1 100); do grep -q "listening" "$W/out" 2>/dev/null && break; sleep 0.1; done
grep -q "listening" "$W/out" || { echo "$BIN did not start" >&2; exit 1; }
BASE=http://127.0.0.1:$PORT
for i in $(seq 1 300); do
  curl -s -u "$SID:$TOK" "$BASE/v1/IpRecords" -d "IpAddress=10.1.$((i / 256)).$((i % 256))" >/dev/null
done
REC=$(curl -s -u "$SID:$TOK" "$BASE/v1/IpRecords?PageSize=1" |
  python3 -c 'import sys, json; print(json.load(sys.stdin)["ip_records"][0]["sid"])')
read -r KEY SECRET < <(curl -s -u "$SID:$TOK" "$BASE/2010-04-01/Accounts/$SID/Keys.json" -d FriendlyName=bench |
  python3 -c 'import sys, json; k = json.load(sys.stdin); print(k["sid"], k["secret"])')
for who in token key; do
  case $who in token) cred="$SID:$TOK" ;; key) cred="$KEY:$SECRET" ;; esac
  code=$(curl -s -o /dev/null -w '%{http_code}' -u "$cred" "$BASE/v1/IpRecords/$REC")
  [ "$code" = 200 ] || { echo "fetch with the $who answered $code" >&2; exit 1; }
  echo "wrk.headers['Authorization'] = 'Basic $(printf '%s' "$cred" | base64 -w0)'" >"$W/$who.lua"
done
cpu() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
declare -A RESULTS
for _ in $(seq 1 "$ROUNDS"); do
  for who in token key; do
    c0=$(cpu)
    n=$(wrk -t2 -c16 -d"${DUR}s" -s "$W/$who.lua" "$BASE/v1/IpRecords/$REC" | awk '/requests in/ {print $1}')
    c1=$(cpu)
    RESULTS[$who]+=" $(((c1 - c0) * 1000000 / $(getconf CLK_TCK) / n))"
  done
done
echo "µs of server CPU per fetch GET /v1/IpRecords/{Sid}, one value per round ($BIN)"
for who in token key; do
  median=$(printf '%s\n' ${RESULTS[$who]} | sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')
  echo "$who:${RESULTS[$who]}  (median $median)"
done
