# SPDX-License-Identifier: Apache-2.0
"""SIGKILL loses nothing that was emitted (docs/reliability.md, issue 19).

Once `_bluepython.emit()` has returned, the event is in the process's journal
(a MAP_SHARED file under `<spool>.state/`, in the kernel's page cache) and
survives a SIGKILL. The published spool files are written with write(2) only:
they never hold a NUL byte, and the only harm a kill can do them is a cut last
line and a missing tail. The repair (the sweep `bluepython report` runs before
reading) appends the missing tail from the dead process's journal to its
newest spool file, continuing its source_event_id sequence, ends the stream
with `sensor_shutdown` reason `killed`, and deletes the journal.

The apps acknowledge each event on a pipe (or, for the MCP server, the client
receives the response) only after emit() returned: every acknowledged event
must be in the repaired spool."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import random
import select
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    FIXTURES,
    SPOOL_NAME,
    TIMEOUT,
    McpVenv,
    Sandbox,
    attrs,
    check_envelope,
    name,
    named,
    wait_gone,
)

ACK_APP = FIXTURES / "reliability" / "ack_app.py"
KILL_RUNS = int(os.environ.get("BLUEPYTHON_KILL_RUNS", "1000"))
PARALLEL = 2  # the CI machine has 2 CPUs


def repair(sb: Sandbox, spool: Path | None = None) -> None:
    """Sweeps the journals of dead processes into their spool files: `bluepython
    report` does it before it reads the spool."""
    spool = sb.spool if spool is None else spool
    done = subprocess.run(
        [sb.bluepython, "report", "--spool-dir", str(spool)],
        env=sb.env, cwd=sb.cwd, capture_output=True, timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]


def journals(spool: Path) -> list[Path]:
    return sorted(spool.with_name(spool.name + ".state").glob("*.journal"))


# ---------------------------------------------------------------------------
# Killing the acknowledging app

PR_SET_CHILD_SUBREAPER = 36


@contextlib.contextmanager
def _subreaper() -> Iterator[None]:
    """Makes this process the reaper of the app's orphaned children, so the test
    reaps every killed process itself: some machines' PID 1 (a container's
    init that is no init) never reaps, and a zombie's pid would stay taken."""
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, os.strerror(ctypes.get_errno())
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def _reap_group(pgid: int) -> None:
    """Reaps the dead processes of group `pgid` (the app's forked children,
    ours once the app died); their pipe ends are closed, so they are exiting."""
    while True:
        try:
            os.waitpid(-pgid, 0)
        except ChildProcessError:
            return


def _kill_run(sb: Sandbox, run: int, after_acks: int, sleep_s: float, flush_ms: int) -> dict[str, Any]:
    """Starts ack_app.py in a fresh spool, SIGKILLs its process group once
    `after_acks` events were acknowledged and `sleep_s` more seconds passed,
    collects every acknowledgement, repairs the spool and checks it. Returns
    figures for the summary."""
    where = sb.root / "runs" / str(run)
    spool = where / "spool"
    where.mkdir(parents=True)
    # Tiny spool files: the writer rotates after each batch (every flush), so
    # kills land during rotation too; the more often it flushes, the more files.
    config = where / "config.json"
    config.write_text(json.dumps({"spool": {"max_file_bytes": 4096, "flush_interval_ms": flush_ms}}))
    env = dict(sb.env, BLUEPYTHON_SPOOL_DIR=str(spool), BLUEPYTHON_CONFIG=str(config))
    env.pop("BLUEPYTHON_FLUSH_INTERVAL_MS", None)
    stderr_path = where / "stderr"
    r, w = os.pipe()
    try:
        with stderr_path.open("wb") as err:
            proc = subprocess.Popen(
                [sb.bluepython, str(ACK_APP), str(w)], env=env, cwd=sb.cwd, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=err, pass_fds=(w,), start_new_session=True,
            )
    finally:
        os.close(w)
    data = bytearray()
    lines = 0
    killed = False
    try:
        while True:
            # A hang detector: the app acknowledges all the time, and once its
            # group is dead every write end is closed (EOF).
            readable, _, _ = select.select([r], [], [], TIMEOUT)
            assert readable, f"run {run}: no acknowledgement and no EOF for {TIMEOUT}s"
            chunk = os.read(r, 1 << 16)
            if not chunk:
                break
            data += chunk
            if not killed:
                lines += chunk.count(b"\n")
                if lines >= after_acks:
                    time.sleep(sleep_s)
                    os.killpg(proc.pid, signal.SIGKILL)
                    killed = True
    finally:
        os.close(r)
        if not killed:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=TIMEOUT)
        _reap_group(proc.pid)
    assert killed, (
        f"run {run}: the app ended (status {proc.returncode}) after {lines} acknowledgements:\n"
        + stderr_path.read_text(errors="replace")[-3000:]
    )
    assert proc.returncode == -signal.SIGKILL, (run, proc.returncode)
    assert data.endswith(b"\n"), f"run {run}: a torn acknowledgement line: {bytes(data[-100:])!r}"
    acks = [tuple(int(x) for x in line.split()) for line in bytes(data).split(b"\n")[:-1]]
    repair(sb, spool)
    figures = _check_spool(run, spool, proc.pid, acks)
    shutil.rmtree(where)  # a passing run's files are not needed: 1000 runs stay small
    return figures


def _check_spool(run: int, spool: Path, main_pid: int, acks: list[tuple[int, ...]]) -> dict[str, Any]:
    """Every line whole strict-enough JSON (json.loads: fast), no NUL byte; every
    acknowledged event present once; per process ids 1..n over its files and one
    sensor_shutdown, last (`killed` for the main process); no journal left."""
    where = f"run {run} ({spool})"
    files = []
    for path in spool.iterdir() if spool.is_dir() else []:
        if path.suffix == ".ndjson":
            m = SPOOL_NAME.match(path.name)
            assert m, f"{where}: unexpected file {path.name}"
            files.append(((int(m.group(1)), int(m.group(2)), int(m.group(3))), path))
    files.sort()
    ids: dict[str, list[int]] = {}
    pids: dict[str, int] = {}
    shutdowns: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    written: set[tuple[int, int, int]] = set()
    for _, path in files:
        data = path.read_bytes()
        nul = data.find(b"\0")
        assert nul < 0, f"{where}: NUL byte in {path.name} at {nul}"
        assert data.endswith(b"\n"), f"{where}: {path.name} does not end with a newline: {data[-300:]!r}"
        for number, line in enumerate(data.split(b"\n")[:-1], start=1):
            try:
                ev = json.loads(line)
            except ValueError as exc:
                raise AssertionError(f"{where}: {path.name}:{number}: {exc}: {line[:300]!r}") from exc
            event = ev["event"]
            meta = event["meta"]
            uuid = meta["uuid"]
            ids.setdefault(uuid, []).append(meta["source_event_id"])
            pids[uuid] = event["context"]["process"]["pid"]
            if meta["name"] == "ack_event":
                key = (event["pid"], event["t"], event["i"])
                assert key not in written, f"{where}: ack_event {key} written twice"
                written.add(key)
            elif meta["name"] == "sensor_shutdown":
                shutdowns.setdefault(uuid, []).append((meta["source_event_id"], event))
    missing = [a for a in acks if a not in written]
    assert not missing, (
        f"{where}: {len(missing)} of {len(acks)} acknowledged events missing from the spool; "
        f"the first: pid {missing[0][0]} thread {missing[0][1]} i {missing[0][2]}"
        f" (main process {main_pid})"
    )
    for uuid, seen in ids.items():
        assert seen == list(range(1, len(seen) + 1)), (
            f"{where}: process {pids[uuid]} ({uuid}): source_event_id not 1..n without gaps or repeats: "
            f"{_first_break(seen)}"
        )
        ends = shutdowns.get(uuid, [])
        assert len(ends) == 1 and ends[0][0] == len(seen), (
            f"{where}: process {pids[uuid]} ({uuid}): not one sensor_shutdown, last: {ends}"
        )
    (main,) = [uuid for uuid, pid in pids.items() if pid == main_pid]
    end = shutdowns[main][0][1]
    assert end["reason"] == "killed" and isinstance(end["recovered"], int), f"{where}: {end}"
    assert journals(spool) == [], f"{where}: journals of dead processes left: {journals(spool)}"
    return {
        "acks": len(acks),
        "files": len(files),
        "processes": len(ids),
        "children_killed": sum(
            1 for u, e in shutdowns.items() if u != main and e[0][1]["reason"] == "killed"
        ),
        "recovered": sum(e[0][1].get("recovered", 0) for e in shutdowns.values()),
    }


def _first_break(seen: list[int]) -> str:
    for index, value in enumerate(seen):
        if value != index + 1:
            return f"position {index}: {seen[max(0, index - 3):index + 4]}"
    return "?"


def test_sigkill_right_after_the_first_ack_loses_nothing(sandbox: Sandbox) -> None:
    with _subreaper():
        figures = _kill_run(sandbox, 0, after_acks=1, sleep_s=0.0, flush_ms=50)
    assert figures["acks"] >= 1


def test_sigkill_at_random_instants_loses_no_acknowledged_event(sandbox: Sandbox) -> None:
    seed = int(os.environ.get("BLUEPYTHON_KILL_SEED", random.SystemRandom().randrange(1 << 32)))
    print(f"BLUEPYTHON_KILL_SEED={seed} BLUEPYTHON_KILL_RUNS={KILL_RUNS}")
    lock = threading.Lock()
    next_run = iter(range(KILL_RUNS))
    failures: list[tuple[int, BaseException]] = []
    totals: dict[str, int] = {}

    def worker() -> None:
        while True:
            with lock:
                if failures:
                    return
                run = next(next_run, None)
            if run is None:
                return
            rng = random.Random(seed * 1_000_003 + run)  # noqa: S311 (kill instants, not a secret)
            # The app acknowledges ~70,000 events a second: 500 take a few ms,
            # all before the writer's first flush; so half the runs wait for up
            # to 10,000 (~150 ms: several flushes and rotations) instead.
            after_acks = rng.randint(1, 500 if run % 2 == 0 else 10000)
            try:
                figures = _kill_run(sandbox, run, after_acks, rng.uniform(0, 0.02), rng.choice([1, 10, 50]))
            except BaseException as exc:  # reported below, with its run number
                with lock:
                    failures.append((run, exc))
                return
            with lock:
                for key, value in figures.items():
                    totals[key] = totals.get(key, 0) + value

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(PARALLEL)]
    with _subreaper():
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    elapsed = time.monotonic() - started
    left = sum(1 for _ in next_run)  # not started after a failure
    print(f"{KILL_RUNS - left - len(failures)} SIGKILL runs passed in {elapsed:.1f} s "
          f"({PARALLEL} at a time): {totals}")
    if failures:
        run, exc = min(failures, key=lambda f: f[0])
        raise AssertionError(f"run {run} (BLUEPYTHON_KILL_SEED={seed}): {exc}") from exc


# ---------------------------------------------------------------------------
# Killing a stdio MCP server in the middle of a burst of calls

SERVER = """
import os, sys
from pathlib import Path

flavor, files = sys.argv[1], Path(sys.argv[2])
if flavor == "sdk1":
    from mcp.server.fastmcp import FastMCP
    server = FastMCP("sigkill", log_level="WARNING")
else:
    from mcp.server.mcpserver import MCPServer
    server = MCPServer("sigkill", log_level="WARNING")


@server.tool()
def touch(n: int) -> int:
    (files / str(n)).write_text(str(n))
    return n


(files.parent / "server.pid").write_text(str(os.getpid()))
server.run("stdio")
"""

CLIENT = """
import asyncio, json, os, sys
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

command, args, total, window = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])


async def one(session, n, slots):
    try:
        async with slots:
            result = await session.call_tool("touch", {"n": n})
    except Exception as exc:  # the server was killed: the call gets no answer
        return repr(exc)
    if result.content and getattr(result.content[0], "text", None) == str(n):
        print(n, flush=True)  # the test reads these: responses received
        return None
    return f"unexpected result {result!r}"


async def main():
    params = StdioServerParameters(command=command, args=args, env=dict(os.environ))
    errors = []
    try:
        async with stdio_client(params) as (r, w, *_), ClientSession(r, w) as session:
            await session.initialize()
            # All calls at once, `window` of them in flight: when one is answered
            # the next goes out, so the server always has calls to work on.
            slots = asyncio.Semaphore(window)
            errors += await asyncio.gather(*(one(session, n, slots) for n in range(total)))
    except BaseException as exc:  # the transport's end once the server is gone
        errors.append(repr(exc))
    print(json.dumps(sorted({e for e in errors if e})[:5]), file=sys.stderr)


asyncio.run(main())
"""

CALLS, IN_FLIGHT = 200, 50


# The default flush interval (the kill finds part of the calls' events on disk,
# part only in the journal), and a writer that does not flush for a minute
# (every event after start-up is only in the journal).
@pytest.mark.parametrize("flush_ms", [50, 60000], ids=["flush-50ms", "flush-1min"])
def test_sigkill_of_a_stdio_mcp_server_mid_burst_keeps_every_received_call(
    sandbox: Sandbox, mcp_venv: McpVenv, flush_ms: int
) -> None:
    flavor = "sdk1" if mcp_venv.line == "mcp1" else "sdk2"
    server = sandbox.write("sigkill_server.py", SERVER)
    client = sandbox.write("sigkill_client.py", CLIENT)
    files = sandbox.root / "touched"
    files.mkdir()
    pid_file = sandbox.root / "server.pid"
    kill_after = random.Random().randint(20, 100)  # noqa: S311 (a kill instant, not a secret)
    env = mcp_venv.env(sandbox.root, BLUEPYTHON_FLUSH_INTERVAL_MS=str(flush_ms))
    argv = [mcp_venv.python, str(client), mcp_venv.bluepython,
            json.dumps([str(server), flavor, str(files)]), str(CALLS), str(IN_FLIGHT)]
    received: list[int] = []
    server_pid = 0
    proc = subprocess.Popen(argv, env=env, cwd=sandbox.cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watchdog = threading.Timer(4 * TIMEOUT, proc.kill)  # a hang detector
    watchdog.start()
    try:
        assert proc.stdout is not None and proc.stderr is not None
        for line in proc.stdout:
            received.append(int(line))
            if len(received) == kill_after:
                server_pid = int(pid_file.read_text())
                os.kill(server_pid, signal.SIGKILL)
        err = proc.stderr.read()
        proc.wait(timeout=TIMEOUT)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert server_pid, f"only {len(received)} responses: {err.decode(errors='replace')[-3000:]}"
    wait_gone([server_pid])
    assert len(received) < CALLS, "every call was answered: the kill came too late to prove anything"
    print(f"{mcp_venv.line}, flush {flush_ms} ms: killed the server after {kill_after} responses; the "
          f"client received {len(received)} of {CALLS}; client errors: "
          f"{err.decode(errors='replace').strip()[-500:]}")

    repair(sandbox)
    procs = [evs for evs in sandbox.processes().values()  # every line strict JSON
             if evs[0]["event"]["context"]["process"]["pid"] == server_pid]
    assert len(procs) <= 1, f"{len(procs)} processes with the server's pid {server_pid}"
    events = procs[0] if procs else []
    for ev in events:
        check_envelope(ev)

    requests: dict[int, tuple[str, Any]] = {}
    for ev in named(events, "python_mcp_event"):
        a = attrs(ev)
        if a["event"] == "server_received_request" and a["method"] == "tools/call":
            n = a["message"]["params"]["arguments"]["n"]
            assert n not in requests, f"request for {n} reported twice"
            requests[n] = (a["session_id"], a["id"])
    effects: dict[int, list[dict[str, Any]]] = {}
    for ev in named(events, "python_file_open"):
        path = Path(attrs(ev)["path"])
        if path.parent == files:
            effects.setdefault(int(path.name), []).append(ev["event"]["context"].get("mcp"))
    lost_requests = [n for n in received if n not in requests]
    assert not lost_requests, (
        f"{len(lost_requests)} of {len(received)} answered calls have no tools/call request event: "
        f"{lost_requests[:10]}"
    )
    lost_effects = [n for n in received if n not in effects]
    assert not lost_effects, (
        f"{len(lost_effects)} of {len(received)} answered calls have no file event: {lost_effects[:10]}"
    )
    for n in received:
        session_id, request_id = requests[n]
        for mcp in effects[n]:
            assert mcp is not None, f"the file event of call {n} is outside any call"
            assert (mcp["session_id"], mcp["request_id"], mcp["method"], mcp["target"]) == (
                session_id, request_id, "tools/call", "touch"
            ), f"the file event of call {n} names another call: {mcp}"
    ids = [ev["event"]["meta"]["source_event_id"] for ev in events]
    assert ids == list(range(1, len(events) + 1)), "a gap or a repeat in source_event_id"
    assert name(events[0]) == "sensor_startup"
    assert [name(ev) for ev in events].count("sensor_shutdown") == 1, "not one sensor_shutdown"
    assert name(events[-1]) == "sensor_shutdown" and attrs(events[-1])["reason"] == "killed", events[-1]
    assert journals(sandbox.spool) == []
