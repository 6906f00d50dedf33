# SPDX-License-Identifier: Apache-2.0
"""The hooks' unit layer: pytest runs UNDER bluepython (the hooks exist only inside it), in
each SDK venv: ``build/test-venv-mcp1/bin/bluepython -m pytest test/hooks`` and the same with
-mcp2. Each test drives hook functions directly on real SDK objects and reads back what they
emitted from this process's own spool file."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

try:
    import _bluepython
except ImportError:  # plain python: nothing to test here
    pytest.skip("the hooks' unit tests run under bluepython (test/run_all.sh)", allow_module_level=True)

import mcp  # noqa: F401  (activates the built-in hooks, as any app's first mcp import does)


def emitted(name: str, where: Callable[[dict[str, Any]], bool] = lambda e: True) -> list[dict[str, Any]]:
    """The events of this process named ``name`` so far (flushed first), as the spool holds them."""
    _bluepython.flush()
    events = []
    with open(_bluepython.spool_location(), encoding="utf-8") as spool:
        for line in spool:
            event = json.loads(line)["event"]
            if event["meta"]["name"] == name and where(event):
                events.append(event)
    return events


@pytest.fixture
def mark() -> Callable[[], int]:
    """How many spool lines exist now: events after the mark are the test's own."""
    def now() -> int:
        _bluepython.flush()
        with open(_bluepython.spool_location(), encoding="utf-8") as spool:
            return sum(1 for _ in spool)
    return now
