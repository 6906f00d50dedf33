"""Side by side: plain python, bluepython and BlueRock's open-source sensor.

Every workload runs under four sides, interleaved round by round (A B C D, then
B C D A, ...), so that load drift on the shared machine hits all sides alike:

- ``python``: the venv's own python (build/bench-venv-mcp1, or build/bench-venv-mcp2
  for the mcp 2.x import);
- ``bluepython (mcp+imports)``: BlueRock's scope only, ``BLUEPYTHON_ENABLE=mcp,imports``
  and ``BLUEPYTHON_DISABLE=process,files,network,code``;
- ``bluepython (default: everything on)``: no configuration at all;
- ``BlueRock``: ``python -m bluerock --oss --cfg-dir DIR script.py`` in its own venv
  (build/bench-venv-bluerock, build/bench-venv-bluerock-mcp2: ``bluerock[oss]`` from PyPI
  with the same mcp, fastmcp and uvicorn), ``DIR/bluerock-oss.json`` turning on mcp and
  imports, as its README says.

bluepython is a frozen copy of build/bluepython (build/bench-bin/bluepython, linked into
the bench venvs' bin/), since build/bluepython may be rebuilt during the run. Every side
runs script files, never ``-c`` (BlueRock's runner takes only a script or ``-m``).

Workloads: start-up (``pass``; the mcp 1.x and 2.x server+client imports); MCP over
stdio (2,000 sequential ``tools/call`` of the mcp 1.x FastMCP server in bench/mcp/server.py,
driven by bench/mcp/client.py in plain python, all four servers alive at once and called
block by block; 50 calls of a tool returning 1 MiB); Streamable HTTP (50 concurrent
clients x 100 calls); side effects (200,000 ``open()``, 500 ``subprocess.run(["true"])``,
the loops of bench/audit_loops.py, timed inside the process); the event pipeline
(``_bluepython.emit`` in a loop; build/bench/bluepython_pipeline_bench when built); memory
(peak RSS of the stdio server idle, after 10,000 and 20,000 calls).

Events written: the lines each side's sensor wrote per run (median over runs): ours in
``BLUEPYTHON_SPOOL_DIR``, BlueRock's in ``$HOME/.bluerock/event-spool/`` (it writes there
whatever ``--cfg-dir`` says, so each side has a private HOME). For the stdio workload the
MCP events of the two sensors are compared name by name.

The result is a section of docs/performance.md between ``<!-- compare-bench:begin -->``
and ``<!-- compare-bench:end -->``, also printed on stdout; it is written only without
``--quick`` (or to an explicit ``--output``). Budget misses are marked in the tables and
printed as ``BUDGET MISSED: ...`` lines on stderr; the run still completes.

Run through ``bash bench/run.sh --compare [--quick] [--runs N]``, which makes the copy of
the executable and the venvs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import audit_loops
import startup
from mcp_calls import CLIENT, commit, http_load, loadavg, log, machine, python_versions
from sections import markers, write_section

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
FROZEN = BUILD / "bench-bin" / "bluepython"
PIPELINE_BENCH = BUILD / "bench" / "bluepython_pipeline_bench"
VENVS = {"mcp1": BUILD / "bench-venv-mcp1", "mcp2": BUILD / "bench-venv-mcp2"}
BLUEROCK_VENVS = {"mcp1": BUILD / "bench-venv-bluerock", "mcp2": BUILD / "bench-venv-bluerock-mcp2"}
BEGIN, END = markers("compare-bench")
TIMEOUT = 1800  # seconds for any one process: a hang is a failure, not a stuck run

MCP2_IMPORTS = "import mcp.server.mcpserver, mcp.client.session, mcp.client.stdio"
EMIT_LOOP = """
import json, time, _bluepython
emit = _bluepython.emit
queued = 0
t = time.perf_counter()
for i in range(N):
    queued += emit("bench_event", {"i": i})
seconds = time.perf_counter() - t
t = time.perf_counter()
_bluepython.flush(120.0)
flush_s = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "n": N, "queued": queued, "flush_s": flush_s,
                  "rate": N / seconds, "written_rate": queued / (seconds + flush_s)}))
"""
# Ours, by docs/events.md; BlueRock's README lists the same names.
MCP_NAMES = ("python_mcp_server_init", "python_mcp_server_add", "python_mcp_session_created",
             "python_mcp_session_terminated", "python_mcp_client_connect", "python_mcp_event")


@dataclass(frozen=True)
class Side:
    key: str
    label: str
    ours: bool  # a bluepython side


PYTHON = Side("python", "python", False)
SCOPED = Side("scoped", "bluepython (mcp+imports)", True)
DEFAULT = Side("default", "bluepython (default: everything on)", True)
BLUEROCK = Side("bluerock", "BlueRock", False)
SIDES = (PYTHON, SCOPED, DEFAULT, BLUEROCK)
BUDGET_SIDE = DEFAULT  # budgets are checked against everything on
BLUEROCK_CFG = {"enable": True, "mcp": True, "imports": True}  # bluerock-oss.json, as its README says


class Failure(Exception):
    """A side could not run a workload; shown as n/a with this reason."""


# ---------------------------------------------------------------------------
# Results


@dataclass
class Spool:
    """What one run of a side's sensor wrote."""

    events: int = 0
    bytes: int = 0
    dropped: int = 0  # ours: sensor_shutdown's count
    deleted: int = 0  # BlueRock: older spool files its rotation removed while the process ran
    names: Counter[str] = field(default_factory=Counter)  # with detail: per name (and MCP event kind)
    tools: set[str] = field(default_factory=set)  # with detail: registered tool names
    executables: set[str] = field(default_factory=set)  # ours: sensor_startup's executable
    methods: dict[Any, str] = field(default_factory=dict)  # with detail: request id -> method


@dataclass
class Cell:
    """One workload on one side: a figure per measured round, and what was written."""

    values: list[float] = field(default_factory=list)
    spools: list[Spool] = field(default_factory=list)
    failure: str | None = None

    def add(self, value: float, spool: Spool | None) -> None:
        self.values.append(value)
        if spool is not None:
            self.spools.append(spool)


@dataclass(frozen=True)
class Budget:
    limit: float
    kind: str  # "ratio": side/python <= limit; "rate": value >= limit; "mib": MiB over python <= limit

    def text(self) -> str:
        return {"ratio": f"≤ {self.limit:.2f}x", "rate": f"≥ {self.limit / 1e6:g}M events/s",
                "mib": f"≤ {self.limit:g} MiB over python"}[self.kind]


@dataclass
class Row:
    """One workload: a cell per side. ``unit`` says how its values read: ``s`` (seconds,
    shown in ms or s), ``us`` (seconds per iteration, shown in µs), ``rate`` (per
    second), ``kib`` (memory, shown in MiB)."""

    group: str
    name: str
    unit: str
    budget: Budget | None = None
    cells: dict[str, Cell] = field(default_factory=lambda: {s.key: Cell() for s in SIDES})
    note: str = ""  # shown under the group's table
    labels: dict[str, str] = field(default_factory=dict)  # side labels other than the side's own


# ---------------------------------------------------------------------------
# Sides: commands, environments, spools


class Sandbox:
    """Per-side scratch directories (a private HOME; for ours a spool) and scripts."""

    def __init__(self, tmp: Path, bluerock_ok: dict[str, str | None]) -> None:
        self.tmp = tmp
        self.bluerock_ok = bluerock_ok  # per mcp line: None if it runs, else why not
        self.cfg = bluerock_cfg(tmp / "bluerock-cfg")
        # Inherited PYTHON*/BLUEPYTHON_*/FASTMCP_* settings would change what is measured.
        prefixes = ("PYTHON", "BLUEPYTHON_", "FASTMCP_", "BENCH_")
        self.base = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
        for side in SIDES:
            (tmp / side.key / "home").mkdir(parents=True)
        self.scripts = 0

    def home(self, side: Side) -> Path:
        return self.tmp / side.key / "home"

    def spool_dir(self, side: Side) -> Path:
        if side.ours:
            return self.tmp / side.key / "spool"
        return self.home(side) / ".bluerock" / "event-spool"

    def env(self, side: Side) -> dict[str, str]:
        env = {**self.base, "HOME": str(self.home(side))}
        if side.ours:
            env["BLUEPYTHON_SPOOL_DIR"] = str(self.spool_dir(side))
        if side is SCOPED:
            env["BLUEPYTHON_ENABLE"] = "mcp,imports"
            env["BLUEPYTHON_DISABLE"] = "process,files,network,code"
        return env

    def command(self, side: Side, line: str) -> list[str]:
        """The argv before the script; raises Failure when the side cannot run on this line."""
        if side is PYTHON:
            return [str(VENVS[line] / "bin" / "python")]
        if side.ours:
            # Not resolved: bluepython finds its venv through the symlink's directory.
            return [str(VENVS[line] / "bin" / "bluepython")]
        reason = self.bluerock_ok.get(line, "not set up")
        if reason is not None:
            raise Failure(reason)
        return [str(BLUEROCK_VENVS[line] / "bin" / "python"), "-m", "bluerock", "--oss", "--cfg-dir",
                str(self.cfg)]

    def script(self, text: str) -> Path:
        self.scripts += 1
        path = self.tmp / f"workload-{self.scripts}.py"
        path.write_text(text)
        return path

    def take(self, side: Side, detail: bool = False) -> Spool | None:
        """Reads what the side's sensor wrote since the last call, and removes it (ours
        keeps its import baseline: what a long-lived installation has)."""
        if side is PYTHON:
            return None
        out = Spool()
        pattern = "python-bluepython-*.ndjson" if side.ours else "*.ndjson"
        files = sorted(self.spool_dir(side).glob(pattern), key=file_order)
        if not side.ours:
            # BlueRock's python-<pid>-<tid>.<generation>.ndjson: generations below the lowest
            # left were deleted by its rotation while the process ran.
            lowest: dict[str, int] = {}
            for path in files:
                stem, generation = file_order(path)
                lowest[stem] = min(generation, lowest.get(stem, generation))
            out.deleted = sum(lowest.values())
        for path in files:
            data = path.read_bytes()
            path.unlink()
            lines = data.splitlines()
            out.events += len(lines)
            out.bytes += len(data)
            for line in lines:
                if detail or b'"name":"sensor_s' in line:
                    count_line(json.loads(line)["event"], out, detail)
        return out


def file_order(path: Path) -> tuple[str, int]:
    """Spool files in write order: by writer, then by the number a rotated file ends in."""
    match = re.fullmatch(r"(.*?)[.-](\d+)\.ndjson", path.name)
    return (match.group(1), int(match.group(2))) if match else (path.name, 0)


def count_line(event: dict[str, Any], out: Spool, detail: bool) -> None:
    name = event["meta"]["name"]
    if name == "sensor_shutdown":
        out.dropped += int(event.get("dropped") or 0)
    elif name == "sensor_startup" and "bluepython_version" in event:  # ours (BlueRock's has no such key)
        out.executables.add(str(event.get("executable")))
    if not detail:
        return
    out.names[name] += 1
    if name == "python_mcp_event":
        # By kind and method; a response by the method of the request it answers (same id).
        message = event.get("message") if isinstance(event.get("message"), dict) else {}
        method = event.get("method") or message.get("method")
        if method and str(event.get("event")).endswith("_request"):
            out.methods[event.get("id")] = method
        elif not method:
            method = out.methods.get(event.get("id"), "?")
        out.names[f"python_mcp_event: {event.get('event')} ({method})"] += 1
    elif name == "python_mcp_server_add" and (event.get("element") or {}).get("type") == "tool":
        out.tools.add(str(event["element"].get("name")))


def rotate(sides: list[Side], turn: int) -> list[Side]:
    turn %= len(sides)
    return sides[turn:] + sides[:turn]


def last_error(text: str) -> str:
    """The innermost exception line of a traceback (exception groups included), else the last line."""
    lines = [line.strip(" |+-") for line in text.splitlines()]
    lines = [line for line in lines if line]
    errors = [line for line in lines if re.match(r"[\w.]+(Error|Exception|Exit|Interrupt)\b.*:", line)]
    last = errors[-1] if errors else (lines[-1] if lines else "no message")
    return last[:160]


def why(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}: {last_error(proc.stderr or '')}"


def run_script(sandbox: Sandbox, side: Side, line: str, script: Path) -> tuple[float, str]:
    """Wall seconds and stdout of one run of a script."""
    argv = [*sandbox.command(side, line), str(script)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(argv, env=sandbox.env(side), capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as e:
        raise Failure(f"no exit after {TIMEOUT} s") from e
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise Failure(why(proc))
    return wall, proc.stdout


def bluerock_cfg(directory: Path) -> Path:
    directory.mkdir()
    (directory / "bluerock-oss.json").write_text(json.dumps(BLUEROCK_CFG))
    return directory


def probe_bluerock(tmp: Path) -> dict[str, str | None]:
    """Whether BlueRock's runner works in each of its venvs (None) or why not."""
    out: dict[str, str | None] = {}
    cfg = bluerock_cfg(tmp / "probe-cfg")
    (tmp / "probe-home").mkdir()
    script = tmp / "probe.py"
    script.write_text("print('ok')\n")
    for line, venv in BLUEROCK_VENVS.items():
        python = venv / "bin" / "python"
        if not python.exists():
            out[line] = f"no venv {venv.relative_to(ROOT)}"
            continue
        proc = subprocess.run([str(python), "-m", "bluerock", "--oss", "--cfg-dir", str(cfg), str(script)],
                              env={**os.environ, "HOME": str(tmp / "probe-home")}, capture_output=True,
                              text=True, timeout=300)
        out[line] = None if proc.returncode == 0 and proc.stdout.strip() == "ok" else f"BlueRock {why(proc)}"
    return out


# ---------------------------------------------------------------------------
# Process workloads: one process per run and side


@dataclass
class ProcessWorkload:
    """A script run once per round and side, a new process each time."""

    row: Row
    line: str
    script: str
    runs: int
    figure: str  # "wall": the process's wall time; else a key of the JSON the script prints
    per: int = 1  # divide the figure by this (per iteration)
    sides: tuple[Side, ...] = SIDES
    extra: list[tuple[Row, str]] = field(default_factory=list)  # more rows from the JSON: (row, its key)


def measure_process(w: ProcessWorkload, sandbox: Sandbox) -> None:
    script = sandbox.script(w.script)
    sides = list(w.sides)
    for side in sides:
        try:
            sandbox.command(side, w.line)
        except Failure as e:
            fail(w, side, str(e))
    for round_no in range(w.runs + 1):  # round 0 warms caches and writes the import baseline
        for side in rotate(sides, round_no):
            if w.row.cells[side.key].failure:
                continue
            try:
                wall, stdout = run_script(sandbox, side, w.line, script)
            except Failure as e:
                if side is PYTHON:
                    sys.exit(f"bench: {w.row.name}: plain python failed: {e}")
                fail(w, side, f"{e} (round {round_no})")
                sandbox.take(side)
                continue
            spool = sandbox.take(side)
            if round_no == 0:
                continue
            report = {} if w.figure == "wall" else json.loads(stdout.strip().splitlines()[-1])
            value = wall if w.figure == "wall" else report[w.figure]
            w.row.cells[side.key].add(value / w.per, spool)
            for row, key in w.extra:
                row.cells[side.key].add(report[key], spool)
    log(f"  {w.row.name}: " + ", ".join(f"{s.key} {summary(w.row, s)}" for s in sides))


def fail(w: ProcessWorkload, side: Side, reason: str) -> None:
    for row in (w.row, *(row for row, _ in w.extra)):
        row.cells[side.key].failure = reason


def summary(row: Row, side: Side) -> str:
    cell = row.cells[side.key]
    return "n/a" if cell.failure or not cell.values else show(row.unit, statistics.median(cell.values))


# ---------------------------------------------------------------------------
# MCP workloads


def stdio_round(sandbox: Sandbox, sides: list[Side], calls: int, block: int, blob_bytes: int = 0,
                checkpoints: tuple[int, ...] = ()) -> dict[str, dict[str, float]]:
    """One client (plain python) runs all the sides' stdio servers at once."""
    specs = []
    for side in sides:
        argv = sandbox.command(side, "mcp1")
        specs.append({"side": side.key, "command": argv[0], "args": argv[1:], "env": sandbox.env(side)})
    spec = sandbox.tmp / "stdio-spec.json"
    spec.write_text(json.dumps(specs))
    pid_dir = sandbox.tmp / "pids"
    pid_dir.mkdir(exist_ok=True)
    argv = [str(VENVS["mcp1"] / "bin" / "python"), str(CLIENT), "stdio-sides", "--spec", str(spec),
            "--flavor", "sdk1", "--calls", str(calls), "--block", str(block), "--pid-dir", str(pid_dir),
            "--blob-bytes", str(blob_bytes), "--checkpoints", ",".join(map(str, checkpoints))]
    try:
        proc = subprocess.run(argv, env=sandbox.base, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as e:
        raise Failure(f"stdio client: no exit after {TIMEOUT} s") from e
    if proc.returncode != 0:
        raise Failure(f"stdio client {why(proc)}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def live_sides(rows: list[Row], sandbox: Sandbox) -> list[Side]:
    """The sides that can run the mcp 1.x servers; the others' cells say why not."""
    out = []
    for side in SIDES:
        try:
            sandbox.command(side, "mcp1")
            out.append(side)
        except Failure as e:
            for row in rows:
                row.cells[side.key].failure = str(e)
    return out


def robust_round(rows: list[Row], sandbox: Sandbox, sides: list[Side],
                 **kw: Any) -> dict[str, dict[str, float]]:
    """A stdio round; when it fails, each side is tried alone, the failing ones get n/a, and the
    round is run again without them."""
    try:
        return stdio_round(sandbox, sides, **kw)
    except Failure as e:
        log(f"  stdio round failed ({e}); trying each side alone")
        first = e
    blamed = False
    for side in list(sides):
        sandbox.take(side)  # what the failed round wrote
        if side is PYTHON:
            continue
        try:
            stdio_round(sandbox, [side], calls=2, block=1, blob_bytes=kw.get("blob_bytes", 0))
        except Failure as e:
            for row in rows:
                row.cells[side.key].failure = str(e)
            sides.remove(side)
            blamed = True
        sandbox.take(side)
    if not blamed:
        sys.exit(f"bench: stdio round failed, yet every side works alone: {first}")
    return stdio_round(sandbox, sides, **kw)


def measure_stdio(rows: dict[str, Row], sandbox: Sandbox, runs: int, calls: int, block: int,
                  blob_bytes: int = 0) -> None:
    """``rows``: by key of the client's JSON (loop_s, init_s, ...)."""
    sides = live_sides(list(rows.values()), sandbox)
    for round_no in range(runs + 1):
        order = rotate(sides, round_no)
        result = robust_round(list(rows.values()), sandbox, order, calls=calls, block=block,
                              blob_bytes=blob_bytes)
        sides = [s for s in sides if s.key in result]
        spools = {s.key: sandbox.take(s, detail=not blob_bytes) for s in sides}
        if round_no == 0:
            continue
        for key, row in rows.items():
            for side in sides:
                spool = None if row.unit == "kib" else spools[side.key]
                row.cells[side.key].add(result[side.key][key], spool)
        first = next(iter(rows.values()))
        log(f"  {first.name} run {round_no}/{runs}: " + ", ".join(
            f"{s.key} {show(first.unit, result[s.key][next(iter(rows))])}" for s in sides))


def measure_memory(rows: dict[str, Row], sandbox: Sandbox, runs: int, checkpoints: tuple[int, int]) -> None:
    """Peak RSS after each checkpoint of one long stdio run (per side); ``rows`` by key:
    ``at1``, ``at2``, ``growth``."""
    sides = live_sides(list(rows.values()), sandbox)
    for round_no in range(1, runs + 1):
        result = robust_round(list(rows.values()), sandbox, rotate(sides, round_no), calls=checkpoints[1],
                              block=100, checkpoints=checkpoints)
        sides = [s for s in sides if s.key in result]
        for side in sides:
            spool = sandbox.take(side)
            at1, at2 = (result[side.key][f"hwm_at_{n}_kib"] for n in checkpoints)
            rows["at1"].cells[side.key].add(at1, None)
            rows["at2"].cells[side.key].add(at2, spool)  # the events of the whole run
            rows["growth"].cells[side.key].add(at2 - at1, None)
        log(f"  memory run {round_no}/{runs}: " + ", ".join(
            f"{s.key} {show('kib', result[s.key][f'hwm_at_{checkpoints[1]}_kib'])}" for s in sides))


def measure_http(wall: Row, cpu: Row, sandbox: Sandbox, runs: int, load: tuple[int, int, int],
                 warm_up: bool) -> None:
    sides = live_sides([wall, cpu], sandbox)
    client_python = VENVS["mcp1"] / "bin" / "python"
    for round_no in range(0 if warm_up else 1, runs + 1):
        for side in rotate(sides, round_no):
            if wall.cells[side.key].failure:
                continue
            this = load if round_no else (1, 1, 1)  # the warm-up: a token load
            try:
                result = http_load(sandbox.command(side, "mcp1"), "sdk1", client_python, side.key, this,
                                   sandbox.env(side), sandbox.base, sandbox.tmp)
            except SystemExit as e:  # http_load exits on a failing server or client
                if side is PYTHON:
                    raise
                first, _, log_tail = str(e.code).partition("\n")
                for row in (wall, cpu):
                    row.cells[side.key].failure = f"{first} {last_error(log_tail)} (round {round_no})"
                sandbox.take(side)
                continue
            spool = sandbox.take(side)
            if round_no:
                wall.cells[side.key].add(result["calls_s"], spool)
                cpu.cells[side.key].add(result["server_cpu_load_s"], spool)
        if round_no:
            log(f"  HTTP run {round_no}/{runs}: " + ", ".join(f"{s.key} {summary(wall, s)}" for s in sides))


def measure_native(row: Row, events: int, runs: int, tmp: Path) -> dict[str, Any] | None:
    """build/bench/bluepython_pipeline_bench: events/s of the native pipeline to disk."""
    if not PIPELINE_BENCH.exists():
        row.cells[DEFAULT.key].failure = f"not built ({PIPELINE_BENCH.relative_to(ROOT)} is missing)"
        return None
    last: dict[str, Any] = {}
    for i in range(runs):
        out_dir = tmp / f"pipeline-{i}"
        out_dir.mkdir()
        proc = subprocess.run([str(PIPELINE_BENCH), "--events", str(events), "--dir", str(out_dir)],
                              capture_output=True, text=True, timeout=TIMEOUT)
        if proc.returncode != 0:
            row.cells[DEFAULT.key].failure = f"pipeline bench {why(proc)}"
            return None
        last = json.loads(proc.stdout.strip().splitlines()[-1])
        spool = Spool(events=int(last.get("written", 0)), bytes=int(last.get("bytes", 0)),
                      dropped=int(last.get("dropped", 0)))
        row.cells[DEFAULT.key].add(float(last["events_per_second"]), spool)
        shutil.rmtree(out_dir)
    log(f"  native pipeline: {summary(row, DEFAULT)}")
    return last


# ---------------------------------------------------------------------------
# Report


def scale(unit: str, ref: float) -> tuple[float, int, str]:
    """Factor, decimals and suffix to show values of a unit near ``ref``."""
    if unit == "s":
        return (1000.0, 1, " ms") if ref < 10 else (1.0, 2, " s")
    return {"us": (1e6, 2, " µs"), "rate": (1e-6, 2, "M/s"), "kib": (1 / 1024, 1, " MiB")}[unit]


def show(unit: str, value: float) -> str:
    factor, digits, suffix = scale(unit, value)
    return f"{value * factor:,.{digits}f}{suffix}"


def spread(row: Row, cell: Cell) -> str:
    v = cell.values
    mid = statistics.median(v)
    factor, digits, suffix = scale(row.unit, mid)
    text = f"{mid * factor:,.{digits}f}{suffix}"
    if len(v) > 1:
        text += f" ({min(v) * factor:,.{digits}f}-{max(v) * factor:,.{digits}f})"
    return text


def ratio(row: Row, side: Side) -> float | None:
    """Side/python: the median of the per-round ratios (each round ran both back to back)."""
    ours, base = row.cells[side.key], row.cells.get(PYTHON.key)
    if base is None or row.unit == "rate" or not ours.values or len(ours.values) != len(base.values):
        return None
    return statistics.median(s / p for s, p in zip(ours.values, base.values, strict=True) if p > 0)


def ratio_cell(row: Row, side: Side) -> str:
    if side is PYTHON or row.cells[side.key].failure:
        return "-" if side is PYTHON else "n/a"
    if row.unit == "kib":
        base = row.cells[PYTHON.key].values if PYTHON.key in row.cells else []
        if not base or not row.cells[side.key].values:
            return "-"
        delta = statistics.median(row.cells[side.key].values) - statistics.median(base)
        return f"{delta / 1024:+.1f} MiB"
    r = ratio(row, side)
    return "-" if r is None else f"{r:.3f}x"


def events_cell(row: Row, cell: Cell) -> str:
    if not cell.spools:
        return "-"
    events = statistics.median(s.events for s in cell.spools)
    size = statistics.median(s.bytes for s in cell.spools)
    text = f"{events:,.0f} ({size / 2**20:,.1f} MiB)" if size >= 2**20 else f"{events:,.0f}"
    dropped = statistics.median(s.dropped for s in cell.spools)
    deleted = statistics.median(s.deleted for s in cell.spools)
    text += f", {dropped:,.0f} dropped" if dropped else ""
    return text + (f", +{deleted:,.0f} older files deleted by its rotation" if deleted else "")


def verdict(row: Row, side: Side) -> tuple[str, str | None]:
    """The budget cell, and a miss message if missed."""
    b = row.budget
    if b is None or side is not BUDGET_SIDE:
        return "", None
    cell = row.cells[side.key]
    if cell.failure or not cell.values:
        return f"{b.text()}: not measured", None
    if b.kind == "ratio":
        r = ratio(row, side)
        figure, missed = f"{r:.3f}x", r is None or r > b.limit
    elif b.kind == "rate":
        m = statistics.median(cell.values)
        figure, missed = show("rate", m), m < b.limit
    else:
        delta = (statistics.median(cell.values) - statistics.median(row.cells[PYTHON.key].values)) / 1024
        figure, missed = f"{delta:+.1f} MiB", delta > b.limit
    if missed:
        return f"{b.text()} **MISSED**", f"{row.name}, {side.label}: {figure}, budget {b.text()}"
    return f"{b.text()} ok", None


def group_table(rows: list[Row]) -> tuple[list[str], list[str]]:
    lines = ["| workload | side | median (min-max) | ratio vs python | events written | budget |",
             "| --- | --- | ---: | ---: | ---: | --- |"]
    misses = []
    for row in rows:
        for side in SIDES:
            cell = row.cells.get(side.key)
            label = row.labels.get(side.key, side.label)
            budget, miss = verdict(row, side) if cell else ("", None)
            if miss:
                misses.append(miss)
            if cell is None or (not cell.failure and not cell.values):
                continue
            if cell.failure:
                reason = cell.failure.replace("|", "\\|")
                lines.append(f"| {row.name} | {label} | n/a: {reason} | n/a | - | {budget} |")
                continue
            lines.append(f"| {row.name} | {label} | {spread(row, cell)} | {ratio_cell(row, side)} "
                         f"| {events_cell(row, cell)} | {budget} |")
    notes = [row.note for row in rows if row.note]
    if notes:
        lines += ["", *notes]
    return lines, misses


def agreement(row: Row) -> list[str]:
    """MCP events of the stdio workload per run: ours (both configurations) and BlueRock's."""
    def per_run(side: Side, name: str) -> str:
        cell = row.cells[side.key]
        if cell.failure or not cell.spools:
            return "n/a"
        counts = [s.names.get(name, 0) for s in cell.spools]
        low, high = min(counts), max(counts)
        return f"{low:,}" if low == high else f"{low:,}-{high:,}"

    seen = {n for side in (SCOPED, DEFAULT, BLUEROCK) for s in row.cells[side.key].spools for n in s.names}
    kinds = sorted(n for n in seen if n.startswith("python_mcp_event: "))
    # The MCP names (python_mcp_event last, then by kind and method), then every other name either
    # sensor wrote (BlueRock's spans, both sides' imports and lifecycle events), not compared.
    ordered = [n for n in MCP_NAMES if n != "python_mcp_event"] + ["python_mcp_event", *kinds]
    others = sorted(seen - set(ordered))
    lines = [
        "| event (per run) | bluepython (mcp+imports) | bluepython (default) | BlueRock | BlueRock vs ours |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for name in [*ordered, *others, "(all events)"]:
        cells = []
        for side in (SCOPED, DEFAULT, BLUEROCK):
            if name == "(all events)":
                c = row.cells[side.key]
                cells.append("n/a" if c.failure or not c.spools else events_cell(row, c))
            else:
                cells.append(per_run(side, name))
        mcp = name in ordered
        same = "agree" if cells[0] == cells[2] else "differ"
        lines.append(f"| `{name}` | {' | '.join(cells)} | {same if mcp else '(not compared)'} |")
    tools = []
    for side in (SCOPED, DEFAULT, BLUEROCK):
        seen = sorted({t for s in row.cells[side.key].spools for t in s.tools})
        tools.append(", ".join(f"`{t}`" for t in seen) or "none")
    same = "agree" if tools[0] == tools[2] else "differ"
    lines.append(f"| registered tools | {' | '.join(tools)} | {same} |")
    return lines


def report(groups: dict[str, list[Row]], stdio_row: Row, info: dict[str, Any]) -> tuple[str, list[str],
                                                                                        list[str]]:
    m, v1, v2 = info["machine"], info["versions"]["mcp1"], info["versions"]["mcp2"]
    b1, b2 = info["bluerock_versions"]["mcp1"], info["bluerock_versions"]["mcp2"]
    runs = info["runs"]
    lines = [
        BEGIN,
        "## Side by side: python, bluepython, BlueRock",
        "",
        f"Produced by `{info['command']}` on {info['date']} (took {info['took'] / 60:.1f} min).",
        "",
        f"- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} memory; {m['kernel']}",
        f"- Load average (1/5/15 min) at start: {info['load_start']}; at end: {info['load_end']}",
        f"- Python: CPython {v1['python']} on every side (every venv is made from the Python bluepython "
        "embeds)",
        f"- bluepython {m['bluepython']} (repository at {info['commit']}), a frozen copy of build/bluepython "
        "(`build/bench-bin/bluepython`) linked into the venvs' `bin/`",
        f"- mcp 1.x line: mcp {v1['mcp']}, fastmcp {v1['fastmcp']}, uvicorn {v1['uvicorn']} "
        f"(`build/bench-venv-mcp1`, the requirements of `build/test-venv-mcp1`); BlueRock: bluerock "
        f"{b1['bluerock']}, bluerock-oss {b1['bluerock-oss']} with mcp {b1['mcp']}, fastmcp {b1['fastmcp']}, "
        f"uvicorn {b1['uvicorn']} (`build/bench-venv-bluerock`)",
        f"- mcp 2.x line (the import row only): mcp {v2['mcp']}, fastmcp {v2['fastmcp']} "
        f"(`build/bench-venv-mcp2`); BlueRock: bluerock {b2['bluerock']}, bluerock-oss {b2['bluerock-oss']} "
        f"with mcp {b2['mcp']}, fastmcp {b2['fastmcp']} (`build/bench-venv-bluerock-mcp2`)",
        f"- Runs per cell, after one discarded warm-up round: {runs['short']} for start-up and the "
        f"`open()` loop, {runs['medium']} for `subprocess` and `emit`, {runs['long']} for the MCP rows; "
        f"memory: {runs['memory']} run(s) of {info['memory_calls'][1]:,} calls (no warm-up); HTTP's "
        "warm-up is a token load",
    ]
    if info["quick"]:
        lines += ["- **`--quick` smoke run: tiny counts and few runs; the figures are not meaningful**"]
    lines += [
        "",
        "| side | how it runs |",
        "| --- | --- |",
        "| python | the venv's `python` |",
        "| bluepython (mcp+imports) | the venv's `bluepython`, `BLUEPYTHON_ENABLE=mcp,imports` "
        "`BLUEPYTHON_DISABLE=process,files,network,code`: BlueRock's scope |",
        "| bluepython (default: everything on) | the venv's `bluepython`, no configuration "
        "(every category on) |",
        "| BlueRock | `python -m bluerock --oss --cfg-dir DIR script.py` in BlueRock's venv, "
        "`DIR/bluerock-oss.json` = `{\"enable\": true, \"mcp\": true, \"imports\": true}` (its README) |",
        "",
        "Every side runs script files (BlueRock's runner takes no `-c`), with a private scratch `HOME`;",
        "the sides are interleaved round by round, the order rotating. *Ratio vs python* is the",
        "median over rounds of the side's figure divided by python's in the same round (memory: the",
        "difference of the medians). The BlueRock side runs from its own venv: same Python, same",
        "mcp/fastmcp/uvicorn, plus BlueRock's dependencies. *Events written* is the median per run",
        "of the lines the side's sensor wrote (ours: `BLUEPYTHON_SPOOL_DIR`, `python-bluepython-*.ndjson`,",
        "the import baseline kept between runs as an installation keeps it; BlueRock:",
        "`$HOME/.bluerock/event-spool/`). They measure different scopes: BlueRock's import events",
        "skip the standard library and report one module per installed distribution, and it has",
        "no side-effect events; *dropped* is what our sensor reported dropping (`sensor_shutdown`).",
        f"Budgets (design doc) are checked against **{BUDGET_SIDE.label}**. The machine is shared",
        "and noisy: trust ratios over absolute times.",
    ]
    misses: list[str] = []
    for group, rows in groups.items():
        table, missed = group_table(rows)
        misses += missed
        lines += ["", f"### {group}", "", *table]
    lines += [
        "",
        "### MCP events: BlueRock vs bluepython (stdio workload)",
        "",
        f"Per run of the stdio workload (one server, {info['stdio_calls']:,} `tools/call` of `add`). Counts",
        "are min-max over the measured runs. *agree* compares BlueRock with bluepython (mcp+imports).",
        "",
        *agreement(stdio_row),
    ]
    warnings = list(info["warnings"])
    if misses or warnings:
        lines += ["", "**Budget misses and warnings:**", ""]
        lines += [f"- **BUDGET MISSED: {m}**" for m in misses] + [f"- **{w}**" for w in warnings]
    lines += [END, ""]
    return "\n".join(lines), misses, warnings


# ---------------------------------------------------------------------------
# Main


def plan(args: argparse.Namespace) -> dict[str, Any]:
    """Counts and runs: the full run (about 20 min on 2 CPUs) or --quick (a few minutes)."""
    if args.quick:
        return {"short": 3, "medium": 2, "long": 1, "memory": 1, "stdio_calls": 200, "blob_calls": 4,
                "http": (10, 20, 1), "open": 20_000, "spawn": 50, "emit": 100_000,
                "memory_calls": (1_000, 2_000), "native_events": 500_000, "native_runs": 1}
    return {"short": args.runs, "medium": max(5, args.runs // 2), "long": args.long_runs, "memory": 1,
            "stdio_calls": 2_000, "blob_calls": 50, "http": (50, 100, 1), "open": 200_000, "spawn": 500,
            "emit": 500_000, "memory_calls": (10_000, 20_000), "native_events": 5_000_000, "native_runs": 3}


GROUPS = ("Start-up", "MCP", "Side effects", "Event pipeline", "Memory (stdio MCP server, peak RSS)")


def make_rows(n: dict[str, Any]) -> dict[str, Row]:
    """Every row of the report, by key, in report order within its group."""
    start, mcp, effects, pipeline, memory = GROUPS
    calls, (clients, per_client, _), (at1, at2) = n["stdio_calls"], n["http"], n["memory_calls"]
    http = f"Streamable HTTP: {clients} clients x {per_client} calls"
    emit = f"`_bluepython.emit` loop, {n['emit']:,} calls"
    rows = {
        "pass": Row(start, "`pass` (a script), process wall", "s", Budget(1.10, "ratio")),
        "mcp1": Row(start, "mcp 1.x server+client import", "s", Budget(1.15, "ratio")),
        "mcp2": Row(start, "mcp 2.x server+client import", "s", Budget(1.15, "ratio")),
        "stdio": Row(mcp, f"stdio: {calls:,} sequential `tools/call`, call loop", "s", Budget(1.03, "ratio")),
        "stdio_cpu": Row(mcp, f"stdio: {calls:,} `tools/call`, server CPU", "s"),
        "stdio_init": Row(mcp, "stdio: server start-up (spawn to `initialize` result)", "s"),
        "blob": Row(mcp, f"stdio: {n['blob_calls']} `tools/call` returning 1 MiB, call loop", "s", note=(
            "BlueRock's spool keeps only its newest files: it rotates at about 2 MiB and deletes older "
            "generations while the process runs, so where a cell says files were deleted, its count is "
            "what was left, not what it wrote.")),
        "http": Row(mcp, f"{http}, wall", "s"),
        "http_cpu": Row(mcp, f"{http}, server CPU", "s", note=(
            "HTTP wall is from all sessions open to the last result; with 2 CPUs the client process "
            "(plain python) is a bottleneck too, so server CPU is the figure to read.")),
        "open": Row(effects, f"{n['open']:,} `open()` + `close()`, per call", "us", Budget(1.15, "ratio")),
        "spawn": Row(effects, f"{n['spawn']:,} `subprocess.run(['true'])`, per call", "us"),
        "emit": Row(pipeline, f"{emit}: calls/s", "rate"),
        "emit_disk": Row(pipeline, f"{emit}: events written/s (loop and flush)", "rate", note=(
            "`_bluepython.emit` exists only under bluepython; BlueRock's equivalent is not a public API, "
            "so only ours is measured. Events written and dropped (queue full) are per run.")),
        "native": Row(pipeline, f"native pipeline to disk, {n['native_events']:,} events "
                      "(`build/bench/bluepython_pipeline_bench`, one core)", "rate", Budget(2e6, "rate"),
                      cells={DEFAULT.key: Cell()},
                      labels={DEFAULT.key: "bluepython's native pipeline (no Python)"}),
        "idle": Row(memory, "idle (initialized, no call)", "kib", Budget(8.0, "mib"), note=(
            "Peak RSS (VmHWM, /proc/PID/status) of the stdio server; idle from the stdio workload's "
            "runs, the others from one long run of all sides at once.")),
        "at1": Row(memory, f"after {at1:,} calls", "kib"),
        "at2": Row(memory, f"after {at2:,} calls", "kib"),
        "growth": Row(memory, f"growth from {at1:,} to {at2:,} calls (≈ 0 expected)", "kib"),
    }
    for key in ("emit", "emit_disk"):
        rows[key].cells[PYTHON.key].failure = "no `_bluepython` module in plain python"
        rows[key].cells[BLUEROCK.key].failure = "no public emit API"
    return rows


def run_all(rows: dict[str, Row], n: dict[str, Any], sandbox: Sandbox, quick: bool) -> None:
    prelude = audit_loops.PRELUDE
    process_workloads = [
        ProcessWorkload(rows["pass"], "mcp1", "pass\n", n["short"], "wall"),
        ProcessWorkload(rows["mcp1"], "mcp1", startup.MCP_IMPORTS + "\n", n["short"], "wall"),
        ProcessWorkload(rows["mcp2"], "mcp2", MCP2_IMPORTS + "\n", n["short"], "wall"),
        ProcessWorkload(rows["open"], "mcp1", prelude + f"N = {n['open']}\n" + audit_loops.OPEN_LOOP,
                        n["short"], "seconds", per=n["open"]),
        ProcessWorkload(rows["spawn"], "mcp1", prelude + f"N = {n['spawn']}\n" + audit_loops.SPAWN_LOOP,
                        n["medium"], "seconds", per=n["spawn"]),
        ProcessWorkload(rows["emit"], "mcp1", f"N = {n['emit']}\n" + EMIT_LOOP, n["medium"], "rate",
                        sides=(SCOPED, DEFAULT), extra=[(rows["emit_disk"], "written_rate")]),
    ]
    for w in process_workloads:
        log(f"{w.row.name} ({w.runs} runs)")
        measure_process(w, sandbox)
    log(f"{rows['stdio'].name} ({n['long']} runs)")
    measure_stdio({"loop_s": rows["stdio"], "server_cpu_loop_s": rows["stdio_cpu"],
                   "init_s": rows["stdio_init"], "hwm_idle_kib": rows["idle"]},
                  sandbox, n["long"], n["stdio_calls"], 25)
    log(f"{rows['blob'].name} ({n['long']} runs)")
    measure_stdio({"loop_s": rows["blob"]}, sandbox, n["long"], n["blob_calls"], 5, blob_bytes=2**20)
    log(f"{rows['http'].name} ({n['long']} runs)")
    measure_http(rows["http"], rows["http_cpu"], sandbox, n["long"], n["http"], warm_up=not quick)
    log(f"memory: {n['memory_calls'][1]:,} calls ({n['memory']} run)")
    measure_memory({key: rows[key] for key in ("at1", "at2", "growth")}, sandbox, n["memory"],
                   n["memory_calls"])
    log("native pipeline")
    measure_native(rows["native"], n["native_events"], n["native_runs"], sandbox.tmp)


def check_binary(rows: dict[str, Row]) -> list[str]:
    """Our sides must have run the frozen copy (sensor_startup's executable)."""
    frozen = str(FROZEN.resolve())
    out = []
    for key in ("pass", "mcp1", "stdio", "open"):
        for side in (SCOPED, DEFAULT):
            ran = {e for s in rows[key].cells[side.key].spools for e in s.executables}
            if ran - {frozen}:
                out.append(f"{rows[key].name}: {side.label} ran {', '.join(sorted(ran - {frozen}))}, "
                           f"not {frozen}")
            elif not ran and not rows[key].cells[side.key].failure:
                out.append(f"{rows[key].name}: {side.label}: no sensor_startup to check the executable by")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="bash bench/run.sh --compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run (a few minutes): tiny counts, few runs")
    parser.add_argument("--runs", type=int, default=20,
                        help="measured runs for start-up and the open() loop (default 20; subprocess and "
                        "emit get half, at least 5)")
    parser.add_argument("--long-runs", type=int, default=5, help="measured runs for the MCP rows (default 5)")
    parser.add_argument("--output", type=Path,
                        help="write the section here (default: docs/performance.md, not with --quick)")
    args = parser.parse_args()
    if min(args.runs, args.long_runs) < 1:
        parser.error("--runs and --long-runs must be at least 1")
    n = plan(args)
    output = args.output or (None if args.quick else ROOT / "docs" / "performance.md")
    for venv in VENVS.values():
        for exe in ("python", "bluepython"):
            if not (venv / "bin" / exe).exists():
                sys.exit(f"bench: {venv / 'bin' / exe} is missing; run this through "
                         "bash bench/run.sh --compare")
    started = time.monotonic()
    dists = ("bluerock", "bluerock-oss", "mcp", "fastmcp", "uvicorn")
    info: dict[str, Any] = {
        "load_start": loadavg(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["bash bench/run.sh --compare", *sys.argv[1:]]),
        "machine": machine(VENVS["mcp1"] / "bin" / "bluepython"),
        "commit": commit(),
        "versions": {line: python_versions(venv / "bin" / "python") for line, venv in VENVS.items()},
        "bluerock_versions": {
            line: python_versions(venv / "bin" / "python", dists) if (venv / "bin" / "python").exists()
            else dict.fromkeys(dists, "absent") for line, venv in BLUEROCK_VENVS.items()
        },
        "quick": args.quick,
        "runs": {key: n[key] for key in ("short", "medium", "long", "memory")},
        "memory_calls": n["memory_calls"],
        "stdio_calls": n["stdio_calls"],
        "warnings": [],
    }
    rows = make_rows(n)
    with tempfile.TemporaryDirectory(prefix="bluepython-compare-") as tmp_name:
        tmp = Path(tmp_name)
        bluerock_ok = probe_bluerock(tmp)
        info["warnings"] += [f"BlueRock does not run in its {line} venv: {reason}"
                             for line, reason in bluerock_ok.items() if reason]
        run_all(rows, n, Sandbox(tmp, bluerock_ok), args.quick)
    info["warnings"] += check_binary(rows)
    growth = rows["growth"].cells[DEFAULT.key].values
    if growth and statistics.median(growth) > 1024:
        info["warnings"].append(f"{DEFAULT.label}: peak RSS grows by {statistics.median(growth) / 1024:.1f} "
                                f"MiB from {n['memory_calls'][0]:,} to {n['memory_calls'][1]:,} calls")
    info["load_end"] = loadavg()
    info["took"] = time.monotonic() - started
    groups = {group: [row for row in rows.values() if row.group == group] for group in GROUPS}
    section, misses, warnings = report(groups, rows["stdio"], info)
    print(section)
    for miss in misses:
        print(f"BUDGET MISSED: {miss}", file=sys.stderr)
    for warning in warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    if output is not None:
        write_section(output, section, BEGIN, END)
        log(f"wrote {output} (took {info['took'] / 60:.1f} min)")
    else:
        log(f"--quick: not written (took {info['took'] / 60:.1f} min; --output PATH writes it)")


if __name__ == "__main__":
    main()
