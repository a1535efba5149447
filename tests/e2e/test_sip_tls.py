"""SIP over TLS end to end, with the real binary: a TLS client (Python's ``ssl``: Debian's SIPp is
built without TLS) calls a ``secure``, source-IP-mapped domain over ``--sip-tls-listen``; the edge
forwards the INVITE over TLS to the domain's ``transport=tls`` target (a Python ``ssl`` server
whose certificate names 127.0.0.1), and the target's answer comes back on the client's
connection. The same INVITE over UDP gets ``403 Secure Transport Required`` and no challenge, and
one offering plain RTP over TLS gets ``488``.

Certificates are made for each run with ``openssl`` (a CA and two leaves for IP 127.0.0.1);
nothing with a private key is checked in. Every wait is bounded.
"""

from __future__ import annotations

import re
import socket
import ssl
import subprocess
import threading
from pathlib import Path

from conftest import unique_domain
from test_sip_edge import make_domain, map_source

TLS_LINE = re.compile(r"^sipmap: SIP edge listening on (\S+):(\d+) \(TLS\)", re.MULTILINE)
UDP_LINE = re.compile(r"^sipmap: SIP edge listening on (\S+):(\d+) \(UDP and TCP\)", re.MULTILINE)
WAIT = 10.0

SRTP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 4000 RTP/SAVP 0\r\n"
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n"
)
RTP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(d: Path) -> None:
    """ca.pem, and leaves for IP 127.0.0.1 signed by it: server.pem/.key, target.pem/.key."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", "2", "-subj", "/CN=sipmap test CA", "-keyout", "ca.key", "-out", "ca.pem",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=keyCertSign",
            cwd=d)
    (d / "leaf.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
    )
    for leaf in ["server", "target"]:
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-subj", f"/CN={leaf}", "-keyout", f"{leaf}.key", "-out", f"{leaf}.csr", cwd=d)
        openssl("x509", "-req", "-in", f"{leaf}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", "leaf.ext", "-out", f"{leaf}.pem",
                cwd=d)


def read_message(conn) -> str:
    """One SIP message (headers and Content-Length body) from a stream."""
    data = b""
    while True:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            head = data[:end].decode(errors="replace")
            m = re.search(r"^Content-Length:\s*(\d+)", head, re.MULTILINE | re.IGNORECASE)
            length = int(m.group(1)) if m else 0
            if len(data) >= end + 4 + length:
                return data[: end + 4 + length].decode(errors="replace")
        chunk = conn.recv(65536)
        assert chunk, f"closed before a whole message: {data!r}"
        data += chunk


def answer(request: str) -> str:
    out = "SIP/2.0 200 OK\r\n"
    for line in request.split("\r\n")[1:]:
        if not line:
            break
        name = line.split(":", 1)[0].strip().lower()
        if name in ("via", "from", "call-id", "cseq"):
            out += line + "\r\n"
        elif name == "to":
            out += line + ";tag=target\r\n"
    return out + "Content-Length: 0\r\n\r\n"


class TlsTarget:
    """A TLS SIP target on 127.0.0.1: answers every request 200, keeps the INVITEs it got."""

    def __init__(self, d: Path):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(d / "target.pem", d / "target.key")
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.ctx = ctx
        self.invites: list[str] = []
        self.got_invite = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw) -> None:
        try:
            raw.settimeout(60)
            with self.ctx.wrap_socket(raw, server_side=True) as conn:
                while True:
                    msg = read_message(conn)
                    if not msg.startswith("ACK "):
                        conn.sendall(answer(msg).encode())
                    if msg.startswith("INVITE "):
                        self.invites.append(msg)
                        self.got_invite.set()
        except (OSError, AssertionError, ssl.SSLError):
            return

    def close(self) -> None:
        self.listener.close()


def invite(me: tuple[str, int], transport: str, call: str, sdp: str) -> bytes:
    host, port = me
    return (
        f"INVITE sip:bob@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} {host}:{port};branch=z9hG4bK-{call};rport\r\n"
        f"From: <sip:alice@{host}>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\n"
        f"Call-ID: {call}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
    ).encode()


def test_a_tls_call_through_a_secure_mapped_domain_reaches_a_tls_target(sipmap_factory, tmp_path):
    pki = tmp_path / "pki"
    pki.mkdir()
    make_pki(pki)
    target = TlsTarget(pki)
    try:
        server = sipmap_factory(extra_args=[
            "--sip-listen", "127.0.0.1:0", "--sip-tls-listen", "127.0.0.1:0",
            "--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key"),
            "--tls-ca", str(pki / "ca.pem"),
        ])
        # The SIP lines follow the HTTP one the factory waited for: wait for them too.
        tls_line = server.proc.wait_for_line(TLS_LINE, WAIT)
        udp_line = server.proc.wait_for_line(UDP_LINE, WAIT)
        assert tls_line and udp_line, server.proc.stdout_text()
        tls_port = int(tls_line.group(2))
        udp_port = int(udp_line.group(2))

        # A secure domain, recognised by the client's address, routed to the TLS target.
        domain = make_domain(server, unique_domain("tls"))
        map_source(server, "127.0.0.1", domain)
        v1 = server.client.voice.v1
        policy = v1.connection_policies.create(friendly_name="tls carrier")
        v1.connection_policies(policy.sid).targets.create(
            target=f"sip:127.0.0.1:{target.port};transport=tls", friendly_name="tls"
        )
        trunk = v1.byoc_trunks.create(connection_policy_sid=policy.sid)
        server.client.api.v2010.accounts(server.sid).sip.domains(domain).update(
            secure=True, byoc_trunk_sid=trunk.sid
        )

        # Over UDP: refused before any challenge.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            udp.settimeout(WAIT)
            udp.sendto(invite(udp.getsockname(), "UDP", "e2e-udp", SRTP), ("127.0.0.1", udp_port))
            refused = udp.recv(65536).decode()
        assert refused.startswith("SIP/2.0 403 Secure Transport Required\r\n"), refused
        assert "Authenticate" not in refused, refused

        # Over TLS, verified against the test CA.
        ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
        raw = socket.create_connection(("127.0.0.1", tls_port), timeout=WAIT)
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
            me = conn.getsockname()
            conn.sendall(invite(me, "TLS", "e2e-rtp", RTP))
            media = read_message(conn)
            assert media.startswith("SIP/2.0 488 Not Acceptable Here\r\n"), media
            conn.sendall(invite(me, "TLS", "e2e-tls", SRTP))
            ok = read_message(conn)
        assert ok.startswith("SIP/2.0 200 OK\r\n"), ok
        assert "Call-ID: e2e-tls\r\n" in ok, ok
        assert target.got_invite.wait(WAIT)
        forwarded = target.invites[0]
        assert forwarded.startswith("INVITE sip:bob@"), forwarded
        assert "Via: SIP/2.0/TLS " in forwarded, forwarded
        assert "X-Sipmap-Auth: ip-acl" in forwarded, forwarded
        assert all("e2e-rtp" not in i for i in target.invites), "the refused offer went nowhere"
    finally:
        target.close()
