"""The API over HTTPS with the official SDKs, as the README's *HTTPS* section tells a user.

A CA made by ``trustme`` signs a certificate for ``localhost`` and 127.0.0.1; sipmap serves
``--listen off --https-listen 127.0.0.1:0`` with it. The Python SDK (``REQUESTS_CA_BUNDLE``) and
the Node SDK (``NODE_EXTRA_CA_CERTS``) each run in their own process with only that variable
pointing at the CA, create and list resources (following ``next_page_url``, which names the
HTTPS listener), and fail without it, so the certificate is really verified.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from conftest import REPO, SIPMAP_BIN, ServerProcess, clean_env, random_account_sid, random_token

NODE_MODULES = REPO / "tests" / "e2e" / "node" / "node_modules"
HTTPS_RE = re.compile(r"^sipmap: HTTP API listening on (https://\S+?)/?\s*$")
PLAIN_RE = re.compile(r"^sipmap: HTTP API listening on http://")

PYTHON_SDK = r"""
import json, os, sys
from twilio.rest import Client

base, sid, token = sys.argv[1:4]
client = Client(sid, token)
client.voice.base_url = base
client.api.base_url = base
domain = client.api.v2010.accounts(sid).sip.domains.create(domain_name="tls.sip.twilio.com")
for net in ("198.51.100.0", "203.0.113.0"):
    record = client.voice.v1.ip_records.create(ip_address=net, cidr_prefix_length=24)
    client.voice.v1.source_ip_mappings.create(ip_record_sid=record.sid, sip_domain_sid=domain.sid)
# Two pages of one: the SDK follows next_page_url, which names the HTTPS listener.
records = [r.ip_address for r in client.voice.v1.ip_records.stream(page_size=1)]
print(json.dumps({"domain": domain.domain_name, "records": sorted(records)}))
"""

NODE_SDK = r"""
const twilio = require("twilio");
const [base, sid, token] = process.argv.slice(1);
async function main() {
  const client = twilio(sid, token);
  client.voice.baseUrl = base;
  client.api.baseUrl = base;
  const record = await client.voice.v1.ipRecords.create({ ipAddress: "192.0.2.0", cidrPrefixLength: 24 });
  const all = await client.voice.v1.ipRecords.list({ pageSize: 1 });
  console.log(JSON.stringify({ created: record.ipAddress, records: all.map((r) => r.ipAddress).sort() }));
}
main().catch((err) => { console.error(String(err && (err.code || err.message) || err)); process.exit(1); });
"""


@pytest.fixture
def https_server(tmp_path):
    """sipmap with HTTPS only, its certificate from a trustme CA: (base URL, sid, token, CA file)."""
    ca = trustme.CA()
    issued = ca.issue_cert("localhost", "127.0.0.1")
    cert, key, ca_file = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    for i, blob in enumerate(issued.cert_chain_pems):
        blob.write_to_path(str(cert), append=i > 0)
    issued.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    sid, token = random_account_sid(), random_token()
    env = {**clean_env(), "TWILIO_ACCOUNT_SID": sid, "TWILIO_AUTH_TOKEN": token, "RUST_LOG": "info"}
    argv = [
        str(SIPMAP_BIN), "serve", "--listen", "off", "--https-listen", "127.0.0.1:0",
        "--tls-cert", str(cert), "--tls-key", str(key),
        "--database-url", f"sqlite://{tmp_path / 'sipmap.db'}",
    ]
    proc = ServerProcess(argv, env, tmp_path / "server.log")
    try:
        m = proc.wait_for_line(HTTPS_RE, 10.0)
        assert m, f"no HTTPS listening line: {proc.lines!r}\n{proc.stderr_tail()}"
        assert not any(PLAIN_RE.search(line) for line in proc.lines), "--listen off leaves no plain listener"
        # The certificate names localhost; the SDKs connect by that name.
        base = m.group(1).replace("127.0.0.1", "localhost")
        yield base, sid, token, ca_file
    finally:
        proc.kill()


def run(argv: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)


def sdk_env(**extra: str) -> dict:
    ca_vars = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE")
    env = {k: v for k, v in clean_env().items() if k not in ca_vars}
    env.update(extra)
    return env


def test_the_python_sdk_works_over_https_with_requests_ca_bundle(https_server):
    base, sid, token, ca_file = https_server
    argv = [sys.executable, "-c", PYTHON_SDK, base, sid, token]
    done = run(argv, sdk_env(REQUESTS_CA_BUNDLE=str(ca_file)))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out == {"domain": "tls.sip.twilio.com", "records": ["198.51.100.0", "203.0.113.0"]}

    refused = run(argv, sdk_env())
    assert refused.returncode != 0, "without the CA the SDK must refuse the certificate"
    assert "CERTIFICATE_VERIFY_FAILED" in refused.stderr, refused.stderr[-2000:]


def test_the_node_sdk_works_over_https_with_node_extra_ca_certs(https_server):
    if not shutil.which("node") or not (NODE_MODULES / "twilio").is_dir():
        pytest.fail("node and tests/e2e/node/node_modules are needed (scripts/test.sh installs them)")
    base, sid, token, ca_file = https_server
    argv = ["node", "-e", NODE_SDK, base, sid, token]
    node_env = {"NODE_PATH": str(NODE_MODULES)}
    done = run(argv, sdk_env(NODE_EXTRA_CA_CERTS=str(ca_file), **node_env))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"created": "192.0.2.0", "records": ["192.0.2.0"]}

    refused = run(argv, sdk_env(**node_env))
    assert refused.returncode != 0, "without the CA the SDK must refuse the certificate"
    # Node names the failure by OpenSSL's code: the issuer of the server's certificate is unknown.
    assert "UNABLE_TO_VERIFY_LEAF_SIGNATURE" in refused.stderr, refused.stderr[-2000:]


def test_resolve_speaks_https_with_tls_ca(https_server):
    base, sid, token, ca_file = https_server
    argv = [str(SIPMAP_BIN), "resolve", "203.0.113.9", "--url", base]
    # An empty system store, so that only --tls-ca can make the test CA trusted.
    no_system_roots = {"SSL_CERT_FILE": "/dev/null", "SSL_CERT_DIR": "/nonexistent"}
    env = sdk_env(TWILIO_ACCOUNT_SID=sid, TWILIO_AUTH_TOKEN=token, **no_system_roots)
    done = run([*argv, "--tls-ca", str(ca_file)], env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ip_address"] == "203.0.113.9"
    refused = run(argv, env)
    assert refused.returncode != 0 and "TLS with localhost" in refused.stderr, refused.stderr
