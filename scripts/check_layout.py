#!/usr/bin/env python3
"""Checks the walls ARCHITECTURE.md describes, and the size of functions.

- SQL, and the database crates, only under src/store/;
- no HTTP type (axum, hyper, StatusCode, ApiError) under src/store/ or src/domain/;
- no client wording under src/store/ (Twilio's sentences live in src/error.rs);
- no function longer than MAX_LINES lines outside tests (`#[cfg(test)]` modules, `tests.rs`
  files, tests/).

Prints every breach and exits 1 if there is one. Run by scripts/test.sh.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
MAX_LINES = 80

SQL = re.compile(r'"[^"]*\b(SELECT\s+\S+.*\bFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b', re.I)
DB_CRATES = re.compile(r"\b(rusqlite|tokio_postgres|deadpool_postgres)::")
HTTP_TYPES = re.compile(r"\b(axum|hyper|StatusCode|ApiError|http::)\b")
WORDING = re.compile(r'"[^"]*(The requested resource|Twilio|Source IP Mapping|is still referenced|is already mapped)')
FN_START = re.compile(r"^(\s*)(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")


def code_lines(path: Path) -> list[tuple[int, str]]:
    """The file's lines, without `#[cfg(test)]` modules and without comments."""
    out: list[tuple[int, str]] = []
    lines = path.read_text().splitlines()
    skip_depth = None
    depth = 0
    pending_test = False
    for n, line in enumerate(lines, 1):
        stripped = line.strip()
        if skip_depth is None and stripped.startswith("#[cfg(test)]"):
            pending_test = True
            continue
        opens, closes = line.count("{"), line.count("}")
        if pending_test and skip_depth is None and opens:
            skip_depth = depth
            pending_test = False
        depth += opens - closes
        if skip_depth is not None:
            if depth <= skip_depth:
                skip_depth = None
            continue
        if stripped.startswith("//"):
            continue
        out.append((n, line))
    return out


def long_functions(path: Path) -> list[str]:
    found = []
    lines = code_lines(path)
    i = 0
    while i < len(lines):
        n, line = lines[i]
        m = FN_START.match(line)
        if not m:
            i += 1
            continue
        depth, started, j = 0, False, i
        while j < len(lines):
            text = lines[j][1]
            depth += text.count("{") - text.count("}")
            started = started or "{" in text
            if started and depth <= 0:
                break
            if not started and text.rstrip().endswith(";"):
                break
            j += 1
        length = lines[min(j, len(lines) - 1)][0] - n + 1
        if length > MAX_LINES:
            found.append(f"{path.relative_to(ROOT)}:{n}: fn {m.group(7)} is {length} lines (max {MAX_LINES})")
        i += 1
    return found


def main() -> int:
    problems: list[str] = []
    for path in sorted(SRC.rglob("*.rs")):
        rel = path.relative_to(ROOT).as_posix()
        in_store = rel.startswith("src/store/")
        in_domain = rel.startswith("src/domain/")
        for n, line in code_lines(path):
            where = f"{rel}:{n}"
            if not in_store and (SQL.search(line) or DB_CRATES.search(line)):
                problems.append(f"{where}: SQL or a database crate outside src/store/")
            if (in_store or in_domain) and HTTP_TYPES.search(line):
                problems.append(f"{where}: an HTTP type under {rel.split('/')[1]}/")
            if in_store and WORDING.search(line):
                problems.append(f"{where}: client wording under src/store/ (it belongs in src/error.rs)")
        if path.name != "tests.rs":
            problems.extend(long_functions(path))
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} layout problem(s)", file=sys.stderr)
        return 1
    print("layout: the walls hold, and no function is longer than", MAX_LINES, "lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
