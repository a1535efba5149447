#!/usr/bin/env bash
# The recipes for running sipmap as a service, exercised where the tools exist (a missing tool is
# reported and its check skipped, never failed):
# - packaging/sipmap.service: `systemd-analyze verify` (with ExecStart pointing at the built
#   binary) and `systemd-analyze security --offline`, which must keep its exposure at or below
#   MAX_EXPOSURE; every SIPMAP_ variable the unit and packaging/sipmap.env name must be one
#   `sipmap` reads.
# - Dockerfile: hadolint, when installed; then, with a working docker or podman, the image is
#   built and started with a volume, must report healthy (its HEALTHCHECK), answer /livez, stop
#   on SIGTERM with exit code 0 after draining, and keep its database in the volume.
# Usage: scripts/check_packaging.sh [path/to/sipmap] (default: $SIPMAP_BIN, else target/debug).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-${SIPMAP_BIN:-$PWD/target/debug/sipmap}}
# In tenths, as systemd-analyze counts it: 20 is 2.0 of 10.
MAX_EXPOSURE=20
test -x "$BIN" || { echo "no sipmap binary at $BIN" >&2; exit 1; }

skip() { printf 'skipped: %s\n' "$*"; }

echo "-- the variables the unit and the env file name"
help=$("$BIN" serve --help; "$BIN" health --help)
for var in $(grep -ho 'SIPMAP_[A-Z_]*' packaging/sipmap.service packaging/sipmap.env Dockerfile | sort -u); do
    grep -q "env: $var=" <<<"$help" || { echo "$var is not a variable sipmap reads" >&2; exit 1; }
done
echo "ok"

echo "-- systemd-analyze"
if command -v systemd-analyze >/dev/null 2>&1; then
    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT
    sed "s#^ExecStart=/usr/local/bin/sipmap #ExecStart=$BIN #" packaging/sipmap.service >"$dir/sipmap.service"
    grep -q "^ExecStart=$BIN serve" "$dir/sipmap.service" || { echo "ExecStart not found" >&2; exit 1; }
    out=$(systemd-analyze verify "$dir/sipmap.service" 2>&1) || { echo "$out" >&2; exit 1; }
    # verify says nothing when all is well; anything it says about the unit is a finding.
    if grep -q 'sipmap.service' <<<"$out"; then echo "$out" >&2; exit 1; fi
    systemd-analyze security --offline=true --threshold="$MAX_EXPOSURE" "$dir/sipmap.service" | tail -n 1
else
    skip "systemd-analyze is not installed"
fi

echo "-- hadolint"
if command -v hadolint >/dev/null 2>&1; then
    hadolint Dockerfile
else
    skip "hadolint is not installed"
fi

echo "-- container image"
engine=""
why="neither docker nor podman is installed"
for candidate in docker podman; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" info >/dev/null 2>&1; then engine=$candidate; break; fi
    why="$candidate is installed but does not work here ($candidate info fails: no daemon or no rights)"
done
if [ -z "$engine" ]; then
    skip "$why"
    exit 0
fi
tag=sipmap-check:$$
volume=sipmap-check-$$
cid=""
cleanup() {
    [ -n "$cid" ] && "$engine" rm -f "$cid" >/dev/null 2>&1
    "$engine" volume rm -f "$volume" >/dev/null 2>&1
    "$engine" rmi -f "$tag" >/dev/null 2>&1
    rm -rf "${dir:-}"
}
trap cleanup EXIT
"$engine" build -q -t "$tag" .
cid=$("$engine" run -d -p 127.0.0.1::8080 -v "$volume:/var/lib/sipmap" "$tag")
health=""
for _ in $(seq 1 90); do
    health=$("$engine" inspect --format '{{.State.Health.Status}}' "$cid" 2>/dev/null || true)
    [ "$health" = healthy ] && break
    sleep 1
done
[ "$health" = healthy ] || { "$engine" logs "$cid" >&2; echo "the container is $health, not healthy" >&2; exit 1; }
port=$("$engine" port "$cid" 8080/tcp | head -n 1 | sed 's/.*://')
"$BIN" health --url "http://127.0.0.1:$port/livez"
"$engine" stop -t 30 "$cid" >/dev/null
code=$("$engine" inspect --format '{{.State.ExitCode}}' "$cid")
logs=$("$engine" logs "$cid" 2>&1)
[ "$code" = 0 ] || { echo "$logs" >&2; echo "exit code $code after SIGTERM" >&2; exit 1; }
grep -q 'storage flushed; stopped' <<<"$logs" || { echo "$logs" >&2; echo "no drain in the log" >&2; exit 1; }
grep -q 'TWILIO_ACCOUNT_SID=' <<<"$logs" || { echo "no initial account printed" >&2; exit 1; }
# The database is in the volume: a second container on it finds the account and creates none.
"$engine" rm "$cid" >/dev/null
cid=$("$engine" run -d -v "$volume:/var/lib/sipmap" "$tag")
for _ in $(seq 1 30); do
    "$engine" logs "$cid" 2>&1 | grep -q 'sipmap: HTTP API listening' && break
    sleep 1
done
if "$engine" logs "$cid" 2>&1 | grep -q 'TWILIO_ACCOUNT_SID='; then
    echo "the second container made a new account: the volume did not keep the database" >&2
    exit 1
fi
echo "ok: $engine built, started (healthy), drained and restarted the image"
