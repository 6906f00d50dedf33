# SPDX-License-Identifier: Apache-2.0
"""Every reader of the spool handles the files a SIGKILL leaves (docs/reliability.md,
"Durable at emit"): `tail -f` already following the spool, `report`, `jq` over the files
(the BlueRock-style reader), and a plain line reader. The killed process's spool file is
given a cut last line, as a write(2) interrupted by the kill leaves one; its last events
are only in its journal until a sweep runs."""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import TIMEOUT, Sandbox, attrs, check_stream, name, named

APP = """
import _bluepython, sys
for i in range(10):
    _bluepython.emit("app_event", {"i": i})
_bluepython.flush()
for i in range(10, 25):
    _bluepython.emit("app_event", {"i": i})
print("ready", flush=True)
sys.stdin.readline()
"""
CUT_LINE = b'{"ts":"2026-12-07T00:00:00.000000Z","event":{"meta":{"name":"app_ev'


def _kill_after_ready(sb: Sandbox) -> int:
    """Runs APP with a flush interval of a minute; SIGKILL once it printed ready."""
    env = {**sb.env, "BLUEPYTHON_FLUSH_INTERVAL_MS": "60000"}
    proc = sb.popen([sb.bluepython, "-c", APP], env=env)
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
    return proc.pid


def _cut_the_last_write(sb: Sandbox) -> Path:
    (path,) = sb.spool.glob("*.ndjson")
    with path.open("ab") as f:
        f.write(CUT_LINE)
    return path


def _app_indexes(events: list[dict]) -> list[int]:
    return [attrs(ev)["i"] for ev in named(events, "app_event")]


def test_report_and_jq_see_every_event_once_and_no_cut_line(sandbox: Sandbox) -> None:
    pid = _kill_after_ready(sandbox)
    path = _cut_the_last_write(sandbox)
    before = path.read_bytes()
    assert b"\0" not in before
    # A plain line reader that skips an unterminated last line sees a gapless prefix.
    whole = [json.loads(line) for line in before.split(b"\n")[:-1]]
    assert _app_indexes(whole) == list(range(10))
    assert list(sandbox.spool.parent.glob("spool.state/*.journal")), "the journal is the only copy of 10-24"

    res = sandbox.bp("report", "--json")
    assert res.returncode == 0, res.stderr
    assert res.stderr == b""
    (proc,) = [p for p in json.loads(res.stdout)["processes"] if p["pid"] == pid]
    assert proc["exit"] == "killed"
    assert proc["counters"]["recovered"] == 15
    text = sandbox.bp("report")
    assert b"exit: killed (15 events recovered from its journal)" in text.stdout

    after = path.read_bytes()
    assert b"\0" not in after and after.endswith(b"\n")
    assert after.startswith(before[: -len(CUT_LINE)]), "a whole line written before the kill changed"
    (events,) = sandbox.processes().values()
    check_stream(events)
    assert _app_indexes(events) == list(range(25))
    assert attrs(events[-1]) == {"reason": "killed", "recovered": 15}
    assert not list(sandbox.spool.parent.glob("spool.state/*.journal"))

    jq = shutil.which("jq")
    if jq is None:
        pytest.skip("jq is not installed (packaging/setup-debian.sh installs it)")
    # BlueRock's documented way to read its spool: jq over the files.
    out = subprocess.run([jq, "-c", 'select(.event.meta.name == "app_event") | .event.i', str(path)],
                         capture_output=True, check=True, timeout=TIMEOUT).stdout
    assert [int(v) for v in out.split()] == list(range(25))


def test_tail_following_the_spool_prints_each_recovered_event_once(sandbox: Sandbox) -> None:
    sandbox.spool.mkdir(parents=True, exist_ok=True)
    tail = subprocess.Popen([sandbox.bluepython, "tail", "-f", "-n", "0", "--spool-dir", str(sandbox.spool)],
                            env=sandbox.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = b""
    try:
        time.sleep(0.5)  # its first scan: the spool is empty
        _kill_after_ready(sandbox)
        # tail sweeps as it polls: the killed process's journal is recovered by tail itself
        # (and the cut line, if the sweep has not run yet, is cut first).
        if list(sandbox.spool.glob("*.ndjson")):
            _cut_the_last_write(sandbox)
        assert tail.stdout is not None
        deadline = time.monotonic() + TIMEOUT
        while b"sensor_shutdown" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([tail.stdout], [], [], 0.5)
            if ready:
                chunk = os.read(tail.stdout.fileno(), 65536)
                assert chunk, seen
                seen += chunk
        time.sleep(0.5)  # anything printed twice would come now
    finally:
        tail.send_signal(signal.SIGINT)
        rest, err = tail.communicate(timeout=TIMEOUT)
    seen += rest
    assert tail.returncode == 0, err.decode()
    lines = seen.decode().splitlines()
    shown = [int(m.group(1)) for line in lines if (m := re.search(r' app_event +\{"i":(\d+)\}', line))]
    assert sorted(shown) == list(range(25)), lines  # each once, none lost
    assert sum("sensor_shutdown" in line for line in lines) == 1
    assert "app_ev\n" not in seen.decode() and "\0" not in seen.decode()
    (events,) = sandbox.processes().values()
    assert _app_indexes(events) == list(range(25))
    assert name(events[-1]) == "sensor_shutdown"
