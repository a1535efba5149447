#!/bin/bash
# Start-up of sipmap binaries on one SQLite table: for each run, a fresh copy of DB (and its key
# file), `sipmap serve` spawned, and when it prints "SIP edge listening" (the recognition table is
# built by then): the wall time since the spawn, the CPU time of all its threads
# (/proc/PID/task/*/schedstat), then 0.5 s later its VmHWM, VmRSS and RssAnon. The binaries take
# turns, RUNS rounds. Prints one line per run.
#
# Usage: bench/startup.sh DB RUNS BIN...
# DB: made by the oldest binary (it creates and migrates it), filled by bench/sip/gen_auth.py;
# see docs/benchmarks.md ("Recognition data as one Change"). Every process it starts is stopped
# before the next run; every loop is bounded.
set -u
DB=$1 RUNS=$2
shift 2
export TWILIO_ACCOUNT_SID=AC0123456789abcdef0123456789abcdef
export TWILIO_AUTH_TOKEN=bench0123456789abcdef0123456789ab
unset RUST_LOG
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
field() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$2/status"; }
for ((r = 0; r < RUNS; r++)); do
    for bin in "$@"; do
        rm -f "$WORK"/t.db*
        cp "$DB" "$WORK/t.db"
        cp -p "$DB.key" "$WORK/t.db.key"
        : >"$WORK/log"
        t0=$(date +%s%N)
        "$bin" serve --listen 127.0.0.1:0 --database-url "sqlite://$WORK/t.db" \
            --sip-listen 127.0.0.1:0 >"$WORK/log" 2>&1 &
        pid=$!
        for ((i = 0; i < 6000; i++)); do
            grep -q "SIP edge listening" "$WORK/log" && break
            sleep 0.005
        done
        t1=$(date +%s%N)
        cpu=0
        for f in /proc/$pid/task/*/schedstat; do
            c=$(cut -d' ' -f1 "$f" 2>/dev/null)
            cpu=$((cpu + ${c:-0}))
        done
        sleep 0.5
        echo "$bin run=$r start_ms=$(((t1 - t0) / 1000000)) cpu_ms=$((cpu / 1000000))" \
            "VmHWM_kB=$(field VmHWM $pid) VmRSS_kB=$(field VmRSS $pid) RssAnon_kB=$(field RssAnon $pid)"
        kill "$pid"
        wait "$pid" 2>/dev/null
    done
done
