#!/usr/bin/env bash
# SIP over TLS benchmark (issue 18): sipmap's --sip-tls-listen against Kamailio 5.6 with its tls
# module (Debian's kamailio-tls-modules, OpenSSL), side by side in one run, the same certificate
# (made here with `openssl req`, as the README does; never kept) and the same load generator
# (bench/tls_load, a small Rust program built here: Debian's SIPp has no TLS).
#
#   bench/sip_tls.sh                     # full run (~5 min): 3 rounds x 10 s per measure
#   SIP_TLS_BENCH_QUICK=1 bench/sip_tls.sh   # smoke run (~1 min): 1 round x 3 s, 300 idle connections
#
# What each server does with an OPTIONS over TLS (as alike as they can be):
#   sipmap    recognises the Request-URI's domain (bench-tls.sip.twilio.com, created through the API),
#             admits the source by the domain's IP access control list (127.0.0.0/8) and answers
#             200 itself, with X-Sipmap-Account-Sid and X-Sipmap-Domain-Sid
#   kamailio  checks $rd is that domain, allow_source_address("1") (127.0.0.0/8 in an address
#             file) and sl_send_reply("200") with the row's tag in a header
#
# Measures (results.jsonl; the table goes to stdout and table.md):
#   handshake    SIP_TLS_BENCH_HS_WORKERS concurrent workers, each: connect, full handshake (no
#                resumption), one OPTIONS, its 200, close; completed per second
#   established  SIP_TLS_BENCH_CONNS connections opened first, then OPTIONS looped on each
#                (SIP_TLS_BENCH_DEPTH written back to back); 200s per second
#   idle         SIP_TLS_BENCH_IDLE_CONNS connections opened, one OPTIONS each, held: the server's
#                memory before and after, per connection (sipmap: VmRSS; Kamailio: the sum of the
#                PSS of all its processes, and its own shared-memory accounting, core.shmmem)
#   For every run: the server's CPU time (utime+stime of all its processes) per answered request,
#   the load generator's CPU, and what other processes used meanwhile (the box is shared).
#
# Environment (defaults in brackets):
#   SIP_TLS_BENCH_QUICK [0]  SIP_TLS_BENCH_ROUNDS [3]  SIP_TLS_BENCH_DURATION [10] s per run
#   SIP_TLS_BENCH_HS_WORKERS [32]  SIP_TLS_BENCH_CONNS [50]  SIP_TLS_BENCH_DEPTH [4]
#   SIP_TLS_BENCH_IDLE_CONNS [1000] (sipmap's caps: 1,024 connections, 64 from one source; they are
#                            spread over SIP_TLS_BENCH_SOURCES [20] addresses 127.0.1.x)
#   SIP_TLS_BENCH_GROUP [x25519]  key exchange the client offers (x25519, p256, any: see tls_load)
#   SIP_TLS_BENCH_SERVERS ["sipmap kamailio"]  SIP_TLS_BENCH_MEASURES ["handshake established idle"]
#   SIP_TLS_BENCH_SERVER_CPU [1]  SIP_TLS_BENCH_LOAD_CPU [0]  taskset pinning (one core each)
#   SIP_TLS_BENCH_KAM_CHILDREN [1]  Kamailio's tcp_children (2 crashed Debian's 5.6.3 with a
#                            SIGSEGV in a TCP worker under the handshake load: see docs/benchmarks.md)
#   SIPMAP_BIN [$REPO/target/release/sipmap; cargo build --release if missing]
#   SIP_TLS_BENCH_PORT_BASE [15160]  sipmap UDP/TCP +0, sipmap TLS +1, Kamailio TLS +2
#   SIP_TLS_BENCH_OUT_DIR [bench/.cache/sip-tls-results/<UTC time>]  SIP_TLS_BENCH_KEEP [0]
#
# Loopback only. Every run is bounded; every process started here is stopped on exit (trap).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE=$REPO/bench/sip_tls

QUICK=${SIP_TLS_BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then d_rounds=1 d_duration=3 d_idle=300; else d_rounds=3 d_duration=10 d_idle=1000; fi
ROUNDS=${SIP_TLS_BENCH_ROUNDS:-$d_rounds}
DURATION=${SIP_TLS_BENCH_DURATION:-$d_duration}
HS_WORKERS=${SIP_TLS_BENCH_HS_WORKERS:-32}
CONNS=${SIP_TLS_BENCH_CONNS:-50}
DEPTH=${SIP_TLS_BENCH_DEPTH:-4}
IDLE_CONNS=${SIP_TLS_BENCH_IDLE_CONNS:-$d_idle}
SOURCES=${SIP_TLS_BENCH_SOURCES:-20}
GROUP=${SIP_TLS_BENCH_GROUP:-x25519}
SERVERS=${SIP_TLS_BENCH_SERVERS:-sipmap kamailio}
MEASURES=${SIP_TLS_BENCH_MEASURES:-handshake established idle}
SCPU=${SIP_TLS_BENCH_SERVER_CPU:-1}
LCPU=${SIP_TLS_BENCH_LOAD_CPU:-0}
KAM_CHILDREN=${SIP_TLS_BENCH_KAM_CHILDREN:-1}
SIPMAP_BIN=${SIPMAP_BIN:-$REPO/target/release/sipmap}
BASE=${SIP_TLS_BENCH_PORT_BASE:-15160}
SPORT=$BASE TPORT=$((BASE + 1)) KPORT=$((BASE + 2))
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${SIP_TLS_BENCH_OUT_DIR:-$REPO/bench/.cache/sip-tls-results/$STAMP}
RESULTS=$OUT/results.jsonl
DOMAIN=bench-tls.sip.twilio.com
LOAD_TARGET=$REPO/bench/.cache/tls_load-target
LOAD=$LOAD_TARGET/release/tls_load

ACCOUNT=AC0123456789abcdef0123456789abcdef
TOKEN=bench0123456789abcdef0123456789ab
export TWILIO_ACCOUNT_SID=$ACCOUNT TWILIO_AUTH_TOKEN=$TOKEN
unset RUST_LOG

log() { printf '[sip-tls-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
has() { case " $2 " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# --- processes: every PID started here goes into PIDS; the trap stops them and their children -----
PIDS=()
WORK=
running() { local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1; [ -n "$st" ] && [ "$st" != Z ]; }
children_of() { ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' ' || true; }
stop_pid() { # PID: SIGTERM it, wait at most 10 s, then SIGKILL it and its children
    local pid=$1 i kids k
    kids=$(children_of "$pid")
    if running "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do running "$pid" || break; sleep 0.1; done
        running "$pid" && kill -KILL "$pid" 2>/dev/null || true
    fi
    for k in $kids; do running "$k" && kill -KILL "$k" 2>/dev/null || true; done
    wait "$pid" 2>/dev/null || true
    local keep=() p
    for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    if [ -n "$WORK" ] && [ "${SIP_TLS_BENCH_KEEP:-0}" != 1 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- what we need ------------------------------------------------------------------------------------
need_apt() {
    log "installing $* with apt-get"
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    $SUDO apt-get update -qq
    $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null
}
command -v kamailio >/dev/null && command -v kamcmd >/dev/null || need_apt kamailio
KAM_MODULES=/usr/lib/x86_64-linux-gnu/kamailio/modules
[ -f "$KAM_MODULES/tls.so" ] || need_apt kamailio-tls-modules
for c in python3 curl openssl taskset kamailio kamcmd cargo; do command -v "$c" >/dev/null || die "$c is not installed"; done
[ -f "$KAM_MODULES/tls.so" ] || die "Kamailio's tls module is not in $KAM_MODULES"
[ "$(nproc)" -ge 2 ] || { log "one core only: no pinning"; SCPU=0 LCPU=0; }

if [ ! -x "$SIPMAP_BIN" ]; then
    [ "$SIPMAP_BIN" = "$REPO/target/release/sipmap" ] || die "SIPMAP_BIN=$SIPMAP_BIN is not an executable"
    log "building sipmap (cargo build --release)"
    (cd "$REPO" && cargo build --release)
fi
"$SIPMAP_BIN" serve --help | grep -q -- --sip-tls-listen || die "$SIPMAP_BIN has no --sip-tls-listen"
log "building the load generator (bench/tls_load, its own cargo project)"
(cd "$REPO/bench/tls_load" && CARGO_TARGET_DIR=$LOAD_TARGET cargo build --release --locked --offline -q 2>/dev/null ||
    CARGO_TARGET_DIR=$LOAD_TARGET cargo build --release --locked -q) || die "tls_load did not build"

mkdir -p "$OUT"
: >"$RESULTS"
WORK=$(mktemp -d /tmp/sipmap-tlsbench.XXXXXX)
cp "$SIPMAP_BIN" "$WORK/sipmap"   # a private copy: a rebuild during the run cannot swap it
BIN=$WORK/sipmap
log "results in $OUT; temporary files in $WORK"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 2 -nodes -keyout "$WORK/key.pem" \
    -out "$WORK/cert.pem" -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -addext basicConstraints=critical,CA:FALSE 2>/dev/null || die "openssl req failed"

busy_now() { python3 -c '
import time
def s():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7], sum(v)
a = s(); time.sleep(2); b = s()
print(round(100 * (b[0] - a[0]) / max(1, b[1] - a[1]), 1))'; }
BUSY=$(busy_now)
python3 - "$OUT/meta.json" <<EOF
import json, subprocess, sys
def sh(c):
    try: return subprocess.run(c, shell=True, capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception: return "?"
json.dump({
  "date": sh("date -u '+%Y-%m-%d %H:%M UTC'"), "nproc": int(sh("nproc") or 0),
  "cpu": sh("sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1"), "kernel": sh("uname -r"),
  "kamailio": sh("kamailio -v | head -1"), "openssl": sh("openssl version"),
  "sipmap": "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null | grep -q . && echo '+dirty' || true)",
  "sipmap_bin_mtime": sh("date -u -r '$SIPMAP_BIN' '+%Y-%m-%d %H:%M UTC'"),
  "rounds": $ROUNDS, "duration_s": $DURATION, "hs_workers": $HS_WORKERS, "conns": $CONNS, "depth": $DEPTH,
  "idle_conns": $IDLE_CONNS, "sources": $SOURCES, "group": "$GROUP", "server_cpu": "$SCPU", "load_cpu": "$LCPU",
  "kam_tcp_children": $KAM_CHILDREN, "busy_before_pct": $BUSY, "loadavg": sh("cut -d' ' -f1-3 /proc/loadavg"),
}, open(sys.argv[1], "w"), indent=1)
EOF
log "machine busy before the benchmark: $BUSY% of all cores (load average $(cut -d' ' -f1-3 /proc/loadavg))"

# --- servers -----------------------------------------------------------------------------------------
SERVER_PIDS=   # every process of the server under test (Kamailio forks)
start_sipmap() {
    local logf=$OUT/sipmap-$1.log i
    taskset -c "$SCPU" "$BIN" serve --listen 127.0.0.1:0 --database-url "sqlite://$WORK/sipmap-$1.db" \
        --sip-listen "127.0.0.1:$SPORT" --sip-tls-listen "127.0.0.1:$TPORT" \
        --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" >"$logf" 2>&1 &
    SIPMAP_PID=$!
    PIDS+=("$SIPMAP_PID")
    for ((i = 0; i < 300; i++)); do
        grep -qs "(TLS)" "$logf" && grep -qs "HTTP API listening" "$logf" && break
        running "$SIPMAP_PID" || die "sipmap exited; see $logf"
        sleep 0.1
    done
    grep -q "(TLS)" "$logf" || die "sipmap did not start in 30 s; see $logf"
    HTTP_URL=$(sed -n 's/^sipmap: HTTP API listening on \(http:[^ ]*\).*/\1/p' "$logf" | head -1)
    SERVER_PIDS=$SIPMAP_PID
    TARGET=127.0.0.1:$TPORT
}
api() { # PATH FORM... -> the sid of what was created
    local path=$1
    shift
    local args=() f
    for f in "$@"; do args+=(--data-urlencode "$f"); done
    curl -sf -u "$ACCOUNT:$TOKEN" "$HTTP_URL$path" "${args[@]}" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["sid"])'
}
setup_sipmap() { # the domain, an IP access control list of 127.0.0.0/8 mapped to it for calls
    local base=/2010-04-01/Accounts/$ACCOUNT/SIP d acl
    d=$(api "$base/Domains.json" "DomainName=$DOMAIN") || die "creating the domain failed"
    acl=$(api "$base/IpAccessControlLists.json" "FriendlyName=loopback") || die "creating the ACL failed"
    api "$base/IpAccessControlLists/$acl/IpAddresses.json" FriendlyName=loopback IpAddress=127.0.0.0 CidrPrefixLength=8 >/dev/null
    api "$base/Domains/$d/Auth/Calls/IpAccessControlListMappings.json" "IpAccessControlListSid=$acl" >/dev/null
}
start_kam() {
    local logf=$OUT/kamailio-$1.log i
    printf '# (groupid) (address) (netmask) (port) (tag)\n1 127.0.0.0 8 0 SDaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n' >"$WORK/address.list"
    sed -e "s|@KEY@|$WORK/key.pem|; s|@CERT@|$WORK/cert.pem|" "$HERE/tls.cfg.in" >"$WORK/tls.cfg"
    sed -e "s|@PORT@|$KPORT|; s|@TCP_CHILDREN@|$KAM_CHILDREN|; s|@MAX_CONNS@|4096|; s|@TLS_CFG@|$WORK/tls.cfg|" \
        -e "s|@ADDRESS_FILE@|$WORK/address.list|; s|@DOMAIN@|$DOMAIN|; s|@CTL@|$WORK/kamailio.ctl|" \
        -e "s|^mpath=.*|mpath=\"$KAM_MODULES/\"|" "$HERE/kamailio-tls.cfg.in" >"$WORK/kamailio.cfg"
    kamailio -c -f "$WORK/kamailio.cfg" >"$WORK/kamailio.check" 2>&1 || die "kamailio -c failed; see $WORK/kamailio.check"
    rm -f "$WORK/kamailio.pid"
    taskset -c "$SCPU" kamailio -f "$WORK/kamailio.cfg" -P "$WORK/kamailio.pid" -DD -E -m 512 -M 16 >"$logf" 2>&1 &
    KAM_CREATOR=$!
    PIDS+=("$KAM_CREATOR")
    for ((i = 0; i < 300; i++)); do [ -s "$WORK/kamailio.pid" ] && break; sleep 0.1; done
    KAM_PID=$(cat "$WORK/kamailio.pid" 2>/dev/null || true)
    [ -n "$KAM_PID" ] || die "Kamailio wrote no pid file; see $logf"
    PIDS+=("$KAM_PID")
    sleep 1
    SERVER_PIDS="$KAM_PID $(children_of "$KAM_PID" | tr '\n' ' ')"
    TARGET=127.0.0.1:$KPORT
}
stop_server() {
    if [ "$1" = sipmap ]; then stop_pid "$SIPMAP_PID"; else stop_pid "$KAM_PID"; stop_pid "$KAM_CREATOR"; fi
}

# --- one run -------------------------------------------------------------------------------------
run() { # SERVER MEASURE ROUND: one tls_load run with the server's CPU and memory around it
    local server=$1 measure=$2 round=$3 args
    case $measure in
        handshake) args=(--workers "$HS_WORKERS" --duration "$DURATION") ;;
        established) args=(--conns "$CONNS" --depth "$DEPTH" --duration "$DURATION") ;;
        idle) args=(--conns "$IDLE_CONNS" --hold 6) ;;
    esac
    python3 "$HERE/measure.py" --server "$server" --measure "$measure" --round "$round" \
        --pids "$SERVER_PIDS" --ctl "$([ "$server" = kamailio ] && echo "unix:$WORK/kamailio.ctl" || true)" \
        --expect "$([ "$measure" = idle ] && echo "$IDLE_CONNS" || echo 0)" -- \
        taskset -c "$LCPU" "$LOAD" --mode "$measure" --addr "$TARGET" --uri-host "$DOMAIN" \
        --sources "$SOURCES" --group "$GROUP" "${args[@]}" >>"$RESULTS" || log "  that run failed: see $RESULTS"
    tail -1 "$RESULTS" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("  %s %s: %s/s ok=%s cpu/req=%s us, other=%s%%%s" % (r["server"], r["measure"], r["per_s"], r["ok"], r["server_cpu_us_per_req"], r["other_cpu_pct"], (", %s B/conn" % r["bytes_per_conn"]) if r.get("bytes_per_conn") is not None else ""))' >&2 || true
}

for ((round = 1; round <= ROUNDS; round++)); do
    for server in $SERVERS; do
        log "round $round/$ROUNDS: $server"
        if [ "$server" = sipmap ]; then start_sipmap "$round"; setup_sipmap; else start_kam "$round"; fi
        # warm-up, not recorded: the first OPTIONS answered 200, then 1 s of handshakes
        taskset -c "$LCPU" "$LOAD" --mode handshake --addr "$TARGET" --uri-host "$DOMAIN" --workers 4 \
            --duration 1 --sources "$SOURCES" --group "$GROUP" >"$WORK/warm.json" || true
        grep -q '"ok": [1-9]' "$WORK/warm.json" || die "$server answered no OPTIONS over TLS with 200: $(cat "$WORK/warm.json")"
        for m in $MEASURES; do run "$server" "$m" "$round"; sleep 1; done
        if [ "$server" = kamailio ] && grep -q "signal" "$OUT/kamailio-$round.log"; then
            log "WARNING: a Kamailio process died: $(grep signal "$OUT/kamailio-$round.log" | head -2 | tr '\n' ' ')"
        fi
        stop_server "$server"
    done
done

python3 "$HERE/report.py" "$RESULTS" "$OUT/meta.json" | tee "$OUT/table.md"
log "tls_load output, server logs, results.jsonl, meta.json and table.md are in $OUT"
