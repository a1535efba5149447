#!/usr/bin/env bash
# SIP edge benchmark: sipmap's edge vs Kamailio 5.6 permissions (allow_source_address) doing the same
# job, both driven by SIPp with the OPTIONS scenario of shared/research/peers.md §2.8, on loopback.
#
#   bench/sip.sh                      # full run (~45 min): 1,000,000 networks, 3 rounds x 10 s per rate
#   SIP_BENCH_QUICK=1 bench/sip.sh    # smoke run (~4 min): 100,000 networks, 1 round x 3 s, fewer rates
#
# What it measures (results: bench/results/sip.md explains them):
#   1. throughput: SIPp offers R OPTIONS/s for D s (-r R -rp 1000 -l 5000 -m R*D), to
#        sipmap    with N networks (40 % /32, 30 % /24, 30 % /16../31) + 127.0.0.1/32 mapped
#        kam-1m    Kamailio with the same N networks in its address file (max_subnets raised)
#        kam-peers Kamailio with the 101,003-row table of peers.md
#        kam-small Kamailio with the 3-row table of peers.md (peers.md's baseline)
#      on the 200 path (source 127.0.0.1, mapped) and the unmatched path (source 127.0.0.2: sipmap
#      404, Kamailio 403), recording achieved rate, failed/lost calls, OPTIONS retransmissions, SIPp's
#      own CPU, and the servers' CPU time (utime+stime of every server process) per answered request.
#   2. start-up with the N-network table: spawn -> first OPTIONS from 127.0.0.1 answered 200
#      (median of SIP_BENCH_STARTS), and VmHWM; the same for Kamailio with the same table, plus
#      Kamailio's permissions.addressReload time (its only way to change the table).
#   3. API-to-edge propagation: SIP_BENCH_TRIALS creates and deletes of a mapping for a fresh
#      127.1.x.y/32 through the HTTP API while polling OPTIONS from that address; the same for a /8
#      and a /1; and the API latency of mapping wide networks over the populated table.
#
# Environment (defaults in brackets):
#   SIP_BENCH_QUICK [0]          1 = smoke-run defaults for everything below
#   SIP_BENCH_NETWORKS [1000000] networks in the big table      SIP_BENCH_SEED [1] table seed
#   SIP_BENCH_ROUNDS [3]         rounds (medians over rounds)   SIP_BENCH_DURATION [10] s per run
#   SIP_BENCH_RATES ["10000 15000 20000 25000 30000 40000 50000 60000"]  offered rates, 200 path
#   SIP_BENCH_HIGH_RATES ["70000 80000 100000 120000"]          then these, in order, for as long as the
#                                server is still clean (no retransmission, failure or loss)
#   SIP_BENCH_DENY_RATES ["10000 20000 30000"]                  unmatched path (sipmap, kam-peers)
#   SIP_BENCH_DENY_RATES_KAM1M ["250 500 1000 2000"]            unmatched path, kam-1m (linear scan)
#   SIP_BENCH_SERVERS ["sipmap kam-1m kam-peers kam-small"]     what to run, in this order each round
#   SIP_BENCH_SIPP_BUFF [4194304] SIPp -buff_size for the sweeps above. With SIPp's default (65,535)
#                                its own receive socket overflows from ~15k/s on, whatever the server
#                                (RcvbufErrors = its retransmissions), so peers.md's ~15k/s "clean"
#                                figure was SIPp's limit; 4 MB = this box's net.core.rmem_max
#   SIP_BENCH_PEERS_RATES ["10000 15000 20000"]                 also run these rates with SIPp's
#   SIP_BENCH_PEERS_SERVERS ["sipmap kam-1m kam-small"]         default buffer (peers.md's exact method)
#   SIP_BENCH_STARTS [3]         start-up runs                  SIP_BENCH_TRIALS [200] propagation trials
#   SIP_BENCH_WIDE_TRIALS [5]    propagation trials for a /8 and a /1 mapping (slot rebuilds)
#   SIP_BENCH_WIDE_NETWORKS ["100.0.0.0/8 96.0.0.0/4 64.0.0.0/2 128.0.0.0/1"]  API create/delete
#                                latency for mappings of these (over populated space), 3 times each
#   SIP_BENCH_PHASES ["throughput startup propagation"]
#   SIPMAP_BIN [$REPO/target/release/sipmap; cargo build --release if missing]
#   SIP_BENCH_SIPMAP_PORT [15070] SIP_BENCH_KAM_PORT [15060]    SIPp uses 127.0.0.1:25060, 127.0.0.2:25061
#   SIP_BENCH_OUT_DIR [bench/.cache/sip-results/<UTC time>]     SIP_BENCH_KEEP [0] 1 = keep $WORK
#   SIP_BENCH_WAIT_IDLE [300]    before each server's runs, wait at most this many s for the box to
#                                be quiet (< 15 % busy): other jobs on 2 cores skew everything
#   SIP_BENCH_MAX_OTHER [25]     a run during which other processes used more than this % of one
#                                core is repeated (at most SIP_BENCH_RETRIES [2] times; the rejected
#                                attempts go to results-rejected.jsonl)
#
# Loopback only. Every loop is bounded; every process started here is stopped on exit (trap).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE=$REPO/bench/sip
CACHE=$REPO/bench/.cache/sip

QUICK=${SIP_BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
    d_networks=100000 d_rounds=1 d_duration=3 d_rates="10000 20000 40000" d_deny="10000" d_deny1m="500"
    d_starts=1 d_trials=20 d_peers_rates="15000" d_high="" d_wide=2
else
    d_networks=1000000 d_rounds=3 d_duration=10 d_rates="10000 15000 20000 25000 30000 40000 50000 60000"
    d_deny="10000 20000 30000" d_deny1m="250 500 1000 2000" d_starts=3 d_trials=200 d_peers_rates="10000 15000 20000"
    d_high="70000 80000 100000 120000" d_wide=5
fi
NETWORKS=${SIP_BENCH_NETWORKS:-$d_networks}
SEED=${SIP_BENCH_SEED:-1}
ROUNDS=${SIP_BENCH_ROUNDS:-$d_rounds}
DURATION=${SIP_BENCH_DURATION:-$d_duration}
RATES=${SIP_BENCH_RATES:-$d_rates}
HIGH_RATES=${SIP_BENCH_HIGH_RATES-$d_high}
WIDE_TRIALS=${SIP_BENCH_WIDE_TRIALS:-$d_wide}
WIDE_NETWORKS=${SIP_BENCH_WIDE_NETWORKS-100.0.0.0/8 96.0.0.0/4 64.0.0.0/2 128.0.0.0/1}
DENY_RATES=${SIP_BENCH_DENY_RATES:-$d_deny}
DENY_RATES_KAM1M=${SIP_BENCH_DENY_RATES_KAM1M:-$d_deny1m}
SERVERS=${SIP_BENCH_SERVERS:-sipmap kam-1m kam-peers kam-small}
SIPP_BUFF=${SIP_BENCH_SIPP_BUFF:-4194304}
PEERS_RATES=${SIP_BENCH_PEERS_RATES-$d_peers_rates}
PEERS_SERVERS=${SIP_BENCH_PEERS_SERVERS:-sipmap kam-1m kam-small}
STARTS=${SIP_BENCH_STARTS:-$d_starts}
TRIALS=${SIP_BENCH_TRIALS:-$d_trials}
PHASES=${SIP_BENCH_PHASES:-throughput startup propagation}
SIPMAP_BIN=${SIPMAP_BIN:-$REPO/target/release/sipmap}
WAIT_IDLE=${SIP_BENCH_WAIT_IDLE:-300}
MAX_OTHER=${SIP_BENCH_MAX_OTHER:-25}
RETRIES=${SIP_BENCH_RETRIES:-2}
SPORT=${SIP_BENCH_SIPMAP_PORT:-15070}
KPORT=${SIP_BENCH_KAM_PORT:-15060}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${SIP_BENCH_OUT_DIR:-$REPO/bench/.cache/sip-results/$STAMP}
RESULTS=$OUT/results.jsonl
META=$OUT/meta.json
KAM_SHM_MB=2048   # Kamailio shared memory (-m): the 1M table takes ~250 MB, a reload needs twice that
KAM_PKG_MB=64

ACCOUNT=AC0123456789abcdef0123456789abcdef
TOKEN=bench0123456789abcdef0123456789ab
AUTH=$ACCOUNT:$TOKEN
export TWILIO_ACCOUNT_SID=$ACCOUNT TWILIO_AUTH_TOKEN=$TOKEN
unset RUST_LOG

log() { printf '[sip-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
has_phase() { case " $PHASES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
has_peers_server() { case " $PEERS_SERVERS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# --- processes: every PID started here goes into PIDS; the trap stops them and their descendants ---
PIDS=()
WORK=
LAST_LINE=
running() { # PID: alive and not a zombie (this box's init may leave reparented zombies unreaped)
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}
descendants() { # PID: every descendant PID, deepest last
    local p c
    for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        echo "$c"
        descendants "$c"
    done
}
stop_pid() { # PID: SIGTERM it, wait at most 10 s, SIGKILL it and whatever it forked that is left
    local pid=$1 i kids
    kids=$(descendants "$pid")
    if running "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do running "$pid" || break; sleep 0.1; done
        running "$pid" && kill -KILL "$pid" 2>/dev/null || true
    fi
    for ((i = 0; i < 50; i++)); do
        local alive=0 k
        for k in $kids; do running "$k" && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for k in $kids; do running "$k" && kill -KILL "$k" 2>/dev/null || true; done
    wait "$pid" 2>/dev/null || true
    local keep=() p
    for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}
tracked() { # CMD...: run it in the background, listed in PIDS (so the trap stops it), and wait for it
    "$@" &
    local p=$! rc=0 keep=() q
    PIDS+=("$p")
    wait "$p" || rc=$?
    for q in "${PIDS[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done
    PIDS=("${keep[@]}")
    return $rc
}
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    if [ -n "$WORK" ] && [ "${SIP_BENCH_KEEP:-0}" != 1 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- what we need ------------------------------------------------------------------------------------
need_apt() { # package...
    log "installing $* with apt-get"
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get update -qq
    $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null
}
command -v python3 >/dev/null || need_apt python3
command -v kamailio >/dev/null && command -v kamcmd >/dev/null || need_apt kamailio
command -v sipp >/dev/null || need_apt sip-tester   # Debian's name for SIPp
command -v curl >/dev/null || need_apt curl
for c in python3 kamailio kamcmd sipp curl; do command -v "$c" >/dev/null || die "$c is not installed"; done
KAM_MODULES=$(dirname "$(dpkg -L kamailio 2>/dev/null | grep '/permissions.so$' | head -1)")
[ -f "$KAM_MODULES/permissions.so" ] || KAM_MODULES=/usr/lib/x86_64-linux-gnu/kamailio/modules
[ -f "$KAM_MODULES/permissions.so" ] || die "Kamailio's permissions module not found"

if [ ! -x "$SIPMAP_BIN" ]; then
    [ "$SIPMAP_BIN" = "$REPO/target/release/sipmap" ] || die "SIPMAP_BIN=$SIPMAP_BIN is not an executable"
    log "building sipmap (cargo build --release)"
    (cd "$REPO" && cargo build --release)
fi
"$SIPMAP_BIN" serve --help | grep -q -- --sip-listen || die "$SIPMAP_BIN has no SIP edge (--sip-listen)"

for port in "$SPORT" "$KPORT"; do
    python3 - "$port" <<'EOF' || die "UDP port $port on 127.0.0.1 is taken (set SIP_BENCH_SIPMAP_PORT / SIP_BENCH_KAM_PORT)"
import socket, sys
for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind); s.bind(("127.0.0.1", int(sys.argv[1]))); s.close()
EOF
done

mkdir -p "$OUT" "$CACHE"
: >"$RESULTS"
WORK=$(mktemp -d /tmp/sipmap-sipbench.XXXXXX)
# a private copy, so that a rebuild during the run cannot swap the binary under us
cp "$SIPMAP_BIN" "$WORK/sipmap"
BIN=$WORK/sipmap
log "results in $OUT; temporary files in $WORK"

for code in 200 403 404; do sed -e "s/@CODE@/$code/" "$HERE/options.xml.in" >"$WORK/options-$code.xml"; done

python3 - "$META" <<EOF
import json, subprocess, sys
def sh(c):
    try: return subprocess.run(c, shell=True, capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception: return "?"
json.dump({
  "date": sh("date -u '+%Y-%m-%d %H:%M UTC'"),
  "nproc": int(sh("nproc") or 0),
  "cpu": sh("sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1"),
  "kernel": sh("uname -r"),
  "kamailio": sh("kamailio -v | head -1"),
  "sipp": sh("sipp -v 2>&1 | grep -o 'SIPp v[^ ]*' | head -1"),
  "sipmap": "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" status --porcelain -- src Cargo.toml Cargo.lock migrations 2>/dev/null | grep -q . && echo '+dirty' || true)",
  "sipmap_bin_mtime": sh("date -u -r '$SIPMAP_BIN' '+%Y-%m-%d %H:%M UTC'"),
  "networks": $NETWORKS, "seed": "$SEED", "rounds": $ROUNDS, "duration_s": $DURATION,
  "rates": "$RATES", "high_rates": "$HIGH_RATES", "deny_rates": "$DENY_RATES", "deny_rates_kam1m": "$DENY_RATES_KAM1M",
  "servers": "$SERVERS", "quick": "$QUICK", "sipp_buff": $SIPP_BUFF, "peers_rates": "$PEERS_RATES",
  "peers_servers": "$PEERS_SERVERS", "rmem_max": int(sh("cat /proc/sys/net/core/rmem_max") or 0),
  "rmem_default": int(sh("cat /proc/sys/net/core/rmem_default") or 0),
}, open(sys.argv[1], "w"), indent=1)
EOF
meta() { # KEY JSON-VALUE: add to meta.json
    python3 - "$META" "$1" "$2" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1])); m[sys.argv[2]] = json.loads(sys.argv[3]); json.dump(m, open(sys.argv[1], "w"), indent=1)
EOF
}

busy_now() { # % of all cores busy over 2 s
    python3 - <<'EOF'
import time
def s():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7], sum(v)
a = s(); time.sleep(2); b = s()
print(round(100 * (b[0] - a[0]) / max(1, b[1] - a[1]), 1))
EOF
}
wait_idle() { # SECONDS: wait (bounded) until the box is < 15 % busy
    local deadline=$((SECONDS + $1)) b
    while :; do
        b=$(busy_now)
        python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 15 else 1)' "$b" && return 0
        [ "$SECONDS" -ge "$deadline" ] && { log "  the box is still $b% busy; going on"; return 0; }
        log "  the box is $b% busy (other jobs); waiting"
        sleep 8
    done
}
IDLE_BUSY=$(busy_now)
meta busy_before_pct "$IDLE_BUSY"
log "machine busy before the benchmark: $IDLE_BUSY% of all cores (load average $(cut -d' ' -f1-3 /proc/loadavg))"
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 15 else 1)' "$IDLE_BUSY" ||
    log "WARNING: the machine is already busy; this run's numbers will be low and noisy"

# --- tables (cached by size and seed: generating 1M rows takes ~30 s) --------------------------------
DB_BASE=$CACHE/sipmap-$NETWORKS-$SEED.db
DB_META=$CACHE/sipmap-$NETWORKS-$SEED.json
KAM_BIG=$CACHE/kam-$NETWORKS-$SEED.list
KAM_PEERS=$CACHE/kam-peers.list
KAM_SMALL=$CACHE/kam-small.list
SIPMAP_PID=
start_sipmap() { # DB LOG: start sipmap serve on DB; wait for "SIP edge listening" (at most 300 s)
    local db=$1 logf=$2 i
    "$BIN" serve --listen 127.0.0.1:0 --database-url "sqlite://$db" --sip-listen "127.0.0.1:$SPORT" >"$logf" 2>&1 &
    SIPMAP_PID=$!
    PIDS+=("$SIPMAP_PID")
    for ((i = 0; i < 3000; i++)); do
        grep -q "sipmap: SIP edge listening on 127.0.0.1:$SPORT" "$logf" && break
        kill -0 "$SIPMAP_PID" 2>/dev/null || die "sipmap exited; see $logf"
        sleep 0.1
    done
    grep -q "sipmap: SIP edge listening" "$logf" || die "sipmap did not start in 300 s; see $logf"
    HTTP_URL=$(sed -n 's/^sipmap: HTTP API listening on \(http:[^ ]*\).*/\1/p' "$logf" | head -1)
}
if [ ! -s "$DB_META" ] || [ ! -f "$DB_BASE" ]; then
    log "generating the sipmap database with $NETWORKS networks (+127.0.0.1/32) in $DB_BASE"
    rm -f "$DB_BASE" "$DB_BASE-wal" "$DB_BASE-shm" "$DB_META"
    start_sipmap "$DB_BASE" "$OUT/sipmap-create.log"   # creates and migrates it, and its account row
    stop_pid "$SIPMAP_PID"
    python3 "$HERE/gen.py" sipmap-db "$DB_BASE" "$NETWORKS" "$SEED" "$DB_META.tmp" >&2
    mv "$DB_META.tmp" "$DB_META"
fi
[ -s "$KAM_BIG" ] || python3 "$HERE/gen.py" kam-file "$KAM_BIG" "$NETWORKS" "$SEED"
[ -s "$KAM_PEERS" ] || python3 "$HERE/gen.py" kam-peers "$KAM_PEERS"
[ -s "$KAM_SMALL" ] || python3 "$HERE/gen.py" kam-small "$KAM_SMALL"
meta table "$(cat "$DB_META")"
LOOPBACK_SD=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["loopback_domain"])' "$DB_META")
NSUB_BIG=$(awk '$1 != "#" && $3 != 32' "$KAM_BIG" | wc -l)
meta kamailio_tables "{\"big_rows\": $(grep -vc '^#' "$KAM_BIG"), \"big_subnet_rows\": $NSUB_BIG, \"peers_rows\": $(grep -vc '^#' "$KAM_PEERS"), \"small_rows\": $(grep -vc '^#' "$KAM_SMALL")}"

# --- Kamailio --------------------------------------------------------------------------------------
KAM_PID=       # the main (attendant) process, from its pid file
KAM_CREATOR=   # what $! gives: the process we spawned
kam_cfg() { # NAME ADDRESS-FILE MAX-SUBNETS -> path of the config
    local cfg=$WORK/kamailio-$1.cfg
    sed -e "s|@PORT@|$KPORT|; s|@CTL@|$WORK/kamailio-$1.ctl|; s|@ADDRESS_FILE@|$2|; s|@MAX_SUBNETS@|$3|" \
        -e "s|^mpath=.*|mpath=\"$KAM_MODULES/\"|" "$HERE/kamailio.cfg.in" >"$cfg"
    kamailio -c -f "$cfg" >"$WORK/kamailio-$1.check" 2>&1 || die "kamailio -c failed; see $WORK/kamailio-$1.check"
    echo "$cfg"
}
kam_args() { # NAME -> the command line (for start and for the start-up timer)
    echo kamailio -f "$WORK/kamailio-$1.cfg" -P "$WORK/kamailio-$1.pid" -DD -E -m "$KAM_SHM_MB" -M "$KAM_PKG_MB"
}
wait_options() { # SRC HOST:PORT WANT-STATUS SECONDS: poll until SRC's OPTIONS gets WANT-STATUS
    local i n=$(($4 * 10))
    for ((i = 0; i < n; i++)); do
        python3 "$HERE/probe.py" options "$1" "$2" 2>/dev/null | head -1 | grep -q " $3 " && return 0
        sleep 0.1
    done
    return 1
}
start_kam() { # NAME LOG
    local name=$1 logf=$2 i
    rm -f "$WORK/kamailio-$name.pid"
    # shellcheck disable=SC2046
    $(kam_args "$name") >"$logf" 2>&1 &
    KAM_CREATOR=$!
    PIDS+=("$KAM_CREATOR")
    for ((i = 0; i < 600; i++)); do [ -s "$WORK/kamailio-$name.pid" ] && break; sleep 0.1; done
    KAM_PID=$(cat "$WORK/kamailio-$name.pid" 2>/dev/null || true)
    [ -n "$KAM_PID" ] || die "Kamailio wrote no pid file; see $logf"
    PIDS+=("$KAM_PID")
    wait_options 127.0.0.1 "127.0.0.1:$KPORT" 200 120 || die "Kamailio ($name) never answered 200; see $logf"
}
stop_kam() {
    stop_pid "$KAM_PID"
    stop_pid "$KAM_CREATOR"
}
declare -A KAM_FILE=([kam-1m]=$KAM_BIG [kam-peers]=$KAM_PEERS [kam-small]=$KAM_SMALL)
declare -A KAM_MAXSUB=([kam-1m]=$((NSUB_BIG + 1024)) [kam-peers]=1024 [kam-small]=1024)
for s in kam-1m kam-peers kam-small; do kam_cfg "$s" "${KAM_FILE[$s]}" "${KAM_MAXSUB[$s]}" >/dev/null; done

table_of() { case $1 in sipmap | kam-1m) echo "$NETWORKS" ;; kam-peers) echo 101003 ;; kam-small) echo 3 ;; esac; }

# ===================================================================================================
# 1. Throughput
# ===================================================================================================
run_sipp() { # SERVER PATH RATE ROUND PID [extra sipprun args]: one SIPp run, appended to results.jsonl
    local server=$1 path=$2 rate=$3 round=$4 pid=$5
    shift 5
    local target src sport
    if [ "$server" = sipmap ]; then target=127.0.0.1:$SPORT; else target=127.0.0.1:$KPORT; fi
    if [ "$path" = 200 ]; then src=127.0.0.1 sport=25060; else src=127.0.0.2 sport=25061; fi
    local try line other
    for ((try = 0; try <= RETRIES; try++)); do
        tracked python3 "$HERE/sipprun.py" --server "$server" --table "$(table_of "$server")" --path "$path" \
            --rate "$rate" --duration "$DURATION" --round "$round" --pids "$pid" --sipp-buff "$RUN_BUFF" \
            --scenario "$WORK/options-$path.xml" --target "$target" --src "$src" --src-port "$sport" \
            --workdir "$OUT" "$@" >"$WORK/run.json"
        line=$(cat "$WORK/run.json")
        sleep 2   # let an overloaded server drain before the next run
        other=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["other_cpu_pct"])' "$line")
        if [ "$try" -lt "$RETRIES" ] && python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)' "$other" "$MAX_OTHER"; then
            log "  other processes used $other% of a core during that run: repeating it"
            echo "$line" >>"$OUT/results-rejected.jsonl"
            wait_idle 60
            continue
        fi
        echo "$line" >>"$RESULTS"
        LAST_LINE=$line
        return 0
    done
}
warm_up() { # SERVER PATH PID: 2 s at 5,000/s, not recorded
    tracked python3 "$HERE/sipprun.py" --server "$1" --table warmup --path "$2" --rate 5000 --duration 2 --pids "$3" --sipp-buff "$SIPP_BUFF" \
        --scenario "$WORK/options-$2.xml" --target "$([ "$1" = sipmap ] && echo 127.0.0.1:$SPORT || echo 127.0.0.1:$KPORT)" \
        --src "$([ "$2" = 200 ] && echo 127.0.0.1 || echo 127.0.0.2)" --src-port 25062 --workdir "$WORK" >/dev/null 2>&1 || true
    sleep 1
}
if has_phase throughput; then
    for ((round = 1; round <= ROUNDS; round++)); do
        for server in $SERVERS; do
            wait_idle "$WAIT_IDLE"
            log "throughput round $round/$ROUNDS: $server ($(table_of "$server") rows)"
            if [ "$server" = sipmap ]; then
                start_sipmap "$DB_BASE" "$OUT/sipmap-throughput-$round.log"
                pid=$SIPMAP_PID
                extra=(--metrics "$HTTP_URL/metrics")
                deny=404 deny_rates=$DENY_RATES
            else
                start_kam "$server" "$OUT/kamailio-$server-$round.log"
                pid=$KAM_PID
                extra=(--children)
                deny=403
                case $server in kam-1m) deny_rates=$DENY_RATES_KAM1M ;; kam-small) deny_rates= ;; *) deny_rates=$DENY_RATES ;; esac
            fi
            warm_up "$server" 200 "$pid"
            RUN_BUFF=$SIPP_BUFF
            for rate in $RATES; do run_sipp "$server" 200 "$rate" "$round" "$pid" "${extra[@]}"; done
            for rate in $HIGH_RATES; do   # only while the server is still clean
                python3 -c 'import json,sys; r=json.loads(sys.argv[1]); sys.exit(0 if r["retrans"] == 0 and r["failed"] == 0 and not r["lost"] else 1)' "$LAST_LINE" || break
                run_sipp "$server" 200 "$rate" "$round" "$pid" "${extra[@]}"
            done
            for rate in $deny_rates; do run_sipp "$server" "$deny" "$rate" "$round" "$pid" "${extra[@]}"; done
            if has_peers_server "$server"; then
                RUN_BUFF=0   # peers.md's exact SIPp command (default socket buffers)
                for rate in $PEERS_RATES; do run_sipp "$server" 200 "$rate" "$round" "$pid" "${extra[@]}"; done
            fi
            if [ "$server" = sipmap ]; then
                [ "$round" = 1 ] && meta sipmap_throughput_vmhwm_kb "$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")"
                curl -s "$HTTP_URL/metrics" >"$OUT/sipmap-metrics-$round.txt" || true
                stop_pid "$SIPMAP_PID"
            else
                stop_kam
            fi
        done
    done
fi

# ===================================================================================================
# 2. Start-up with the big table (and Kamailio's start-up and reload with the same table)
# ===================================================================================================
if has_phase startup; then
    wait_idle "$WAIT_IDLE"
    log "start-up: sipmap with $NETWORKS networks, $STARTS runs"
    tracked python3 "$HERE/probe.py" startup "$STARTS" "127.0.0.1:$SPORT" 127.0.0.1 "$OUT/startup-sipmap.json" -- \
        "$BIN" serve --listen 127.0.0.1:0 --database-url "sqlite://$DB_BASE" --sip-listen "127.0.0.1:$SPORT" \
        >/dev/null || log "WARNING: some sipmap start-up runs got no 200"
    meta startup_sipmap "$(cat "$OUT/startup-sipmap.json")"
    for s in kam-1m kam-peers; do
        log "start-up: Kamailio ($s), $STARTS runs"
        # shellcheck disable=SC2046
        tracked python3 "$HERE/probe.py" startup "$STARTS" "127.0.0.1:$KPORT" 127.0.0.1 "$OUT/startup-$s.json" -- \
            $(kam_args "$s") >/dev/null || log "WARNING: some Kamailio start-up runs got no 200"
        meta "startup_$s" "$(cat "$OUT/startup-$s.json")"
    done
    for s in kam-1m kam-peers; do
        log "Kamailio ($s): permissions.addressReload, 3 times (its reload_delta allows one per 5 s)"
        start_kam "$s" "$OUT/kamailio-$s-reload.log"
        times=()
        for i in 1 2 3; do
            sleep 6
            t0=$(date +%s%N)
            r=$(timeout 120 kamcmd -s "unix:$WORK/kamailio-$s.ctl" permissions.addressReload 2>&1 || true)
            t1=$(date +%s%N)
            log "  reload $i: $r in $(((t1 - t0) / 1000000)) ms"
            times+=("$(((t1 - t0) / 1000000))")
        done
        second=$(timeout 120 kamcmd -s "unix:$WORK/kamailio-$s.ctl" permissions.addressReload 2>&1 || true)
        wait_options 127.0.0.1 "127.0.0.1:$KPORT" 200 10 || log "WARNING: no 200 after the reloads"
        meta "reload_$s" "{\"ms\": [$(IFS=,; echo "${times[*]}")], \"answer\": \"$r\", \"immediate_second_reload\": \"$(echo "$second" | tr -d '"\n')\", \"main_vmhwm_kb\": $(awk '/^VmHWM:/ {print $2}' "/proc/$KAM_PID/status")}"
        stop_kam
    done
fi

# ===================================================================================================
# 3. API-to-edge propagation (on a copy of the big table, so the cached one stays as generated)
# ===================================================================================================
if has_phase propagation; then
    wait_idle "$WAIT_IDLE"
    log "propagation: $TRIALS creates + $TRIALS deletes on a copy of the $NETWORKS-network database"
    cp "$DB_BASE" "$WORK/prop.db"
    start_sipmap "$WORK/prop.db" "$OUT/sipmap-propagation.log"
    tracked python3 "$HERE/probe.py" propagate "$HTTP_URL" "$AUTH" "127.0.0.1:$SPORT" "$LOOPBACK_SD" "$TRIALS" \
        "$OUT/propagation.json" "$WIDE_TRIALS" >/dev/null
    meta propagation "$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["summary"]))' "$OUT/propagation.json")"
    if [ -n "$WIDE_NETWORKS" ]; then
        log "propagation: API latency of mapping wide networks ($WIDE_NETWORKS)"
        # shellcheck disable=SC2086
        tracked python3 "$HERE/probe.py" widecost "$HTTP_URL" "$AUTH" "$LOOPBACK_SD" 3 "$OUT/widecost.json" $WIDE_NETWORKS >/dev/null
        meta widecost "$(cat "$OUT/widecost.json")"
    fi
    meta propagation_vmhwm_kb "$(awk '/^VmHWM:/ {print $2}' "/proc/$SIPMAP_PID/status")"
    stop_pid "$SIPMAP_PID"
fi

python3 "$HERE/report.py" "$RESULTS" "$META" | tee "$OUT/table.md"
log "raw SIPp output, server logs, results.jsonl, meta.json and table.md are in $OUT"
