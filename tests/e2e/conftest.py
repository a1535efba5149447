"""Shared fixtures for the sipmap end-to-end suite.

Every test gets its own sipmap server: a fresh SQLite database in the test's
``tmp_path`` and an HTTP listener on 127.0.0.1 port 0. The server runs the binary
named by ``$SIPMAP_BIN`` (default ``<repo>/target/debug/sipmap``) exactly as an
operator would:

    sipmap serve --listen 127.0.0.1:0 --database-url sqlite:///abs/path.db

with a random ``TWILIO_ACCOUNT_SID`` / ``TWILIO_AUTH_TOKEN`` in its environment,
so that account exists. The fixture waits for the stdout line
``sipmap: HTTP API listening on http://127.0.0.1:PORT`` and hands the test a
:class:`Sipmap` object with the base URL, the credentials, a ``twilio`` Client
pointed at the server, raw-HTTP helpers and restart / SIGTERM / SIGKILL helpers.
Every server process is stopped at teardown, also when the test fails.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import secrets
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Optional

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

# The SDK rewrites hostnames when these are set; they must never leak in.
for _var in ("TWILIO_EDGE", "TWILIO_REGION"):
    os.environ.pop(_var, None)

REPO = Path(__file__).resolve().parents[2]
SPEC_DIR = REPO.parent / "shared" / "twilio-oai"
SIPMAP_BIN = Path(os.environ.get("SIPMAP_BIN", REPO / "target" / "debug" / "sipmap"))

LISTEN_RE = re.compile(r"^sipmap: HTTP API listening on (http://\S+?)/?\s*$")
START_TIMEOUT = 10.0
HTTP_TIMEOUT = 15.0

# Formats every test relies on.
V1_DATE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
RFC2822_RE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d\d:\d\d:\d\d \+0000$"
)
REQUEST_ID_RE = re.compile(r"^RQ[0-9a-f]{32}$")
ERROR_KEYS = {"code", "message", "more_info", "status"}
IP_RECORD_KEYS = {
    "account_sid",
    "sid",
    "friendly_name",
    "ip_address",
    "cidr_prefix_length",
    "date_created",
    "date_updated",
    "url",
}
MAPPING_KEYS = {"sid", "ip_record_sid", "sip_domain_sid", "date_created", "date_updated", "url"}
V1_META_KEYS = {
    "page",
    "page_size",
    "first_page_url",
    "previous_page_url",
    "url",
    "next_page_url",
    "key",
}
V2010_LIST_META_KEYS = {
    "start",
    "end",
    "first_page_uri",
    "next_page_uri",
    "previous_page_uri",
    "page",
    "page_size",
    "uri",
}

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": (
        "Accept, Authorization, Content-Type, If-Match, If-Modified-Since, "
        "If-None-Match, If-Unmodified-Since, Idempotency-Key"
    ),
    "Access-Control-Expose-Headers": "ETag",
}

# Every process started by this suite, so that nothing survives the session.
_ALL_PROCS: list[subprocess.Popen] = []


def _kill_leftovers() -> None:
    for proc in _ALL_PROCS:
        if proc.poll() is None:
            try:
                proc.kill()
                proc.wait(timeout=5)
            except Exception:
                pass


atexit.register(_kill_leftovers)


def random_account_sid() -> str:
    return "AC" + secrets.token_hex(16)


def random_token() -> str:
    return secrets.token_hex(16)


def fake_sid(prefix: str) -> str:
    """A well-formed SID (prefix + 32 lowercase hex) that names nothing."""
    return prefix + secrets.token_hex(16)


def load_spec(name: str) -> dict:
    with open(SPEC_DIR / name, encoding="utf-8") as fh:
        return json.load(fh)


def make_client(base_url: str, sid: str, token: str, account_sid: Optional[str] = None) -> Client:
    """An SDK client: an Account SID and its token, or an API key's SID and secret with the
    Account SID the key belongs to (``account_sid``)."""
    client = Client(sid, token, account_sid, http_client=TwilioHttpClient(timeout=HTTP_TIMEOUT))
    client.voice.base_url = base_url
    client.api.base_url = base_url
    client.monitor.base_url = base_url
    return client


# The server key of every PostgreSQL test node (a cluster's nodes must share one).
TEST_SERVER_KEY = "5e" * 32


def clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SIPMAP_"))}


class ServerProcess:
    """One running ``sipmap serve`` process and everything it printed."""

    def __init__(self, argv: list[str], env: dict, log_path: Path):
        self.argv = argv
        self.log_path = log_path
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._eof = False
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
        )
        _ALL_PROCS.append(self.proc)
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        self.listen_url: Optional[str] = None

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def wait_for_line(self, pattern: re.Pattern, timeout: float) -> Optional[re.Match]:
        """Wait until some stdout line matches ``pattern``; None on timeout or EOF."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    m = pattern.search(line)
                    if m:
                        return m
                remaining = deadline - time.monotonic()
                if self._eof or remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def wait_listening(self, timeout: float = START_TIMEOUT) -> str:
        m = self.wait_for_line(LISTEN_RE, timeout)
        if m is None:
            self.kill()
            raise RuntimeError(
                f"sipmap did not print its listening line within {timeout}s.\n"
                f"argv: {self.argv}\nstdout: {self.lines!r}\nstderr:\n{self.stderr_tail()}"
            )
        self.listen_url = m.group(1)
        return self.listen_url

    def stdout_text(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def stderr_tail(self, limit: int = 4000) -> str:
        try:
            if not self._log.closed:
                self._log.flush()
            return self.log_path.read_text("utf-8", "replace")[-limit:]
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait; returns the exit code (raises on timeout)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=timeout)
        self._finish()
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._finish()

    def _finish(self) -> None:
        self._reader.join(timeout=5)
        if self.proc.stdout:
            try:
                self.proc.stdout.close()
            except Exception:
                pass
        try:
            self._log.close()
        except Exception:
            pass


class Sipmap:
    """A sipmap server under test, with its database, credentials and clients."""

    def __init__(
        self,
        workdir: Path,
        *,
        with_env_account: bool = True,
        extra_args: Iterable[str] = (),
    ):
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.db_path = (workdir / "sipmap.db").resolve()
        self.db_url = f"sqlite://{self.db_path}"
        self.extra_args = list(extra_args)
        self.with_env_account = with_env_account
        self.sid = random_account_sid() if with_env_account else None
        self.token = random_token() if with_env_account else None
        self.proc: Optional[ServerProcess] = None
        self.history: list[ServerProcess] = []
        self._client: Optional[Client] = None
        self._starts = 0

    # ---- lifecycle -------------------------------------------------------
    def env(self) -> dict:
        env = clean_env()
        env.setdefault("RUST_LOG", "info")
        if self.db_url.startswith("postgres"):
            # Cluster nodes share one server key.
            env["SIPMAP_SECRET_KEY"] = TEST_SERVER_KEY
        if self.with_env_account:
            env["TWILIO_ACCOUNT_SID"] = self.sid
            env["TWILIO_AUTH_TOKEN"] = self.token
        return env

    def start(self) -> "Sipmap":
        assert self.proc is None or not self.proc.alive(), "server already running"
        self._starts += 1
        argv = [
            str(SIPMAP_BIN),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            self.db_url,
            *self.extra_args,
        ]
        proc = ServerProcess(argv, self.env(), self.workdir / f"server-{self._starts}.log")
        self.proc = proc
        self.history.append(proc)
        proc.wait_listening()
        if self._client is not None:
            self._client.voice.base_url = self.base_url
            self._client.api.base_url = self.base_url
            self._client.monitor.base_url = self.base_url
        return self

    def stop(self, timeout: float = 10.0) -> int:
        """Graceful stop with SIGTERM; returns the exit code."""
        assert self.proc is not None
        return self.proc.terminate(timeout)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()

    def restart(self) -> "Sipmap":
        if self.proc is not None and self.proc.alive():
            rc = self.stop()
            assert rc == 0, f"sipmap exited with {rc} on SIGTERM"
        return self.start()

    def shutdown(self) -> None:
        for proc in self.history:
            if proc.alive():
                proc.kill()
            else:
                proc._finish()

    # ---- addresses and clients ------------------------------------------
    @property
    def base_url(self) -> str:
        assert self.proc is not None and self.proc.listen_url
        return self.proc.listen_url

    @property
    def client(self) -> Client:
        assert self.sid is not None, "server started without an env account"
        if self._client is None:
            self._client = make_client(self.base_url, self.sid, self.token)
        return self._client

    def client_for(self, sid: str, token: str) -> Client:
        return make_client(self.base_url, sid, token)

    @property
    def auth(self) -> tuple[str, str]:
        return (self.sid, self.token)

    def request(self, method: str, path: str, *, auth="default", **kwargs) -> requests.Response:
        """A raw HTTP request; ``path`` is relative to the base URL (or absolute).

        ``auth="default"`` uses the env account; ``auth=None`` sends no credentials.
        """
        url = path if path.startswith("http") else self.base_url + path
        if auth == "default":
            auth = self.auth
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        return requests.request(method, url, auth=auth, **kwargs)

    def get(self, path: str, **kw) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, data=None, **kw) -> requests.Response:
        return self.request("POST", path, data=data, **kw)

    def delete(self, path: str, **kw) -> requests.Response:
        return self.request("DELETE", path, **kw)

    # ---- accounts --------------------------------------------------------
    def create_account(self, friendly_name: Optional[str] = None) -> dict:
        """Run ``sipmap accounts create`` on this server's DB; returns the JSON object."""
        argv = [str(SIPMAP_BIN), "accounts", "create", "--database-url", self.db_url]
        if friendly_name is not None:
            argv += ["--friendly-name", friendly_name]
        env = clean_env()
        if self.db_url.startswith("postgres"):
            # The token is sealed with the server key the nodes share.
            env["SIPMAP_SECRET_KEY"] = TEST_SERVER_KEY
        out = subprocess.run(argv, env=env, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        assert out.returncode == 0, (
            f"`sipmap accounts create` failed ({out.returncode}): {out.stderr.decode()}"
        )
        text = out.stdout.decode().strip()
        obj = json.loads(text)
        assert re.fullmatch(r"AC[0-9a-f]{32}", obj["sid"]), obj
        assert isinstance(obj["auth_token"], str) and obj["auth_token"], obj
        return obj

    def other_tenant(self, friendly_name: str = "tenant B") -> "Tenant":
        acct = self.create_account(friendly_name)
        return Tenant(self, acct["sid"], acct["auth_token"])


class Tenant:
    """Credentials of a further account on the same server."""

    def __init__(self, server: Sipmap, sid: str, token: str):
        self.server = server
        self.sid = sid
        self.token = token

    @property
    def auth(self) -> tuple[str, str]:
        return (self.sid, self.token)

    @property
    def client(self) -> Client:
        return self.server.client_for(self.sid, self.token)

    def request(self, method: str, path: str, **kw) -> requests.Response:
        return self.server.request(method, path, auth=self.auth, **kw)

    def get(self, path: str, **kw) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, data=None, **kw) -> requests.Response:
        return self.request("POST", path, data=data, **kw)

    def delete(self, path: str, **kw) -> requests.Response:
        return self.request("DELETE", path, **kw)


# ---- fixtures --------------------------------------------------------------


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(scope="session", autouse=True)
def _sipmap_binary_exists():
    if not SIPMAP_BIN.is_file():
        pytest.exit(f"sipmap binary not found at {SIPMAP_BIN} (set SIPMAP_BIN)", returncode=2)


@pytest.fixture
def sipmap_factory(tmp_path, request) -> Callable[..., Sipmap]:
    """Start extra servers: ``sipmap_factory(with_env_account=..., extra_args=[...], start=True)``."""
    servers: list[Sipmap] = []

    def factory(*, start: bool = True, **kwargs) -> Sipmap:
        server = Sipmap(tmp_path / f"srv{len(servers)}", **kwargs)
        servers.append(server)
        if start:
            server.start()
        return server

    yield factory

    failed = getattr(request.node, "rep_call", None)
    for server in servers:
        server.shutdown()
        if failed is not None and failed.failed:
            for proc in server.history:
                print(f"--- sipmap stdout ({' '.join(proc.argv)}) ---\n{proc.stdout_text()}")
                print(f"--- sipmap stderr ---\n{proc.stderr_tail()}")


@pytest.fixture
def sipmap(sipmap_factory) -> Sipmap:
    """A fresh server with a random env account; see :class:`Sipmap`."""
    return sipmap_factory()


# ---- assertion helpers ----------------------------------------------------


def assert_error(
    resp: requests.Response,
    status: int,
    code: int,
    message: Optional[str] = None,
    *,
    message_prefix: Optional[str] = None,
    message_re: Optional[str] = None,
) -> dict:
    """Check a Twilio error response: status, Content-Type, exact body keys and values."""
    assert resp.status_code == status, (
        f"{resp.request.method} {resp.request.url}: expected {status}, got "
        f"{resp.status_code}: {resp.text[:500]}"
    )
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.split(";")[0].strip() == "application/json", ctype
    body = resp.json()
    assert set(body) == ERROR_KEYS, body
    assert body["status"] == status, body
    assert body["code"] == code, body
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}", body
    assert isinstance(body["message"], str) and body["message"], body
    if message is not None:
        assert body["message"] == message, body
    if message_prefix is not None:
        assert body["message"].startswith(message_prefix), body
        assert len(body["message"]) > len(message_prefix), body
    if message_re is not None:
        assert re.fullmatch(message_re, body["message"]), body
    return body


def assert_sdk_error(fn: Callable, status: int, code: int, message: Optional[str] = None):
    """Run an SDK call that must raise TwilioRestException with that status and code."""
    with pytest.raises(TwilioRestException) as ei:
        fn()
    err = ei.value
    assert err.status == status, (err.status, err.code, err.msg)
    assert err.code == code, (err.status, err.code, err.msg)
    if message is not None:
        # the SDK prefixes "Unable to <verb> record: "
        assert err.msg.endswith(": " + message), err.msg
    return err


def not_found_message(path: str) -> str:
    return f"The requested resource {path} was not found"


def domains_path(account_sid: str, sid: Optional[str] = None) -> str:
    if sid is None:
        return f"/2010-04-01/Accounts/{account_sid}/SIP/Domains.json"
    return f"/2010-04-01/Accounts/{account_sid}/SIP/Domains/{sid}.json"


def unique_domain(label: str = "d", suffix: str = "sip.twilio.com") -> str:
    return f"{label}-{secrets.token_hex(4)}.{suffix}"


def psql(url: str, sql: str) -> None:
    """Runs `sql` on the PostgreSQL database `url`."""
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True,
                   capture_output=True, timeout=60)


def with_schema(url: str, schema: str) -> str:
    """`url` with its search path set to `schema`."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-c%20search_path%3D{schema}"


def on_backend(backend: str, sipmap_factory, **kwargs):
    """A started server on `backend` ("sqlite", or "postgres" in a schema of its own), and the
    function that drops that schema afterwards (nothing for SQLite). A test on PostgreSQL is
    skipped when no server is configured, unless SIPMAP_REQUIRE_POSTGRES says it must run."""
    if backend == "sqlite":
        return sipmap_factory(**kwargs), lambda: None
    pg = os.environ.get("SIPMAP_TEST_POSTGRES_URL")
    if not pg:
        if os.environ.get("SIPMAP_REQUIRE_POSTGRES"):
            raise RuntimeError("SIPMAP_REQUIRE_POSTGRES is set but SIPMAP_TEST_POSTGRES_URL is not")
        pytest.skip("SIPMAP_TEST_POSTGRES_URL is not set")
    schema = "sipmap_b_" + secrets.token_hex(8)
    psql(pg, f"CREATE SCHEMA {schema}")
    server = sipmap_factory(start=False, **kwargs)
    server.db_url = with_schema(pg, schema)
    server.start()

    def drop() -> None:
        server.shutdown()
        psql(pg, f"DROP SCHEMA {schema} CASCADE")

    return server, drop
