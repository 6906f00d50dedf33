# SPDX-License-Identifier: Apache-2.0
"""The layering check of the test command: fails when a launcher source includes a
subsystem above its own, or when a subsystem that must stay free of the Python C API
includes Python.h (docs/ARCHITECTURE.md, "Subsystems").

Usage: python3 test/check_layers.py [LAUNCHER_DIR]
Prints one line per violation and exits 1 if there is any; 0 and a summary otherwise.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# Lowest first. A subsystem may include its own headers and those of any subsystem
# with a lower rank; subsystems of equal rank may not include each other.
RANKS = {
    "pipeline": 0,
    "export": 1,
    "policy": 1,
    "config": 2,
    "tools": 3,
    "runtime": 3,
    "pyapi": 4,
    "capture": 5,
    "embed": 6,
    "cli": 7,
}
# These never see the Python C API: they run on our own threads, in `tail`/`report`,
# or must stay testable without an interpreter.
NO_PYTHON = {"pipeline", "export", "policy", "config", "tools", "runtime", "loader"}
# The small executable that loads the core: it includes nothing of ours, and nothing
# includes it (its one shared header, core_entry.hpp, is for launcher/core_main.cpp).
APART = "loader"

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.MULTILINE)


def subsystem_of(path: Path, root: Path) -> str | None:
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 else None  # core_main.cpp and version.hpp sit on top


def check(root: Path) -> list[str]:
    problems: list[str] = []
    sources = sorted(p for p in root.rglob("*") if p.suffix in (".cpp", ".hpp"))
    for path in sources:
        own = subsystem_of(path, root)
        if own is None:
            continue
        if own not in RANKS and own != APART:
            problems.append(f"{path}: folder '{own}' is not a known subsystem (add it to {__file__})")
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in INCLUDE.finditer(text):
            kind, name = match.groups()
            line = text.count("\n", 0, match.start()) + 1
            if name == "Python.h" and own in NO_PYTHON:
                problems.append(f"{path}:{line}: {own} must not include Python.h")
            if kind != '"' or "/" not in name:
                continue
            target = name.split("/", 1)[0]
            if APART in (own, target) and target != own:
                problems.append(f"{path}:{line}: {own} includes {name} ({APART} stands apart)")
                continue
            if target not in RANKS:
                continue
            if target != own and RANKS[target] >= RANKS[own]:
                problems.append(f"{path}:{line}: {own} includes {name} ({target} is not below {own})")
    return problems


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "launcher"
    problems = check(root)
    for problem in problems:
        print(problem)
    if problems:
        print(f"layering: {len(problems)} violation(s)", file=sys.stderr)
        return 1
    count = sum(1 for p in root.rglob("*") if p.suffix in (".cpp", ".hpp"))
    print(f"layering: {count} files in {len(RANKS) + 1} subsystems, no include goes up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
