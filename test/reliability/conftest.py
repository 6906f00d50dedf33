# SPDX-License-Identifier: Apache-2.0
"""The reliability suite (docs/reliability.md) shares the integration tests'
fixtures and helpers: test/integration/conftest.py is loaded here under its own
name and re-exported, so `from conftest import ...` works the same in both
directories. The suite runs in its own pytest invocation (test/run_all.sh)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_SHARED = Path(__file__).resolve().parents[1] / "integration" / "conftest.py"
_spec = importlib.util.spec_from_file_location("bluepython_shared_conftest", _SHARED)
assert _spec is not None and _spec.loader is not None
_shared = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _shared
_spec.loader.exec_module(_shared)

globals().update({k: v for k, v in vars(_shared).items() if not k.startswith("__")})
