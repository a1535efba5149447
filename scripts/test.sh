#!/usr/bin/env bash
# The whole sipmap test suite: formatting, lints, Rust unit and integration tests, the end-to-end
# suite through the official Twilio Python SDK and SIPp, a walkthrough of the README, and
# schemathesis against Twilio's OpenAPI file.
# It installs what it needs: Debian packages with apt-get, Python packages in .venv, the Node SDK
# in tests/e2e/node/node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }

apt_install() {
    local missing=() p
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    step "apt-get install ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}"
}

step "system packages"
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    apt_install python3 python3-venv
fi
# SIPp, the real SIP peer of the SIP edge tests (Debian calls it sip-tester).
command -v sipp >/dev/null 2>&1 || apt_install sip-tester
# Node.js and npm, for the README's Node snippet; iproute2 and unshare (util-linux), for running
# the README walkthrough in a network namespace of its own.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_install nodejs npm
command -v ip >/dev/null 2>&1 || apt_install iproute2
command -v unshare >/dev/null 2>&1 || apt_install util-linux
# curl, for the README walkthrough's unsigned request to the user's webhook.
command -v curl >/dev/null 2>&1 || apt_install curl
# openssl (the command, not the library: sipmap links rustls only), for the README's HTTPS
# certificate.
command -v openssl >/dev/null 2>&1 || apt_install openssl
# Chromium, the browser the console's end-to-end test drives headless through Playwright (the
# pip package only; no browser is downloaded).
[ -x /usr/bin/chromium ] || apt_install chromium

step "PostgreSQL (storage conformance and cluster tests)"
pg_works() { psql "$1" -Atqc 'SELECT 1' >/dev/null 2>&1; }
if [ -z "${SIPMAP_TEST_POSTGRES_URL:-}" ]; then
    command -v psql >/dev/null 2>&1 || apt_install postgresql-client
    for candidate in postgres://root@127.0.0.1:5432/test postgres://postgres@127.0.0.1:5432/postgres \
                     postgres://sipmap:sipmap@127.0.0.1:5432/sipmap_test; do
        if pg_works "$candidate"; then SIPMAP_TEST_POSTGRES_URL=$candidate; break; fi
    done
fi
if [ -z "${SIPMAP_TEST_POSTGRES_URL:-}" ]; then
    # No server here: install Debian's, start it, and give the tests a role and a database.
    apt_install postgresql
    sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    $sudo pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
    sql=$(mktemp)
    chmod 644 "$sql"
    cat > "$sql" <<'SQL'
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sipmap') THEN
        CREATE ROLE sipmap LOGIN SUPERUSER PASSWORD 'sipmap';
    END IF;
END $$;
SQL
    $sudo su postgres -c "psql -q -f $sql"
    rm -f "$sql"
    $sudo su postgres -c "createdb -O sipmap sipmap_test" 2>/dev/null || true
    SIPMAP_TEST_POSTGRES_URL=postgres://sipmap:sipmap@127.0.0.1:5432/sipmap_test
    pg_works "$SIPMAP_TEST_POSTGRES_URL" || { echo "PostgreSQL did not come up" >&2; exit 1; }
fi
export SIPMAP_TEST_POSTGRES_URL
# Every PostgreSQL test must run: a missing server fails them instead of skipping them.
export SIPMAP_REQUIRE_POSTGRES=1
echo "using $SIPMAP_TEST_POSTGRES_URL"

step "cargo fmt --check"
cargo fmt --all --check

step "layout: the walls of ARCHITECTURE.md, function sizes"
python3 scripts/check_layout.py

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings

step "cargo test"
cargo test --locked
# cargo test built the binary the integration tests use, with the same features: the end-to-end
# suite runs that one instead of building again.
export SIPMAP_BIN="$ROOT/target/debug/sipmap"
test -x "$SIPMAP_BIN" || { echo "cargo test did not build $SIPMAP_BIN" >&2; exit 1; }

step "service recipes: the systemd unit (systemd-analyze) and the Dockerfile (hadolint, docker or podman), where the tools exist"
scripts/check_packaging.sh "$SIPMAP_BIN"

step "Python virtual environment (.venv)"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt

step "Node SDK (tests/e2e/node, for the README's Node snippet)"
npm ci --prefix tests/e2e/node --no-audit --no-fund --loglevel=error
# shellcheck disable=SC1091
source .venv/bin/activate

step "schemathesis against ../shared/twilio-oai/twilio_voice_v1.json, twilio_api_v2010.json and twilio_monitor_v1.json"
tests/e2e/run_schemathesis.sh "$SIPMAP_BIN"

step "end-to-end suite (official twilio SDK)"
python -m pytest tests/e2e -q -p no:cacheprovider
