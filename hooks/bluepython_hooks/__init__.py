# SPDX-License-Identifier: Apache-2.0
"""bluepython's MCP hooks. Built into the bluepython executable; never
installed into the app's environment.

The native import monitor calls :func:`activate` the first time the app
imports ``mcp`` or ``fastmcp`` (before that package runs), so an app that
never imports them pays nothing. Activation registers wrapt post-import hooks
for the SDK modules the installed version has; each patch runs when its module
is imported.
"""

from __future__ import annotations

_activated = False


def activate() -> None:
    """Registers the hooks of every supported framework. Idempotent; never raises."""
    global _activated
    if _activated:
        return
    _activated = True
    import importlib

    from . import fastmcp, mcp
    from ._emit import internal_error

    # Library hooks that do not wait for a framework: the call in effect in
    # threads, SQLite writes, HTTP requests, LLM API calls.
    for name, where in (("_threads", "threads"), ("_sqlite", "sqlite3"), ("_http", "http"), ("_llm", "llm")):
        try:
            importlib.import_module(f".{name}", __name__).install()
        except Exception as exc:
            internal_error(f"hooks: {where}", exc)
    for framework in (mcp, fastmcp):
        try:
            framework.patch()
        except Exception as exc:
            internal_error(f"hooks: activate {framework.__name__}", exc)


def deactivate() -> None:
    """Removes every wrapper applied so far (tests; not used in production)."""
    from . import _threads, fastmcp, mcp

    fastmcp.unpatch()
    mcp.unpatch()
    _threads.uninstall()
