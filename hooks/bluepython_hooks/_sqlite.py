# SPDX-License-Identifier: Apache-2.0
"""SQLite writes. The native audit hook reports each ``sqlite3.connect`` as the
database file it opens. The statements that change the database run in C,
where no audit event sees them. A trace callback set on the connection reports
them. It can only be set once the connection is initialised, after the connect's
audit events. So ``sqlite3.connect`` is replaced by a native wrapper
(``_bluepython.wrap_sqlite_connect``: no Python frame added) that sets it on the
connection it returns. Installed when the MCP hooks are activated. A module
that bound the original earlier (``from sqlite3 import connect`` before the app
imported ``mcp``) keeps it, and its connections' writes are not reported."""

from __future__ import annotations

import sys
from typing import Any

import _bluepython

from ._emit import internal_error
from ._wrapt import wrapt

_wrap = _bluepython.wrap_sqlite_connect
_wrapped: set[int] = set()  # ids of the wrappers put in place


def _patch(module: Any) -> None:
    try:
        for mod in (module, sys.modules.get("sqlite3.dbapi2")):
            connect = getattr(mod, "connect", None)
            if connect is not None and id(connect) not in _wrapped:
                wrapper = _wrap(connect)
                _wrapped.add(id(wrapper))
                mod.connect = wrapper
    except Exception as exc:
        internal_error("hooks: sqlite3", exc)


def install() -> None:
    if _bluepython.enabled("files"):
        wrapt.register_post_import_hook(_patch, "sqlite3")
