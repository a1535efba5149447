#!/usr/bin/env python3
"""Checks the walls ARCHITECTURE.md describes, and the size of functions.

- SQL, and the database crates, only under src/store/;
- no HTTP type (axum, hyper, StatusCode, ApiError) under src/store/ or src/domain/;
- no client wording under src/store/ (Twilio's sentences live in src/error.rs);
- no function longer than MAX_LINES lines outside tests (`#[cfg(test)]` modules, `tests.rs`
  files, tests/);
- no import circle: among the modules of any one module (the files and folders of one folder),
  who uses whom, by `use` and by path (`crate::…`, `super::…`), and by the methods of a type
  whose `impl` blocks are split across them (`self.method(…)`), is a one-way order;
- the layers: each module of the crate uses only modules of the layers below its own, as listed
  in ARCHITECTURE.md's "Walls" (every module of src/ must be listed there once).

Test code (`#[cfg(test)]` items, `tests.rs` files, `tests/` folders) is left out of the last
two. Prints every breach and exits 1 if there is one. Run by scripts/test.sh.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
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


# --- the import graph -----------------------------------------------------------------------

RAW_STRING = re.compile(r'(?<![\w])b?r(#*)"')
CHAR = re.compile(r"b?'(\\.[^']*|[^\\'])'")
USE = re.compile(r"\b(?:pub(?:\([^)]*\))?\s+)?use\s+([^;]+);")
INLINE_PATH = re.compile(r"(?<![\w:])((?:crate|super|self)(?:\s*::\s*\w+)+)")
IMPL = re.compile(
    r"\bimpl(?:\s*<[^{;]*?>)?\s+(?:[\w:]+(?:<[^{;]*?>)?\s+for\s+)?(\w+)(?:<[^{;]*?>)?\s*(?:where[^{]*)?\{"
)
METHOD = re.compile(r"\bfn\s+(\w+)")
SELF_CALL = re.compile(r"\b(?:self|Self)\s*(?:\.|::)\s*(\w+)\s*(?:::<[^>]*>)?\s*\(")


def blank(text: str) -> str:
    """`text` with everything but its line breaks blanked out."""
    return re.sub(r"[^\n]", " ", text)


def strip_rust(text: str) -> str:
    """Rust source without comments and literals (blanked, so that line numbers stay)."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i)
            j = n if j < 0 else j + 2
        elif (m := RAW_STRING.match(text, i)) and (i == 0 or not text[i - 1].isalnum()):
            j = text.find('"' + m.group(1), m.end())
            j = n if j < 0 else j + 1 + len(m.group(1))
        elif text[i] == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j += 1
        elif (m := CHAR.match(text, i)) and (i == 0 or not text[i - 1].isalnum()):
            j = m.end()
        else:
            out.append(text[i])
            i += 1
            continue
        out.append(blank(text[i:j]))
        i = j
    return "".join(out)


def matching_brace(code: str, start: int) -> int:
    """The index of the `}` that closes the `{` at `start` (or the end of `code`)."""
    depth = 0
    for k in range(start, len(code)):
        if code[k] == "{":
            depth += 1
        elif code[k] == "}":
            depth -= 1
            if depth == 0:
                return k
    return len(code) - 1


def without_tests(code: str) -> str:
    """`code` with every `#[cfg(test)]` item blanked out."""
    start = 0
    while (m := re.search(r"#\[cfg\(test\)\]", code[start:])) is not None:
        at = start + m.start()
        end = re.search(r"[{;]", code[at + m.end() - m.start():])
        if end is None:
            break
        stop = at + m.end() - m.start() + end.start()
        if code[stop] == "{":
            stop = matching_brace(code, stop)
        code = code[:at] + blank(code[at : stop + 1]) + code[stop + 1 :]
        start = stop + 1
    return code


def use_paths(tree: str) -> list[tuple[list[str], str | None]]:
    """The paths a use tree names (`a::{b, c::d as e}`), each with its alias."""
    tree = re.sub(r"\s+as\s+", " as ", tree)
    tree = re.sub(r"\s*(::|,|\{|\})\s*", r"\1", tree.strip())
    out: list[tuple[list[str], str | None]] = []

    def walk(prefix: list[str], text: str) -> None:
        depth, part, parts = 0, "", []
        for ch in text:
            depth += (ch == "{") - (ch == "}")
            if ch == "," and depth == 0:
                parts.append(part)
                part = ""
            else:
                part += ch
        parts.append(part)
        for part in filter(None, parts):
            head, brace, rest = part.partition("{")
            segs = [x for x in head.split("::") if x]
            if brace:
                walk(prefix + segs, rest[:-1])
            else:
                last, _, alias = segs[-1].partition(" as ")
                out.append((prefix + segs[:-1] + [last], alias or None))

    walk([], tree)
    return out


class ImportGraph:
    """Who uses whom among the modules of src/ (test code left out)."""

    def __init__(self, src: Path):
        self.code: dict[tuple[str, ...], str] = {}
        self.file: dict[tuple[str, ...], Path] = {}
        for path in sorted(src.rglob("*.rs")):
            rel = path.relative_to(src)
            if path.name in ("main.rs", "tests.rs") or "tests" in rel.parts[:-1]:
                continue
            parts = list(rel.with_suffix("").parts)
            if parts[-1] in ("mod", "lib"):
                parts.pop()
            module = tuple(parts)
            self.code[module] = without_tests(strip_rust(path.read_text()))
            self.file[module] = path
        self.children: dict[tuple[str, ...], set[str]] = defaultdict(set)
        for module in self.code:
            if module:
                self.children[module[:-1]].add(module[-1])
        self.imported = {m: self.imports(c) for m, c in self.code.items()}
        # (user, used) -> (user's file line, what it names)
        self.uses: dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[int, str]] = {}
        for module, code in self.code.items():
            self.add_references(module, code)
            self.add_split_impl_calls(module, code)

    @staticmethod
    def imports(code: str) -> dict[str, list[str]]:
        names = {}
        for m in USE.finditer(code):
            for segs, alias in use_paths(m.group(1)):
                if segs[-1] == "self":
                    segs = segs[:-1]
                if segs and segs[-1] != "*":
                    names[alias or segs[-1]] = segs
        return names

    def absolute(self, module: tuple[str, ...], segs: list[str], depth: int = 0) -> list[str] | None:
        """The crate path `segs` names in `module`, or None for another crate's."""
        if depth > 8 or not segs:
            return None
        if segs[0] == "crate":
            return segs[1:]
        if segs[0] in ("super", "self"):
            base = list(module)
            while segs and segs[0] in ("super", "self"):
                if segs[0] == "super":
                    base = base[:-1]
                segs = segs[1:]
            return base + segs
        if segs[0] in self.children.get(module, ()):
            return list(module) + segs
        named = self.imported.get(module, {}).get(segs[0])
        if named and named != segs[:1]:
            return self.absolute(module, named + segs[1:], depth + 1)
        return None

    def defining(self, segs: list[str], depth: int = 0) -> tuple[str, ...]:
        """The module that defines what the crate path `segs` names (following re-exports)."""
        k = len(segs)
        while k and tuple(segs[:k]) not in self.code:
            k -= 1
        module, rest = tuple(segs[:k]), segs[k:]
        if rest and depth < 8 and rest[0] not in self.children.get(module, ()):
            named = self.imported.get(module, {}).get(rest[0])
            target = named and self.absolute(module, named)
            if target:
                return self.defining(target + rest[1:], depth + 1)
        return module

    def add_use(self, user: tuple[str, ...], used: tuple[str, ...], line: int, what: str) -> None:
        if used != user and (user, used) not in self.uses:
            self.uses[(user, used)] = (line, what)

    def add_references(self, module: tuple[str, ...], code: str) -> None:
        refs = []
        for m in USE.finditer(code):
            refs += [(m.start(), segs) for segs, _ in use_paths(m.group(1))]
        for m in INLINE_PATH.finditer(code):
            refs.append((m.start(), re.sub(r"\s", "", m.group(1)).split("::")))
        for at, segs in refs:
            segs = [x for x in segs if x not in ("*", "self")] if segs[-1] in ("*", "self") else segs
            path = self.absolute(module, segs)
            if path is not None:
                line = code.count("\n", 0, at) + 1
                self.add_use(module, self.defining(path), line, "::".join(segs))

    def impl_blocks(self, code: str):
        for m in IMPL.finditer(code):
            end = matching_brace(code, m.end() - 1)
            yield m.group(1), m.end(), code[m.end() : end]

    def add_split_impl_calls(self, module: tuple[str, ...], code: str) -> None:
        """`self.m(…)` in an `impl T` block, `m` defined by an `impl T` block of a sibling."""
        if not module:
            return
        defined: dict[str, tuple[str, ...]] = {}
        for sibling in self.children[module[:-1]]:
            other = module[:-1] + (sibling,)
            if other == module:
                continue
            for ty, _, body in self.impl_blocks(self.code[other]):
                for f in METHOD.finditer(body):
                    defined.setdefault(f"{ty}.{f.group(1)}", other)
        for ty, start, body in self.impl_blocks(code):
            for c in SELF_CALL.finditer(body):
                other = defined.get(f"{ty}.{c.group(1)}")
                if other is not None:
                    line = code.count("\n", 0, start + c.start()) + 1
                    self.add_use(module, other, line, f"{ty}::{c.group(1)}")

    def sibling_edges(self):
        """For each module, who uses whom among its children: {parent: {a: {b: (user, used)}}}."""
        levels: dict = defaultdict(lambda: defaultdict(dict))
        for user, used in self.uses:
            k = 0
            while k < min(len(user), len(used)) and user[k] == used[k]:
                k += 1
            if k < len(user) and k < len(used):
                levels[user[:k]][user[k]].setdefault(used[k], (user, used))
        return levels

    def where(self, user: tuple[str, ...], used: tuple[str, ...]) -> str:
        line, what = self.uses[(user, used)]
        return f"{self.file[user].relative_to(ROOT)}:{line} uses {what}"


def circles(graph: dict) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(set(graph) | {w for ws in graph.values() for w in ws}):
        if v not in index:
            visit(v)
    return found


def import_circles(g: ImportGraph) -> list[str]:
    problems = []
    for parent, edges in sorted(g.sibling_edges().items()):
        for component in circles(edges):
            name = "::".join(("crate",) + parent)
            problems.append(f"an import circle among the modules of {name}: {', '.join(component)}")
            for a in component:
                for b, (user, used) in sorted(edges[a].items()):
                    if b in component:
                        problems.append(f"    {a} -> {b}: {g.where(user, used)}")
    return problems


def layers() -> list[list[str]]:
    """ARCHITECTURE.md's layers, from the bottom: the numbered list after `<!-- layers -->`."""
    doc = (ROOT / "ARCHITECTURE.md").read_text()
    _, _, after = doc.partition("<!-- layers -->")
    found = []
    for line in after.lstrip("\n").splitlines():
        m = re.match(r"\d+\.\s+(.*)", line)
        if not m:
            if line.startswith((" ", "\t")):
                continue
            break
        names = m.group(1).split(":")[0]
        found.append(re.findall(r"`(\w+)`", names))
    return found


def layer_walls(g: ImportGraph) -> list[str]:
    order = layers()
    level = {name: i for i, names in enumerate(order) for name in names}
    problems = []
    top = sorted(g.children[()])
    for name in top:
        listed = sum(name in names for names in order)
        if listed != 1:
            problems.append(f"ARCHITECTURE.md: module {name} is in {listed} layers (it must be in one)")
    for (user, used), _ in sorted(g.uses.items()):
        if not user or not used or user[0] == used[0]:
            continue
        a, b = level.get(user[0]), level.get(used[0])
        if a is not None and b is not None and b >= a:
            problems.append(
                f"{g.where(user, used)}: {user[0]} (layer {a + 1}) may use only the layers below it, "
                f"not {used[0]} (layer {b + 1})"
            )
    return problems


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
    graph = ImportGraph(SRC)
    problems.extend(import_circles(graph))
    problems.extend(layer_walls(graph))
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} layout problem(s)", file=sys.stderr)
        return 1
    print(
        "layout: the walls hold, no import circle, every module in its layer, and no function "
        f"is longer than {MAX_LINES} lines"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
