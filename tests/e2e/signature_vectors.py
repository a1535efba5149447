"""Test vectors for sipmap's X-Twilio-Signature, computed by the official twilio-python SDK.

sipmap signs every webhook it sends (src/voice/signature.rs). Its Rust unit tests check its
signatures against the vectors in tests/data/twilio_signatures.json, and
test_signature_vectors.py checks that file against the installed SDK, so neither side can drift.

Regenerate the file after changing CASES (from the repository root, with the venv):

    .venv/bin/python tests/e2e/signature_vectors.py > tests/data/twilio_signatures.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from twilio.request_validator import RequestValidator

VECTORS = Path(__file__).resolve().parents[1] / "data" / "twilio_signatures.json"

TOKEN = "1c892n40nd03kdnc0112slzkl3091j20"

# name, token, url, params as (name, value) pairs in the order they are sent (empty for GET).
CASES = [
    (
        "post: Twilio's documented example",
        "12345",
        "https://mycompany.com/myapp.php?foo=1&bar=2",
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ],
    ),
    (
        "post: a SIP call's parameters",
        TOKEN,
        "https://example.com/voice",
        [
            ("AccountSid", "AC" + "0" * 32),
            ("ApiVersion", "2010-04-01"),
            ("CallSid", "CA" + "1" * 32),
            ("CallStatus", "ringing"),
            ("Called", "sip:bob@example.sip.twilio.com"),
            ("Caller", "sip:alice@198.51.100.7"),
            ("Direction", "inbound"),
            ("From", "sip:alice@198.51.100.7"),
            ("To", "sip:bob@example.sip.twilio.com"),
            ("SipCallId", "a84b4c76e66710@pc33.atlanta.example.com"),
            ("SipDomain", "example.sip.twilio.com"),
            ("SipDomainSid", "SD" + "2" * 32),
            ("SipSourceIp", "198.51.100.7"),
            ("SipHeader_X-Customer", "42"),
        ],
    ),
    (
        "get: the parameters ride in the query, none are signed",
        TOKEN,
        "https://example.com/voice?CallSid=CA123&From=%2B15551230000&To=sip%3Abob%40example.com",
        [],
    ),
    (
        "post: a port and a query string",
        TOKEN,
        "http://127.0.0.1:8080/twiml?tenant=a%20b&x=1",
        [("CallSid", "CA123"), ("From", "+15551230000")],
    ),
    (
        "post: an https port",
        TOKEN,
        "https://example.com:8443/voice",
        [("CallSid", "CA123")],
    ),
    (
        "post: unicode names and values",
        "tökén ☎",
        "https://example.com/voix/é",
        [("From", "Zoë ☎ 😀"), ("SipHeader_X-Ünï", "naïve"), ("To", "日本")],
    ),
    (
        "post: repeated names, values sorted and de-duplicated",
        TOKEN,
        "https://example.com/voice",
        [
            ("SipHeader_X-Foo", "b"),
            ("SipHeader_X-Foo", "a"),
            ("SipHeader_X-Foo", "b"),
            ("CallSid", "CA123"),
        ],
    ),
    (
        "post: names sort by code point (upper case before lower case)",
        TOKEN,
        "https://example.com/voice",
        [("b", "1"), ("a", "2"), ("B", "3"), ("_", "4"), ("Z", "5"), ("a1", "6")],
    ),
    (
        "post: a character above U+FFFF sorts after U+FF5E, as Python sorts",
        TOKEN,
        "https://example.com/voice",
        [("V", "\U0001f600"), ("V", "\uff5e")],
    ),
    (
        "post: empty values",
        TOKEN,
        "https://example.com/voice",
        [("ForwardedFrom", ""), ("CallerName", ""), ("CallSid", "CA123")],
    ),
]


class MultiDict:
    """The minimal multi-valued mapping RequestValidator accepts (like Flask's MultiDict)."""

    def __init__(self, pairs: list[tuple[str, str]]):
        self.pairs = pairs

    def __iter__(self):
        return iter([name for name, _ in self.pairs])

    def __bool__(self) -> bool:
        return bool(self.pairs)

    def getall(self, name: str) -> list[str]:
        return [value for n, value in self.pairs if n == name]


def vectors() -> list[dict]:
    out = []
    for name, token, url, params in CASES:
        validator = RequestValidator(token)
        signature = validator.compute_signature(url, MultiDict(params))
        assert validator.validate(url, MultiDict(params), signature), name
        out.append(
            {"name": name, "token": token, "url": url, "params": params, "signature": signature}
        )
    return out


if __name__ == "__main__":
    json.dump(vectors(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
