"""Walks through README.md as a new user would: every ``sh``, ``python`` and ``js`` block, in
order, exactly as written, in a fresh folder. ``text`` blocks are output or illustrations and are
not run. A ``python`` or ``js`` block whose first line is a comment naming a file (``# webhook.py``)
is saved under that name, as the README tells the user to, and run only by the lines that name it.

Usage: ``readme_walkthrough.py README SIPMAP_BIN NODE_MODULES OUT_JSON``

- ``cargo install --path .`` is the one line not executed: the test suite has built the binary
  already (``SIPMAP_BIN``), and a directory holding it as ``sipmap`` goes first on ``PATH``, which
  is what ``cargo install`` achieves.
- ``sipmap serve …`` lines run in the background, as in a second terminal; the walkthrough waits
  for the "HTTP API listening" line and applies the ``export`` lines the server prints, as the
  README tells the user to. A later ``sipmap serve`` stops the previous one first (Ctrl-C).
- A line ending in ``&`` runs in the background, as the shell runs it (in a session of its own,
  stopped when the walkthrough ends); the walkthrough gives it a second to start, as a user
  switching terminals would.
- ``python3`` is the interpreter the test runs with (it has the ``twilio`` package, as
  ``pip install twilio`` gives the user's).
- Every other line must exit 0, or the code its comment states (``…  # exits 1: …``); its
  output is recorded. Lines get no input (standard input is ``/dev/null``).

Run it in a network namespace of its own (``unshare -rn``) so that the README's fixed ports
(8080, 5060) are free. Writes a JSON report to ``OUT_JSON``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
LISTENING = re.compile(r"^sipmap: HTTP API listening on (https?://\S+)")
EXPORT = re.compile(r"^export (TWILIO_ACCOUNT_SID|TWILIO_AUTH_TOKEN)=(\S+)$")
SAVED_AS = re.compile(r"^(?:#|//) ([\w.-]+\.(?:py|js))\b")
EXITS = re.compile(r"^exits (\d+)\b")


class Background:
    """A line ending in ``&``: runs until it exits or the walkthrough ends."""

    def __init__(self, block: int, command: str, env: dict, cwd: Path, n: int):
        self.block, self.command = block, command
        self.out = cwd / f"background-{n}.out"
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen(
                command,
                shell=True,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> dict:
        rc = self.proc.poll()
        if rc is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        return {
            "block": self.block,
            "command": self.command,
            "returncode": rc,  # None: still running at the end, then stopped
            "output": self.out.read_text(errors="replace")[-4000:],
        }


class Server:
    def __init__(self, command: str, env: dict, cwd: Path):
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            shlex.split(command),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.err: list[str] = []
        threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True).start()

    @staticmethod
    def _read(stream, into):
        for raw in iter(stream.readline, b""):
            into.append(raw.decode(errors="replace").rstrip("\n"))

    def wait_listening(self, timeout: float = 30.0) -> str:
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            for line in self.lines:
                m = LISTENING.match(line)
                if m:
                    return m.group(1)
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"sipmap serve did not start: {self.lines} {self.err}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def main() -> int:
    readme, sipmap_bin, node_modules, out_path = sys.argv[1:5]
    text = Path(readme).read_text()
    blocks = [(m.group(1), m.group(2)) for m in BLOCK.finditer(text)]
    work = Path(tempfile.mkdtemp(prefix="readme-"))
    bindir = work / "bin"
    bindir.mkdir()
    (bindir / "sipmap").symlink_to(Path(sipmap_bin).resolve())
    python3 = bindir / "python3"
    python3.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python3.chmod(0o755)
    home = work / "home"
    home.mkdir()
    env = {
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "NODE_PATH": node_modules,
    }
    report: dict = {"steps": [], "servers": [], "background": []}
    server: Server | None = None
    background: list[Background] = []
    try:
        for n, (lang, code) in enumerate(blocks):
            if lang == "sh":
                for line in code.splitlines():
                    command, _, comment = (part.strip() for part in line.partition("  #"))
                    if not command or command.startswith("#"):
                        continue
                    if command == "cargo install --path .":
                        report["steps"].append({"block": n, "command": command, "skipped": "built"})
                        continue
                    if command.startswith("sipmap serve"):
                        if server is not None:
                            server.stop()
                        server = Server(command, env, work)
                        url = server.wait_listening()
                        for printed in server.lines:
                            m = EXPORT.match(printed)
                            if m:
                                env[m.group(1)] = m.group(2)
                        report["servers"].append({"command": command, "url": url, "stdout": list(server.lines)})
                        continue
                    if command.endswith("&"):
                        background.append(Background(n, command[:-1].strip(), env, work, len(background)))
                        time.sleep(1.0)
                        continue
                    done = subprocess.run(
                        command,
                        shell=True,
                        cwd=work,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        capture_output=True,
                        timeout=120,
                    )
                    expected = EXITS.match(comment)
                    step = {
                        "block": n,
                        "command": command,
                        "returncode": done.returncode,
                        "stdout": done.stdout.decode(errors="replace"),
                        "stderr": done.stderr.decode(errors="replace"),
                    }
                    report["steps"].append(step)
                    if done.returncode != (int(expected.group(1)) if expected else 0):
                        raise RuntimeError(f"README command failed: {step}")
            elif lang in ("python", "js"):
                saved_as = SAVED_AS.match(code)
                if saved_as:
                    (work / saved_as.group(1)).write_text(code)
                    report["steps"].append({"block": n, "saved_as": saved_as.group(1)})
                    continue
                path = work / f"snippet-{n}.{'py' if lang == 'python' else 'js'}"
                path.write_text(code)
                interpreter = sys.executable if lang == "python" else "node"
                done = subprocess.run(
                    [interpreter, str(path)], cwd=work, env=env, capture_output=True, timeout=120
                )
                step = {
                    "block": n,
                    "lang": lang,
                    "returncode": done.returncode,
                    "stdout": done.stdout.decode(errors="replace"),
                    "stderr": done.stderr.decode(errors="replace"),
                }
                report["steps"].append(step)
                if done.returncode != 0:
                    raise RuntimeError(f"README {lang} snippet failed: {step}")
    except Exception as e:  # reported to the test, which fails with it
        report["error"] = str(e)
    finally:
        report["background"] = [b.stop() for b in background]
        if server is not None:
            server.stop()
            report["last_server_stderr"] = server.err[-20:]
        Path(out_path).write_text(json.dumps(report, indent=1))
    return 0 if "error" not in report else 1


if __name__ == "__main__":
    sys.exit(main())
