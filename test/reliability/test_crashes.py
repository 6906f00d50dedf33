# SPDX-License-Identifier: Apache-2.0
"""Endings that give bluepython little or no chance to clean up.

A segfault or abort in C code (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT): the
crash handler lets the writer drain and write sensor_shutdown (reason: the
signal) before the default action runs, so nothing is lost and the exit status,
output and core dump are python's. SIGKILL cannot be caught, but an event is in
the process's journal (a MAP_SHARED file under `<spool>.state/`) once emit()
returned: on disk the killed process leaves whole lines (a cut last line at
worst) without a NUL byte, a gapless prefix of what it emitted; the repair
(`bluepython report` sweeps dead processes' journals) appends the rest and a
sensor_shutdown with reason `killed`, so nothing is lost (docs/reliability.md)."""

from __future__ import annotations

import calendar
import os
import re
import signal
import time

import pytest
from conftest import (
    FIXTURES,
    TIMEOUT,
    Sandbox,
    attrs,
    check_envelope,
    check_stream,
    name,
    named,
    parse_line,
)

APP = FIXTURES / "reliability" / "crash_app.py"
FLUSH_MS = 50


@pytest.fixture
def crash(sandbox: Sandbox) -> Sandbox:
    sandbox.env["BLUEPYTHON_FLUSH_INTERVAL_MS"] = str(FLUSH_MS)
    return sandbox


def repair(sb: Sandbox) -> None:
    """Sweeps the journals of dead processes into their spool files: `bluepython
    report` does it before it reads the spool."""
    done = sb.bp("report", "--spool-dir", str(sb.spool))
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]


def _whole_lines_on_disk(sb: Sandbox) -> list[dict]:
    """Before repair: the one spool file as the writer left it at the kill. No NUL
    byte anywhere, every newline-terminated line strict JSON (only the last line
    may be cut: the kill can land in a write), and those lines a gapless prefix:
    sensor_startup first, ids 1..k, no sensor_shutdown."""
    (path,) = sb.spool.glob("*.ndjson")
    data = path.read_bytes()
    nul = data.find(b"\0")
    assert nul < 0, f"NUL byte at {nul} of {path.name}"
    lines = data.split(b"\n")[:-1]
    events = [parse_line(line) for line in lines]
    assert events and name(events[0]) == "sensor_startup"
    for ev in events:
        check_envelope(ev)
    ids = [ev["event"]["meta"]["source_event_id"] for ev in events]
    assert ids == list(range(1, len(events) + 1)), "a gap or a duplicate in source_event_id"
    assert "sensor_shutdown" not in [name(ev) for ev in events]
    return events


def _repaired_stream(sb: Sandbox, before: list[dict]) -> list[dict]:
    """After repair: the one process's events are what was on disk (whole lines,
    unchanged) and then what its journal held, ids 1..n without a gap or a
    repeat."""
    repair(sb)
    (events,) = sb.processes().values()  # every line strict JSON
    for ev in events:
        check_envelope(ev)
    assert events[: len(before)] == before, "the repair changed whole lines that were on disk"
    ids = [ev["event"]["meta"]["source_event_id"] for ev in events]
    assert ids == list(range(1, len(events) + 1)), "a gap or a duplicate in source_event_id"
    return events


def _instant(ts: str) -> float:
    """An event's RFC 3339 UTC time as seconds since the epoch."""
    whole, _, fraction = ts.removesuffix("Z").partition(".")
    return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + float(f"0.{fraction or 0}")


def _check_killed_end(sb: Sandbox, events: list[dict], before: list[dict], dead_at: float) -> None:
    """The repaired stream ends with sensor_shutdown reason `killed`, counting the
    events recovered from the journal, dated at the last sign of life (not at the
    repair: `dead_at` is a time after the kill, before the repair); no journal is left."""
    assert [name(ev) for ev in events].count("sensor_shutdown") == 1, "not one sensor_shutdown"
    assert name(events[-1]) == "sensor_shutdown", f"last event is {name(events[-1])}"
    end = attrs(events[-1])
    assert end["reason"] == "killed", end
    assert end["recovered"] == len(events) - 1 - len(before), (end, len(events), len(before))
    last, ended = _instant(events[-2]["ts"]), _instant(events[-1]["ts"])
    assert last <= ended <= dead_at, (events[-2]["ts"], events[-1]["ts"], dead_at)
    assert list(sb.spool.with_name(sb.spool.name + ".state").glob("*.journal")) == [], "a journal left"


def _app_indexes(events: list[dict]) -> list[int]:
    return [attrs(ev)["i"] for ev in named(events, "app_event")]


_THREAD = re.compile(rb"0x[0-9a-f]+")


def _normalised_stderr(data: bytes) -> bytes:
    # faulthandler prints the crashing thread's address; bluepython's own
    # built-in module is listed among "Extension modules" (documented).
    data = _THREAD.sub(b"0x?", data)
    data = data.replace(b"\n\nExtension modules: _bluepython (total: 1)\n", b"\n")
    return data


@pytest.mark.parametrize(
    ("mode", "signo"), [("settle_then_segfault", signal.SIGSEGV), ("settle_then_abort", signal.SIGABRT)]
)
@pytest.mark.parametrize("faulthandler", [False, True], ids=["plain", "faulthandler"])
def test_crash_in_c_ends_the_stream_with_the_signal(
    crash: Sandbox, mode: str, signo: int, faulthandler: bool
) -> None:
    n = 5000
    args = (["-X", "faulthandler"] if faulthandler else []) + [str(APP), mode, str(n)]
    py = crash.py(*args)
    bp = crash.bp(*args)
    assert py.returncode == bp.returncode == -signo, (py.returncode, bp.returncode, bp.stderr[-2000:])
    assert bp.stdout == py.stdout == b"crashing\n"
    assert _normalised_stderr(bp.stderr) == _normalised_stderr(py.stderr)
    if faulthandler:
        assert b"Fatal Python error" in bp.stderr
    (f,) = crash.files()
    check_stream(f.events)
    shutdown = attrs(f.events[-1])
    assert (shutdown["reason"], shutdown["signal"]) == (signal.Signals(signo).name, signo)
    assert _app_indexes(f.events) == list(range(n))


@pytest.mark.parametrize("enable_at", ["startup", "runtime"])
def test_segfault_right_after_emitting_loses_nothing(crash: Sandbox, enable_at: str) -> None:
    # No flush interval has passed: everything is still in the queue when the
    # crash comes. With faulthandler enabled by the app after start-up, its
    # handler runs first and hands the signal on to bluepython's.
    n = 20000
    if enable_at == "startup":
        bp = crash.bp(str(APP), "segfault_now", str(n))
    else:
        code = "import faulthandler, runpy, sys; faulthandler.enable(); "
        code += f"sys.argv = ['app', 'segfault_now', '{n}']; "
        code += f"runpy.run_path({str(APP)!r}, run_name='__main__')"
        bp = crash.bp("-c", code)
        assert b"Fatal Python error: Segmentation fault" in bp.stderr
    assert bp.returncode == -signal.SIGSEGV
    (f,) = crash.files()
    check_stream(f.events)
    assert attrs(f.events[-1])["reason"] == "SIGSEGV"
    assert _app_indexes(f.events) == list(range(n))


def test_crash_in_a_thread_while_others_emit(crash: Sandbox) -> None:
    code = """
import ctypes, os, threading, time, _bluepython
stop = threading.Event()
started = [threading.Event() for _ in range(3)]
def hammer(t):
    i = 0
    while not stop.is_set():
        _bluepython.emit("app_event", {"i": i, "t": t})
        i += 1
        if i % 100 == 0:
            started[t].set()
            time.sleep(0.001)
threads = [threading.Thread(target=hammer, args=(t,)) for t in range(3)]
for t in threads: t.start()
assert all(e.wait(60) for e in started)  # every thread is emitting
def crash():
    ctypes.string_at(0)
threading.Thread(target=crash).start()
time.sleep(30)
"""
    bp = crash.bp("-c", code)
    assert bp.returncode == -signal.SIGSEGV
    (events,) = crash.processes().values()
    check_stream(events)
    assert attrs(events[-1])["reason"] == "SIGSEGV"
    per_thread: dict[int, list[int]] = {}
    for ev in named(events, "app_event"):
        per_thread.setdefault(attrs(ev)["t"], []).append(attrs(ev)["i"])
    assert sorted(per_thread) == [0, 1, 2]
    for seen in per_thread.values():
        assert seen == list(range(len(seen)))


def _kill_when_ready(sb: Sandbox, argv: list[str]) -> float:
    """Starts `argv`, SIGKILLs it as soon as it printed "ready". Returns the
    time (time.time()) once it is dead."""
    proc = sb.popen(argv)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return time.time()


def test_sigkill_after_a_flush_interval_loses_nothing(crash: Sandbox) -> None:
    # Everything was on disk before the kill (the app waited for the writer):
    # the repair only ends the stream.
    n = 5000
    dead_at = _kill_when_ready(crash, [crash.bluepython, str(APP), "settle_then_wait", str(n)])
    before = _whole_lines_on_disk(crash)
    assert _app_indexes(before) == list(range(n))
    events = _repaired_stream(crash, before)
    assert _app_indexes(events) == list(range(n))
    _check_killed_end(crash, events, before, dead_at)
    repaired = {p.name: p.read_bytes() for p in crash.spool.glob("*.ndjson")}
    repair(crash)
    assert {p.name: p.read_bytes() for p in crash.spool.glob("*.ndjson")} == repaired, "repaired twice"


def test_sigkill_mid_stream_loses_nothing_after_repair(crash: Sandbox) -> None:
    # The app emits an event every ~0.1 ms and prints "ready" after the first
    # 2000 (several flushes have happened by then); the kill follows at once,
    # with the last flush interval's events still only in the journal.
    n = 2000
    dead_at = _kill_when_ready(crash, [crash.bluepython, str(APP), "stream", str(n)])
    before = _whole_lines_on_disk(crash)
    events = _repaired_stream(crash, before)
    got = _app_indexes(events)
    print(f"SIGKILL mid-stream: {len(_app_indexes(before))} app events on disk, {len(got)} after repair")
    assert len(got) >= n, f"only {len(got)} of the {n} events emitted before 'ready' after repair"
    assert got == list(range(len(got))), "the app's events are not a gapless prefix after repair"
    _check_killed_end(crash, events, before, dead_at)


def test_sigkill_of_a_child_does_not_touch_the_parent(crash: Sandbox) -> None:
    code = (
        "import os, signal, subprocess, sys, _bluepython\n"
        f"c = subprocess.Popen([sys.executable, {str(APP)!r}, 'settle_then_wait', '100'],"
        " stdin=subprocess.PIPE, stdout=subprocess.PIPE)\n"
        "assert c.stdout.readline() == b'ready\\n'\n"
        "c.kill(); c.wait()\n"
        "_bluepython.emit('app_event', {'i': 0, 'after': c.returncode})\n"
        "print(c.returncode)\n"
    )
    res = crash.bp("-c", code)
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"-9\n"
    assert res.stderr == b""
    procs = crash.processes()
    assert len(procs) == 2
    (parent,) = [evs for evs in procs.values() if any("after" in attrs(e) for e in named(evs, "app_event"))]
    (child,) = [evs for evs in procs.values() if evs is not parent]
    check_stream(parent)
    assert attrs(parent[-1])["reason"] == "exit"
    assert [attrs(e)["after"] for e in named(parent, "app_event")] == [-9]
    assert _app_indexes(child) == list(range(100))  # settled on disk before the kill
    # The repair ends the child's stream and leaves the parent's alone.
    repair(crash)
    procs_after = crash.processes()
    assert procs_after[parent[0]["event"]["meta"]["uuid"]] == parent
    child_after = procs_after[child[0]["event"]["meta"]["uuid"]]
    assert child_after[: len(child)] == child
    assert _app_indexes(child_after) == list(range(100))
    assert name(child_after[-1]) == "sensor_shutdown" and attrs(child_after[-1])["reason"] == "killed"

