"""Start-up cost of bluepython against python, per CPython version, from the wheels.

Run through `bash bench/run.sh --interpreters`, which makes one venv per interpreter of
packaging/find-pythons.sh with that interpreter's wheel from dist/ installed by pip (plus
test/requirements-mcp1.txt) and passes them here as VERSION=PYTHON=VENV (VENV empty: no
wheel). Writes its own section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sections import markers, write_section
from startup import MCP_IMPORTS, base_env, clear_events, ms, run_once

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = markers("interpreters-bench")
SIDES = ("python", "bluepython")


@dataclass
class Workload:
    name: str
    argv: list[str]
    budget: float


WORKLOADS = [
    Workload("`-c pass`, all categories on", ["-c", "pass"], 1.05),
    Workload("mcp 1.x server+client import, all on", ["-c", MCP_IMPORTS], 1.10),
]


@dataclass
class Interpreter:
    version: str
    python: str
    venv: Path | None
    wheel: str = ""
    built: str = ""  # when the wheel file was made
    full_version: str = ""
    mcp: str = ""
    # (workload index, side) -> samples in seconds, in round order (so that the two
    # sides of one round can be paired)
    wall: dict[tuple[int, str], list[float]] = field(default_factory=dict)
    cpu: dict[tuple[int, str], list[float]] = field(default_factory=dict)
    # side -> user-space instructions of `-c pass` (valgrind), when valgrind is there
    instructions: dict[str, int] = field(default_factory=dict)

    def exe(self, side: str) -> Path:
        assert self.venv is not None
        return self.venv / "bin" / side


def parse_specs(specs: list[str]) -> list[Interpreter]:
    out = []
    for spec in specs:
        version, python, venv = spec.split("=", 2)
        out.append(Interpreter(version, python, Path(venv) if venv else None))
    return out


def describe(interp: Interpreter) -> None:
    assert interp.venv is not None
    stamp = (interp.venv / ".bench-stamp").read_text().split()
    interp.wheel = stamp[1] if len(stamp) > 1 else "?"
    # When the wheel was built: a wheel left from an older tree shows here.
    built = (ROOT / "dist" / interp.wheel).stat().st_mtime
    interp.built = f"{datetime.datetime.fromtimestamp(built, datetime.timezone.utc):%Y-%m-%d %H:%M} UTC"
    probe = "import importlib.metadata as m, platform; print(platform.python_version(), m.version('mcp'))"
    out = subprocess.run([str(interp.exe("python")), "-c", probe], capture_output=True, text=True, check=True)
    interp.full_version, interp.mcp = out.stdout.split()


def median_ratio(interp: Interpreter, figure: str, index: int) -> float:
    samples = getattr(interp, figure)
    return statistics.median(samples[(index, "bluepython")]) / statistics.median(samples[(index, "python")])


def paired_ratio(interp: Interpreter, figure: str, index: int) -> float:
    """Median over rounds of bluepython/python within the round: the two runs of a round
    are adjacent in time, so the machine's drift (this one shares its cores) cancels."""
    samples = getattr(interp, figure)
    pairs = zip(samples[(index, "python")], samples[(index, "bluepython")], strict=True)
    return statistics.median(b / p for p, b in pairs)


def count_instructions(interp: Interpreter, env: dict[str, str]) -> None:
    """User-space instructions of `-c pass` on each side (all threads), under valgrind's
    callgrind: deterministic, unlike times, but blind to kernel work (the thread, the
    files, page faults), which the CPU figure includes."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return
    # A plain run first: the spool's import baseline then exists, as in the timed runs.
    subprocess.run([str(interp.exe("bluepython")), "-c", "pass"], env=env, capture_output=True)
    for side in SIDES:
        argv = [
            valgrind,
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            str(interp.exe(side)),
            "-c",
            "pass",
        ]
        out = subprocess.run(argv, env=env, capture_output=True, text=True).stderr
        found = re.search(r"Collected : (\d+)", out)
        if found:
            interp.instructions[side] = int(found.group(1))


def measure(interps: list[Interpreter], runs: int, tmp: Path) -> None:
    home = tmp / "home"
    home.mkdir()
    env = {**base_env(home), "BLUEPYTHON_ENABLE": "all"}
    measured = [i for i in interps if i.venv is not None]
    for round_no in range(runs + 1):
        # Every interpreter and workload in each round, the two sides interleaved and their
        # order flipped each round, so that drift in machine load hits all cells alike.
        sides = SIDES if round_no % 2 == 0 else SIDES[::-1]
        for interp in measured:
            for index, w in enumerate(WORKLOADS):
                spool = tmp / f"spool-{interp.version}-{index}"
                wenv = {**env, "BLUEPYTHON_SPOOL_DIR": str(spool)}
                for side in sides:
                    wall, cpu = run_once(interp.exe(side), w.argv, wenv)
                    if round_no > 0:  # round 0 warms caches and writes the import baseline
                        interp.wall.setdefault((index, side), []).append(wall)
                        interp.cpu.setdefault((index, side), []).append(cpu)
                clear_events(spool)
        print(f"bench: round {round_no}/{runs}", file=sys.stderr, flush=True)
    for interp in measured:
        spool = tmp / f"spool-{interp.version}-instructions"
        count_instructions(interp, {**env, "BLUEPYTHON_SPOOL_DIR": str(spool)})


def report(interps: list[Interpreter], runs: int, command: str) -> tuple[str, list[str]]:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    bluepython = "?"
    for interp in interps:
        if interp.venv is not None:
            probe = [str(interp.exe("bluepython")), "version", "--json"]
            out = subprocess.run(probe, capture_output=True, text=True).stdout
            bluepython = json.loads(out)["bluepython"]
            break
    lines = [
        BEGIN,
        "## Start-up per interpreter",
        "",
        f"Produced by `{command}` on {now}.",
        "",
        f"- Machine: {len(os.sched_getaffinity(0))} CPUs; {platform.system()} {platform.release()}; "
        f"load average at end {load}",
        f"- bluepython {bluepython}, from the wheels in `dist/`, each installed by pip into a venv of its "
        "interpreter (`build/bench-venv-py3.X`) with `test/requirements-mcp1.txt`",
        f"- Runs per cell: {runs}, after one discarded warm-up round (which also writes the import "
        "baseline); every round runs every interpreter and workload, python and bluepython "
        "interleaved, their order flipped each round",
        "",
        "python is the venv's `python`, bluepython the venv's `bluepython` (the wheel's), every category",
        "on (`BLUEPYTHON_ENABLE=all`), a scratch `HOME`. Times are medians in ms with (min-max). CPU is",
        "the child's user+sys time, both threads. The budget figure is the paired CPU ratio: the median",
        "over rounds of bluepython/python within one round, whose two runs are adjacent in time, so that",
        "the drift of this shared machine cancels; the ratio of the two medians is shown beside it.",
        "Budgets (issue 15): `-c pass` ≤ 1.05x, the mcp import ≤ 1.10x.",
        "",
        "| interpreter | wheel | workload | python CPU | bluepython CPU | CPU ratio, paired | CPU ratio, "
        "medians | wall ratio, paired | budget (CPU, paired) |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    misses = []
    for interp in interps:
        if interp.venv is None:
            tag = "cp" + interp.version.replace(".", "")
            lines.append(
                f"| CPython {interp.version} (`{interp.python}`) | none | all "
                f"| not measured: no wheel (no `dist/bluepython-*-{tag}-*.whl`) | | | | | |"
            )
            misses.append(f"NOT MEASURED: CPython {interp.version}: no wheel in dist/")
            continue
        for index, w in enumerate(WORKLOADS):
            cpu = paired_ratio(interp, "cpu", index)
            ok = cpu <= w.budget
            if not ok:
                misses.append(
                    f"BUDGET MISS: CPython {interp.full_version}: {w.name}: CPU {cpu:.3f}x > {w.budget:.2f}x"
                )
            lines.append(
                f"| CPython {interp.full_version} (mcp {interp.mcp}) "
                f"| `{interp.wheel}` (built {interp.built}) | {w.name} "
                f"| {ms(interp.cpu[(index, 'python')])} | {ms(interp.cpu[(index, 'bluepython')])} "
                f"| {cpu:.3f}x | {median_ratio(interp, 'cpu', index):.3f}x "
                f"| {paired_ratio(interp, 'wall', index):.3f}x "
                f"| ≤ {w.budget:.2f}x {'ok' if ok else '**MISSED**'} |"
            )
    counted = [i for i in interps if len(i.instructions) == len(SIDES)]
    if counted:
        lines += [
            "",
            "User-space instructions of `-c pass` (valgrind's callgrind, one run each, all threads):",
            "deterministic where times are not, and blind to kernel work (our thread, the spool file,",
            "page faults), which the CPU figure includes.",
            "",
            "| interpreter | python | bluepython | ratio |",
            "| --- | ---: | ---: | ---: |",
        ]
        for interp in counted:
            py, bp = interp.instructions["python"], interp.instructions["bluepython"]
            lines.append(
                f"| CPython {interp.full_version} | {py / 1e6:.2f} M | {bp / 1e6:.2f} M | {bp / py:.3f}x |"
            )
    if misses:
        lines += ["", "**Warnings:**", "", *(f"- **{m}**" for m in misses)]
    lines.append(END)
    return "\n".join(lines) + "\n", misses


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench/run.sh --interpreters", description=__doc__)
    parser.add_argument("--runs", type=int, default=30, help="measured runs per cell (default 30)")
    parser.add_argument("--quick", action="store_true", help="5 runs per cell, for smoke testing")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("specs", nargs="*", help="VERSION=PYTHON=VENV, from bench/run.sh")
    args = parser.parse_args()
    runs = 5 if args.quick else args.runs
    if runs < 1:
        parser.error("--runs must be at least 1")
    interps = parse_specs(args.specs)
    if not interps:
        sys.exit("bench: no interpreters given; run this through bench/run.sh --interpreters")
    for interp in interps:
        if interp.venv is not None:
            describe(interp)
    with tempfile.TemporaryDirectory(prefix="bluepython-bench-") as tmp:
        measure(interps, runs, Path(tmp))
    options = [a for a in sys.argv[1:] if "=" not in a and a != "--"]
    command = " ".join(["bash bench/run.sh --interpreters", *options])
    text, misses = report(interps, runs, command)
    print(text)
    for line in misses:
        print(line)
    write_section(args.output, text, BEGIN, END)
    print(f"bench: wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
