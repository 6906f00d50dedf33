# SPDX-License-Identifier: Apache-2.0
"""`bluepython tail`: the spool as one line per event, with filters, history and --follow,
against spools real bluepython processes wrote."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from conftest import FIXTURES, TIMEOUT, Sandbox, named

_WORK = r"""
import subprocess
open("tail-a.txt", "w").close()
subprocess.run(["true"], check=True)
"""


def tail(sandbox: Sandbox, *args: str, **kw: Any) -> subprocess.CompletedProcess[bytes]:
    spool = sandbox.env["BLUEPYTHON_SPOOL_DIR"]
    return sandbox.run([sandbox.bluepython, "tail", "--spool-dir", spool, *args], **kw)


def test_history_shows_the_last_matching_events_one_line_each(sandbox: Sandbox) -> None:
    sandbox.write("work.py", _WORK)
    assert sandbox.bp("work.py").returncode == 0
    events = sandbox.events()
    pid = events[0]["event"]["context"]["process"]["pid"]
    res = tail(sandbox, "-n", "1000")
    assert res.returncode == 0, res.stderr.decode()
    lines = res.stdout.decode().splitlines()
    # every event but the imports (hidden by default), one line each, in order
    assert len(lines) == len([ev for ev in events if ev["event"]["meta"]["name"] != "python_import"])
    assert not any(" python_import " in line for line in lines)
    with_imports = tail(sandbox, "-n", "1000", "--imports").stdout.decode().splitlines()
    assert len(with_imports) == len(events)
    assert "\x1b[" not in res.stdout.decode()  # not a terminal: no colour
    # (the machine's own start-up may open files too: only ours are looked at)
    opened = [line for line in lines if " python_file_open " in line and "tail-" in line]
    assert len(opened) == 1 and opened[0].endswith("(startup) write tail-a.txt") and str(pid) in opened[0]
    assert any(" python_process_spawn " in line and line.endswith("true") for line in lines)
    assert lines[-1].split()[2] == "sensor_shutdown"
    # the default history is the last 10
    assert tail(sandbox).stdout.decode().splitlines() == lines[-10:]


def test_filters_by_name_pattern_pid_and_negation(sandbox: Sandbox) -> None:
    sandbox.write("work.py", _WORK)
    assert sandbox.bp("work.py").returncode == 0
    assert sandbox.bp("-c", "open('tail-b.txt', 'w').close()").returncode == 0
    procs = sandbox.processes()
    assert len(procs) == 2
    first = next(evs for evs in procs.values() if named(evs, "python_process_spawn"))
    first_pid = first[0]["event"]["context"]["process"]["pid"]
    files = tail(sandbox, "-n", "1000", "--filter", "name=python_file_*").stdout.decode().splitlines()
    assert files and all(" python_file_open " in line for line in files)
    assert sorted(line.split()[-1] for line in files if "tail-" in line) == ["tail-a.txt", "tail-b.txt"]
    mine = tail(sandbox, "-n", "1000", "--filter", "name=python_file_*", "--filter", f"pid={first_pid}",
                "--filter", "scope=startup")
    assert [line.split()[-1] for line in mine.stdout.decode().splitlines()] == ["tail-a.txt"]
    others = tail(sandbox, "-n", "1000", "--filter", "name!=python_import").stdout.decode()
    assert " python_import " not in others and " sensor_startup " in others


def test_bad_filters_and_missing_spools_are_one_line_errors(sandbox: Sandbox, tmp_path: Path) -> None:
    for args in (["--filter", "nonsense"], ["--filter", "colour=red"], ["--color", "sometimes"]):
        res = tail(sandbox, *args)
        assert res.returncode == 2 and res.stdout == b""
        assert len(res.stderr.decode().strip().splitlines()) == 1, res.stderr
    res = sandbox.run([sandbox.bluepython, "tail", "--spool-dir", str(tmp_path / "none")])
    assert res.returncode == 2 and "no spool directory" in res.stderr.decode()


def test_colour_is_forced_or_refused_on_request(sandbox: Sandbox) -> None:
    assert sandbox.bp("-c", "pass").returncode == 0
    assert "\x1b[" in tail(sandbox, "--color", "always").stdout.decode()
    assert "\x1b[" not in tail(sandbox, "--color", "never").stdout.decode()


class _Output:
    """What a running process has printed so far, read as it comes."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.fd = proc.stdout.fileno()
        self.seen = b""

    def wait_for(self, needle: bytes, timeout: float) -> bool:
        """Reads until `needle` has been printed (True) or `timeout` has passed (False)."""
        deadline = time.monotonic() + timeout
        while needle not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                chunk = os.read(self.fd, 65536)
                assert chunk, f"the process ended; it printed {self.seen!r}"
                self.seen += chunk
        return True


def test_follow_prints_new_processes_as_they_write(sandbox: Sandbox) -> None:
    spool = sandbox.env["BLUEPYTHON_SPOOL_DIR"]
    Path(spool).mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sandbox.bluepython, "tail", "-f", "-n", "0", "--spool-dir", spool,
                             "--filter", "name=python_file_open"],
                            env=sandbox.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = _Output(proc)
    try:
        # Nothing tells when tail's first scan of the spool is done, and what is written before
        # it is history (none shown: -n 0). So processes that open a file are run until tail
        # prints one of them: from then on it follows, and any process started later is new to
        # it. (A primer tail has not printed yet is not lost either: it is looked for again.)
        deadline = time.monotonic() + TIMEOUT
        primers = 0
        while True:
            assert time.monotonic() < deadline, f"tail printed none of {primers} primers: {out.seen!r}"
            assert sandbox.bp("-c", f"open('primer-{primers}.txt', 'w').close()").returncode == 0
            primers += 1
            if out.wait_for(b"primer-", timeout=2):
                break
        assert sandbox.bp("-c", "open('followed.txt', 'w').close()").returncode == 0
        assert out.wait_for(b"followed.txt", timeout=TIMEOUT), out.seen
    finally:
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err.decode()
    assert b"python_import" not in out.seen + rest  # the filter applies while following too


def test_tool_filter_shows_a_tool_call_and_what_it_did(sandbox: Sandbox, mcp1: Any) -> None:
    server = json.dumps([str(FIXTURES / "tools_server.py"), "tail"])
    calls = '[["touch", {"path": "from-tool.txt"}]]'
    res = sandbox.run([mcp1.python, str(FIXTURES / "call_tools.py"), mcp1.bluepython, server, calls])
    assert res.returncode == 0, res.stderr.decode()
    lines = tail(sandbox, "-n", "1000", "--filter", "tool=touch").stdout.decode().splitlines()
    kinds = [line.split()[2] for line in lines]
    assert "python_mcp_event" in kinds and "python_file_open" in kinds
    touch = next(line for line in lines if " python_file_open " in line)
    assert "[touch#" in touch and touch.endswith("write from-tool.txt")
    assert any("server_received_request tools/call touch" in line for line in lines)
