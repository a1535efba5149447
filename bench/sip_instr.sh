#!/usr/bin/env bash
# Instructions per SIP request, old build against new, counted by callgrind (bench/sip/instr.py):
# the noise-free companion of bench/sip_auth.sh's CPU-time figures. Counts do not depend on what
# else the machine runs, so one run of each suffices (repeat runs agree to about 0.1 %).
#
#   bench/sip_instr.sh                # on the tables bench/sip_auth.sh generated (run it first)
#   INSTR_NETWORKS=100000 bench/sip_instr.sh   # the tables of SIP_AUTH_QUICK=1
#
# For each load (OPTIONS answered by the edge; INVITE forwarded to a UDP sink standing in for the
# upstream) it runs
#   old  $OLD_BIN [/tmp/sipmap-refactor-bin] on its table of INSTR_NETWORKS [1000000] mappings, and
#   new  $NEW_BIN [/tmp/sipmap-auth-bin] on the same mappings plus the ACL networks (the source's
#        domain admits it through the access control list holding 127.0.0.1/32),
# and prints instructions per request and new/old. The tables are bench/sip_auth.sh's cached ones
# (bench/.cache/sip-auth/, by binary checksum, size and seed), copied before use.
# Environment: INSTR_SEED [1], INSTR_ACL [10x1000x100x10] (accounts x lists x addresses x domains),
# INSTR_SMALL [500], INSTR_LARGE [2500], INSTR_PORT [16070], INSTR_UPSTREAM_PORT [26080].
# Loopback only; every loop bounded; valgrind is stopped when each measurement ends.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=$REPO/bench/.cache/sip-auth
OLD_BIN=${OLD_BIN:-/tmp/sipmap-refactor-bin}
NEW_BIN=${NEW_BIN:-/tmp/sipmap-auth-bin}
NETWORKS=${INSTR_NETWORKS:-1000000}
SEED=${INSTR_SEED:-1}
ACL=${INSTR_ACL:-$([ "$NETWORKS" = 100000 ] && echo 10x100x100x10 || echo 10x1000x100x10)}
SMALL=${INSTR_SMALL:-500}
LARGE=${INSTR_LARGE:-2500}
PORT=${INSTR_PORT:-16070}
UPORT=${INSTR_UPSTREAM_PORT:-26080}
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null || {
    echo "needs valgrind (apt-get install valgrind)" >&2
    exit 1
}
sum() { sha256sum "$1" | cut -c1-12; }
OLD_DB=$CACHE/old-$(sum "$OLD_BIN")-$NETWORKS-$SEED.db
NEW_DB=$CACHE/new-$(sum "$NEW_BIN")-$NETWORKS-$SEED-acl-$ACL.db
for f in "$OLD_DB" "$NEW_DB"; do
    [ -s "$f" ] || { echo "no table $f: run bench/sip_auth.sh with the same binaries and size first" >&2; exit 1; }
done
WORK=$(mktemp -d /tmp/sipmap-instr.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cp "$OLD_DB" "$WORK/old.db"
cp "$NEW_DB" "$WORK/new.db"
cp -p "$NEW_DB.key" "$WORK/new.db.key"
echo "| load | old instructions/request | new instructions/request | new/old |"
echo "|---|---|---|---|"
for kind in options invite; do
    for which in old new; do
        if [ "$which" = old ]; then bin=$OLD_BIN; else bin=$NEW_BIN; fi
        python3 "$REPO/bench/sip/instr.py" --bin "$bin" --db "$WORK/$which.db" --kind "$kind" --port "$PORT" \
            --upstream-port "$UPORT" --small "$SMALL" --large "$LARGE" --label "$which" \
            --out "$WORK/$which-$kind.json" >&2
    done
    python3 - "$WORK/old-$kind.json" "$WORK/new-$kind.json" "$kind" <<'EOF'
import json, sys
old, new = (json.load(open(p))["ir_per_request"] for p in sys.argv[1:3])
print("| %s | %s | %s | %.3f |" % (sys.argv[3], format(round(old), ","), format(round(new), ","), new / old))
EOF
done
