# SPDX-License-Identifier: Apache-2.0
"""What the fastmcp 3.x and 4.x hooks share: the framework name, reporting a
component, the in-memory client connect and the attribution target of
``FastMCP.call_tool`` / ``read_resource`` / ``render_prompt``."""

from __future__ import annotations

from typing import Any

import _bluepython

from .._attribution import refined_call, run_in
from .._connect import client_connect
from .._emit import component_added, internal_error

FRAMEWORK = "fastmcp"

_current_call = _bluepython.current_call
_call_names = _bluepython.call_names
_run_in = run_in


def server_add(kind: str, component: Any, server_name: Any) -> None:
    component_added(kind, component, server_name=server_name, framework=FRAMEWORK)


def memory_connect(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``FastMCPTransport.connect_session``: an async context manager factory
    the fastmcp Client enters right after this call (the connect)."""
    try:
        server = getattr(instance, "server", None)
        client_connect("memory", server_name=getattr(server, "name", None), framework=FRAMEWORK)
    except Exception as exc:
        internal_error("hooks: fastmcp: client_connect", exc)
    return wrapped(*args, **kwargs)


def refine(parent: dict[str, Any], target: str, server_name: Any) -> refined_call:
    """The call in effect (``parent``, a copy from current_call()) naming
    another target or server: same call id, session, request and method."""
    parent["target"] = target
    parent["server_name"] = server_name
    return refined_call(parent)


def attribute(method: str, choose: Any) -> Any:
    """Replacement maker for FastMCP.call_tool(name, ...) / read_resource(uri,
    ...) / render_prompt(name, ...) (``method``: tools/call, resources/read,
    prompts/get). ``choose(method, target, server_name, parent)`` returns the
    call to put in effect while the coroutine runs, or None to hand back the
    original coroutine as it is (the hot path: the call in effect already
    names this target; one lookup). ``parent`` is the call in effect or None."""
    key = "uri" if method == "resources/read" else "name"

    def make(original: Any) -> Any:
        def attributed(self: Any, *args: Any, **kwargs: Any) -> Any:
            call: Any = None
            try:
                target = str(args[0]) if args else str(kwargs.get(key))
                server_name = self.name
                # The hot path, asked natively: the call in effect names this
                # target already (the SDK hooks, or fastmcp's own re-entry
                # after its middleware).
                if not _call_names(target, server_name):
                    call = choose(method, target, server_name, _current_call())
            except Exception as exc:
                internal_error("hooks: fastmcp: attribution", exc)
            if call is None:
                return original(self, *args, **kwargs)
            return _run_in(original(self, *args, **kwargs), call)

        return attributed

    return make
