#!/usr/bin/env python3
"""Fails when the top-level modules of a crate import each other in a cycle.

A module graph that reads top-down (entry point -> routes/controller -> state -> domain
modules) lets each module be read and tested without the ones above it. For every crate of the
workspace, each top-level module (`src/x.rs` or `src/x/`) gets an edge to every other top-level
module its files name as `crate::y` (test code included: a test that needs a module above it is
a sign too). Prints each cycle found, e.g. `workload: state -> sampler -> state`.

Usage: scripts/check-module-graph.py [REPO_ROOT]
"""

import re
import sys
from pathlib import Path

CRATE_PATH = re.compile(r"\bcrate::(\{[^}]*\}|[a-z_][a-z0-9_]*)")


def top_level_modules(src: Path) -> dict[str, list[Path]]:
    modules: dict[str, list[Path]] = {}
    for entry in sorted(src.iterdir()):
        if entry.name in ("lib.rs", "main.rs", "bin"):
            continue
        if entry.is_file() and entry.suffix == ".rs":
            modules.setdefault(entry.stem, []).append(entry)
        elif entry.is_dir():
            modules.setdefault(entry.name, []).extend(sorted(entry.rglob("*.rs")))
    return modules


def named_modules(text: str) -> set[str]:
    names: set[str] = set()
    for match in CRATE_PATH.finditer(text):
        group = match.group(1)
        if group.startswith("{"):
            names.update(part.strip().split("::")[0] for part in group[1:-1].split(","))
        else:
            names.add(group)
    return names


def graph(src: Path) -> dict[str, set[str]]:
    modules = top_level_modules(src)
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, files in modules.items():
        for file in files:
            for target in named_modules(file.read_text(encoding="utf-8")):
                if target in modules and target != name:
                    edges[name].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = "open"
        path.append(node)
        for target in sorted(edges[node]):
            if state.get(target) == "open":
                cycle = path[path.index(target):] + [target]
                key = frozenset(cycle)
                if key not in seen:
                    seen.add(key)
                    found.append(cycle)
            elif target not in state:
                visit(target)
        path.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent)
    crates = sorted(manifest.parent for manifest in root.glob("**/Cargo.toml")
                    if (manifest.parent / "src").is_dir() and "target" not in manifest.parts
                    and ".tools" not in manifest.parts)
    failed = False
    for crate in crates:
        for cycle in cycles(graph(crate / "src")):
            print(f"{crate.relative_to(root)}: module cycle {' -> '.join(cycle)}")
            failed = True
    if not failed:
        print(f"module graphs of {len(crates)} crates have no cycle")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
