# SPDX-License-Identifier: Apache-2.0
"""Hardening of what bluepython leaves in the monitored process: every file
descriptor it opens is close-on-exec (a child started with close_fds=False, or
an exec, inherits none of them). The spool's modes (0700 directories, 0600
files, whatever the umask) are asserted in test/integration/core/test_events.py."""

from __future__ import annotations

import json

from conftest import Sandbox

O_CLOEXEC = 0o2000000

PROBE = r"""
import json, os, subprocess, sys, _bluepython
_bluepython.emit("probe", {})
_bluepython.flush()
mine = {}
for fd in os.listdir("/proc/self/fd"):
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
        flags = int(open(f"/proc/self/fdinfo/{fd}").read().split("flags:")[1].split()[0], 8)
    except OSError:
        continue
    mine[fd] = [target, flags]
child = subprocess.run(["sh", "-c", "ls -l /proc/$$/fd"], capture_output=True, text=True, close_fds=False)
print(json.dumps({"fds": mine, "child": child.stdout}))
"""


def test_bluepython_descriptors_are_close_on_exec(sandbox: Sandbox) -> None:
    sandbox.write("probe.py", PROBE)
    res = sandbox.bp("probe.py")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    spool = str(sandbox.spool)
    ours = {fd: (target, flags) for fd, (target, flags) in out["fds"].items()
            if target.startswith(spool) or target.startswith("anon_inode:[eventfd]")}
    assert any(t.startswith(spool) and t.endswith(".ndjson") for t, _ in ours.values()), out["fds"]
    assert any("eventfd" in t for t, _ in ours.values()), out["fds"]
    for fd, (target, flags) in ours.items():
        assert flags & O_CLOEXEC, f"fd {fd} ({target}) is inherited across exec"
    # The proof by a child: nothing of the spool or the writer's wake-up fd survives exec.
    assert spool not in out["child"]
    assert "eventfd" not in out["child"]

