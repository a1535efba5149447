"""A small SIP client over raw UDP or TCP sockets, for what SIPp cannot do (SHA-256 digests in
SIPp 3.6, reading challenges header by header), and the digest arithmetic of RFC 7616.

The client sends one request at a time from a loopback source address and reads responses,
skipping provisional ones. Digest responses are computed here with ``hashlib`` from the RFC
formulas, independently of sipmap's code.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import socket

ALGORITHMS = {"MD5": "md5", "SHA-256": "sha256"}


def h(algorithm: str, text: str) -> str:
    return hashlib.new(ALGORITHMS[algorithm], text.encode()).hexdigest()


class Response:
    def __init__(self, raw: str):
        self.raw = raw
        head = raw.split("\r\n\r\n", 1)[0]
        lines = head.split("\r\n")
        self.status = int(lines[0].split(" ", 2)[1])
        self.headers: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers.append((name.strip(), value.strip()))

    def all(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def first(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def challenges(self) -> list[dict[str, str]]:
        """Every Proxy-Authenticate or WWW-Authenticate challenge, as a dict of its params."""
        out = []
        for value in self.all("Proxy-Authenticate") + self.all("WWW-Authenticate"):
            assert value.startswith("Digest "), value
            params = {
                name: quoted or token
                for name, quoted, token in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', value[7:])
            }
            out.append(params)
        return out


def digest(challenge: dict[str, str], *, method: str, uri: str, username: str, password: str,
           algorithm: str | None = None, nc: int = 1, qop: bool = True) -> str:
    """The credentials (a Proxy-Authorization or Authorization value) answering `challenge`."""
    algorithm = algorithm or challenge.get("algorithm", "MD5")
    realm, nonce = challenge["realm"], challenge["nonce"]
    ha1 = h(algorithm, f"{username}:{realm}:{password}")
    ha2 = h(algorithm, f"{method}:{uri}")
    cnonce = secrets.token_hex(8)
    count = f"{nc:08x}"
    if qop:
        response = h(algorithm, f"{ha1}:{nonce}:{count}:{cnonce}:auth:{ha2}")
        tail = f', qop=auth, nc={count}, cnonce="{cnonce}"'
    else:
        response = h(algorithm, f"{ha1}:{nonce}:{ha2}")
        tail = ""
    return (
        f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'response="{response}", algorithm={algorithm}{tail}'
    )


class SipClient:
    """Requests from `source_ip` to the edge at `edge` (host, port) over "udp" or "tcp"."""

    def __init__(self, edge: tuple[str, int], source_ip: str, transport: str = "udp",
                 timeout: float = 5.0):
        self.edge = edge
        self.transport = transport
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind((source_ip, 0))
        self.sock.settimeout(timeout)
        if transport == "tcp":
            self.sock.connect(edge)
        self.source_ip = source_ip
        self.port = self.sock.getsockname()[1]
        self.buffer = b""
        self.call_id = f"{secrets.token_hex(8)}@{source_ip}"
        self.from_tag = secrets.token_hex(4)
        self.cseq = 0
        self.last_branch = ""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "SipClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, method: str, uri: str, headers: list[tuple[str, str]] = (), *,
             to_tag: str | None = None, cseq: int | None = None, branch: str | None = None,
             to_uri: str | None = None) -> str:
        """Sends a request; returns its branch (a new one unless given)."""
        if cseq is None:
            self.cseq += 1
            cseq = self.cseq
        branch = branch or "z9hG4bK" + secrets.token_hex(8)
        self.last_branch = branch
        proto = self.transport.upper()
        to = f"<{to_uri or uri}>" + (f";tag={to_tag}" if to_tag else "")
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/{proto} {self.source_ip}:{self.port};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:client@{self.source_ip}>;tag={self.from_tag}",
            f"To: {to}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:client@{self.source_ip}:{self.port};transport={self.transport}>",
            *[f"{n}: {v}" for n, v in headers],
            "Content-Length: 0",
            "",
            "",
        ]
        data = "\r\n".join(lines).encode()
        if self.transport == "udp":
            self.sock.sendto(data, self.edge)
        else:
            self.sock.sendall(data)
        return branch

    def recv(self) -> Response:
        """The next response (raises socket.timeout when none comes)."""
        if self.transport == "udp":
            data, _ = self.sock.recvfrom(65535)
            return Response(data.decode(errors="replace"))
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end >= 0:
                head = self.buffer[:end].decode(errors="replace")
                m = re.search(r"^(?:Content-Length|l)\s*:\s*(\d+)", head, re.I | re.M)
                total = end + 4 + (int(m.group(1)) if m else 0)
                if len(self.buffer) >= total:
                    message, self.buffer = self.buffer[:total], self.buffer[total:]
                    return Response(message.decode(errors="replace"))
            chunk = self.sock.recv(65535)
            if not chunk:
                raise ConnectionError("the edge closed the connection")
            self.buffer += chunk

    def final(self) -> Response:
        """The next final (non-1xx) response."""
        while True:
            r = self.recv()
            if r.status >= 200:
                return r

    def request(self, method: str, uri: str, headers: list[tuple[str, str]] = (),
                **kw) -> Response:
        """Sends a request and returns its final response."""
        self.send(method, uri, headers, **kw)
        return self.final()

    def ack(self, uri: str, response: Response, cseq: int, branch: str | None = None) -> None:
        """ACKs a final response to the INVITE with CSeq `cseq` (same branch for a non-2xx)."""
        to_tag = re.search(r";tag=([^;>\s]+)", response.first("To") or "").group(1)
        self.send("ACK", uri, to_tag=to_tag, cseq=cseq, branch=branch)
