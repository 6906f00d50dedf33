# SPDX-License-Identifier: Apache-2.0
"""However the program ends, the events it emitted are on disk exactly once,
the file ends well, and the program ends exactly as under python."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from conftest import (
    FIXTURES,
    FORK_WARNING,
    TIMEOUT,
    Sandbox,
    attrs,
    check_stream,
    name,
    named,
    wait_for,
    wait_gone,
)

N = 2000
APP = "app.py"


@pytest.fixture
def app(sandbox: Sandbox) -> Sandbox:
    shutil.copy(FIXTURES / "exit_paths_app.py", sandbox.cwd / APP)
    return sandbox


def _normalise(data: bytes, exe: str) -> bytes:
    return data.replace(exe.encode(), b"{EXE}")


def app_events(events: list[dict], kind: str | None = None) -> list[dict]:
    return [attrs(e) for e in named(events, "app_event") if kind is None or attrs(e)["kind"] == kind]


def assert_exactly_once(sb: Sandbox, kind: str, count: int, pid: int | None = None) -> None:
    got = Counter((a["tag"], a["i"], a["pid"]) for f in sb.files() for a in app_events(f.events, kind))
    assert all(v == 1 for v in got.values()), [k for k, v in got.items() if v > 1][:5]
    assert sorted(i for _, i, _ in got) == list(range(count))
    if pid is not None:
        assert {p for _, _, p in got} == {pid}


def run_both(sb: Sandbox, *args: str):
    py = sb.py(APP, *args)
    assert sb.files() == [], "the reference python wrote to the spool"
    bp = sb.bp(APP, *args)
    return py, bp


def assert_same_outcome(
    sb: Sandbox, py: subprocess.CompletedProcess, bp: subprocess.CompletedProcess
) -> None:
    assert bp.returncode == py.returncode, (bp.returncode, py.returncode, bp.stderr[-2000:])
    assert _normalise(bp.stdout, sb.bluepython) == _normalise(py.stdout, sb.ref_python)
    assert _normalise(bp.stderr, sb.bluepython) == _normalise(py.stderr, sb.ref_python)


@pytest.mark.parametrize(
    ("mode", "returncode", "reason"),
    [("normal", 0, "exit"), ("sys_exit", 3, "exit"), ("exception", 1, "exit"), ("os_exit", 7, "os._exit")],
)
def test_ending_without_signals(app: Sandbox, mode: str, returncode: int, reason: str) -> None:
    py, bp = run_both(app, mode, str(N), mode)
    assert_same_outcome(app, py, bp)
    assert bp.returncode == returncode
    (f,) = app.files()
    check_stream(f.events)
    assert attrs(f.events[-1])["reason"] == reason
    assert_exactly_once(app, "main", N, f.pid)


def _signalled(sb: Sandbox, exe: str, mode: str, signo: int) -> subprocess.CompletedProcess:
    proc = sb.popen([exe, APP, mode, str(N), mode])
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first == b"ready\n", (first, proc.stderr.read() if proc.stderr else b"")
        if mode != "sigterm_busy":
            wait_blocked(proc.pid, "pause" if mode == "sigterm_pause" else "read")
        proc.send_signal(signo)
        # stdin stays open until the process is gone: EOF must not end the wait.
        proc.wait(timeout=TIMEOUT)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, first + out, err)


# Syscall numbers of the waits the app blocks in, as /proc/PID/syscall shows them.
_SYSCALLS = {"x86_64": {"read": 0, "pause": 34}, "aarch64": {"read": 63, "pause": 73}}


def wait_blocked(pid: int, call: str) -> None:
    """Waits until the main thread of `pid` sleeps in `call`, so a signal lands there."""
    number = _SYSCALLS.get(os.uname().machine, {}).get(call)

    def blocked() -> bool:
        try:
            state = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            current = Path(f"/proc/{pid}/task/{pid}/syscall").read_text().split()[0]
        except (OSError, IndexError):
            return True  # gone or not inspectable: let the caller's assertions speak
        return state == "S" and (number is None or current == str(number))

    wait_for(blocked, f"process {pid} to block in {call}", every=0.002)


def _signal_both(sb: Sandbox, mode: str, signo: int):
    py = _signalled(sb, sb.ref_python, mode, signo)
    bp = _signalled(sb, sb.bluepython, mode, signo)
    return py, bp


def test_sigterm_without_handler(app: Sandbox) -> None:
    py, bp = _signal_both(app, "sigterm", signal.SIGTERM)
    assert py.returncode == -signal.SIGTERM
    assert_same_outcome(app, py, bp)
    (f,) = app.files()
    check_stream(f.events)
    last = attrs(f.events[-1])
    assert last["reason"] == "SIGTERM"
    assert last["signal"] == signal.SIGTERM
    assert_exactly_once(app, "main", N, f.pid)


def test_sigterm_stops_the_program_at_once(app: Sandbox) -> None:
    """After SIGTERM (default disposition) no more app code runs, as under python."""
    py, bp = _signal_both(app, "sigterm_pause", signal.SIGTERM)
    assert py.returncode == -signal.SIGTERM and py.stdout == b"ready\n"
    assert_same_outcome(app, py, bp)
    (f,) = app.files()
    assert app_events(f.events, "after_signal") == []
    assert attrs(f.events[-1])["reason"] == "SIGTERM"


def test_sigterm_busy_loop(app: Sandbox) -> None:
    py, bp = _signal_both(app, "sigterm_busy", signal.SIGTERM)
    assert py.returncode == bp.returncode == -signal.SIGTERM
    assert bp.stdout == py.stdout == b"ready\n"
    assert bp.stderr == py.stderr == b""
    (f,) = app.files()
    assert attrs(f.events[-1])["reason"] == "SIGTERM"
    assert_exactly_once(app, "main", N, f.pid)


def test_sigterm_during_exit_keeps_the_events(app: Sandbox) -> None:
    """A SIGTERM that arrives while bluepython is already shutting down must not
    throw away what the app emitted (multiprocessing's Pool.terminate does this)."""
    count = 100_000
    res = app.bp(APP, "sigterm_during_exit", str(count), "late")
    assert res.returncode in (7, -signal.SIGTERM), res.stderr
    procs = list(app.processes().values())
    assert len(procs) == 1
    events = procs[0]
    assert name(events[-1]) == "sensor_shutdown", "no sensor_shutdown"
    last = attrs(events[-1])
    assert len(app_events(events, "main")) + last["dropped"] == count
    assert last["written"] == len(events) - 1


def test_sigterm_while_the_shutdown_waits_for_the_last_export(app: Sandbox) -> None:
    """The writer thread stops before sensor_shutdown is written; the last OTLP
    export runs in between. A SIGTERM there used to kill the process without
    sensor_shutdown (seen with Pool.terminate on workers already exiting)."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # the kernel accepts; nothing ever reads or answers
    env = {**app.env, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{silent.getsockname()[1]}",
           "OTEL_EXPORTER_OTLP_TIMEOUT": "3000"}
    try:
        proc = app.popen([app.bluepython, APP, "slow_shutdown", str(N), "slow"], env=env)
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline() == b"exiting\n"
            # Inside the final export (otlp.shutdown_timeout_ms, 1 s by default).
            wait_for(lambda: _in_final_export(proc.pid), "the final export to start", every=0.002)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        silent.close()
    assert proc.returncode in (7, -signal.SIGTERM)
    (f,) = app.files()
    check_stream(f.events)
    assert attrs(f.events[-1])["reason"] == "os._exit"
    assert_exactly_once(app, "main", N, f.pid)


def _in_final_export(pid: int) -> bool:
    """The process's writer thread is gone and its main thread sleeps (in the export's wait)."""
    try:
        names = {Path(t, "comm").read_text().strip() for t in Path(f"/proc/{pid}/task").iterdir()}
        state = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # gone: let the caller's assertions speak
    return "bluepython-wr" not in names and state == "S"


@pytest.mark.parametrize(
    ("mode", "returncode", "stdout", "reason"),
    [
        ("sigterm_handler", 0, b"ready\nhandled 15\n", "exit"),
        # uvicorn's way out: handler, restore SIG_DFL, raise the signal again.
        ("sigterm_reraise", -signal.SIGTERM, b"ready\nhandled 15 previous 0\n", "SIGTERM"),
    ],
    ids=["handled", "handled_then_reraised_with_the_default"],
)
def test_sigterm_with_app_handler(
    app: Sandbox, mode: str, returncode: int, stdout: bytes, reason: str
) -> None:
    py, bp = _signal_both(app, mode, signal.SIGTERM)
    assert py.returncode == returncode
    assert py.stdout == stdout
    assert_same_outcome(app, py, bp)
    (f,) = app.files()
    check_stream(f.events)
    assert attrs(f.events[-1])["reason"] == reason
    assert_exactly_once(app, "main", N, f.pid)
    assert_exactly_once(app, "handler", 3, f.pid)


def test_sighup_without_handler(app: Sandbox) -> None:
    py, bp = _signal_both(app, "sigterm", signal.SIGHUP)
    assert py.returncode == -signal.SIGHUP
    assert_same_outcome(app, py, bp)
    (f,) = app.files()
    check_stream(f.events)
    assert attrs(f.events[-1])["reason"] == "SIGHUP"
    assert_exactly_once(app, "main", N, f.pid)


def test_sigint_keyboard_interrupt(app: Sandbox) -> None:
    py, bp = _signal_both(app, "sigint", signal.SIGINT)
    assert py.returncode == -signal.SIGINT
    assert b"KeyboardInterrupt" in py.stderr
    assert_same_outcome(app, py, bp)
    (f,) = app.files()
    check_stream(f.events)
    assert_exactly_once(app, "main", N, f.pid)


@pytest.mark.parametrize(("mode", "child_reason"), [("fork", "os._exit"), ("fork_sys_exit", "exit")])
def test_fork_parent_and_child_have_their_own_files(app: Sandbox, mode: str, child_reason: str) -> None:
    py, bp = run_both(app, mode, str(N), mode)
    assert py.returncode == bp.returncode == 0, bp.stderr
    assert bp.stderr == b""
    out = json.loads(bp.stdout)
    assert out["status"] == 0
    files = app.files()
    assert {f.pid for f in files} == {out["parent"], out["child"]}
    procs = app.processes()
    assert len(procs) == 2
    by_pid = {evs[0]["event"]["context"]["process"]["pid"]: evs for evs in procs.values()}
    parent, child = by_pid[out["parent"]], by_pid[out["child"]]
    check_stream(parent)
    check_stream(child)
    assert attrs(parent[-1])["reason"] == "exit"
    assert attrs(child[-1])["reason"] == child_reason

    link = attrs(child[0])["parent"]
    assert link["via"] == "fork"
    assert link["pid"] == out["parent"]
    assert link["uuid"] == parent[0]["event"]["meta"]["uuid"]
    assert child[0]["event"]["meta"]["uuid"] != parent[0]["event"]["meta"]["uuid"]

    # Nothing is duplicated across the files.
    assert_exactly_once(app, "main", N, out["parent"])
    assert_exactly_once(app, "parent_after", N, out["parent"])
    assert_exactly_once(app, "child", N, out["child"])
    assert app_events(child, "main") == []
    assert not [e for e in child if name(e) == "python_run"]


@pytest.mark.parametrize("target", ["python", "bluepython"])
def test_execv_after_emitting(app: Sandbox, target: str) -> None:
    exe = app.ref_python if target == "python" else app.bluepython
    res = app.bp(APP, "execv", str(N), "execv", exe)
    assert res.returncode == 0, res.stderr
    assert res.stderr == b""
    words = res.stdout.decode().split()
    assert words[:2] == ["after", "exec"]
    pid = int(words[2])
    assert_exactly_once(app, "main", N, pid)
    procs = list(app.processes().values())
    before = [evs for evs in procs if app_events(evs, "main")]
    assert len(before) == 1
    check_stream(before[0], shutdown=False)
    if target == "python":
        assert len(procs) == 1
    else:
        assert len(procs) == 2
        (after,) = [evs for evs in procs if evs is not before[0]]
        check_stream(after)
        link = attrs(after[0])["parent"]
        assert link["pid"] == pid
        assert link["uuid"] == before[0][0]["event"]["meta"]["uuid"]
        assert link["via"] == "exec"


def test_fork_while_threads_emit_does_not_deadlock(app: Sandbox, ref_minor: tuple[int, int]) -> None:
    # 100 forks while two threads keep the writer busy. The subprocess timeout
    # is the hang detector.
    res = app.bp(APP, "fork_while_emitting", "10", "fork_while_emitting", "100", timeout=TIMEOUT)
    assert res.returncode == 0, res.stderr
    # The app's two threads: 3.12+ warns at its first fork from __main__, as python does.
    warnings = FORK_WARNING.findall(res.stderr)
    assert len(warnings) == (1 if ref_minor >= (3, 12) else 0), res.stderr
    assert FORK_WARNING.sub(b"", res.stderr) == b""
    out = json.loads(res.stdout)
    assert len(out["children"]) == 100
    assert all(status == 0 for _, status in out["children"])
    child_pids = {pid for pid, _ in out["children"]}
    files = app.files()
    assert {f.pid for f in files} == child_pids | {out["parent"]}
    for evs in app.processes().values():
        check_stream(evs)
        pid = evs[0]["event"]["context"]["process"]["pid"]
        if pid in child_pids:
            assert attrs(evs[0])["parent"]["via"] == "fork"
            assert attrs(evs[0])["parent"]["pid"] == out["parent"]
            assert [a["kind"] for a in app_events(evs)] == ["child"]
            assert attrs(evs[-1])["reason"] == "os._exit"
    # No event is duplicated into a child's file.
    seen = Counter((a["kind"], a["i"], a["pid"]) for f in files for a in app_events(f.events))
    assert max(seen.values()) == 1
    threads = [i for (kind, i, _) in seen if kind.startswith("thread")]
    assert threads, "the emitting threads wrote nothing"


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
@pytest.mark.parametrize("ending", ["close", "terminate"])
def test_multiprocessing_pool_workers_have_well_formed_files(
    sandbox: Sandbox, method: str, ending: str
) -> None:
    shutil.copy(FIXTURES / "mp_pool_app.py", sandbox.cwd / "mp_app.py")
    res = sandbox.bp("mp_app.py", method, ending)
    assert res.returncode == 0, res.stderr
    assert res.stderr == b""
    out = json.loads(res.stdout)
    # Helper processes (forkserver, resource tracker) end on their own after main.
    wait_gone([f.pid for f in sandbox.files()])
    files = sandbox.files()
    procs = sandbox.processes()
    by_pid: dict[int, list[dict]] = {}
    for evs in procs.values():
        check_stream(evs)
        by_pid.setdefault(evs[0]["event"]["context"]["process"]["pid"], []).extend(evs)
    assert set(out["workers"]) <= set(by_pid)
    assert out["main"] in by_pid
    worker_events = [attrs(e) for f in files for e in named(f.events, "worker")]
    assert sorted(w["i"] for w in worker_events) == list(range(20))
    for w in worker_events:
        assert w["pid"] in out["workers"]
    for pid in out["workers"]:
        start = attrs(by_pid[pid][0])
        assert start["parent"] is not None
        if method == "fork":
            assert start["parent"] == {**start["parent"], "via": "fork", "pid": out["main"]}
        elif method == "spawn":
            assert start["parent"] == {**start["parent"], "via": "exec", "pid": out["main"]}
        else:
            assert start["parent"]["via"] == "fork"
            server = by_pid[start["parent"]["pid"]]
            assert attrs(server[0])["parent"]["pid"] == out["main"]
        if ending == "terminate":
            # killed: a worker the SIGTERM reached before bluepython's handler was
            # installed (it dies as under python); a sweep recovered its events.
            assert attrs(by_pid[pid][-1])["reason"] in ("SIGTERM", "exit", "os._exit", "killed")
