#!/usr/bin/env bash
# Property-based API testing against Twilio's own OpenAPI documents, with schemathesis: sipmap's
# Voice v1 operations (IpRecords, SourceIpMappings, ByocTrunks, ConnectionPolicies and their
# Targets), then its API 2010 operations (SIP Domains,
# IpAccessControlLists and IpAddresses, CredentialLists and Credentials, a domain's mappings
# by all five paths, and the account's API Keys).
# and Calls with their Events and Notifications: three calls are placed through the SIP edge
# first (raw SIP over UDP from loopback to a domain whose VoiceUrl is a webhook in the setup
# script), so that those operations get real SIDs; then Monitor v1 Events (the audit log the
# setup and the runs before filled).
#
# Usage: tests/e2e/run_schemathesis.sh [path/to/sipmap]   (default: target/debug/sipmap)
# Assumes the Python virtualenv with tests/e2e/requirements.txt is already active.
# Environment: SCHEMATHESIS_MAX_EXAMPLES (default 100), SCHEMATHESIS_SEED (default 20240501).
#
# Starts a sipmap server on a free port with a fresh temporary database and known credentials,
# runs schemathesis against it, and stops the server whatever happens. Exits non-zero on any
# failure.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/../.." && pwd)"
SPEC="$REPO/../shared/twilio-oai/twilio_voice_v1.json"
SPEC_2010="$REPO/../shared/twilio-oai/twilio_api_v2010.json"
SPEC_MONITOR="$REPO/../shared/twilio-oai/twilio_monitor_v1.json"
BIN="${1:-target/debug/sipmap}"
case "$BIN" in
  /*) ;;
  *) if [[ -e "$PWD/$BIN" ]]; then BIN="$PWD/$BIN"; else BIN="$REPO/$BIN"; fi ;;
esac

if [[ ! -x "$BIN" ]]; then
  echo "run_schemathesis: sipmap binary not found or not executable: $BIN" >&2
  exit 2
fi
if [[ ! -f "$SPEC" ]]; then
  echo "run_schemathesis: OpenAPI document not found: $SPEC" >&2
  exit 2
fi
if ! command -v schemathesis >/dev/null 2>&1; then
  echo "run_schemathesis: schemathesis not on PATH (activate the venv with tests/e2e/requirements.txt)" >&2
  exit 2
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/sipmap-schemathesis.XXXXXX")"
SERVER_PID=""

cleanup() {
  local rc=$?
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ $rc -ne 0 && -f "$WORK/server.err" ]]; then
    echo "--- last lines of the sipmap log ---" >&2
    tail -n 40 "$WORK/server.err" >&2 || true
  fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

hex32() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
ACCOUNT_SID="AC$(hex32)"
AUTH_TOKEN="$(hex32)"

env -u TWILIO_EDGE -u TWILIO_REGION \
  TWILIO_ACCOUNT_SID="$ACCOUNT_SID" TWILIO_AUTH_TOKEN="$AUTH_TOKEN" \
  "$BIN" serve --listen 127.0.0.1:0 --database-url "sqlite://$WORK/sipmap.db" \
  --sip-listen 127.0.0.1:0 \
  >"$WORK/server.out" 2>"$WORK/server.err" </dev/null &
SERVER_PID=$!

BASE_URL=""
for _ in $(seq 1 100); do
  BASE_URL="$(sed -n 's#^sipmap: HTTP API listening on \(http://[^[:space:]]*\).*#\1#p' "$WORK/server.out" | head -n 1)"
  [[ -n "$BASE_URL" ]] && break
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "run_schemathesis: sipmap exited before listening" >&2
    exit 1
  fi
  sleep 0.1
done
if [[ -z "$BASE_URL" ]]; then
  echo "run_schemathesis: sipmap did not print its listening line within 10 s" >&2
  exit 1
fi
BASE_URL="${BASE_URL%/}"
echo "run_schemathesis: sipmap listening on $BASE_URL"
SIP_ADDR=""
for _ in $(seq 1 50); do
  SIP_ADDR="$(sed -n 's#^sipmap: SIP edge listening on \([0-9.]*:[0-9]*\).*#\1#p' "$WORK/server.out" | head -n 1)"
  [[ -n "$SIP_ADDR" ]] && break
  sleep 0.1
done
if [[ -z "$SIP_ADDR" ]]; then
  echo "run_schemathesis: sipmap did not print its SIP listening line" >&2
  exit 1
fi

# Give the instance operations real SIDs, so they reach more than the 404 path:
#  - IL_MAPPED is mapped by IB_MAIN: fetch/update always find it and delete always answers 409,
#    so it survives the whole run;
#  - IL_DELETE is unmapped: the first delete answers 204, later ones 404;
#  - IB_DELETE is a second mapping for DeleteSourceIpMapping;
#  - IL_FREE is unmapped: the first CreateSourceIpMapping with it answers 201, later ones 409.
python3 - "$BASE_URL" "$ACCOUNT_SID" "$AUTH_TOKEN" "$WORK/schemathesis-2010.toml" "$SIP_ADDR" \
  >"$WORK/schemathesis.toml" <<'PY'
import secrets, socket, sys, threading, time, requests
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
base, sid, token = sys.argv[1:4]
sip_host, sip_port = sys.argv[5].rsplit(":", 1)
s = requests.Session()
s.auth = (sid, token)

def post(path, **data):
    r = s.post(base + path, data=data, timeout=10)
    if r.status_code != 201:
        sys.exit(f"setup: POST {path} answered {r.status_code}: {r.text}")
    return r.json()["sid"]

dom = lambda label: post(f"/2010-04-01/Accounts/{sid}/SIP/Domains.json",
                         DomainName=f"{label}-schemathesis.sip.twilio.com")
d_main, d_other = dom("main"), dom("other")
il_mapped = post("/v1/IpRecords", IpAddress="198.51.100.1")
il_delete = post("/v1/IpRecords", IpAddress="198.51.100.2")
il_free = post("/v1/IpRecords", IpAddress="198.51.100.3")
il_second = post("/v1/IpRecords", IpAddress="198.51.100.4")
ib_main = post("/v1/SourceIpMappings", IpRecordSid=il_mapped, SipDomainSid=d_main)
ib_delete = post("/v1/SourceIpMappings", IpRecordSid=il_second, SipDomainSid=d_other)

def op(ids, **params):
    ids = ", ".join(f'"{i}"' for i in ids)
    body = ", ".join(f'"{k}" = "{v}"' for k, v in params.items())
    return f"[[operations]]\ninclude-operation-id = [{ids}]\nparameters = {{ {body} }}\n"

print(op(["FetchIpRecord", "UpdateIpRecord"], **{"path.Sid": il_mapped}))
print(op(["DeleteIpRecord"], **{"path.Sid": il_delete}))
print(op(["FetchSourceIpMapping"], **{"path.Sid": ib_main}))
print(op(["UpdateSourceIpMapping"], **{"path.Sid": ib_main, "body.SipDomainSid": d_other}))
print(op(["DeleteSourceIpMapping"], **{"path.Sid": ib_delete}))
print(op(["CreateSourceIpMapping"], **{"body.IpRecordSid": il_free, "body.SipDomainSid": d_main}))

# BYOC: a kept policy (with a kept target) that trunks name, and spares for the deletes.
ny = post("/v1/ConnectionPolicies", FriendlyName="kept")
ny_delete = post("/v1/ConnectionPolicies", FriendlyName="deleted")
ne = post(f"/v1/ConnectionPolicies/{ny}/Targets", Target="sip:kept.example.com")
ne_delete = post(f"/v1/ConnectionPolicies/{ny}/Targets", Target="sip:deleted.example.com")
by = post("/v1/ByocTrunks", FriendlyName="kept", ConnectionPolicySid=ny)
by_delete = post("/v1/ByocTrunks", FriendlyName="deleted")
refs = {"body.ConnectionPolicySid": ny, "body.FromDomainSid": d_main}
print(op(["CreateByocTrunk"], **refs))
print(op(["FetchByocTrunk", "UpdateByocTrunk"], **{"path.Sid": by, **refs}))
print(op(["DeleteByocTrunk"], **{"path.Sid": by_delete}))
print(op(["FetchConnectionPolicy", "UpdateConnectionPolicy"], **{"path.Sid": ny}))
print(op(["DeleteConnectionPolicy"], **{"path.Sid": ny_delete}))
print(op(["ListConnectionPolicyTarget", "CreateConnectionPolicyTarget"],
         **{"path.ConnectionPolicySid": ny}))
print(op(["FetchConnectionPolicyTarget", "UpdateConnectionPolicyTarget"],
         **{"path.ConnectionPolicySid": ny, "path.Sid": ne}))
print(op(["DeleteConnectionPolicyTarget"],
         **{"path.ConnectionPolicySid": ny, "path.Sid": ne_delete}))

# API 2010: every operation gets this account and real parent SIDs; instance operations get
# resources that survive the run where a delete would otherwise leave only 404s behind.
acc = f"/2010-04-01/Accounts/{sid}/SIP"
al = post(f"{acc}/IpAccessControlLists.json", FriendlyName="kept")
al_delete = post(f"{acc}/IpAccessControlLists.json", FriendlyName="deleted")
ip = post(f"{acc}/IpAccessControlLists/{al}/IpAddresses.json", FriendlyName="a",
          IpAddress="192.0.2.1")
ip_delete = post(f"{acc}/IpAccessControlLists/{al}/IpAddresses.json", FriendlyName="b",
                 IpAddress="192.0.2.2")
cl = post(f"{acc}/CredentialLists.json", FriendlyName="kept")
cl_delete = post(f"{acc}/CredentialLists.json", FriendlyName="deleted")
cr = post(f"{acc}/CredentialLists/{cl}/Credentials.json", Username="alice",
          Password="IWasAtSignal2018")
cr_delete = post(f"{acc}/CredentialLists/{cl}/Credentials.json", Username="bob",
                 Password="IWasAtSignal2018")
d_sec = dom("secured")
for path, field, value in [
    ("IpAccessControlListMappings", "IpAccessControlListSid", al),
    ("CredentialListMappings", "CredentialListSid", cl),
    ("Auth/Registrations/CredentialListMappings", "CredentialListSid", cl),
]:
    post(f"{acc}/Domains/{d_sec}/{path}.json", **{field: value})
keys = f"/2010-04-01/Accounts/{sid}/Keys.json"

# Calls: a webhook answering TwiML, a domain per document whose calls loopback may make, and a
# call to each (raw SIP: INVITE, its final response, ACK).
TWIML = {"/busy": '<Reject reason="busy"/>', "/say": "<Say>hello</Say>"}
class Hook(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = f"<Response>{TWIML.get(self.path, '<Hangup/>')}</Response>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=hook.serve_forever, daemon=True).start()
loopback = post(f"{acc}/IpAccessControlLists.json", FriendlyName="loopback")
post(f"{acc}/IpAccessControlLists/{loopback}/IpAddresses.json", FriendlyName="lo",
     IpAddress="127.0.0.0", CidrPrefixLength="8")

def call(label, path):
    name = f"{label}-calls-schemathesis.sip.twilio.com"
    d = post(f"{acc}/Domains.json", DomainName=name,
             VoiceUrl=f"http://127.0.0.1:{hook.server_address[1]}{path}")
    post(f"{acc}/Domains/{d}/Auth/Calls/IpAccessControlListMappings.json",
         IpAccessControlListSid=loopback)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(10)
    port = sock.getsockname()[1]
    call_id, tag, branch = (secrets.token_hex(8) for _ in range(3))
    head = (f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{branch}\r\n"
            f"From: <sip:alice@127.0.0.1:{port}>;tag={tag}\r\n")
    invite = (f"INVITE sip:bob@{name} SIP/2.0\r\n{head}To: <sip:bob@{name}>\r\n"
              f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:{port}>\r\n"
              "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    sock.sendto(invite.encode(), (sip_host, int(sip_port)))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        reply = sock.recv(65535).decode(errors="replace")
        code = int(reply.split(" ", 2)[1])
        if code >= 200:
            to = next(l for l in reply.split("\r\n") if l.lower().startswith("to:"))
            sock.sendto((f"ACK sip:bob@{name} SIP/2.0\r\n{head}{to}\r\nCall-ID: {call_id}\r\n"
                         "CSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode(),
                        (sip_host, int(sip_port)))
            break
    else:
        sys.exit(f"setup: the {label} call got no final response")
    sock.close()
    for _ in range(100):
        calls = s.get(f"{base}/2010-04-01/Accounts/{sid}/Calls.json", timeout=10).json()["calls"]
        found = [c for c in calls if c["to"].endswith(name)]
        if found and found[0]["end_time"]:
            return found[0]["sid"]
        time.sleep(0.1)
    sys.exit(f"setup: the {label} call did not end")

ca_busy, ca_say, ca_delete = call("busy", "/busy"), call("say", "/say"), call("deleted", "/busy")
notes = s.get(f"{base}/2010-04-01/Accounts/{sid}/Calls/{ca_say}/Notifications.json",
              timeout=10).json()["notifications"]
if not notes:
    sys.exit("setup: the <Say> call has no notification")
no = notes[0]["sid"]
hook.shutdown()
sk, sk_delete = post(keys, FriendlyName="kept"), post(keys, FriendlyName="deleted")
with open(sys.argv[4], "w") as out:
    def op2010(ids, **params):
        return op(ids, **{"path.AccountSid": sid, **params})
    print(op2010(["ListSipDomain", "CreateSipDomain"]), file=out)
    print(op2010(["ListKey", "CreateNewKey"]), file=out)
    print(op2010(["FetchKey", "UpdateKey"], **{"path.Sid": sk}), file=out)
    print(op2010(["DeleteKey"], **{"path.Sid": sk_delete}), file=out)
    print(op2010(["ListCall", "ListNotification"]), file=out)
    print(op2010(["FetchCall", "UpdateCall"], **{"path.Sid": ca_busy}), file=out)
    print(op2010(["DeleteCall"], **{"path.Sid": ca_delete}), file=out)
    print(op2010(["ListCallEvent", "ListCallNotification"], **{"path.CallSid": ca_say}), file=out)
    print(op2010(["FetchCallNotification"], **{"path.CallSid": ca_say, "path.Sid": no}),
          file=out)
    print(op2010(["FetchNotification"], **{"path.Sid": no}), file=out)
    print(op2010(["FetchSipDomain", "UpdateSipDomain", "DeleteSipDomain"], **{"path.Sid": d_other}),
          file=out)
    print(op2010(["ListSipIpAccessControlList", "CreateSipIpAccessControlList"]), file=out)
    print(op2010(["FetchSipIpAccessControlList", "UpdateSipIpAccessControlList"],
                 **{"path.Sid": al}), file=out)
    print(op2010(["DeleteSipIpAccessControlList"], **{"path.Sid": al_delete}), file=out)
    print(op2010(["ListSipIpAddress", "CreateSipIpAddress"],
                 **{"path.IpAccessControlListSid": al}), file=out)
    print(op2010(["FetchSipIpAddress", "UpdateSipIpAddress"],
                 **{"path.IpAccessControlListSid": al, "path.Sid": ip}), file=out)
    print(op2010(["DeleteSipIpAddress"],
                 **{"path.IpAccessControlListSid": al, "path.Sid": ip_delete}), file=out)
    print(op2010(["ListSipCredentialList", "CreateSipCredentialList"]), file=out)
    print(op2010(["FetchSipCredentialList", "UpdateSipCredentialList"], **{"path.Sid": cl}),
          file=out)
    print(op2010(["DeleteSipCredentialList"], **{"path.Sid": cl_delete}), file=out)
    print(op2010(["ListSipCredential", "CreateSipCredential"],
                 **{"path.CredentialListSid": cl}), file=out)
    print(op2010(["FetchSipCredential", "UpdateSipCredential"],
                 **{"path.CredentialListSid": cl, "path.Sid": cr}), file=out)
    print(op2010(["DeleteSipCredential"],
                 **{"path.CredentialListSid": cl, "path.Sid": cr_delete}), file=out)
    acl_ops = ["SipIpAccessControlListMapping", "SipAuthCallsIpAccessControlListMapping"]
    cl_ops = ["SipCredentialListMapping", "SipAuthCallsCredentialListMapping",
              "SipAuthRegistrationsCredentialListMapping"]
    for names, sid_value, field in [(acl_ops, al, "IpAccessControlListSid"),
                                    (cl_ops, cl, "CredentialListSid")]:
        print(op2010([f"{v}{n}" for n in names for v in ("List", "Create")],
                     **{"path.DomainSid": d_sec, f"body.{field}": sid_value}), file=out)
        print(op2010([f"{v}{n}" for n in names for v in ("Fetch", "Delete")],
                     **{"path.DomainSid": d_sec, "path.Sid": sid_value}), file=out)
PY

# Checks:
#  - not_a_server_error: no 5xx, whatever is sent.
#  - response_schema_conformance / content_type_conformance / response_headers_conformance:
#    every documented (2xx) response must match Twilio's schema, media type and headers.
# status_code_conformance is deliberately NOT enabled: Twilio's spec declares no 4xx responses
# at all for these operations, while validation errors (400 for bad input, 404 for unknown
# SIDs, 409 for conflicting mappings) are unavoidable and correct for generated negative data.
CHECKS="not_a_server_error,response_schema_conformance,content_type_conformance,response_headers_conformance"

set +e
timeout --signal=TERM 170 schemathesis --config-file "$WORK/schemathesis.toml" run "$SPEC" \
  --url "$BASE_URL" \
  --auth "$ACCOUNT_SID:$AUTH_TOKEN" \
  --include-path-regex '^/v1/(IpRecords|SourceIpMappings|ByocTrunks|ConnectionPolicies)(/\{Sid\}|/\{ConnectionPolicySid\}/Targets(/\{Sid\})?)?$' \
  --checks "$CHECKS" \
  --phases examples,coverage,fuzzing \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-100}" \
  --seed "${SCHEMATHESIS_SEED:-20240501}" \
  --workers 2 \
  --request-timeout 10 \
  --suppress-health-check all \
  --generation-database none \
  --no-color
RC=$?
set -e

if [[ $RC -eq 124 ]]; then
  echo "run_schemathesis: schemathesis exceeded its time budget (Voice v1)" >&2
fi

# Twilio's API 2010 answers list envelopes with URIs relative to https://api.twilio.com (as
# its SDKs expect, and as sipmap does), while the OpenAPI file declares them `format: uri`,
# which only absolute URIs satisfy. The check runs against a copy with that one format removed
# from the envelopes' four paging URIs; every other constraint stays.
python3 - "$SPEC_2010" "$WORK/v2010.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
for path in spec["paths"].values():
    for op in path.values():
        if not isinstance(op, dict):
            continue
        for response in op.get("responses", {}).values():
            schema = response.get("content", {}).get("application/json", {}).get("schema", {})
            for name in ("uri", "first_page_uri", "next_page_uri", "previous_page_uri"):
                prop = schema.get("properties", {}).get(name)
                if not prop or "page_size" not in schema.get("properties", {}):
                    continue
                prop.pop("format", None)
                for alt in prop.get("anyOf", []):
                    alt.pop("format", None)
json.dump(spec, open(sys.argv[2], "w"))
PY

set +e
timeout --signal=TERM 240 schemathesis --config-file "$WORK/schemathesis-2010.toml" run "$WORK/v2010.json" \
  --url "$BASE_URL" \
  --auth "$ACCOUNT_SID:$AUTH_TOKEN" \
  --include-path-regex '^/2010-04-01/Accounts/\{AccountSid\}/(SIP/(Domains|IpAccessControlLists|CredentialLists)|Keys|Calls\.json|Calls/\{Sid\}\.json|Calls/\{CallSid\}/(Events|Notifications)|Notifications)' \
  --checks "$CHECKS" \
  --phases examples,coverage,fuzzing \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES_2010:-25}" \
  --seed "${SCHEMATHESIS_SEED:-20240501}" \
  --workers 2 \
  --request-timeout 10 \
  --suppress-health-check all \
  --generation-database none \
  --no-color
RC2010=$?
set -e
if [[ $RC2010 -eq 124 ]]; then
  echo "run_schemathesis: schemathesis exceeded its time budget (API 2010)" >&2
fi
[[ $RC -eq 0 ]] && RC=$RC2010

# Monitor v1 Events. An event's actor is an account (`AC…`, which the schema's description
# allows) or an API key (`SK…`), while its `actor_sid` pattern names only users (`US…`), who do
# not exist here: the check runs against a copy with that one pattern widened to any SID; every
# other constraint stays. FetchEvent gets a real event's SID.
python3 - "$SPEC_MONITOR" "$WORK/monitor.json" "$BASE_URL" "$ACCOUNT_SID" "$AUTH_TOKEN" \
  >"$WORK/schemathesis-monitor.toml" <<'PY'
import json, sys, requests
spec = json.load(open(sys.argv[1]))
actor = spec["components"]["schemas"]["monitor.v1.event"]["properties"]["actor_sid"]
actor["pattern"] = "^[a-zA-Z]{2}[0-9a-fA-F]{32}$"
json.dump(spec, open(sys.argv[2], "w"))
base, sid, token = sys.argv[3:6]
r = requests.get(f"{base}/v1/Events", params={"PageSize": 1}, auth=(sid, token), timeout=10)
if r.status_code != 200 or not r.json()["events"]:
    sys.exit(f"setup: GET /v1/Events answered {r.status_code}: {r.text}")
ae = r.json()["events"][0]["sid"]
print(f'[[operations]]\ninclude-operation-id = ["FetchEvent"]\nparameters = {{ "path.Sid" = "{ae}" }}\n')
PY

set +e
timeout --signal=TERM 120 schemathesis --config-file "$WORK/schemathesis-monitor.toml" run "$WORK/monitor.json" \
  --url "$BASE_URL" \
  --auth "$ACCOUNT_SID:$AUTH_TOKEN" \
  --include-path-regex '^/v1/Events(/\{Sid\})?$' \
  --checks "$CHECKS" \
  --phases examples,coverage,fuzzing \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES_MONITOR:-50}" \
  --seed "${SCHEMATHESIS_SEED:-20240501}" \
  --workers 2 \
  --request-timeout 10 \
  --suppress-health-check all \
  --generation-database none \
  --no-color
RCMON=$?
set -e
if [[ $RCMON -eq 124 ]]; then
  echo "run_schemathesis: schemathesis exceeded its time budget (Monitor v1)" >&2
fi
[[ $RC -eq 0 ]] && RC=$RCMON
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "run_schemathesis: sipmap died during the run" >&2
  [[ $RC -eq 0 ]] && RC=1
fi
exit $RC
