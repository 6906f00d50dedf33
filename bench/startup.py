"""Startup cost of bluepython against plain python from the same venv.

Run through bench/run.sh, which prepares the venv; this file expects to be run by
that venv's python, with bluepython symlinked next to it.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from sections import sections

ROOT = Path(__file__).resolve().parent.parent
# Not resolved: a venv's python is a symlink, and resolving it would leave the venv.
BIN = Path(sys.executable).parent
PYTHON = BIN / "python"
BLUEPYTHON = BIN / "bluepython"

MCP_IMPORTS = "import mcp.server.fastmcp, mcp.client.session, mcp.client.stdio"
# sys._getframe raises the audit event "sys._getframe" on every call: with any
# audit hook installed CPython builds the event's argument tuple and calls the
# hook, which must reject the name at once. 2M calls dwarf start-up.
UNRELATED_AUDIT = "import sys\nf = sys._getframe\nfor _ in range(2_000_000): f()"


@dataclass
class Workload:
    name: str
    argv: list[str]
    env: dict[str, str]
    budget: float | None  # None: reported only, no budget to meet
    wall: dict[str, list[float]] = field(default_factory=lambda: {"python": [], "bluepython": []})
    cpu: dict[str, list[float]] = field(default_factory=lambda: {"python": [], "bluepython": []})
    events: int = 0
    imports: int = 0


WORKLOADS = [
    Workload("`-c pass`, all categories on", ["-c", "pass"], {"BLUEPYTHON_ENABLE": "all"}, 1.05),
    Workload("`-c pass`, all categories off", ["-c", "pass"], {"BLUEPYTHON_DISABLE": "all"}, None),
    Workload("mcp 1.x server+client import, all on", ["-c", MCP_IMPORTS], {"BLUEPYTHON_ENABLE": "all"}, 1.10),
    Workload("2M unrelated audit events (`sys._getframe`), all on", ["-c", UNRELATED_AUDIT],
             {"BLUEPYTHON_ENABLE": "all"}, None),
]


def base_env(home: Path) -> dict[str, str]:
    # Inherited PYTHON*/BLUEPYTHON_* settings would change what is measured; a scratch
    # HOME keeps user config (~/.bluepython, user site-packages) out of both sides.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "BLUEPYTHON_"))}
    env["HOME"] = str(home)
    return env


def run_once(exe: Path, argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and child CPU seconds (user+sys) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([str(exe), *argv], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        # Timings of a failing run mean nothing; rerun it visibly so the cause shows.
        again = subprocess.run([str(exe), *argv], env=env, capture_output=True, text=True)
        sys.exit(f"bench: {exe.name} {argv} exited {proc.returncode}:\n{again.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def clear_events(spool: Path) -> None:
    # The import baseline stays: it is what a long-lived installation has after its first run.
    for f in spool.glob("*.ndjson"):
        f.unlink()


def measure(w: Workload, runs: int, env: dict[str, str], spool: Path) -> None:
    env = {**env, **w.env, "BLUEPYTHON_SPOOL_DIR": str(spool)}
    for round_no in range(runs + 1):
        # Interleaved so that drift in machine load hits both sides alike.
        for side, exe in (("python", PYTHON), ("bluepython", BLUEPYTHON)):
            wall, cpu = run_once(exe, w.argv, env)
            if round_no > 0:  # round 0 warms caches and writes the import baseline
                w.wall[side].append(wall)
                w.cpu[side].append(cpu)
        clear_events(spool)


def count_events(w: Workload, env: dict[str, str], spool: Path) -> None:
    run_once(BLUEPYTHON, w.argv, {**env, **w.env, "BLUEPYTHON_SPOOL_DIR": str(spool)})
    for f in spool.glob("*.ndjson"):
        for line in f.read_text().splitlines():
            w.events += 1
            if json.loads(line)["event"]["meta"]["name"] == "python_import":
                w.imports += 1


def ratio(w: Workload, figure: str) -> float:
    samples = getattr(w, figure)
    return statistics.median(samples["bluepython"]) / statistics.median(samples["python"])


def ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.1f} ({min(samples) * 1000:.1f}-{max(samples) * 1000:.1f})"


def proc_field(path: str, key: str) -> str:
    for line in Path(path).read_text().splitlines():
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return "unknown"


def machine() -> dict[str, str]:
    mem_kib = int(proc_field("/proc/meminfo", "MemTotal").split()[0])
    version = json.loads(subprocess.run([str(BLUEPYTHON), "version", "--json"], capture_output=True).stdout)
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": proc_field("/proc/cpuinfo", "model name"),
        "memory": f"{mem_kib / 2**20:.1f} GiB",
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "bluepython": version["bluepython"],
        "mcp": importlib.metadata.version("mcp"),
    }


def report(workloads: list[Workload], runs: int, command: str) -> tuple[str, list[str]]:
    m = machine()
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Performance",
        "",
        f"Produced by `{command}` on {now}.",
        "",
        f"- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} memory",
        f"- Kernel: {m['kernel']}",
        f"- Python: {m['python']} (the venv's `python`, and the one bluepython embeds)",
        f"- bluepython: {m['bluepython']}",
        f"- mcp: {m['mcp']}",
        f"- Runs per cell: {runs}, after one discarded warm-up round; python and bluepython interleaved",
        "",
        "The machine is shared and noisy, so absolute times move from run to run; the ratios,",
        "taken from interleaved runs in one invocation, are what matter. Times are medians",
        "in ms with (min-max). CPU is the child's user+sys time, usually the steadier figure.",
        "Where the start-up time goes, and what the audit-event row means: see",
        "docs/ARCHITECTURE.md, section \"Start-up cost\".",
        "",
        "| workload | python wall | bluepython wall | wall ratio | python CPU | bluepython CPU "
        "| CPU ratio | budget |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    misses = []
    for w in workloads:
        wall, cpu = ratio(w, "wall"), ratio(w, "cpu")
        budget = "informational"
        if w.budget is not None:
            over = [f"{label} {r:.3f}x" for label, r in (("wall", wall), ("CPU", cpu)) if r > w.budget]
            misses += [f"BUDGET MISS: {w.name}: {o} > {w.budget:.2f}x" for o in over]
            budget = f"≤ {w.budget:.2f}x" + (" **MISSED**" if over else " ok")
        lines.append(
            f"| {w.name} | {ms(w.wall['python'])} | {ms(w.wall['bluepython'])} | {wall:.3f}x "
            f"| {ms(w.cpu['python'])} | {ms(w.cpu['bluepython'])} | {cpu:.3f}x | {budget} |"
        )
    lines += [
        "",
        "Events one bluepython run writes with a fresh spool directory (no import baseline yet):",
        "",
        "| workload | events | python_import events |",
        "| --- | ---: | ---: |",
        *(f"| {w.name} | {w.events} | {w.imports} |" for w in workloads),
        "",
    ]
    return "\n".join(lines), misses


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench/run.sh", description=__doc__)
    parser.add_argument("--runs", type=int, default=20, help="measured runs per cell (default 20)")
    parser.add_argument("--quick", action="store_true", help="5 runs per cell, for smoke testing")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "performance.md")
    args = parser.parse_args()
    runs = 5 if args.quick else args.runs
    if runs < 1:
        parser.error("--runs must be at least 1")
    for exe in (PYTHON, BLUEPYTHON):
        if not exe.exists():
            sys.exit(f"bench: {exe} is missing; run this through bench/run.sh")

    with tempfile.TemporaryDirectory(prefix="bluepython-bench-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        env = base_env(home)
        for i, w in enumerate(WORKLOADS):
            print(f"bench: {w.name} ({runs} runs)", file=sys.stderr, flush=True)
            measure(w, runs, env, Path(tmp) / f"spool-{i}")
            count_events(w, env, Path(tmp) / f"fresh-spool-{i}")

    command = " ".join(["bash bench/run.sh", *sys.argv[1:]])
    text, misses = report(WORKLOADS, runs, command)
    print(text)
    for line in misses:
        print(line)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    # The other benchmarks keep their own sections in the same file: carry them over.
    if args.output.is_file():
        for section in sections(args.output.read_text()):
            text = text.rstrip("\n") + "\n\n" + section + "\n"
    args.output.write_text(text)
    print(f"bench: wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
