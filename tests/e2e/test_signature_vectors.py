"""The committed signature vectors (checked by sipmap's Rust tests) match the official SDK.

tests/data/twilio_signatures.json holds the signatures sipmap must produce. Here the installed
twilio-python SDK recomputes each one and validates it with RequestValidator.validate, also with
the default port added to the URL, so the vectors cannot drift from what Twilio's users check.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from signature_vectors import CASES, VECTORS, MultiDict, vectors
from twilio.request_validator import RequestValidator


def committed() -> list[dict]:
    return json.loads(VECTORS.read_text(encoding="utf-8"))


def test_committed_vectors_are_what_the_sdk_computes_now():
    want = [
        {**v, "params": [list(p) for p in v["params"]]} for v in vectors()
    ]
    assert committed() == want


def test_every_committed_signature_validates():
    for v in committed():
        params = MultiDict([tuple(p) for p in v["params"]])
        validator = RequestValidator(v["token"])
        assert validator.validate(v["url"], params, v["signature"]), v["name"]
        # The SDK also accepts the URL with its default port spelled out.
        parts = urlsplit(v["url"])
        if parts.port is None:
            port = 443 if parts.scheme == "https" else 80
            with_port = parts._replace(netloc=f"{parts.netloc}:{port}").geturl()
            assert validator.validate(with_port, params, v["signature"]), v["name"]


def test_a_changed_parameter_or_token_fails_validation():
    for v in committed():
        params = [tuple(p) for p in v["params"]] + [("Extra", "1")]
        assert not RequestValidator(v["token"]).validate(v["url"], MultiDict(params), v["signature"])
        assert not RequestValidator(v["token"] + "x").validate(
            v["url"], MultiDict([tuple(p) for p in v["params"]]), v["signature"]
        )


def test_the_cases_cover_get_repeats_unicode_and_ports():
    names = " ".join(name for name, *_ in CASES)
    for word in ("get", "repeated", "unicode", "port", "query"):
        assert word in names


NODE_CHECK = r"""
const { validateRequest, getExpectedTwilioSignature } = require("twilio/lib/webhooks/webhooks");
const vectors = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const out = vectors.map((v) => {
  const params = {};
  for (const [name, value] of v.params) (params[name] = params[name] || []).push(value);
  for (const name of Object.keys(params)) if (params[name].length === 1) params[name] = params[name][0];
  return { name: v.name, valid: validateRequest(v.token, v.signature, v.url, params) };
});
console.log(JSON.stringify(out));
"""


def test_the_node_sdk_validates_the_vectors_too():
    """twilio-node agrees, except where JavaScript sorts by UTF-16 code units and Python by code
    points (a character above U+FFFF against one from U+E000 to U+FFFF, in repeated values)."""
    import shutil
    import subprocess

    import pytest

    from conftest import REPO

    node_modules = REPO / "tests" / "e2e" / "node" / "node_modules"
    if not shutil.which("node") or not (node_modules / "twilio").is_dir():
        pytest.fail("node and tests/e2e/node/node_modules are needed (scripts/test.sh installs them)")
    run = subprocess.run(
        ["node", "-e", NODE_CHECK, str(VECTORS)],
        env={"NODE_PATH": str(node_modules), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    results = json.loads(run.stdout)
    assert len(results) == len(committed())
    for r in results:
        assert r["valid"] == ("as Python sorts" not in r["name"]), r
