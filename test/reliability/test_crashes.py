# SPDX-License-Identifier: Apache-2.0
"""Endings that give bluepython little or no chance to clean up.

A segfault or abort in C code (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT): the
crash handler lets the writer drain and write sensor_shutdown (reason: the
signal) before the default action runs, so nothing is lost and the exit status,
output and core dump are python's. SIGKILL cannot be caught: every line on disk
is whole and valid, the events on disk are a gapless prefix of what was emitted,
and only events emitted within about one flush interval of the kill are lost
(docs/reliability.md)."""

from __future__ import annotations

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
    wait_for,
)

APP = FIXTURES / "reliability" / "crash_app.py"
FLUSH_MS = 50
# How much later than the flush interval the writer may get to run on a loaded
# 2-CPU CI machine. A bound on lost events, not a speed figure: the measured
# window is printed, and docs/reliability.md records typical values.
SCHEDULING_SLACK_MS = 1000


@pytest.fixture
def crash(sandbox: Sandbox) -> Sandbox:
    sandbox.env["BLUEPYTHON_FLUSH_INTERVAL_MS"] = str(FLUSH_MS)
    return sandbox


def _prefix_stream(sb: Sandbox) -> list[dict]:
    """The one process's events: valid envelopes, ids 1..n, no shutdown event."""
    (f,) = sb.files()
    events = f.events
    assert events and name(events[0]) == "sensor_startup"
    for ev in events:
        check_envelope(ev)
    ids = [ev["event"]["meta"]["source_event_id"] for ev in events]
    assert ids == list(range(1, len(events) + 1)), "a gap or a duplicate in source_event_id"
    assert "sensor_shutdown" not in [name(ev) for ev in events]
    return events


def _app_indexes(events: list[dict]) -> list[int]:
    return [attrs(ev)["i"] for ev in named(events, "app_event")]


def _last_app_index_on_disk(sb: Sandbox) -> int:
    """The index of the last app_event in the one spool file (-1 before there is one)."""
    files = list(sb.spool.glob("*.ndjson"))
    if len(files) != 1:
        return -1
    with files[0].open("rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 65536))
        lines = f.read().split(b"\n")[1:-1]  # whole lines only
    for line in reversed(lines):
        if b'"app_event"' in line:
            return attrs(parse_line(line))["i"]
    return -1


def _wait_written_beyond(sb: Sandbox, index: int) -> None:
    """Waits until the writer has put app_event `index` (or a later one) on disk."""
    wait_for(lambda: _last_app_index_on_disk(sb) >= index, f"app_event {index} on disk")


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


def test_sigkill_after_a_flush_interval_loses_nothing(crash: Sandbox) -> None:
    n = 5000
    proc = crash.popen([crash.bluepython, str(APP), "settle_then_wait", str(n)])
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert _app_indexes(_prefix_stream(crash)) == list(range(n))


def test_sigkill_mid_stream_loses_at_most_the_last_flush_interval(crash: Sandbox) -> None:
    proc = crash.popen([crash.bluepython, str(APP), "stream", "2000"])
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        _wait_written_beyond(crash, 2 * 2000)  # well into the stream: several flushes have happened
        killed_at = time.monotonic()  # CLOCK_MONOTONIC, the clock the app stamps with
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    events = _prefix_stream(crash)
    got = _app_indexes(events)
    assert len(got) > 2000
    assert got == list(range(len(got))), "events on disk are not a gapless prefix"
    last_on_disk = attrs(named(events, "app_event")[-1])["t"]
    lost_window_ms = (killed_at - last_on_disk) * 1000
    print(f"SIGKILL: events of the last {lost_window_ms:.1f} ms were lost (flush interval {FLUSH_MS} ms)")
    assert lost_window_ms <= FLUSH_MS + SCHEDULING_SLACK_MS, lost_window_ms


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
    for evs in procs.values():
        last = name(evs[-1])
        if last == "sensor_shutdown":  # the parent
            assert [attrs(e)["after"] for e in named(evs, "app_event")] == [-9]
        else:  # the killed child: a valid prefix with all 100 events
            assert _app_indexes(evs) == list(range(100))

