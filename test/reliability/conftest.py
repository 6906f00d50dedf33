# SPDX-License-Identifier: Apache-2.0
"""The reliability suite (docs/reliability.md) shares the integration tests'
fixtures and helpers: test/integration/conftest.py is loaded here under its own
name and re-exported, so `from conftest import ...` works the same in both
directories. The suite runs in its own pytest invocation (test/run_all.sh)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

_INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
_SHARED = _INTEGRATION / "conftest.py"
# The integration tests' helper modules (node_tools) are importable here too.
sys.path.insert(0, str(_INTEGRATION))
_spec = importlib.util.spec_from_file_location("bluepython_shared_conftest", _SHARED)
assert _spec is not None and _spec.loader is not None
_shared = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _shared
_spec.loader.exec_module(_shared)

globals().update({k: v for k, v in vars(_shared).items() if not k.startswith("__")})


T = TypeVar("T")


def run_paused(
    sb: Any, argv: list[str], ready: bytes, during: Callable[[], T], env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[bytes], T]:
    """Starts `argv`, waits for its stdout line `ready`, runs `during` while the
    program waits on stdin, then lets it go on (a line on stdin) and collects
    the rest. The program is killed if anything fails. Returns the completed
    process (stdout from `ready` on) and what `during` returned."""
    proc = sb.popen(argv, env=env)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first == ready, (first, ready)
        result = during()
        out, err = proc.communicate(b"go\n", timeout=_shared.TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(argv, proc.returncode, first + out, err), result
