#!/usr/bin/env bash
# SIP edge security benchmarks (issue 9, "Speed"): the cost of an IP-access-control-list decision,
# and digest-authenticated calls against Kamailio 5.6, driven by SIPp 3.6.1 on loopback.
#
#   bench/sip_auth.sh                        # full run (~1 h): 1,000,000 mappings + 1,000,000 ACL networks
#   SIP_AUTH_QUICK=1 bench/sip_auth.sh       # smoke run (~6 min): 100,000 + 100,000, 1 round x 3 s
#
# What it measures (docs/benchmarks.md, "SIP digest and IP access control lists", reads the results):
#   1. acl: the same SIPp load against
#        old  $OLD_BIN (default /tmp/sipmap-refactor-bin, commit a77d006: no security settings, the
#             edge answers or forwards any recognised request) on N source-IP mappings, and
#        new  $NEW_BIN (default /tmp/sipmap-auth-bin: today's code) on the same N mappings plus
#             ACCOUNTS x LISTS x ADDRESSES IP access control list networks (default 10 accounts x
#             1,000 lists x 100 = 1,000,000; the accounts' default limit of 1,000 lists each is
#             kept), the SIPp source's domain mapping one list that holds 127.0.0.1/32 for calls,
#      alternating which goes first each round. Two loads:
#        options  OPTIONS from 127.0.0.1 at SIP_AUTH_ACL_RATES/s (answered 200 by the edge itself
#                 once recognised, and for `new` once admitted by the list): the edge's whole cost
#                 per request (parse, recognise, admit, answer) with nothing else on the 2 cores but
#                 one SIPp; the primary figure (server CPU per answered request, bench/sip/sipprun.py);
#        invite   INVITE / 200 / ACK / BYE / 200 calls at SIP_AUTH_ACL_CALL_RATES/s, forwarded to a SIPp
#                 UAS upstream (bench/sip/callrun.py): adds forwarding and relaying, and a third
#                 process on the cores; server CPU per call.
#   2. memory: `new` started SIP_AUTH_MEM_STARTS times on the table with the ACL networks and on the
#      same table without them (mappings + the loopback list only); VmHWM and VmRSS once the first
#      OPTIONS from 127.0.0.1 is answered 200 (+1 s); difference / networks = bytes per ACL network.
#   3. digest: digest-authenticated calls (bench/sip/uac-digest.xml.in: INVITE -> 407 -> ACK;
#      INVITE with credentials -> 200 from a SIPp UAS -> ACK; BYE with credentials -> 200), SIPp's
#      [authentication] with -au/-ap (MD5), swept over SIP_AUTH_DIGEST_RATES calls/s, against
#        sipmap    `new --sip-digest-algorithms MD5,SHA-256`, one domain mapping for calls an access
#                  control list that does not hold the source and a credential list, recognised by
#                  the source address (127.0.0.1/32 mapped to it: SIPp 3.6.1's digest uri is always
#                  sip:<server address>, and sipmap wants it equal to the Request-URI), all set up
#                  through the API
#        kamailio  Kamailio 5.6 (bench/sip/kamailio-auth.cfg.in): permissions allow_source_address
#                  (a 2-row address file without the source), then auth + auth_db (db_text
#                  subscriber table, same user and password) proxy_authorize / proxy_challenge /
#                  consume_credentials, stateless forward() to the same kind of SIPp UAS
#      "clean" run: every offered call successful, and zero failed calls, lost calls,
#      retransmissions (UAC and UAS), unexpected, out-of-call and dead-call messages; a round's
#      clean rate is the highest offered rate clean in that round with every lower rate also
#      clean; the clean rate is the highest offered rate clean in every round (and every lower one).
#
# Environment (defaults in brackets; QUICK's in the code below):
#   SIP_AUTH_QUICK [0]             1 = smoke-run defaults
#   SIP_AUTH_NETWORKS [1000000]    source-IP mappings (bench/sip/gen.py's networks, seed SIP_AUTH_SEED [1])
#   SIP_AUTH_ACL_ACCOUNTS [10] SIP_AUTH_ACL_LISTS [1000] SIP_AUTH_ACL_ADDRESSES [100] SIP_AUTH_ACL_DOMAINS [10]
#                                  accounts (the bench account + subaccounts made through the API) x lists
#                                  per account x networks per list; new domains per account (lists mapped
#                                  round robin)
#   SIP_AUTH_ACL_ROUNDS [5]  SIP_AUTH_DIGEST_ROUNDS [3]  SIP_AUTH_DURATION [10] s per run
#   SIP_AUTH_ACL_RATES ["20000 40000"]        OPTIONS/s       SIP_AUTH_ACL_CALL_RATES ["1000 3000"] calls/s
#   SIP_AUTH_DIGEST_RATES ["500 1000 2000 3000 4000 5000 6000 7000 8000 10000 12000"]  calls/s, in order; a
#                                  server's sweep in a round stops SIP_AUTH_DIGEST_PAST [1] rates after its
#                                  first unclean one
#   SIP_AUTH_MEM_STARTS [3]        SIP_AUTH_PHASES ["acl memory digest"]
#   SIP_AUTH_SIPP_BUFF [4194304]   SIPp -buff_size (bench/sip.sh explains why: SIPp's own socket overflows)
#   OLD_BIN [/tmp/sipmap-refactor-bin]  NEW_BIN [/tmp/sipmap-auth-bin]  (copied to $WORK before use)
#   SIP_AUTH_SIPMAP_PORT [15070] SIP_AUTH_KAM_PORT [15060] SIP_AUTH_UAS_PORT [25080]; SIPp's UAC 127.0.0.1:25060
#   SIP_AUTH_OUT_DIR [bench/.cache/sip-auth-results/<UTC time>]   SIP_AUTH_KEEP [0] 1 = keep $WORK
#   SIP_AUTH_WAIT_IDLE [300]       before each server's runs, wait at most this many s for the box to be
#                                  quiet (< 15 % busy)
#   SIP_AUTH_MAX_OTHER [25]        a run during which other processes used more than this % of one core is
#                                  repeated (at most SIP_AUTH_RETRIES [2] times; rejected ones: results-rejected.jsonl)
#
# Databases are cached in bench/.cache/sip-auth/ by size, seed and binary (generating 1M + 1M rows takes
# a few minutes). Loopback only. Every loop is bounded; every process started here is stopped on exit.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE=$REPO/bench/sip
CACHE=$REPO/bench/.cache/sip-auth

QUICK=${SIP_AUTH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
    d_networks=100000 d_lists=100 d_acl_rounds=1 d_digest_rounds=1 d_duration=3 d_acl_rates="20000"
    d_call_rates="1000" d_digest_rates="500 2000 4000" d_starts=1
else
    d_networks=1000000 d_lists=1000 d_acl_rounds=5 d_digest_rounds=3 d_duration=10 d_acl_rates="20000 40000"
    d_call_rates="1000 3000" d_digest_rates="500 1000 2000 3000 4000 5000 6000 7000 8000 10000 12000" d_starts=3
fi
NETWORKS=${SIP_AUTH_NETWORKS:-$d_networks}
SEED=${SIP_AUTH_SEED:-1}
ACL_ACCOUNTS=${SIP_AUTH_ACL_ACCOUNTS:-10}
ACL_LISTS=${SIP_AUTH_ACL_LISTS:-$d_lists}
ACL_ADDRESSES=${SIP_AUTH_ACL_ADDRESSES:-100}
ACL_DOMAINS=${SIP_AUTH_ACL_DOMAINS:-10}
ACL_NETWORKS=$((ACL_ACCOUNTS * ACL_LISTS * ACL_ADDRESSES))
ACL_ROUNDS=${SIP_AUTH_ACL_ROUNDS:-$d_acl_rounds}
DIGEST_ROUNDS=${SIP_AUTH_DIGEST_ROUNDS:-$d_digest_rounds}
DURATION=${SIP_AUTH_DURATION:-$d_duration}
ACL_RATES=${SIP_AUTH_ACL_RATES:-$d_acl_rates}
ACL_CALL_RATES=${SIP_AUTH_ACL_CALL_RATES-$d_call_rates}
DIGEST_RATES=${SIP_AUTH_DIGEST_RATES:-$d_digest_rates}
DIGEST_PAST=${SIP_AUTH_DIGEST_PAST:-1}
STARTS=${SIP_AUTH_MEM_STARTS:-$d_starts}
PHASES=${SIP_AUTH_PHASES:-acl memory digest}
SIPP_BUFF=${SIP_AUTH_SIPP_BUFF:-4194304}
OLD_BIN=${OLD_BIN:-/tmp/sipmap-refactor-bin}
NEW_BIN=${NEW_BIN:-/tmp/sipmap-auth-bin}
WAIT_IDLE=${SIP_AUTH_WAIT_IDLE:-300}
MAX_OTHER=${SIP_AUTH_MAX_OTHER:-25}
RETRIES=${SIP_AUTH_RETRIES:-2}
SPORT=${SIP_AUTH_SIPMAP_PORT:-15070}
KPORT=${SIP_AUTH_KAM_PORT:-15060}
UPORT=${SIP_AUTH_UAS_PORT:-25080}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${SIP_AUTH_OUT_DIR:-$REPO/bench/.cache/sip-auth-results/$STAMP}
META=$OUT/meta.json

ACCOUNT=AC0123456789abcdef0123456789abcdef
TOKEN=bench0123456789abcdef0123456789ab
AUTH=$ACCOUNT:$TOKEN
export TWILIO_ACCOUNT_SID=$ACCOUNT TWILIO_AUTH_TOKEN=$TOKEN
unset RUST_LOG SIPMAP_SECRET_KEY SIPMAP_SECRET_KEY_FILE
DIGEST_DOMAIN=digest-bench.sip.twilio.com
DIGEST_USER=alice
DIGEST_PASSWORD=BenchPassw0rd2026

log() { printf '[sip-auth-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
has_phase() { case " $PHASES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# --- processes: every PID started here goes into PIDS; the trap stops them and their descendants ---
PIDS=()
WORK=
running() { # PID: alive and not a zombie
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}
descendants() { # PID: every descendant PID
    local c
    for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        echo "$c"
        descendants "$c"
    done
}
stop_pid() { # PID: SIGTERM it, wait at most 10 s, SIGKILL it and whatever it forked that is left
    local pid=$1 i kids k
    [ -n "$pid" ] || return 0
    kids=$(descendants "$pid")
    if running "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do running "$pid" || break; sleep 0.1; done
        running "$pid" && kill -KILL "$pid" 2>/dev/null || true
    fi
    for ((i = 0; i < 50; i++)); do
        local alive=0
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
    if [ -n "$WORK" ] && [ "${SIP_AUTH_KEEP:-0}" != 1 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- what we need ------------------------------------------------------------------------------------
for c in python3 kamailio kamcmd sipp curl sha256sum; do
    command -v "$c" >/dev/null || die "$c is not installed (apt-get install python3 kamailio sip-tester curl)"
done
KAM_MODULES=$(dirname "$(dpkg -L kamailio 2>/dev/null | grep '/auth_db.so$' | sed -n 1p)")
[ -f "$KAM_MODULES/auth_db.so" ] || KAM_MODULES=/usr/lib/x86_64-linux-gnu/kamailio/modules
for m in auth auth_db db_text permissions sl maxfwd; do
    [ -f "$KAM_MODULES/$m.so" ] || die "Kamailio's $m module is not in $KAM_MODULES"
done
for b in "$OLD_BIN" "$NEW_BIN"; do [ -x "$b" ] || die "$b is not an executable (see OLD_BIN / NEW_BIN)"; done
"$NEW_BIN" serve --help | grep -q -- --sip-digest-algorithms || die "$NEW_BIN has no --sip-digest-algorithms"
"$OLD_BIN" serve --help | grep -q -- --sip-listen || die "$OLD_BIN has no SIP edge"

for port in "$SPORT" "$KPORT" "$UPORT" 25060 25062; do
    python3 - "$port" <<'EOF' || die "UDP port $port on 127.0.0.1 is taken (see SIP_AUTH_*_PORT)"
import socket, sys
for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind); s.bind(("127.0.0.1", int(sys.argv[1]))); s.close()
EOF
done

mkdir -p "$OUT" "$CACHE"
WORK=$(mktemp -d /tmp/sipmap-sipauth.XXXXXX)
# private copies, so that a rebuild during the run cannot swap a binary under us
cp "$OLD_BIN" "$WORK/sipmap-old"
cp "$NEW_BIN" "$WORK/sipmap-new"
declare -A BIN=([old]=$WORK/sipmap-old [new]=$WORK/sipmap-new [sipmap]=$WORK/sipmap-new)
OLD_SUM=$(sha256sum "$WORK/sipmap-old" | cut -c1-12)
NEW_SUM=$(sha256sum "$WORK/sipmap-new" | cut -c1-12)
log "results in $OUT; temporary files in $WORK"

sed -e "s/@CODE@/200/" "$HERE/options.xml.in" >"$WORK/options-200.xml"
sed -e "s/@DOMAIN@/$DIGEST_DOMAIN/g" "$HERE/uac-digest.xml.in" >"$WORK/uac-digest.xml"

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
  "repo_head": "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')",
  "old_bin": "$OLD_BIN", "old_bin_sha256": "$OLD_SUM", "old_bin_mtime": sh("date -u -r '$OLD_BIN' '+%Y-%m-%d %H:%M UTC'"),
  "new_bin": "$NEW_BIN", "new_bin_sha256": "$NEW_SUM", "new_bin_mtime": sh("date -u -r '$NEW_BIN' '+%Y-%m-%d %H:%M UTC'"),
  "networks": $NETWORKS, "seed": "$SEED", "acl_networks": $ACL_NETWORKS,
  "acl_accounts": $ACL_ACCOUNTS, "acl_lists_per_account": $ACL_LISTS, "acl_addresses_per_list": $ACL_ADDRESSES,
  "acl_domains_per_account": $ACL_DOMAINS, "acl_rounds": $ACL_ROUNDS, "digest_rounds": $DIGEST_ROUNDS,
  "duration_s": $DURATION, "acl_rates": "$ACL_RATES", "acl_call_rates": "$ACL_CALL_RATES",
  "digest_rates": "$DIGEST_RATES", "digest_past": $DIGEST_PAST, "quick": "$QUICK", "sipp_buff": $SIPP_BUFF,
  "phases": "$PHASES",
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

# --- sipmap ------------------------------------------------------------------------------------------
SIPMAP_PID=
HTTP_URL=
start_sipmap() { # WHICH(old|new) DB LOG [extra serve args]: start it; wait for "SIP edge listening" (<= 300 s)
    local which=$1 db=$2 logf=$3 i
    shift 3
    "${BIN[$which]}" serve --listen 127.0.0.1:0 --database-url "sqlite://$db" --sip-listen "127.0.0.1:$SPORT" \
        --sip-upstream "127.0.0.1:$UPORT" "$@" >"$logf" 2>&1 &
    SIPMAP_PID=$!
    PIDS+=("$SIPMAP_PID")
    for ((i = 0; i < 3000; i++)); do
        grep -q "sipmap: SIP edge listening on 127.0.0.1:$SPORT" "$logf" && break
        kill -0 "$SIPMAP_PID" 2>/dev/null || die "sipmap ($which) exited; see $logf"
        sleep 0.1
    done
    grep -q "sipmap: SIP edge listening" "$logf" || die "sipmap ($which) did not start in 300 s; see $logf"
    HTTP_URL=$(sed -n 's/^sipmap: HTTP API listening on \(http:[^ ]*\).*/\1/p' "$logf" | head -1)
}
copy_db() { # FROM TO: a SQLite database and its key file
    rm -f "$2" "$2-wal" "$2-shm" "$2.key"
    cp "$1" "$2"
    if [ -f "$1.key" ]; then cp -p "$1.key" "$2.key"; fi
}

# --- databases (cached) ------------------------------------------------------------------------------
DB_OLD=$CACHE/old-$OLD_SUM-$NETWORKS-$SEED.db
DB_BASE=$CACHE/new-$NEW_SUM-$NETWORKS-$SEED-base.db
DB_ACL=$CACHE/new-$NEW_SUM-$NETWORKS-$SEED-acl-${ACL_ACCOUNTS}x${ACL_LISTS}x${ACL_ADDRESSES}x${ACL_DOMAINS}.db
need_tables() { has_phase acl || has_phase memory; }
if need_tables && [ ! -s "$DB_OLD.json" ]; then
    log "generating the old binary's database: $NETWORKS mappings (+127.0.0.1/32) in $DB_OLD"
    rm -f "$DB_OLD" "$DB_OLD-wal" "$DB_OLD-shm"
    start_sipmap old "$DB_OLD" "$OUT/create-old.log"   # creates and migrates it (schema of a77d006)
    stop_pid "$SIPMAP_PID"
    tracked python3 "$HERE/gen_auth.py" mappings "$DB_OLD" "$ACCOUNT" "$NETWORKS" "$SEED" "$DB_OLD.json.tmp" >&2
    mv "$DB_OLD.json.tmp" "$DB_OLD.json"
fi
if need_tables && [ ! -s "$DB_BASE.json" ]; then
    log "generating today's database without ACL networks: $NETWORKS mappings + the loopback list, in $DB_BASE"
    rm -f "$DB_BASE" "$DB_BASE-wal" "$DB_BASE-shm" "$DB_BASE.key"
    start_sipmap new "$DB_BASE" "$OUT/create-new.log"   # creates and migrates it, its key file, the account
    tracked python3 "$HERE/auth_probe.py" subaccounts "$HTTP_URL" "$AUTH" $((ACL_ACCOUNTS - 1)) "$DB_BASE.subaccounts" >&2
    stop_pid "$SIPMAP_PID"
    tracked python3 "$HERE/gen_auth.py" mappings "$DB_BASE" "$ACCOUNT" "$NETWORKS" "$SEED" "$DB_BASE.json.tmp" >&2
    LOOPBACK_SD=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["loopback_domain"])' "$DB_BASE.json.tmp")
    tracked python3 "$HERE/gen_auth.py" loopback-acl "$DB_BASE" "$ACCOUNT" "$LOOPBACK_SD" >&2
    mv "$DB_BASE.json.tmp" "$DB_BASE.json"
    rm -f "$DB_ACL.json"
fi
if need_tables && [ ! -s "$DB_ACL.json" ]; then
    log "generating today's database with $ACL_NETWORKS ACL networks ($ACL_ACCOUNTS accounts x $ACL_LISTS lists x $ACL_ADDRESSES) in $DB_ACL"
    copy_db "$DB_BASE" "$DB_ACL"
    accounts=$(python3 -c 'import json,sys; print(",".join([sys.argv[2]] + json.load(open(sys.argv[1]))))' "$DB_BASE.subaccounts" "$ACCOUNT")
    tracked python3 "$HERE/gen_auth.py" acls "$DB_ACL" "$accounts" "$ACL_LISTS" "$ACL_ADDRESSES" "$ACL_DOMAINS" "$SEED" "$DB_ACL.json.tmp" >&2
    mv "$DB_ACL.json.tmp" "$DB_ACL.json"
fi
if need_tables; then
    meta table_old "$(cat "$DB_OLD.json")"
    meta table_new "$(cat "$DB_BASE.json")"
    meta table_acl "$(cat "$DB_ACL.json")"
    # the runs use copies (sipmap writes its WAL beside the database; the cache stays as generated)
    copy_db "$DB_OLD" "$WORK/old.db"
    copy_db "$DB_ACL" "$WORK/acl.db"
fi

# --- one run, repeated when another job took the CPU --------------------------------------------------
LAST_LINE=
record() { # RESULTS-FILE CMD...: run a runner (prints one JSON line), keep it unless others were busy
    local results=$1 try line other
    shift
    for ((try = 0; try <= RETRIES; try++)); do
        tracked "$@" >"$WORK/run.json"
        line=$(cat "$WORK/run.json")
        sleep 2   # let an overloaded server drain before the next run
        other=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["other_cpu_pct"])' "$line")
        if [ "$try" -lt "$RETRIES" ] && python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)' "$other" "$MAX_OTHER"; then
            log "  other processes used $other% of a core during that run: repeating it"
            echo "$line" >>"$OUT/results-rejected.jsonl"
            wait_idle 60
            continue
        fi
        echo "$line" >>"$results"
        LAST_LINE=$line
        return 0
    done
}
options_run() { # SERVER RATE ROUND PID TABLE-LABEL
    record "$OUT/results-acl.jsonl" python3 "$HERE/sipprun.py" --server "$1" --table "$5" --path 200 --rate "$2" \
        --duration "$DURATION" --round "$3" --pids "$4" --sipp-buff "$SIPP_BUFF" --scenario "$WORK/options-200.xml" \
        --target "127.0.0.1:$SPORT" --src 127.0.0.1 --src-port 25060 --workdir "$OUT" --metrics "$HTTP_URL/metrics"
}
call_run() { # RESULTS SERVER BENCH SCENARIO TARGET-PORT RATE ROUND PID [extra callrun args]
    local results=$1 server=$2 bench=$3 scenario=$4 tport=$5 rate=$6 round=$7 pid=$8
    shift 8
    record "$results" python3 "$HERE/callrun.py" --server "$server" --bench "$bench" --rate "$rate" \
        --duration "$DURATION" --round "$round" --pids "$pid" --uac-scenario "$scenario" \
        --uas-scenario "$HERE/uas-call.xml" --target "127.0.0.1:$tport" --src 127.0.0.1 --src-port 25060 \
        --uas-port "$UPORT" --workdir "$OUT" --sipp-buff "$SIPP_BUFF" "$@"
}
warm_options() { # PID: 2 s at 5,000 OPTIONS/s, not recorded
    tracked python3 "$HERE/sipprun.py" --server warmup --table warmup --path 200 --rate 5000 --duration 2 --pids "$1" \
        --sipp-buff "$SIPP_BUFF" --scenario "$WORK/options-200.xml" --target "127.0.0.1:$SPORT" --src 127.0.0.1 \
        --src-port 25062 --workdir "$WORK" >/dev/null 2>&1 || true
    sleep 1
}

# ===================================================================================================
# 1. ACL path cost: old (no security settings) vs new (admitted by an access control list)
# ===================================================================================================
if has_phase acl; then
    for ((round = 1; round <= ACL_ROUNDS; round++)); do
        if ((round % 2)); then order="old new"; else order="new old"; fi
        for server in $order; do
            wait_idle "$WAIT_IDLE"
            if [ "$server" = old ]; then db=$WORK/old.db label=$NETWORKS; else db=$WORK/acl.db label="$NETWORKS+$ACL_NETWORKS"; fi
            log "acl round $round/$ACL_ROUNDS: $server ($label)"
            start_sipmap "$server" "$db" "$OUT/sipmap-acl-$server-$round.log"
            pid=$SIPMAP_PID
            probe=$(python3 "$HERE/probe.py" options 127.0.0.1 "127.0.0.1:$SPORT" 2>&1 | sed -n 1p)
            case $probe in *" 200 "*) ;; *) die "$server answered OPTIONS from 127.0.0.1 with: $probe" ;; esac
            warm_options "$pid"
            for rate in $ACL_RATES; do options_run "$server" "$rate" "$round" "$pid" "$label"; done
            for rate in $ACL_CALL_RATES; do
                call_run "$OUT/results-acl.jsonl" "$server" acl-invite "$HERE/uac-call.xml" "$SPORT" "$rate" "$round" "$pid" \
                    --metrics "$HTTP_URL/metrics" --table "$label"
            done
            curl -s "$HTTP_URL/metrics" >"$OUT/sipmap-acl-metrics-$server-$round.txt" || true
            stop_pid "$SIPMAP_PID"
        done
    done
fi

# ===================================================================================================
# 2. Memory of the ACL table
# ===================================================================================================
if has_phase memory; then
    wait_idle "$WAIT_IDLE"
    copy_db "$DB_BASE" "$WORK/base.db"
    for which in acl base; do
        log "memory: new binary on the $which table, $STARTS starts"
        db=$WORK/$which.db
        tracked python3 "$HERE/auth_probe.py" memory "$STARTS" "127.0.0.1:$SPORT" 127.0.0.1 1 "$OUT/memory-$which.json" -- \
            "${BIN[new]}" serve --listen 127.0.0.1:0 --database-url "sqlite://$db" --sip-listen "127.0.0.1:$SPORT" \
            >/dev/null || log "WARNING: some start-ups got no 200"
        meta "memory_$which" "$(cat "$OUT/memory-$which.json")"
    done
    log "memory: old binary on its table (reference), $STARTS starts"
    tracked python3 "$HERE/auth_probe.py" memory "$STARTS" "127.0.0.1:$SPORT" 127.0.0.1 1 "$OUT/memory-old.json" -- \
        "${BIN[old]}" serve --listen 127.0.0.1:0 --database-url "sqlite://$WORK/old.db" --sip-listen "127.0.0.1:$SPORT" \
        >/dev/null || log "WARNING: some start-ups got no 200"
    meta memory_old "$(cat "$OUT/memory-old.json")"
fi

# ===================================================================================================
# 3. Digest-authenticated calls: sipmap vs Kamailio 5.6 (auth + auth_db/db_text + permissions)
# ===================================================================================================
wait_options() { # SRC HOST:PORT WANT-STATUS SECONDS: poll until SRC's OPTIONS gets WANT-STATUS
    local i n=$(($4 * 10))
    for ((i = 0; i < n; i++)); do
        python3 "$HERE/probe.py" options "$1" "$2" 2>/dev/null | sed -n 1p | grep -q " $3 " && return 0
        sleep 0.1
    done
    return 1
}
KAM_PID=
KAM_CREATOR=
start_kam() { # LOG
    local logf=$1 i
    rm -f "$WORK/kamailio-auth.pid"
    kamailio -f "$WORK/kamailio-auth.cfg" -P "$WORK/kamailio-auth.pid" -DD -E -m 256 -M 16 >"$logf" 2>&1 &
    KAM_CREATOR=$!
    PIDS+=("$KAM_CREATOR")
    for ((i = 0; i < 600; i++)); do [ -s "$WORK/kamailio-auth.pid" ] && break; sleep 0.1; done
    KAM_PID=$(cat "$WORK/kamailio-auth.pid" 2>/dev/null || true)
    [ -n "$KAM_PID" ] || die "Kamailio wrote no pid file; see $logf"
    PIDS+=("$KAM_PID")
    # an OPTIONS from outside its address table is challenged: that is the answer when it is ready
    wait_options 127.0.0.1 "127.0.0.1:$KPORT" 407 60 || die "Kamailio never answered 407; see $logf"
}
stop_kam() {
    stop_pid "$KAM_PID"
    stop_pid "$KAM_CREATOR"
}
if has_phase digest; then
    log "digest: setting up sipmap's domain through the API, and Kamailio's tables"
    start_sipmap new "$WORK/digest.db" "$OUT/create-digest.log"
    tracked python3 "$HERE/auth_probe.py" digest-domain "$HTTP_URL" "$AUTH" "$DIGEST_DOMAIN" "$DIGEST_USER" \
        "$DIGEST_PASSWORD" "$OUT/digest-domain.json" >&2
    stop_pid "$SIPMAP_PID"
    meta digest_domain "$(cat "$OUT/digest-domain.json")"
    python3 "$HERE/gen_auth.py" kam-dbtext "$WORK/dbtext" "$DIGEST_USER" "$DIGEST_PASSWORD" "$DIGEST_DOMAIN"
    python3 "$HERE/gen_auth.py" kam-address "$WORK/kam-address.list"
    sed -e "s|@PORT@|$KPORT|; s|@CTL@|$WORK/kamailio-auth.ctl|; s|@ADDRESS_FILE@|$WORK/kam-address.list|" \
        -e "s|@AUTH_SECRET@|$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')|; s|@DBTEXT@|$WORK/dbtext|" \
        -e "s|@UPSTREAM@|127.0.0.1:$UPORT|g; s|^mpath=.*|mpath=\"$KAM_MODULES/\"|" \
        "$HERE/kamailio-auth.cfg.in" >"$WORK/kamailio-auth.cfg"
    kamailio -c -f "$WORK/kamailio-auth.cfg" >"$WORK/kamailio-auth.check" 2>&1 || die "kamailio -c failed; see $WORK/kamailio-auth.check"
    for ((round = 1; round <= DIGEST_ROUNDS; round++)); do
        if ((round % 2)); then order="sipmap kamailio"; else order="kamailio sipmap"; fi
        for server in $order; do
            wait_idle "$WAIT_IDLE"
            log "digest round $round/$DIGEST_ROUNDS: $server"
            if [ "$server" = sipmap ]; then
                start_sipmap new "$WORK/digest.db" "$OUT/sipmap-digest-$round.log" --sip-digest-algorithms MD5,SHA-256
                pid=$SIPMAP_PID port=$SPORT extra=(--metrics "$HTTP_URL/metrics")
            else
                start_kam "$OUT/kamailio-digest-$round.log"
                pid=$KAM_PID port=$KPORT extra=(--children)
            fi
            # warm-up, not recorded: 2 s at 200 calls/s
            tracked python3 "$HERE/callrun.py" --server warmup --bench warmup --rate 200 --duration 2 --pids "$pid" \
                --uac-scenario "$WORK/uac-digest.xml" --uas-scenario "$HERE/uas-call.xml" --target "127.0.0.1:$port" \
                --src 127.0.0.1 --src-port 25060 --uas-port "$UPORT" --workdir "$WORK" --au "$DIGEST_USER" \
                --ap "$DIGEST_PASSWORD" >/dev/null 2>&1 || true
            sleep 1
            past=-1
            for rate in $DIGEST_RATES; do
                call_run "$OUT/results-digest.jsonl" "$server" digest "$WORK/uac-digest.xml" "$port" "$rate" "$round" "$pid" \
                    --au "$DIGEST_USER" --ap "$DIGEST_PASSWORD" "${extra[@]}"
                if [ "$past" -ge 0 ]; then
                    past=$((past + 1))
                elif ! python3 -c 'import json,sys; sys.exit(0 if json.loads(sys.argv[1])["clean"] else 1)' "$LAST_LINE"; then
                    past=0
                fi
                [ "$past" -ge "$DIGEST_PAST" ] && break
            done
            if [ "$server" = sipmap ]; then
                curl -s "$HTTP_URL/metrics" >"$OUT/sipmap-digest-metrics-$round.txt" || true
                stop_pid "$SIPMAP_PID"
            else
                stop_kam
            fi
        done
    done
fi

python3 "$HERE/report_auth.py" "$OUT" | tee "$OUT/table.md"
log "raw SIPp output, server logs, results-*.jsonl, memory-*.json, meta.json and table.md are in $OUT"
