#!/usr/bin/env python3
"""How long each console page takes on a database of 100,000 source IP mappings (issue 19: every
page under 200 ms), in a real browser: Debian's headless Chromium driven by Playwright.

It makes a fresh SQLite database with sipmap itself, fills it with `bench/sip/gen.py sipmap-db`
(N IP records and N mappings, 8 domains), starts sipmap on it, signs in, and for ROUNDS rounds
opens every page from the navigation and times the click until the page's first table (or its
"nothing here" row) is drawn; then the IP records' and the mappings' second page (Next). Prints one
Markdown row per page: median, max, and what the page showed. Needs the `.venv` of scripts/test.sh
(Playwright) and a built binary.

    .venv/bin/python bench/console_pages.py [--bin target/release/sipmap] [--mappings 100000] [--rounds 5]
"""
from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright import sync_api

REPO = Path(__file__).resolve().parent.parent
PAGES = ["SIP domains", "IP access control lists", "Credential lists", "IP records",
         "Source IP mappings", "BYOC trunks", "Connection policies", "Alerts", "Events", "Calls",
         "Accounts", "API keys", "Decisions"]
LISTENING = re.compile(r"listening on (http://\S+)")
DRAWN = """() => {
  const main = document.querySelector('main#main');
  return !!main && !!main.querySelector('table caption, .api-error');
}"""


PAGE_2 = """() => [...document.querySelectorAll('main#main table caption')].some(c => c.textContent.includes('page 2'))"""


def start(binary: str, db: str, env: dict) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--database-url", f"sqlite://{db}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = LISTENING.search(line)
        if m:
            return proc, m.group(1).rstrip("/")
    proc.kill()
    sys.exit("sipmap did not start")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def timed(page, action) -> float:
    page.evaluate("() => { const m = document.querySelector('main#main'); if (m) m.replaceChildren(); }")
    t0 = time.perf_counter()
    action()
    page.wait_for_function(DRAWN, polling="raf", timeout=10_000)
    return (time.perf_counter() - t0) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(REPO / "target" / "release" / "sipmap"))
    ap.add_argument("--mappings", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    sid = "AC" + secrets.token_hex(16)
    token = secrets.token_hex(16)
    env = {**os.environ, "TWILIO_ACCOUNT_SID": sid, "TWILIO_AUTH_TOKEN": token, "RUST_LOG": "warn,sipmap=info"}
    with tempfile.TemporaryDirectory() as work:
        db = f"{work}/console.db"
        proc, _ = start(args.bin, db, env)
        stop(proc)
        subprocess.run([sys.executable, str(REPO / "bench" / "sip" / "gen.py"), "sipmap-db", db,
                        str(args.mappings), "7", f"{work}/meta.json"], check=True, stdout=subprocess.DEVNULL)
        proc, base = start(args.bin, db, env)
        try:
            samples: dict[str, list[float]] = {p: [] for p in PAGES + ["IP records, page 2", "Source IP mappings, page 2"]}
            with sync_api.sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=["--no-sandbox"])
                page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
                page.goto(f"{base}/console")
                page.get_by_label("Account SID", exact=True).fill(sid)
                page.get_by_label("Auth token", exact=True).fill(token)
                page.get_by_role("button", name="Sign in").click()
                page.get_by_role("heading", name="SIP domains", level=1).wait_for()
                nav = page.get_by_role("navigation", name="Pages")
                for _ in range(args.rounds):
                    for name in PAGES:
                        link = nav.get_by_role("link", name=name, exact=True)
                        samples[name].append(timed(page, link.click))
                        if name in ("IP records", "Source IP mappings"):
                            nxt = page.locator("main#main .pager").get_by_role("button", name="Next").first
                            t0 = time.perf_counter()
                            nxt.click()
                            page.wait_for_function(PAGE_2, polling="raf", timeout=10_000)
                            samples[f"{name}, page 2"].append((time.perf_counter() - t0) * 1000)
                browser.close()
        finally:
            stop(proc)
    print(f"console pages, {args.mappings:,} IP records and mappings, {args.rounds} rounds (ms, click to table drawn)\n")
    print("| page | median | max |")
    print("| --- | --- | --- |")
    for name, values in samples.items():
        print(f"| {name} | {statistics.median(values):.1f} | {max(values):.1f} |")


if __name__ == "__main__":
    main()
