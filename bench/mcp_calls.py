"""Cost of bluepython on MCP traffic: servers under python and under bluepython.

Two workloads, each a python/bluepython pair from the same venv, interleaved,
repeated, compared by medians:

1. stdio: a client (always plain python) spawns the server twice with the
   SDK's stdio client, once under the venv's python and once under its
   bluepython, and makes sequential ``tools/call`` to both, alternating between
   them in small blocks (ABBA), so that load drift on a shared machine hits
   both sides alike; for every server framework of both SDK lines;
2. Streamable HTTP: one uvicorn server under python or bluepython, and many
   concurrent client sessions (plain python, asyncio) making calls.

The result is a section of docs/performance.md between the markers
``<!-- mcp-bench:begin -->`` and ``<!-- mcp-bench:end -->`` (the rest of the
file is left alone), and a one-line summary on stdout.

Run through ``bash bench/run.sh --mcp [options]``, which checks the build and
the MCP venvs (build/test-venv-mcp1, build/test-venv-mcp2) first.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sections import markers, write_section

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
CLIENT = ROOT / "bench" / "mcp" / "client.py"
SERVER = ROOT / "bench" / "mcp" / "server.py"
VENVS = {"mcp1": BUILD / "test-venv-mcp1", "mcp2": BUILD / "test-venv-mcp2"}
SIDES = ("python", "bluepython")
CLK_TCK = os.sysconf("SC_CLK_TCK")
BEGIN, END = markers("mcp-bench")
STDIO_BUDGET = 1.03  # call-loop wall ratio, bluepython/python (paired: median of the per-run ratios)
OTLP_BUDGET = 1.05  # the same with OTLP export on (to a receiver, or a collector that is down)


@dataclass
class Case:
    key: str
    label: str
    venv: str  # key of VENVS
    flavor: str  # server.py FLAVOR
    # One dict of measurements per measured run and side (client.py's JSON, plus
    # what the driver adds for HTTP).
    runs: dict[str, list[dict[str, float]]] = field(default_factory=lambda: {s: [] for s in SIDES})
    mcp_events: list[int] = field(default_factory=list)  # python_mcp_event, per bluepython run
    shutdowns: list[int] = field(default_factory=list)  # sensor_shutdown, per bluepython run
    internal: set[str] = field(default_factory=set)  # python_internal_exception messages

    def python(self) -> Path:
        return VENVS[self.venv] / "bin" / "python"

    def exe(self, side: str) -> Path:
        # Not resolved: bluepython finds its venv through the symlink's directory.
        return VENVS[self.venv] / "bin" / side

    def median(self, side: str, key: str) -> float:
        return statistics.median(r[key] for r in self.runs[side])

    def ratio(self, key: str) -> float:
        return self.median("bluepython", key) / self.median("python", key)

    def paired(self, key: str) -> float:
        """Median of the per-round ratios: each pair ran back to back, so a load
        swing that lasts a round cancels out; steadier than the ratio of medians
        on a busy machine."""
        pairs = zip(self.runs["bluepython"], self.runs["python"], strict=True)
        return statistics.median(bp[key] / py[key] for bp, py in pairs)

    def spread(self, side: str, key: str, scale: float = 1000.0, digits: int = 0) -> str:
        values = [r[key] * scale for r in self.runs[side]]
        return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def cases() -> dict[str, Case]:
    """Every server, by key (fresh objects: they collect samples)."""
    return {c.key: c for c in (
        Case("sdk1", "mcp 1.x SDK `mcp.server.fastmcp.FastMCP`", "mcp1", "sdk1"),
        Case("fastmcp3", "fastmcp 3.x `fastmcp.FastMCP` (on mcp 1.x)", "mcp1", "fastmcp"),
        Case("sdk2", "mcp 2.x SDK `mcp.server.mcpserver.MCPServer`", "mcp2", "sdk2"),
        Case("fastmcp4", "fastmcp 4.x `fastmcp.FastMCP` (on mcp 2.x)", "mcp2", "fastmcp"),
    )}


STDIO_SERVERS = "sdk1,fastmcp3,sdk2,fastmcp4"
HTTP_SERVERS = "sdk1,fastmcp4"  # one per SDK line: a run takes tens of seconds
def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def base_env(home: Path, hooks_path: str | None) -> dict[str, str]:
    # Inherited PYTHON*/BLUEPYTHON_*/FASTMCP_* settings would change what is
    # measured; a scratch HOME keeps user config (~/.bluepython, user
    # site-packages, fastmcp settings) out of both sides.
    prefixes = ("PYTHON", "BLUEPYTHON_", "FASTMCP_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["HOME"] = str(home)
    env["BLUEPYTHON_ENABLE"] = "all"
    if hooks_path:
        env["BLUEPYTHON_HOOKS_PATH"] = hooks_path  # development only (--hooks-path)
    return env


# ---------------------------------------------------------------------------
# Spool


def collect_events(case: Case, spool: Path) -> None:
    """Counts what one bluepython run wrote, then clears the events (the import
    baseline stays: it is what a long-lived installation has)."""
    counts: dict[str, int] = {}
    for f in spool.glob("*.ndjson"):
        for line in f.read_text().splitlines():
            event = json.loads(line)["event"]
            name = event["meta"]["name"]
            counts[name] = counts.get(name, 0) + 1
            if name == "python_internal_exception":
                case.internal.add(f"{event.get('where')}: {event.get('message')}")
        f.unlink()
    case.mcp_events.append(counts.get("python_mcp_event", 0))
    case.shutdowns.append(counts.get("sensor_shutdown", 0))


def clear_events(spool: Path) -> None:
    for f in spool.glob("*.ndjson"):
        f.unlink()


# ---------------------------------------------------------------------------
# Processes


def proc_cpu(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_mem(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_client(case: Case, argv: list[str], env: dict[str, str], timeout: float) -> dict[str, float]:
    proc = subprocess.run(
        [str(case.python()), str(CLIENT), *argv], env=env, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        sys.exit(f"bench: client {argv} exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.splitlines()[-1])


def stdio_pair_run(case: Case, calls: int, block: int, bluepython_first: bool, env: dict[str, str],
                   tmp: Path) -> dict[str, dict[str, float]]:
    pid_dir = tmp / "pids"
    pid_dir.mkdir(exist_ok=True)
    argv = ["stdio-pair", "--python-exe", str(case.exe("python")),
            "--bluepython-exe", str(case.exe("bluepython")), "--flavor", case.flavor,
            "--calls", str(calls), "--block", str(block), "--pid-dir", str(pid_dir)]
    if bluepython_first:
        argv.append("--bluepython-first")
    return run_client(case, argv, env, timeout=120 + calls * 0.2)  # type: ignore[return-value]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(server: subprocess.Popen[bytes], port: int, server_log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"bench: HTTP server exited {server.returncode}:\n{server_log.read_text()[-4000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    server.kill()
    sys.exit(f"bench: HTTP server not listening on {port} after 60 s:\n{server_log.read_text()[-4000:]}")


def http_run(case: Case, side: str, clients: int, calls: int, procs: int, env: dict[str, str],
             tmp: Path) -> dict[str, float]:
    return http_load([str(case.exe(side))], case.flavor, case.python(), f"{case.key}-{side}",
                     (clients, calls, procs), env, env, tmp)


def http_load(server_cmd: list[str], flavor: str, client_python: Path, name: str, load: tuple[int, int, int],
              server_env: dict[str, str], client_env: dict[str, str], tmp: Path) -> dict[str, float]:
    """One uvicorn server (``server_cmd`` + server.py FLAVOR http ...) under a load of
    ``load`` = (clients, calls per client, client processes) from ``client_python``."""
    clients, calls, procs = load
    port = free_port()
    pid_file = tmp / "server.pid"
    pid_file.unlink(missing_ok=True)
    server_log = tmp / f"http-server-{name}.log"
    with server_log.open("wb") as out:
        server = subprocess.Popen(
            [*server_cmd, str(SERVER), flavor, "http", "--port", str(port), "--pid-file", str(pid_file)],
            env=server_env, stdout=out, stderr=subprocess.STDOUT,
        )
    result: dict[str, float] = {}
    try:
        wait_listening(server, port, server_log)
        if int(pid_file.read_text()) != server.pid:
            sys.exit(f"bench: {name} server runs as pid {pid_file.read_text()}, not {server.pid}")
        idle = proc_mem(server.pid)
        cpu_start = proc_cpu(server.pid)
        start = time.perf_counter()
        shares = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
        argv = ["--url", f"http://127.0.0.1:{port}/mcp", "--calls", str(calls)]
        running = [
            subprocess.Popen(
                [str(client_python), str(CLIENT), "http", *argv, "--clients", str(share)],
                env=client_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            for share in shares
        ]
        outputs = [p.communicate(timeout=1200) for p in running]
        wall = time.perf_counter() - start
        cpu_end = proc_cpu(server.pid)
        peak = proc_mem(server.pid)["VmHWM"]
        for p, (_, stderr) in zip(running, outputs, strict=True):
            if p.returncode != 0:
                sys.exit(f"bench: HTTP client exited {p.returncode}:\n{stderr[-4000:]}")
        reports = [json.loads(stdout.splitlines()[-1]) for stdout, _ in outputs]
        result = {
            # With one client process this is exactly "all sessions open -> last
            # result"; with several, the slowest process's.
            "calls_s": max(r["calls_s"] for r in reports),
            "clients_wall_s": wall,  # client processes' start-up included
            "client_cpu_s": sum(r["client_cpu_s"] for r in reports),
            "server_cpu_load_s": cpu_end - cpu_start,
            "rss_idle_kib": idle["VmRSS"],
            "hwm_kib": peak,
        }
    finally:
        cpu_before = children_cpu()
        server.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        result["server_cpu_total_s"] = children_cpu() - cpu_before
    return result


# ---------------------------------------------------------------------------
# Measuring


def measure_stdio(case: Case, reps: int, calls: int, block: int, env: dict[str, str], tmp: Path) -> None:
    spool = tmp / f"spool-stdio-{case.key}"
    env = {**env, "BLUEPYTHON_SPOOL_DIR": str(spool)}
    for round_no in range(reps + 1):
        # One client drives both servers, block by block; which side is
        # spawned and called first flips each round. Round 0 warms caches and
        # writes the import baseline; it is discarded.
        result = stdio_pair_run(case, calls, block, round_no % 2 == 1, env, tmp)
        if round_no == 0:
            clear_events(spool)
            continue
        for side in SIDES:
            case.runs[side].append(result[side])
        collect_events(case, spool)  # only the bluepython server writes a spool
        py, bp = result["python"]["loop_s"], result["bluepython"]["loop_s"]
        log(f"  stdio {case.key} run {round_no}/{reps}: loop python {py * 1000:.0f} ms, "
            f"bluepython {bp * 1000:.0f} ms ({bp / py:.3f}x), mcp events {case.mcp_events[-1]}")


def measure_http(case: Case, reps: int, clients: int, calls: int, procs: int, env: dict[str, str],
                 tmp: Path, warm_up: bool) -> None:
    spool = tmp / f"spool-http-{case.key}"
    env = {**env, "BLUEPYTHON_SPOOL_DIR": str(spool)}
    for side in SIDES if warm_up else ():  # a token load, discarded
        http_run(case, side, 1, 1, 1, env, tmp)
        clear_events(spool)
    for round_no in range(1, reps + 1):
        order = SIDES if round_no % 2 == 0 else SIDES[::-1]
        for side in order:
            case.runs[side].append(http_run(case, side, clients, calls, procs, env, tmp))
            if side == "bluepython":
                collect_events(case, spool)
            else:
                clear_events(spool)
        py, bp = case.runs["python"][-1]["calls_s"], case.runs["bluepython"][-1]["calls_s"]
        log(f"  http {case.key} run {round_no}/{reps}: python {py:.2f} s, bluepython {bp:.2f} s "
            f"({bp / py:.3f}x), mcp events {case.mcp_events[-1]}")


# ---------------------------------------------------------------------------
# Report


def proc_field(path: str, key: str) -> str:
    for line in Path(path).read_text().splitlines():
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return "unknown"


def versions(venv: str) -> dict[str, str]:
    return python_versions(VENVS[venv] / "bin" / "python")


def python_versions(python: Path, dists: tuple[str, ...] = ("mcp", "fastmcp", "uvicorn")) -> dict[str, str]:
    """The Python version of a venv's python, and the versions of distributions installed there."""
    code = (
        "import importlib.metadata as m, json, platform, sys\n"
        "out = {'python': platform.python_version()}\n"
        "for d in sys.argv[1:]:\n"
        "    try: out[d] = m.version(d)\n"
        "    except m.PackageNotFoundError: out[d] = 'absent'\n"
        "print(json.dumps(out))"
    )
    proc = subprocess.run([str(python), "-c", code, *dists], capture_output=True, check=True)
    return json.loads(proc.stdout)


def machine(bluepython: Path | None = None) -> dict[str, str]:
    """The machine, and the version of ``bluepython`` (default: the mcp1 venv's)."""
    mem_kib = int(proc_field("/proc/meminfo", "MemTotal").split()[0])
    bluepython = bluepython or VENVS["mcp1"] / "bin" / "bluepython"
    version = json.loads(subprocess.run([str(bluepython), "version", "--json"], capture_output=True).stdout)
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": proc_field("/proc/cpuinfo", "model name"),
        "memory": f"{mem_kib / 2**20:.1f} GiB",
        "kernel": f"{platform.system()} {platform.release()}",
        "bluepython": version["bluepython"],
    }


def binary_identity() -> tuple[int, int]:
    """Size and mtime of the bluepython executable the venvs link to."""
    st = (VENVS["mcp1"] / "bin" / "bluepython").resolve().stat()
    return st.st_size, st.st_mtime_ns


def commit() -> str:
    def git(*argv: str) -> str:
        proc = subprocess.run(["git", "-C", str(ROOT), *argv], capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return head + (" with uncommitted changes" if dirty else "")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def us_per_message(case: Case, key: str, messages: int) -> float:
    return (case.median("bluepython", key) - case.median("python", key)) / messages * 1e6


def mib_delta(case: Case, key: str) -> str:
    delta = (case.median("bluepython", key) - case.median("python", key)) / 1024
    return f"{delta:+.1f}"


def events_cell(case: Case, expected: int) -> str:
    if not case.mcp_events:
        return "-"
    low, high = min(case.mcp_events), max(case.mcp_events)
    cell = f"{low}" if low == high else f"{low}-{high}"
    return cell + (f" **(expected ≥ {expected})**" if low < expected else "")


def hooks_warnings(cases: list[Case], expected: int, what: str) -> list[str]:
    out = []
    for c in cases:
        if not c.mcp_events:
            continue
        if max(c.mcp_events) == 0:
            out.append(f"WARNING: {what} {c.key}: NO python_mcp_event written by bluepython: the MCP hooks "
                       "were not active, so these figures measure bluepython WITHOUT MCP interception")
        elif min(c.mcp_events) < expected:
            out.append(f"WARNING: {what} {c.key}: only {min(c.mcp_events)} python_mcp_event in a run, "
                       f"expected at least {expected} (2 per call)")
        if min(c.shutdowns) == 0:
            out.append(f"WARNING: {what} {c.key}: a bluepython server wrote no sensor_shutdown "
                       "(killed, or its spool was not flushed)")
    return out


def report(args: argparse.Namespace, stdio: list[Case], http: list[Case], info: dict[str, Any]) -> tuple[
        str, str, list[str]]:
    m = info["machine"]
    v1, v2 = info["versions"]["mcp1"], info["versions"]["mcp2"]
    hooks = (
        f"**from the source tree `{args.hooks_path}` (`BLUEPYTHON_HOOKS_PATH`, development only)**"
        if args.hooks_path else "the ones built into the bluepython executable"
    )
    export = {
        "off": "",
        "receiver": f", OTLP export on (to a loopback receiver; {info.get('otlp_requests', 0)} requests)",
        "down": ", OTLP export on, collector down (connection refused)",
    }[info["otlp"]]
    if args.policy:
        export = ", enforcing a tool-level policy (`bench_policy()` in bench/mcp_calls.py)"
    lines = [
        BEGIN,
        "## MCP calls" + export,
        "",
        f"Produced by `{info['command']}` on {info['date']} (took {info['took'] / 60:.1f} min).",
        "",
        f"- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} memory; {m['kernel']}",
        f"- Load average (1/5/15 min) at start: {info['load_start']}; at end: {info['load_end']}",
        f"- Python: CPython {v1['python']}; bluepython {m['bluepython']} (repository at {info['commit']}), "
        "all categories on",
        f"- MCP hooks: {hooks}",
        f"- mcp 1.x line (`build/test-venv-mcp1`): mcp {v1['mcp']}, fastmcp {v1['fastmcp']}, "
        f"uvicorn {v1['uvicorn']}",
        f"- mcp 2.x line (`build/test-venv-mcp2`): mcp {v2['mcp']}, fastmcp {v2['fastmcp']}, "
        f"uvicorn {v2['uvicorn']}",
        "",
        "The server runs under the venv's `python` or its `bluepython` (symlinked into the venv's",
        "`bin/`); clients are always plain `python`. Server logging is at WARNING on both sides.",
        "Times are medians with (min-max). Ratios are bluepython/python medians from the same",
        "invocation, the two sides interleaved (the order flips each round). The machine is shared",
        "and noisy (other test suites may run at the same time): trust the ratios, not absolute times;",
        "CPU ratios are usually steadier than wall ratios. Overhead per message is the difference",
        "of the medians divided by the messages the server handled (2 per call: request and",
        "response); CPU is the server process's user+sys time from `/proc/<pid>/stat`. RSS deltas",
        "are bluepython minus python, in MiB: idle (before the first call) and peak (VmHWM).",
    ]
    if args.quick:
        lines += ["", "**`--quick` smoke run:** few calls and runs; one-time costs of the first calls weigh",
                  "heavily here, so these ratios overstate the steady-state overhead."]
    warnings: list[str] = []
    summary: list[str] = []  # stdio figures
    http_summary: list[str] = []
    if stdio:
        calls = args.calls
        messages = 2 * calls
        lines += [
            "",
            f"### stdio: {calls} sequential `tools/call`, {args.reps} run{'s' if args.reps > 1 else ''} "
            "per side after a warm-up round",
            "",
            "One client (plain python) spawns the server twice with the SDK's `stdio_client`, under",
            "`python` and under `bluepython`, and calls `add(a, b)` on both, alternating between them",
            f"in blocks of {args.block} calls (A B, B A, ...): load drift on the shared machine hits both",
            "sides alike, which back-to-back runs of seconds each did not achieve. A side's call loop is",
            "the sum of its blocks (after `initialize` until the last result). *Paired* (the budget",
            f"figure, ≤ {STDIO_BUDGET:.2f}x) is the median of the per-run ratios; *loop ratio* is the",
            "ratio of the medians. Start-up is spawn to the `initialize` result, each server spawned",
            "alone (which side goes first flips each run).",
            "",
            "| server | python loop ms | bluepython loop ms | paired | loop ratio | µs per message | "
            "python start-up ms | bluepython start-up ms | start-up ratio | budget |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for c in stdio:
            paired = c.paired("loop_s")
            active = bool(c.mcp_events) and max(c.mcp_events) > 0
            ok = paired <= STDIO_BUDGET
            verdict = f"≤ {STDIO_BUDGET:.2f}x " + ("ok" if ok else "**MISSED**")
            if not active:
                verdict += " (hooks inactive: not meaningful)"
            if not ok:
                warnings.append(
                    f"BUDGET MISS: stdio {c.key}: paired loop ratio {paired:.3f}x > {STDIO_BUDGET:.2f}x"
                )
            summary.append(f"{c.key} {paired:.3f}x{'' if ok else ' MISSED'}")
            lines.append(
                f"| {c.label} | {c.spread('python', 'loop_s')} | {c.spread('bluepython', 'loop_s')} "
                f"| {paired:.3f}x | {c.ratio('loop_s'):.3f}x | {us_per_message(c, 'loop_s', messages):+.1f} "
                f"| {c.spread('python', 'init_s')} | {c.spread('bluepython', 'init_s')} "
                f"| {c.ratio('init_s'):.3f}x | {verdict} |"
            )
        lines += [
            "",
            "Server CPU and memory (same runs):",
            "",
            "| server | python CPU ms (loop) | bluepython CPU ms (loop) | CPU ratio | CPU µs per message "
            "| start-up + loop CPU ratio | python idle RSS MiB | idle RSS Δ | peak RSS Δ "
            "| python_mcp_event per run |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for c in stdio:
            lines.append(
                f"| {c.label} | {c.spread('python', 'server_cpu_loop_s')} "
                f"| {c.spread('bluepython', 'server_cpu_loop_s')} | {c.ratio('server_cpu_loop_s'):.3f}x "
                f"| {us_per_message(c, 'server_cpu_loop_s', messages):+.1f} "
                f"| {c.ratio('server_cpu_to_loop_end_s'):.3f}x "
                f"| {c.median('python', 'rss_idle_kib') / 1024:.1f} "
                f"| {mib_delta(c, 'rss_idle_kib')} | {mib_delta(c, 'hwm_kib')} | {events_cell(c, messages)} |"
            )
        warnings += hooks_warnings(stdio, messages, "stdio")
    if http:
        total_calls = args.http_clients * args.http_calls
        messages = 2 * total_calls
        procs = args.http_client_procs
        lines += [
            "",
            f"### Streamable HTTP: {args.http_clients} concurrent clients x {args.http_calls} calls, "
            f"{args.http_reps} run{'s' if args.http_reps > 1 else ''} per side"
            + ("" if args.quick else " after a warm-up"),
            "",
            f"One uvicorn server; {args.http_clients} client sessions (each its own `ClientSession` and HTTP",
            f"client) as asyncio tasks in {procs} plain-python process{'es' if procs > 1 else ''}; wall is",
            "from all sessions open to the last result. No budget: reported only. Limitation: with",
            f"{m['nproc']} CPUs the clients and the server share the cores, and the SDK client needs",
            "about as much CPU per call as the server (*client CPU use*: the client process's CPU",
            "time over the wall time, python side), so the wall time is bounded by the client too",
            "and understates the server's share; server CPU (during the load, the sessions'",
            "connect and close included) is the figure to read.",
            "",
            "| server | python wall s | bluepython wall s | wall ratio | python server CPU s "
            "| bluepython server CPU s | CPU ratio | CPU µs per message | idle RSS Δ | peak RSS Δ "
            "| client CPU use | python_mcp_event per run |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for c in http:
            busy = statistics.median(r["client_cpu_s"] / r["calls_s"] for r in c.runs["python"])
            lines.append(
                f"| {c.label} | {c.spread('python', 'calls_s', 1, 2)} "
                f"| {c.spread('bluepython', 'calls_s', 1, 2)} | {c.ratio('calls_s'):.3f}x "
                f"| {c.spread('python', 'server_cpu_load_s', 1, 2)} "
                f"| {c.spread('bluepython', 'server_cpu_load_s', 1, 2)} "
                f"| {c.ratio('server_cpu_load_s'):.3f}x "
                f"| {us_per_message(c, 'server_cpu_load_s', messages):+.1f} | {mib_delta(c, 'rss_idle_kib')} "
                f"| {mib_delta(c, 'hwm_kib')} | {busy:.0%} of a CPU | {events_cell(c, messages)} |"
            )
            http_summary.append(
                f"{c.key} wall {c.ratio('calls_s'):.3f}x, server CPU {c.ratio('server_cpu_load_s'):.3f}x"
            )
        warnings += hooks_warnings(http, messages, "http")
    internal = sorted({msg for c in [*stdio, *http] for msg in c.internal})
    if internal:
        lines += ["", "Faults bluepython reported (`python_internal_exception`) in these runs:", ""]
        lines += [f"- `{msg}`" for msg in internal]
    if info["rebuilt"]:
        warnings.append("WARNING: bluepython was rebuilt during this run: the figures mix two builds "
                        "(and the build's own load); run again")
    if warnings:
        lines += ["", "**Warnings:**", ""] + [f"- **{w}**" for w in warnings]
    lines += [END, ""]
    verdict = "ok" if not any(w.startswith("BUDGET MISS") for w in warnings) else "MISSED"
    parts = []
    if summary:
        parts.append(f"stdio call-loop ratio (budget ≤ {STDIO_BUDGET:.2f}x: {verdict}) " + ", ".join(summary))
    if http_summary:
        parts.append("HTTP " + ", ".join(http_summary))
    if any("python_mcp_event" in w for w in warnings):
        parts.append("WARNING: MCP hooks inactive or incomplete in some runs")
    one_line = "mcp bench: " + "; ".join(parts)
    return "\n".join(lines), one_line, warnings


def bench_policy() -> dict[str, Any]:
    """The tool-level policy of ``--policy`` (docs/policy.md), enforced: every
    tools/call is checked against the tool allow list and the argument rules,
    and what the tools do against per-tool rules."""
    return {
        "version": 1,
        "rules": [
            {"id": "bench-tools",
             "tools": {"allow": {"call": ["add", "blob"]}, "deny": {"call": ["delete_*"]}}},
            {
                "id": "add-range",
                "scope": {"tool": "add"},
                "tools": {"arguments": [{"pointer": "/a", "min": -1e12, "max": 1e12},
                                        {"pointer": "/b", "min": -1e12, "max": 1e12}]},
            },
            {"id": "blob-size", "scope": {"tool": "blob"},
             "tools": {"arguments": [{"pointer": "/n", "min": 0, "max": 1_000_000}]}},
            {"id": "tools-spawn-nothing", "scope": {"tool": "*"}, "process": {"allow": {"spawn": []}}},
            {"id": "tools-no-network", "scope": {"tool": "*"},
             "network": {"allow": {"connect": [], "bind": []}}},
            {"id": "tools-files", "scope": {"tool": "*"},
             "files": {"allow": {"write": [], "create": [], "delete": []}}},
        ],
    }


def otlp_sink() -> ThreadingHTTPServer:
    """A loopback OTLP/HTTP endpoint that reads each request whole and answers 200: what a
    healthy collector costs the exporter, without a collector's own CPU in the measurement."""

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.server.requests += 1  # type: ignore[attr-defined]
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    server.requests = 0  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench/run.sh --mcp", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run (< 1 min): 2 servers, 200 calls, 2 runs; small HTTP load")
    parser.add_argument("--reps", type=int, default=7, help="stdio: measured runs per side (default 7)")
    parser.add_argument("--calls", type=int, default=2000, help="stdio: calls per run (default 2000)")
    parser.add_argument("--block", type=int, default=25,
                        help="stdio: calls per block when alternating between the two servers (default 25)")
    parser.add_argument("--http-reps", type=int, default=5, help="HTTP: measured runs per side (default 5)")
    parser.add_argument("--http-clients", type=int, default=50, help="HTTP: concurrent sessions (default 50)")
    parser.add_argument("--http-calls", type=int, default=100, help="HTTP: calls per session (default 100)")
    parser.add_argument("--http-client-procs", type=int, default=1,
                        help="HTTP: client processes sharing the sessions (default 1)")
    parser.add_argument("--only", choices=["stdio", "http"], help="run one workload only")
    parser.add_argument("--stdio-servers", default=STDIO_SERVERS,
                        help=f"stdio: servers to measure, of {STDIO_SERVERS} (default all)")
    parser.add_argument("--http-servers", default=HTTP_SERVERS,
                        help=f"HTTP: servers to measure, of {STDIO_SERVERS} (default {HTTP_SERVERS})")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--policy", action="store_true",
                        help="bluepython enforces a tool-level policy (bench_policy() below; own section)")
    parser.add_argument("--otlp", choices=["off", "receiver", "down"], default="off",
                        help="OTLP export of the bluepython server: off (default); to a loopback receiver "
                        "the bench runs (accepts and discards); or to a collector that is down (connection "
                        "refused). Its own section of the output file")
    parser.add_argument("--hooks-path", help="development only: load the MCP hooks from this source tree "
                        "(BLUEPYTHON_HOOKS_PATH) instead of the ones built into bluepython")
    args = parser.parse_args()
    if args.quick:
        args.reps, args.calls, args.http_reps, args.http_clients, args.http_calls = 2, 200, 1, 10, 20
        args.stdio_servers, args.http_servers = "sdk1,fastmcp4", "fastmcp4"
    known = cases()
    picked = {}
    for option in ("stdio_servers", "http_servers"):
        keys = [k for k in getattr(args, option).split(",") if k]
        unknown = [k for k in keys if k not in known]
        if unknown:
            parser.error(f"--{option.replace('_', '-')}: unknown server {', '.join(unknown)}")
        fresh = cases()  # a server in both workloads gets two Case objects
        picked[option] = [fresh[k] for k in keys]
    stdio_cases, http_cases = picked["stdio_servers"], picked["http_servers"]
    counts = (args.reps, args.calls, args.block, args.http_reps, args.http_clients, args.http_calls)
    if min(*counts, args.http_client_procs) < 1:
        parser.error("counts must be at least 1")
    if args.only == "stdio":
        http_cases = []
    elif args.only == "http":
        stdio_cases = []
    for venv in VENVS.values():
        for side in SIDES:
            if not (venv / "bin" / side).exists():
                sys.exit(f"bench: {venv / 'bin' / side} is missing; run this through bench/run.sh --mcp")

    global BEGIN, END, STDIO_BUDGET  # one section per export mode, with its budget
    if args.policy and args.otlp != "off":
        parser.error("--policy and --otlp: one at a time")
    if args.policy:
        BEGIN, END = markers("mcp-bench-policy")
    receiver = None
    if args.otlp != "off":
        STDIO_BUDGET = OTLP_BUDGET
        BEGIN, END = markers(f"mcp-bench-otlp-{args.otlp}")
        if args.otlp == "receiver":
            receiver = otlp_sink()
            endpoint = f"http://127.0.0.1:{receiver.server_address[1]}"
        else:
            endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    info: dict[str, Any] = {
        "load_start": loadavg(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["bash bench/run.sh --mcp", *sys.argv[1:]]),
        "versions": {key: versions(key) for key in VENVS},
        "machine": machine(),
        "binary": binary_identity(),
        "commit": commit(),
    }
    with tempfile.TemporaryDirectory(prefix="bluepython-mcp-bench-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "home").mkdir()
        env = base_env(tmp / "home", args.hooks_path)
        if args.policy:
            # Only bluepython reads it.
            policy = tmp / "policy.json"
            policy.write_text(json.dumps(bench_policy()))
            env["BLUEPYTHON_POLICY"] = str(policy)
        if args.otlp != "off":
            # Only bluepython reads it: the python side runs no OpenTelemetry SDK.
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
        for c in stdio_cases:
            log(f"stdio {c.label}: {args.calls} calls, {args.reps} runs per side")
            measure_stdio(c, args.reps, args.calls, args.block, env, tmp)
        for c in http_cases:
            log(f"http {c.label}: {args.http_clients} clients x {args.http_calls} calls, "
                f"{args.http_reps} runs per side")
            measure_http(c, args.http_reps, args.http_clients, args.http_calls, args.http_client_procs,
                         env, tmp, warm_up=not args.quick)
    info["load_end"] = loadavg()
    if receiver is not None:
        info["otlp_requests"] = receiver.requests  # type: ignore[attr-defined]
        receiver.shutdown()
    info["otlp"] = args.otlp
    info["rebuilt"] = binary_identity() != info["binary"]
    info["took"] = time.monotonic() - started
    section, one_line, warnings = report(args, stdio_cases, http_cases, info)
    write_section(args.output, section, BEGIN, END)
    print(section, file=sys.stderr)
    for w in warnings:
        log(w)
    log(f"wrote {args.output} (took {info['took']:.0f} s)")
    print(one_line)


if __name__ == "__main__":
    main()
