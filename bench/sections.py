"""docs/performance.md is shared by the benchmarks: bench/startup.py writes the top, and each
other benchmark keeps its own section between ``<!-- NAME:begin -->`` / ``<!-- NAME:end -->``
markers, replaced in place on a rerun."""

from __future__ import annotations

import re
from pathlib import Path

MARKER = re.compile(r"<!-- ([\w-]+):begin -->")


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def write_section(path: Path, section: str, begin: str, end: str) -> None:
    """Replaces the section between `begin` and `end` in `path`, or appends it."""
    text = path.read_text() if path.exists() else ""
    at, stop = text.find(begin), text.find(end)
    if at != -1 and stop > at:
        text = text[:at] + section.rstrip("\n") + text[stop + len(end):]
    else:
        text = (text.rstrip("\n") + "\n\n" + section) if text else section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def sections(text: str) -> list[str]:
    """Every marked section of a file's text, in order."""
    out = []
    for match in MARKER.finditer(text):
        end = markers(match.group(1))[1]
        stop = text.find(end, match.start())
        if stop != -1:
            out.append(text[match.start():stop + len(end)])
    return out
