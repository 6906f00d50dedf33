# SPDX-License-Identifier: Apache-2.0
"""A process tree three levels below the root, started three different ways
(subprocess, os.fork, multiprocessing spawn): every process has its own
complete stream, its events exactly once, and a link to its real parent."""

from __future__ import annotations

import json
import shutil

from conftest import FIXTURES, Sandbox, attrs, attrs_of, check_stream, wait_gone

N = 500


def test_three_levels_deep_each_process_complete_and_linked(sandbox: Sandbox) -> None:
    shutil.copy(FIXTURES / "reliability" / "tree_app.py", sandbox.cwd / "tree_app.py")
    py = sandbox.py("tree_app.py")
    assert py.returncode == 0, py.stderr
    assert sandbox.files() == []
    res = sandbox.bp("tree_app.py")
    assert res.returncode == 0, res.stderr
    assert res.stderr == b""
    out = json.loads(res.stdout)
    assert [p["level"] for p in out] == [0, 1, 2, 3]
    # Same shape of output as under python (pids differ).
    assert [p["level"] for p in json.loads(py.stdout)] == [0, 1, 2, 3]
    wait_gone([f.pid for f in sandbox.files()])

    by_pid: dict[int, list[dict]] = {}
    for evs in sandbox.processes().values():
        check_stream(evs)
        by_pid[evs[0]["event"]["context"]["process"]["pid"]] = evs
    levels = {p["pid"]: p for p in out}
    assert set(levels) <= set(by_pid)
    for pid, proc in levels.items():
        evs = by_pid[pid]
        mine = attrs_of(evs, "app_event")
        assert [(a["level"], a["i"], a["pid"]) for a in mine] == [(proc["level"], i, pid) for i in range(N)]
    root = next(p for p in out if p["level"] == 0)
    assert attrs(by_pid[root["pid"]][0])["parent"] is None
    # Each level names the process above it (pid and sensor uuid) and how it started.
    expected_via = {1: "exec", 2: "fork", 3: "exec"}
    for proc in out[1:]:
        link = attrs(by_pid[proc["pid"]][0])["parent"]
        above = next(p for p in out if p["level"] == proc["level"] - 1)
        assert link["via"] == expected_via[proc["level"]], link
        assert link["pid"] == above["pid"] == proc["ppid"], (link, above, proc)
        assert link["uuid"] == by_pid[above["pid"]][0]["event"]["meta"]["uuid"]
    # Helper processes (the spawn's resource tracker) are linked to a process of the tree too.
    tree_uuids = {evs[0]["event"]["meta"]["uuid"] for evs in by_pid.values()}
    for pid, evs in by_pid.items():
        if pid not in levels:
            assert attrs(evs[0])["parent"]["uuid"] in tree_uuids
