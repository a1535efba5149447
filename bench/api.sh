#!/usr/bin/env bash
# Control-plane API benchmark: sipmap vs Stoplight Prism (mocking twilio_voice_v1.json), side by side,
# with wrk on the same machine. See docs/benchmarks.md ("Control plane API") for what and why.
#
#   bench/api.sh                                  # full run: 3 runs x 10 s per scenario, 100k mappings
#   BENCH_DURATION=3 BENCH_RUNS=1 BENCH_MAPPINGS=10000 bench/api.sh   # quick smoke run
#
# Environment (defaults in brackets):
#   BENCH_DURATION [10]   seconds per wrk run        BENCH_RUNS [3]         runs per scenario (median)
#   BENCH_THREADS [2]     wrk -t                     BENCH_CONNS [16]       wrk -c for fetch and list
#   BENCH_CREATE_CONNS [64] wrk -c for create        BENCH_MAPPINGS [100000] IP records + mappings for
#   BENCH_STARTS [5]      start-up runs (median)                            the memory/start-up DB
#   BENCH_SEED_RECORDS [1000] IP records present for fetch/list
#   BENCH_PRISM [1]       0 = skip Prism (no ratios) PRISM_VERSION [5.14.2]
#   PRISM_SPEC [$REPO/../shared/twilio-oai/twilio_voice_v1.json]
#   SIPMAP_BIN [$REPO/target/release/sipmap; built with cargo build --release if missing]
#   BENCH_OUT_DIR [bench/.cache/results/<UTC time>]  BENCH_KEEP [0] 1 = keep the temporary DBs
#   BENCH_QUIET_WAIT [120] s to wait, before each run, for the machine to be idle (< 15 % busy)
#   BENCH_NOISE_PCT [10]  a run during which other processes used more than this % of the machine is
#   BENCH_RETRIES [3]     set aside (discarded.jsonl) and repeated, up to this many attempts in all
#
# Loopback only (127.0.0.1). Every loop is bounded; every process started here is stopped on exit.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$REPO/bench
CACHE=$BENCH/.cache
HELPER=(python3 "$BENCH/bench_helper.py")
LUA=$BENCH/wrk_api.lua

DURATION=${BENCH_DURATION:-10}
RUNS=${BENCH_RUNS:-3}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNS:-16}
CREATE_CONNS=${BENCH_CREATE_CONNS:-64}
MAPPINGS=${BENCH_MAPPINGS:-100000}
STARTS=${BENCH_STARTS:-5}
SEED_RECORDS=${BENCH_SEED_RECORDS:-1000}
WITH_PRISM=${BENCH_PRISM:-1}
PRISM_VERSION=${PRISM_VERSION:-5.14.2}
SPEC=${PRISM_SPEC:-$REPO/../shared/twilio-oai/twilio_voice_v1.json}
SIPMAP_BIN=${SIPMAP_BIN:-$REPO/target/release/sipmap}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${BENCH_OUT_DIR:-$CACHE/results/$STAMP}
RESULTS=$OUT/results.jsonl
META=$OUT/meta.json

ACCOUNT=AC0123456789abcdef0123456789abcdef
TOKEN=bench0123456789abcdef0123456789ab
AUTH=$ACCOUNT:$TOKEN
AUTHB=$(printf '%s' "$AUTH" | base64 -w0)
export TWILIO_ACCOUNT_SID=$ACCOUNT TWILIO_AUTH_TOKEN=$TOKEN
unset RUST_LOG   # sipmap runs with its default logging
# only the command line configures the servers (no SIP edge, default public URL and domain suffix)
unset SIPMAP_LISTEN SIPMAP_DATABASE_URL SIPMAP_PUBLIC_URL SIPMAP_DOMAIN_SUFFIX SIPMAP_SIP_LISTEN SIPMAP_SIP_UPSTREAM

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- processes: every PID we start goes into PIDS and is stopped on exit -------------------------
PIDS=()
WORK=
stop_pid() { # PID [signal]: signal it, wait at most 10 s, then SIGKILL
    local pid=$1 sig=${2:-TERM} i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -"$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    local keep=() p
    for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done   # stop_pid edits PIDS; the loop has its own copy
    if [ -n "$WORK" ] && [ "${BENCH_KEEP:-0}" != 1 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
bg_wait() { # run a command in the background (so traps fire at once) and wait for it; returns its status
    "$@" &
    local pid=$!
    PIDS+=("$pid")
    local rc=0
    wait "$pid" || rc=$?
    return $rc
}

# --- what we need ----------------------------------------------------------------------------------
need_apt() { # package
    log "installing $1 with apt-get"
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get update -qq
    $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$1" >/dev/null
}
command -v python3 >/dev/null || need_apt python3
command -v wrk >/dev/null || need_apt wrk
command -v wrk >/dev/null || die "wrk is not installed"

PRISM_JS=$CACHE/prism/node_modules/@stoplight/prism-cli/dist/index.js
if [ "$WITH_PRISM" = 1 ]; then
    command -v node >/dev/null && command -v npm >/dev/null || { need_apt nodejs; need_apt npm; }
    [ -f "$SPEC" ] || die "Prism spec not found: $SPEC"
    installed=$(cd "$CACHE/prism" 2>/dev/null && node -p 'require("@stoplight/prism-cli/package.json").version' 2>/dev/null || true)
    if [ "$installed" != "$PRISM_VERSION" ]; then
        log "installing @stoplight/prism-cli@$PRISM_VERSION into bench/.cache/prism"
        mkdir -p "$CACHE/prism"
        (cd "$CACHE/prism" && { [ -f package.json ] || npm init -y >/dev/null; } &&
            npm install --no-audit --no-fund --loglevel=error "@stoplight/prism-cli@$PRISM_VERSION" >/dev/null)
    fi
    [ -f "$PRISM_JS" ] || die "Prism did not install ($PRISM_JS missing)"
fi

if [ ! -x "$SIPMAP_BIN" ]; then
    [ "$SIPMAP_BIN" = "$REPO/target/release/sipmap" ] || die "SIPMAP_BIN=$SIPMAP_BIN is not an executable"
    log "building sipmap (cargo build --release)"
    (cd "$REPO" && cargo build --release)
fi

mkdir -p "$OUT"
: >"$RESULTS"
WORK=$(mktemp -d /tmp/sipmap-bench.XXXXXX)
log "results in $OUT; temporary files in $WORK"

"${HELPER[@]}" meta "$META" \
    "date=$(date -u '+%Y-%m-%d %H:%M UTC')" "nproc=$(nproc)" \
    "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
    "wrk=$(wrk -v 2>&1 | head -1 | awk '{print $2}')" \
    "node=$(node --version 2>/dev/null || echo none)" \
    "prism_version=$([ "$WITH_PRISM" = 1 ] && echo "$PRISM_VERSION" || echo skipped)" \
    "sipmap_bin=${SIPMAP_BIN#"$REPO"/} (sha256 $(sha256sum "$SIPMAP_BIN" | cut -c1-12), file time $(date -u -r "$SIPMAP_BIN" '+%Y-%m-%d %H:%M UTC'); repo at $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo ' with uncommitted changes' || true))" \
    "runs=$RUNS" "duration=$DURATION" "threads=$THREADS" "conns=$CONNS" "create_conns=$CREATE_CONNS"

# --- servers -----------------------------------------------------------------------------------------
SIPMAP_PID=
start_sipmap() { # DB-PATH PORT LOG
    local db=$1 port=$2 logf=$3 i
    "$SIPMAP_BIN" serve --listen "127.0.0.1:$port" --database-url "sqlite://$db" >>"$logf" 2>&1 &
    SIPMAP_PID=$!
    PIDS+=("$SIPMAP_PID")
    for ((i = 0; i < 600; i++)); do
        grep -q "sipmap: HTTP API listening on http://127.0.0.1:$port" "$logf" && break
        kill -0 "$SIPMAP_PID" 2>/dev/null || die "sipmap exited; see $logf"
        sleep 0.05
    done
    "${HELPER[@]}" wait "http://127.0.0.1:$port" "$AUTH" "/v1/IpRecords?PageSize=1" 30 >/dev/null ||
        die "sipmap on port $port gave no authenticated 200; see $logf"
}
PRISM_PID=
start_prism() { # PORT LOG [extra prism args]
    local port=$1 logf=$2
    shift 2
    # node directly, so $! is the server's own PID (not npx's or a subshell's)
    node "$PRISM_JS" mock -h 127.0.0.1 -p "$port" "$@" "$SPEC" >>"$logf" 2>&1 &
    PRISM_PID=$!
    PIDS+=("$PRISM_PID")
    "${HELPER[@]}" wait "http://127.0.0.1:$port" "$AUTH" "/v1/IpRecords/IL00000000000000000000000000000001" 60 \
        >/dev/null || die "Prism gave no 200; see $logf"
}
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }   # utime + stime
# user+sys CPU seconds of this shell's finished children, from a file written by the `times` builtin
# (run `times >FILE` in this shell itself: in a $(...) subshell the children's times start at 0)
children_cpu_s() { tail -1 "$1" | awk '{ t = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); t += a[1] * 60 + a[2] } printf "%.3f\n", t }'; }
busy_pct() { # machine busy over SECONDS, in % of all cores
    local a b
    a=$(cpu_snapshot); sleep "$1"; b=$(cpu_snapshot)
    python3 -c 'import sys; a=[float(x) for x in sys.argv[1].split()]; b=[float(x) for x in sys.argv[2].split()]; print(round(100*(b[0]-a[0])/max(1,b[1]-a[1]),1))' "$a" "$b"
}
wait_quiet() { # wait (at most BENCH_QUIET_WAIT s) until the machine is < 15% busy over 1 s, as other work would skew a run
    local i
    for ((i = 0; i < ${BENCH_QUIET_WAIT:-120}; i++)); do
        python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 15 else 1)' "$(busy_pct 1)" && return 0
        [ "$i" -gt 0 ] || log "  machine busy with other work; waiting for it to quiet down (at most ${BENCH_QUIET_WAIT:-120} s)"
    done
    log "  WARNING: still busy; running anyway (see others_pct in results.jsonl)"
}
cpu_snapshot() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $9}' /proc/stat; }

# --- wrk -------------------------------------------------------------------------------------------
IP_OFFSET=0  # counter for unique IpAddress values across the sipmap create runs
# A run during which other processes (a build, another benchmark) used more than BENCH_NOISE_PCT % of
# the machine is set aside in discarded.jsonl and repeated, at most BENCH_RETRIES times in all; the last
# attempt is kept whatever it shows (and flagged in the table).
NOISE_PCT=${BENCH_NOISE_PCT:-10}
RETRIES=${BENCH_RETRIES:-3}
DISCARDED=$OUT/discarded.jsonl
run_wrk() { # SCENARIO TARGET RUN CONNS MODE URL SERVER-PID
    local scenario=$1 target=$2 run=$3 conns=$4 mode=$5 url=$6 spid=$7
    local wlog line t0 t1 c0 c1 w0 w1 attempt
    for ((attempt = 1; attempt <= RETRIES; attempt++)); do
        wlog=$OUT/wrk-$scenario-$target-$run-$attempt.txt
        wait_quiet
        t0=$(proc_ticks "$spid")
        c0=$(cpu_snapshot)
        times >"$WORK/times0"
        bg_wait env BENCH_MODE="$mode" BENCH_WRK_THREADS="$THREADS" BENCH_IP_OFFSET="$IP_OFFSET" \
            timeout $((DURATION + 60)) wrk -t"$THREADS" -c"$conns" -d"${DURATION}s" --latency -s "$LUA" \
            -H "Authorization: Basic $AUTHB" "$url" >"$wlog" 2>&1 || die "wrk failed; see $wlog"
        t1=$(proc_ticks "$spid")
        c1=$(cpu_snapshot)
        times >"$WORK/times1"   # CPU of our finished children: here, wrk (and timeout)
        w0=$(children_cpu_s "$WORK/times0")
        w1=$(children_cpu_s "$WORK/times1")
        line=$("${HELPER[@]}" wrkresult "$wlog" "$scenario" "$target" "$run" "$((t1 - t0))" "$(getconf CLK_TCK)" \
            "$c0" "$c1" "$(python3 -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' "$w0" "$w1")") ||
            die "no result in $wlog"
        if [ "$mode" = create ] && [ "$target" = sipmap ]; then
            IP_OFFSET=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["next_offset"])' "$line")
        fi
        python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("[bench]   %-26s %-6s run %s: %9.0f ok/s  p50 %.2f ms  p99 %.2f ms  not ok %d %s  CPU: server %s%%, wrk %s%% (of one core), other processes %s%% of the machine" % (r["scenario"], r["target"], r["run"], r["ok_per_s"], r["p50_us"]/1000, r["p99_us"]/1000, r["not_ok"], r["not_ok_detail"] or "", r.get("server_cpu_pct"), r.get("wrk_cpu_pct"), r.get("others_pct")))' "$line" >&2
        sleep 1
        if [ "$attempt" -lt "$RETRIES" ] &&
            ! python3 -c 'import json,sys; sys.exit(0 if (json.loads(sys.argv[1]).get("others_pct") or 0) <= float(sys.argv[2]) else 1)' "$line" "$NOISE_PCT"; then
            echo "$line" >>"$DISCARDED"
            log "  other processes used more than $NOISE_PCT% of the machine: run set aside, repeating it"
            continue
        fi
        echo "$line" >>"$RESULTS"
        return 0
    done
}

# wrk LOAD MODE: a bounded bulk load (count-limited in Lua); we stop wrk with SIGINT when every thread
# has answered its share (at most 900 s)
run_loader() { # MODE URL LOGNAME [env...]; the result line goes to $WORK/LOGNAME.json
    local mode=$1 url=$2 name=$3 i pid
    shift 3
    rm -f "$WORK"/done-"$mode"-*
    env BENCH_MODE="$mode" BENCH_WRK_THREADS="$THREADS" BENCH_IP_OFFSET=0 BENCH_OUT="$WORK" "$@" \
        wrk -t"$THREADS" -c"$CREATE_CONNS" -d900s --latency -s "$LUA" -H "Authorization: Basic $AUTHB" "$url" \
        >"$OUT/$name.txt" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for ((i = 0; i < 9000; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        [ "$(find "$WORK" -maxdepth 1 -name "done-$mode-*" | wc -l)" -ge "$THREADS" ] && break
        sleep 0.1
    done
    stop_pid "$pid" INT
    "${HELPER[@]}" wrkresult "$OUT/$name.txt" "$name" sipmap 1 >"$WORK/$name.json" || die "no result in $OUT/$name.txt"
    log "  $name: $(cat "$WORK/$name.json")"
}

# is anything else busy? (a concurrent build would skew every number; we record it and warn)
IDLE_BUSY=$(busy_pct 2)
"${HELPER[@]}" meta "$META" "busy_before_pct=$IDLE_BUSY" "loadavg_before=$(cut -d' ' -f1-3 /proc/loadavg)"
log "machine busy before the benchmark: $IDLE_BUSY% of all cores (load average $(cut -d' ' -f1-3 /proc/loadavg))"
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 15 else 1)' "$IDLE_BUSY" ||
    log "WARNING: the machine is already busy; the numbers of this run will be low and noisy"

# ===================================================================================================
# Phase A: fetch, list, create — sipmap and Prism side by side, runs interleaved
# ===================================================================================================
SPORT=$("${HELPER[@]}" freeport)
SURL=http://127.0.0.1:$SPORT
DB_A=$WORK/a.db
log "phase A: sipmap on $SURL ($SIPMAP_BIN), seeding $SEED_RECORDS IP records + 1 mapping"
start_sipmap "$DB_A" "$SPORT" "$OUT/sipmap-a.log"
SEED=$("${HELPER[@]}" seed "$SURL" "$AUTH" "$ACCOUNT" "$SEED_RECORDS")
IL=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ip_record"])' "$SEED")
IB=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["mapping"])' "$SEED")
"${HELPER[@]}" meta "$META" "seed=$SEED"

PURL=
if [ "$WITH_PRISM" = 1 ]; then
    PPORT=$("${HELPER[@]}" freeport)
    PURL=http://127.0.0.1:$PPORT
    log "phase A: Prism $PRISM_VERSION on $PURL (-v error)"
    start_prism "$PPORT" "$OUT/prism-quiet.log" -v error
fi
PIL=IL11111111111111111111111111111111   # Prism answers any well-formed SID with its example
PIB=IB11111111111111111111111111111111

for scenario in fetch_mapping fetch_record list create; do
    for ((run = 1; run <= RUNS; run++)); do
        case $scenario in
            fetch_mapping) s_path=/v1/SourceIpMappings/$IB; p_path=/v1/SourceIpMappings/$PIB; mode=get; c=$CONNS ;;
            fetch_record) s_path=/v1/IpRecords/$IL; p_path=/v1/IpRecords/$PIL; mode=get; c=$CONNS ;;
            list) s_path="/v1/IpRecords?PageSize=50"; p_path=$s_path; mode=get; c=$CONNS ;;
            create) s_path=/v1/IpRecords; p_path=$s_path; mode=create; c=$CREATE_CONNS ;;
        esac
        run_wrk "$scenario" sipmap "$run" "$c" "$mode" "$SURL$s_path" "$SIPMAP_PID"
        [ -z "$PURL" ] || run_wrk "$scenario" prism "$run" "$c" "$mode" "$PURL$p_path" "$PRISM_PID"
    done
done
"${HELPER[@]}" meta "$META" "hwm_phase_a_kb=$(hwm_kb "$SIPMAP_PID")"
if [ -n "$PURL" ]; then
    "${HELPER[@]}" meta "$META" "prism_hwm_kb=$(hwm_kb "$PRISM_PID")"
    stop_pid "$PRISM_PID"
    log "phase A: Prism with its default log level (info), fetch mapping only"
    start_prism "$PPORT" "$OUT/prism-default.log"
    for ((run = 1; run <= RUNS; run++)); do
        run_wrk fetch_mapping_default_log prism "$run" "$CONNS" get "$PURL/v1/SourceIpMappings/$PIB" "$PRISM_PID"
    done
    stop_pid "$PRISM_PID"
fi

# durability: every acknowledged create must still be there after SIGTERM + restart
touch "$DISCARDED"
CREATED=$(python3 -c 'import json,sys; print(sum(r["ok"] for f in sys.argv[1:] for r in map(json.loads, open(f)) if r["scenario"] == "create" and r["target"] == "sipmap"))' "$RESULTS" "$DISCARDED")
stop_pid "$SIPMAP_PID"
start_sipmap "$DB_A" "$SPORT" "$OUT/sipmap-a.log"
FOUND=$("${HELPER[@]}" count "$SURL" "$AUTH" /v1/IpRecords ip_records 100000)
EXPECTED=$((CREATED + SEED_RECORDS))
log "durability: $FOUND IP records after restart; $EXPECTED acknowledged (seed + 201s)"
"${HELPER[@]}" meta "$META" "durability.found=$FOUND" "durability.expected=$EXPECTED" "phase_a_records=$FOUND"
stop_pid "$SIPMAP_PID"

# ===================================================================================================
# Phase B: MAPPINGS IP records + MAPPINGS mappings via the API; peak memory; start-up; fetch/list at size
# ===================================================================================================
DB_B=$WORK/b.db
log "phase B: loading $MAPPINGS IP records + $MAPPINGS mappings into a fresh DB (wrk -c$CREATE_CONNS)"
start_sipmap "$DB_B" "$SPORT" "$OUT/sipmap-b.log"
SEED_B=$("${HELPER[@]}" seed "$SURL" "$AUTH" "$ACCOUNT" 1)
SD=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["domain"])' "$SEED_B")
IL_B=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ip_record"])' "$SEED_B")
IB_B=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["mapping"])' "$SEED_B")
# a few spare IP records (2 per connection): they stand in for any mapping request lost with a dropped
# connection, so that exactly $MAPPINGS mappings get a 201
SPARE=$((2 * CREATE_CONNS))
run_loader load-ip "$SURL/v1/IpRecords" load_ip_records BENCH_COUNT=$((MAPPINGS + SPARE)) BENCH_FILLER="/v1/IpRecords/$IL_B"
cat "$WORK"/sids-*.txt >"$WORK/sids.txt"
NSIDS=$(wc -l <"$WORK/sids.txt")
run_loader load-map "$SURL/v1/SourceIpMappings" load_mappings BENCH_COUNT="$MAPPINGS" BENCH_SIDS="$WORK/sids.txt" BENCH_DOMAIN="$SD" \
    BENCH_FILLER="/v1/IpRecords/$IL_B"
HWM_LOAD=$(hwm_kb "$SIPMAP_PID")
N_REC=$("${HELPER[@]}" count "$SURL" "$AUTH" /v1/IpRecords ip_records 100000)
N_MAP=$("${HELPER[@]}" count "$SURL" "$AUTH" /v1/SourceIpMappings source_ip_mappings 100000)
log "loaded: $N_REC IP records, $N_MAP mappings stored; VmHWM $HWM_LOAD kB"
python3 - "$(cat "$WORK/load_ip_records.json")" "$(cat "$WORK/load_mappings.json")" "$META" "$N_REC" "$N_MAP" "$HWM_LOAD" "$NSIDS" <<'EOF'
import json, sys
l1, l2, meta_path = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
meta = json.load(open(meta_path))
meta["memory"] = {"records": int(sys.argv[4]), "mappings": int(sys.argv[5]), "hwm_after_load_kb": int(sys.argv[6]),
                  "records_per_s": l1["ok_per_s"], "mappings_per_s": l2["ok_per_s"],
                  "records_201": l1["ok"], "sids_written": int(sys.argv[7]), "mappings_201": l2["ok"],
                  "load_not_ok": l1["not_ok"] + l2["not_ok"],
                  "load_not_ok_detail": {"ip_records": l1["not_ok_detail"], "mappings": l2["not_ok_detail"]}}
json.dump(meta, open(meta_path, "w"), indent=1, sort_keys=True)
EOF
stop_pid "$SIPMAP_PID"

log "phase B: start to first authenticated answer, $STARTS runs on the loaded DB"
bg_wait "${HELPER[@]}" startup "$STARTS" "$SPORT" "/v1/SourceIpMappings/$IB_B" "$AUTH" "$OUT/startup-sipmap.json" -- \
    "$SIPMAP_BIN" serve --listen "127.0.0.1:$SPORT" --database-url "sqlite://$DB_B" >"$OUT/startup-sipmap.out" ||
    log "WARNING: some sipmap start-up runs gave no answer (see $OUT/startup-sipmap.json)"
S_MED=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["median_ms"])' "$OUT/startup-sipmap.out")
P_MED=None
if [ -n "$PURL" ]; then
    bg_wait "${HELPER[@]}" startup "$STARTS" "$PPORT" "/v1/SourceIpMappings/$PIB" "$AUTH" "$OUT/startup-prism.json" -- \
        node "$PRISM_JS" mock -h 127.0.0.1 -p "$PPORT" -v error "$SPEC" >"$OUT/startup-prism.out" ||
        log "WARNING: some Prism start-up runs gave no answer"
    P_MED=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["median_ms"])' "$OUT/startup-prism.out")
fi
"${HELPER[@]}" meta "$META" "startup.runs=$STARTS" "startup.sipmap_median_ms=${S_MED/None/null}" \
    "startup.prism_median_ms=${P_MED/None/null}"

log "phase B: fetch and list with $N_MAP mappings stored (fresh process), then VmHWM"
start_sipmap "$DB_B" "$SPORT" "$OUT/sipmap-b.log"
for ((run = 1; run <= RUNS; run++)); do
    run_wrk fetch_mapping_100k sipmap "$run" "$CONNS" get "$SURL/v1/SourceIpMappings/$IB_B" "$SIPMAP_PID"
done
for ((run = 1; run <= RUNS; run++)); do
    run_wrk list_100k sipmap "$run" "$CONNS" get "$SURL/v1/IpRecords?PageSize=50" "$SIPMAP_PID"
done
"${HELPER[@]}" meta "$META" "memory.hwm_after_restart_kb=$(hwm_kb "$SIPMAP_PID")"
stop_pid "$SIPMAP_PID"

# ===================================================================================================
touch "$DISCARDED"
"${HELPER[@]}" meta "$META" "discarded_runs=$(wc -l <"$DISCARDED")" "noise_pct=$NOISE_PCT" "retries=$RETRIES"
"${HELPER[@]}" report "$RESULTS" "$META" | tee "$OUT/table.md"
log "raw wrk output, server logs and the table are in $OUT"
