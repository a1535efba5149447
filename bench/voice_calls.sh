#!/usr/bin/env bash
# Voice applications benchmark (issue 17, "Performance"): sipmap's CPU per <Dial><Sip> call against a
# call forwarded statelessly, memory per live call, and the setup latency sipmap adds.
#
#   bench/voice_calls.sh            # 6 rounds x 10 s at 200 calls/s; 10,000 live calls; latency 10 s
#   QUICK=1 bench/voice_calls.sh    # smoke run (< 2 min): 1 round x 5 s; 2,000 live calls; latency 5 s
#
# One sipmap (release build), one SQLite database, set up through the API: domain `voice` (VoiceUrl
# and VoiceStatusCallbackUrl on the local webhook, bench/voice/webhook.py) and domain `plain` (no
# VoiceUrl: operator mode, forwarded statelessly to --sip-upstream); both let in by an IP access
# control list of 127.0.0.0/8; the caller's source 127.0.0.10 is mapped to `voice`, 127.0.0.11 to
# `plain`. The same SIPp caller (bench/voice/uac.xml: INVITE with SDP, 200, ACK, 10 ms, BYE) and
# callee (bench/voice/uas.xml, 127.0.0.1:$UPORT: 180, 200 with SDP, ACK, BYE) serve both: through
# `voice` sipmap runs the TwiML the webhook answers, <Dial><Sip>sip:bob@127.0.0.1:$UPORT</Sip></Dial>
# (a B2BUA: two legs, the webhook, the status callback, every status change stored); through
# `plain` it forwards INVITE, ACK and BYE and their responses.
#
# 1. CPU: ROUNDS rounds, each one run of each path (plain, then voice), RATE calls/s for DURATION s
#    (bench/sip/callrun.py): sipmap's CPU time (utime+stime, /proc) per successful call, and the
#    webhook's. A voice run's window lasts until no call is live (32 s after the last BYE: RFC
#    6026's Timer L), so that all of every call's work is in it. Reported: medians, voice/plain.
# 2. Memory: MEM_CALLS calls at MEM_RATE calls/s, each held until all are up (bench/voice/memrun.py):
#    (RSS at the plateau - RSS before) / live calls, VmRSS and RssAnon.
# 3. Latency: a run of the voice path at LAT_RATE calls/s for LAT_DURATION s under tcpdump (SIP port
#    only) with the webhook logging its own time per request (bench/voice/latency.py): child INVITE
#    sent - caller's INVITE received - the webhook's own time; p50/p90/p99/max.
#
# Environment: QUICK ROUNDS DURATION RATE [200] LAT_RATE [100] LAT_DURATION MEM_CALLS MEM_RATE [500]
#   MEM_AFTER_WAIT (s to wait for the memory run's calls to end before the RSS "after") BIN
#   SIPMAP_PORT [15270] UAS_PORT [25280] WEBHOOK_PORT [18270] (UAC: 127.0.0.10/11:25260)
#   OUT_DIR [bench/.cache/voice-results/<UTC time>] KEEP [0]
#   SERVE_ARGS: more `sipmap serve` options (e.g. "--max-call-records-per-account 0", so that the
#   retention does not scan the live calls' records at each insert; see docs/benchmarks.md)
#   PERF_COUNTS [0]: 1 counts kernel events of sipmap during each CPU run with `perf stat -p` (needs
#   perf and tracepoint access; PERF_EVENTS, default: context switches, all system calls, fsync and
#   fdatasync, connect, accept4), reported per successful call: counts that the other processes on
#   a shared machine do not inflate, unlike CPU time
#   DB_DIR [a directory under /tmp]: where the SQLite database goes (DB_DIR=/dev/shm: on tmpfs, where
#   fsync costs nothing, to see how much of the CPU per call the durable writes are)
# Needs: sipp, tcpdump (and capture rights: root or CAP_NET_RAW), python3, curl.
# Loopback only. Every loop is bounded; every process started here is stopped on exit (trap).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE=$REPO/bench/voice
SIPB=$REPO/bench/sip

if [ "${QUICK:-0}" = 1 ]; then
    d_rounds=1 d_duration=5 d_lat=5 d_mem=2000 d_after=0
else
    d_rounds=6 d_duration=10 d_lat=10 d_mem=10000 d_after=40
fi
ROUNDS=${ROUNDS:-$d_rounds}
DURATION=${DURATION:-$d_duration}
RATE=${RATE:-200}
LAT_RATE=${LAT_RATE:-100}
LAT_DURATION=${LAT_DURATION:-$d_lat}
MEM_CALLS=${MEM_CALLS:-$d_mem}
MEM_RATE=${MEM_RATE:-500}
MEM_AFTER_WAIT=${MEM_AFTER_WAIT:-$d_after}
BIN=${BIN:-$REPO/target/release/sipmap}
SPORT=${SIPMAP_PORT:-15270}
UPORT=${UAS_PORT:-25280}
WPORT=${WEBHOOK_PORT:-18270}
OUT=${OUT_DIR:-$REPO/bench/.cache/voice-results/$(date -u +%Y%m%dT%H%M%SZ)}
VOICE_SRC=127.0.0.10 PLAIN_SRC=127.0.0.11 UAC_PORT=25260
PERF_EVENTS=${PERF_EVENTS:-context-switches,raw_syscalls:sys_enter,syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync,syscalls:sys_enter_connect,syscalls:sys_enter_accept4}

ACCOUNT=AC0123456789abcdef0123456789abcdef
TOKEN=bench0123456789abcdef0123456789ab
export TWILIO_ACCOUNT_SID=$ACCOUNT TWILIO_AUTH_TOKEN=$TOKEN
unset RUST_LOG

log() { printf '[voice-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

PIDS=()
WORK= DBDIR=
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
    if [ -n "$WORK" ] && [ "${KEEP:-0}" != 1 ]; then rm -rf "$WORK"; fi
    if [ -n "$DBDIR" ]; then rm -rf "$DBDIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for c in python3 sipp curl tcpdump; do command -v "$c" >/dev/null || die "$c is not installed"; done
[ -x "$BIN" ] || die "$BIN is not an executable (cargo build --release, or BIN=...)"
"$BIN" serve --help | grep -q -- --max-calls-per-account || die "$BIN has no voice applications"
need_fd=$((MEM_CALLS + 4096))
[ "$(ulimit -n)" -ge "$need_fd" ] || ulimit -n "$need_fd" 2>/dev/null || die "ulimit -n below $need_fd"

mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/sipmap-voicebench.XXXXXX)
DBDIR=$(mktemp -d "${DB_DIR:-/tmp}/sipmap-voicebench-db.XXXXXX")
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
log "results in $OUT; database in $DBDIR ($(df --output=fstype "$DBDIR" | tail -1))"

WEBHOOK_PID=
start_webhook() { # [--log FILE]
    python3 "$HERE/webhook.py" --port "$WPORT" --callee "127.0.0.1:$UPORT" "$@" >"$WORK/webhook.out" 2>&1 &
    WEBHOOK_PID=$!
    PIDS+=("$WEBHOOK_PID")
    for ((i = 0; i < 100; i++)); do grep -q listening "$WORK/webhook.out" 2>/dev/null && return; sleep 0.1; done
    die "the webhook did not start; see $WORK/webhook.out"
}

# --- sipmap and its two domains -----------------------------------------------------------------
"$BIN" serve --listen 127.0.0.1:0 --database-url "sqlite://$DBDIR/voice.db" --sip-listen "127.0.0.1:$SPORT" \
    --sip-upstream "127.0.0.1:$UPORT" --max-calls $((MEM_CALLS * 2)) --max-calls-per-account $((MEM_CALLS * 2)) \
    ${SERVE_ARGS:-} >"$OUT/sipmap.log" 2>&1 &
SIPMAP_PID=$!
PIDS+=("$SIPMAP_PID")
for ((i = 0; i < 600; i++)); do
    grep -q "sipmap: SIP edge listening on 127.0.0.1:$SPORT" "$OUT/sipmap.log" 2>/dev/null && break
    kill -0 "$SIPMAP_PID" 2>/dev/null || die "sipmap exited; see $OUT/sipmap.log"
    sleep 0.1
done
grep -q "sipmap: SIP edge listening" "$OUT/sipmap.log" || die "sipmap did not start in 60 s; see $OUT/sipmap.log"
HTTP_URL=$(sed -n 's/^sipmap: HTTP API listening on \(http:[^ ]*\).*/\1/p' "$OUT/sipmap.log" | head -1)
METRICS=$HTTP_URL/metrics

api() { # PATH FORM...: POST, print the new resource's sid
    local path=$1 out f args=()
    shift
    for f in "$@"; do args+=(--data-urlencode "$f"); done
    out=$(curl -sf -u "$ACCOUNT:$TOKEN" "$HTTP_URL$path" "${args[@]}") || die "POST $path failed"
    python3 -c 'import json,sys; print(json.load(sys.stdin)["sid"])' <<<"$out"
}
A=/2010-04-01/Accounts/$ACCOUNT
HOOK=http://127.0.0.1:$WPORT
voice=$(api "$A/SIP/Domains.json" "DomainName=voice-bench.sip.twilio.com" "VoiceUrl=$HOOK/answer" \
    "VoiceStatusCallbackUrl=$HOOK/status")
plain=$(api "$A/SIP/Domains.json" "DomainName=plain-bench.sip.twilio.com")
acl=$(api "$A/SIP/IpAccessControlLists.json" "FriendlyName=loopback")
api "$A/SIP/IpAccessControlLists/$acl/IpAddresses.json" "FriendlyName=loopback" "IpAddress=127.0.0.0" \
    "CidrPrefixLength=8" >/dev/null
for d in "$voice" "$plain"; do
    api "$A/SIP/Domains/$d/Auth/Calls/IpAccessControlListMappings.json" "IpAccessControlListSid=$acl" >/dev/null
done
for pair in "$VOICE_SRC $voice" "$PLAIN_SRC $plain"; do
    set -- $pair
    rec=$(api /v1/IpRecords "IpAddress=$1" "CidrPrefixLength=32")
    api /v1/SourceIpMappings "IpRecordSid=$rec" "SipDomainSid=$2" >/dev/null
done
log "domains: voice $voice (from $VOICE_SRC), plain $plain (from $PLAIN_SRC)"
sleep 1 # the recognition table takes the changes

metric() { # NAME (with labels): its value in /metrics (0 if absent)
    curl -s "$METRICS" | awk -v n="$1" '$1 == n {print $2; found=1} END {if (!found) print 0}'
}
counters() { # the voice path's counters, one JSON object
    printf '{"started": %s, "completed": %s, "webhooks_ok": %s, "webhooks_failed": %s, "callbacks_sent": %s, "callbacks_dropped": %s}' \
        "$(metric sipmap_calls_started_total)" "$(metric 'sipmap_calls_ended_total{status="completed"}')" \
        "$(metric 'sipmap_call_webhooks_total{outcome="ok"}')" "$(metric 'sipmap_call_webhooks_total{outcome="failed"}')" \
        "$(metric 'sipmap_call_status_callbacks_total{outcome="sent"}')" \
        "$(metric 'sipmap_call_status_callbacks_total{outcome="dropped"}')"
}
run_calls() { # PATH ROUND RATE DURATION: one callrun.py run, its JSON line (with the counters' deltas)
    local path=$1 round=$2 rate=$3 duration=$4 src c0 c1
    local settle=()
    if [ "$path" = voice ]; then src=$VOICE_SRC; else src=$PLAIN_SRC; fi
    if [ "$path" = voice ] && [ "$round" != 0 ]; then settle=(--settle-metric sipmap_calls_live --settle-max 45); fi
    c0=$(counters)
    local perf_pid=
    if [ "${PERF_COUNTS:-0}" = 1 ]; then
        perf stat -x, -o "$WORK/perf.txt" -e "$PERF_EVENTS" -p "$SIPMAP_PID" 2>/dev/null &
        perf_pid=$!
    fi
    python3 "$SIPB/callrun.py" --server "$path" --bench voice --rate "$rate" --duration "$duration" \
        --round "$round" --pids "$SIPMAP_PID" --also "$WEBHOOK_PID" --uac-scenario "$HERE/uac.xml" \
        --uas-scenario "$HERE/uas.xml" --target "127.0.0.1:$SPORT" --src "$src" --src-port "$UAC_PORT" \
        --uas-port "$UPORT" --workdir "$OUT" --metrics "$METRICS" --uac-args "-d 10" "${settle[@]}" >"$WORK/run.json"
    sleep 1 # the last calls' status callbacks
    c1=$(counters)
    : >"$WORK/counts.txt"
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
        cp "$WORK/perf.txt" "$WORK/counts.txt"
    fi
    python3 - "$WORK/run.json" "$c0" "$c1" "$WORK/counts.txt" <<'EOF'
import json, sys
r = json.loads(open(sys.argv[1]).read())
c0, c1 = json.loads(sys.argv[2]), json.loads(sys.argv[3])
r["sipmap"] = {k: c1[k] - c0[k] for k in c0}
counts = {}
for line in open(sys.argv[4]):
    f = line.strip().split(",")
    if len(f) > 2 and f[0].isdigit():
        counts[f[2]] = int(f[0])
if counts and r.get("successful"):
    r["per_call"] = {k: round(v / r["successful"], 2) for k, v in counts.items()}
print(json.dumps(r))
EOF
}

# --- 1. CPU per call ------------------------------------------------------------------------------
# A voice call stays live 32 s after its BYE (RFC 6026's Timer L absorbs a retransmitted INVITE), so
# each voice run's window ends once no call is live (--settle-metric): every call's work is counted,
# and the next run starts with no call live. Each round runs plain, then voice.
t0=$(awk '{print $14 + $15}' "/proc/$SIPMAP_PID/stat")
sleep 5
t1=$(awk '{print $14 + $15}' "/proc/$SIPMAP_PID/stat")
echo "{\"phase\": \"idle\", \"seconds\": 5, \"ticks\": $((t1 - t0)), \"clk_tck\": $(getconf CLK_TCK)}" >>"$RESULTS"
start_webhook
log "warm-up: 2 s of the plain path"
run_calls plain 0 "$RATE" 2 >/dev/null
for ((round = 1; round <= ROUNDS; round++)); do
    for path in plain voice; do
        log "round $round/$ROUNDS: $path, $RATE calls/s for $DURATION s"
        run_calls "$path" "$round" "$RATE" "$DURATION" | tee -a "$RESULTS" >/dev/null
        sleep 1
    done
done

# --- 2. memory per live call ----------------------------------------------------------------------
hold_ms=$(((MEM_CALLS / MEM_RATE + 10) * 1000))
log "memory: $MEM_CALLS calls at $MEM_RATE calls/s, each held $((hold_ms / 1000)) s"
python3 "$HERE/memrun.py" --pid "$SIPMAP_PID" --metrics "$METRICS" --calls "$MEM_CALLS" --rate "$MEM_RATE" \
    --hold-ms "$hold_ms" --uac-scenario "$HERE/uac.xml" --uas-scenario "$HERE/uas.xml" \
    --target "127.0.0.1:$SPORT" --src "$VOICE_SRC" --src-port "$UAC_PORT" --uas-ip 127.0.0.1 \
    --uas-port "$UPORT" --workdir "$OUT" --after-wait "$MEM_AFTER_WAIT" >"$WORK/mem.json"
python3 - "$WORK/mem.json" <<'EOF' | tee -a "$RESULTS" >/dev/null
import json, sys
r = json.loads(open(sys.argv[1]).read()); r["phase"] = "memory"; print(json.dumps(r))
EOF


# --- 3. setup latency -----------------------------------------------------------------------------
log "latency: $LAT_RATE calls/s for $LAT_DURATION s under tcpdump"
stop_pid "$WEBHOOK_PID"
start_webhook --log "$WORK/webhook.log"
tcpdump -i lo -n -s 0 -B 16384 -w "$WORK/sip.pcap" "udp port $SPORT" 2>"$WORK/tcpdump.err" &
TCPDUMP_PID=$!
PIDS+=("$TCPDUMP_PID")
for ((i = 0; i < 100; i++)); do grep -q "listening on" "$WORK/tcpdump.err" 2>/dev/null && break; sleep 0.1; done
grep -q "listening on" "$WORK/tcpdump.err" || die "tcpdump did not start: $(cat "$WORK/tcpdump.err")"
run_calls voice 0 "$LAT_RATE" "$LAT_DURATION" >"$WORK/lat-run.json"
stop_pid "$TCPDUMP_PID"
stop_pid "$WEBHOOK_PID"
python3 "$HERE/latency.py" --pcap "$WORK/sip.pcap" --webhook-log "$WORK/webhook.log" --sip-port "$SPORT" \
    --callee-port "$UPORT" >"$WORK/lat.json"
python3 - "$WORK/lat-run.json" "$WORK/lat.json" <<'EOF' | tee -a "$RESULTS" >/dev/null
import json, sys
r = json.loads(open(sys.argv[1]).read()); r["latency"] = json.loads(open(sys.argv[2]).read()); r["phase"] = "latency"
print(json.dumps(r))
EOF
log "tcpdump: $(grep -h 'dropped by kernel' "$WORK/tcpdump.err" || true)"
cp "$WORK/tcpdump.err" "$OUT/tcpdump.err"

python3 "$HERE/report.py" "$RESULTS" | tee "$OUT/table.md"
