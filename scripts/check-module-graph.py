#!/usr/bin/env python3
"""Fails when sibling modules of a crate import each other in a cycle, at any depth.

A module graph that reads top-down (entry point -> routes/controller -> state -> domain
modules) lets each module be read and tested without the ones above it. For every crate of the
workspace and every module with children (the crate root, `src/x/`, `src/x/y/`, ...), each child
gets an edge to every sibling its files name: as `crate::a::b`, `super::b` or `self::b` paths,
resolved from the file's own module (test code included: a test that needs a module above it is
a sign too). A path is counted where it first leaves the file's own module: `children/rules/
alerts.rs` naming `super::catalog` is the edge alerts -> catalog among `children::rules`'s
children. Prints each cycle found, e.g. `operator: children::rules: alerts -> catalog -> alerts`.

Usage: scripts/check-module-graph.py [REPO_ROOT]
"""

import re
import sys
from pathlib import Path

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
PATH = re.compile(rf"\b(crate|super|self)((?:::(?:{IDENT}|\{{[^{{}}]*\}}))+)")


def module_path(src: Path, file: Path) -> tuple[str, ...]:
    """`src/a/b.rs` and `src/a/b/mod.rs` are module `a::b`; `lib.rs` and `main.rs` the root."""
    parts = file.relative_to(src).with_suffix("").parts
    if parts and parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def referenced_paths(text: str, here: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Every module path the text names, made absolute (brace groups expanded)."""
    found: list[tuple[str, ...]] = []
    for match in PATH.finditer(text):
        anchor, rest = match.group(1), match.group(2)
        base = () if anchor == "crate" else here
        segments = re.findall(rf"::({IDENT}|\{{[^{{}}]*\}})", rest)
        if anchor == "super":
            base = base[:-1]
        path = list(base)
        for segment in segments:
            if segment == "super":
                path = path[:-1]
            elif segment.startswith("{"):
                for item in segment[1:-1].split(","):
                    item = item.strip().split(" as ")[0]
                    if item and item != "self" and item != "*":
                        found.append(tuple(path + item.split("::")))
                path = None
                break
            else:
                path.append(segment)
        if path is not None:
            found.append(tuple(path))
    return found


def graphs(src: Path) -> dict[tuple[str, ...], dict[str, set[str]]]:
    """For each module with children: its children and the edges among them."""
    files = [f for f in sorted(src.rglob("*.rs")) if "bin" not in f.relative_to(src).parts]
    modules = {module_path(src, f) for f in files}
    children: dict[tuple[str, ...], set[str]] = {}
    for module in modules:
        for depth in range(len(module)):
            children.setdefault(module[:depth], set()).add(module[depth])
    edges = {parent: {child: set() for child in kids} for parent, kids in children.items()}
    for file in files:
        here = module_path(src, file)
        for path in referenced_paths(file.read_text(encoding="utf-8"), here):
            common = 0
            while common < min(len(here), len(path)) and here[common] == path[common]:
                common += 1
            if common >= len(here) or common >= len(path):
                continue  # a module naming itself, its own children or its ancestors
            parent, source, target = here[:common], here[common], path[common]
            if target in children.get(parent, ()):
                edges[parent][source].add(target)
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
    checked = 0
    for crate in crates:
        for parent, edges in sorted(graphs(crate / "src").items()):
            checked += 1
            where = "::".join(parent) or "crate"
            for cycle in cycles(edges):
                print(f"{crate.relative_to(root)}: {where}: module cycle {' -> '.join(cycle)}")
                failed = True
    if not failed:
        print(f"module graphs of {len(crates)} crates ({checked} modules with children, "
              "nested ones included) have no cycle")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
