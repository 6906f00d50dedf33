# SPDX-License-Identifier: Apache-2.0
"""The python_mcp_event names: one native table, read by the hooks."""

from __future__ import annotations

import _bluepython
from bluepython_hooks import _emit

KINDS = {_emit.REQUEST: "request", _emit.NOTIFICATION: "notification", _emit.RESPONSE: "response",
         _emit.ERROR: "response"}  # errors are responses


def test_every_side_direction_and_kind_has_its_name() -> None:
    assert len(_bluepython.MCP_EVENT_NAMES) == 16
    for (side, received, kind), name in _emit.EVENT_NAMES.items():
        who = "server" if side == _emit.SERVER else "client"
        assert name == f"{who}_{'received' if received else 'send'}_{KINDS[kind]}"
    assert len(_emit.EVENT_NAMES) == 16


def test_the_hooks_use_the_native_table() -> None:
    assert _emit._EVENT_ORDER is _bluepython.MCP_EVENT_NAMES
