# SPDX-License-Identifier: Apache-2.0
"""Hooks for standalone FastMCP 3.x (``fastmcp`` on mcp 1.x).

fastmcp 3 serves through the SDK's low-level ``Server`` (its
``LowLevelServer`` subclass, ``MiddlewareServerSession``) and its client
drives the SDK's ``ClientSession`` over the SDK's transport functions, so every
JSON-RPC message, session, ``tools/list`` result, client connect and the call
in effect while a request handler runs are seen by the mcp 1.x hooks
(``mcp/v1/``). This module adds what only fastmcp knows:

- the framework of the server: ``FastMCP.__init__`` marks the ``LowLevelServer``
  it builds as fastmcp's, so the SDK hook emits one
  ``python_mcp_server_init`` with ``framework="fastmcp"``;
- ``python_mcp_server_add`` for every component a ``LocalProvider`` stores
  (``LocalProvider._add_component``: decorators, ``add_tool`` /
  ``add_resource`` / ``add_template`` / ``add_prompt``, ``FastMCP(tools=...)``);
  components of other providers (OpenAPI, proxies, mounted servers) are seen
  only in ``tools/list`` results;
- the attribution target for calls that do not come straight from a request
  (mounted servers, programmatic calls): ``FastMCP.call_tool`` /
  ``read_resource`` / ``render_prompt`` refine the call in effect;
- ``python_mcp_client_connect`` for the in-memory ``FastMCPTransport``.
"""


from __future__ import annotations

from typing import Any

from .._attribution import call_context
from .._emit import internal_error
from .._patcher import Patcher, install_targets, replace, wrap
from ..mcp.v1 import build_as, building
from ._common import FRAMEWORK, attribute, memory_connect, refine, server_add

_KINDS = {"tool": "tool", "resource": "resource", "template": "resource_template", "prompt": "prompt"}


# ---------------------------------------------------------------------------
# Server identity and registration


def _fastmcp_init(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    result = build_as(FRAMEWORK, "hooks: fastmcp: FastMCP", wrapped, instance, args, kwargs)
    try:
        provider = getattr(instance, "_local_provider", None)
        if provider is not None:
            object.__setattr__(provider, "_bluepython_server_name", instance.name)
    except Exception as exc:
        internal_error("hooks: fastmcp: FastMCP", exc)
    return result


def _server_name_of(provider: Any) -> Any:
    name = getattr(provider, "_bluepython_server_name", None)
    if name is not None:
        return name
    outer = building.get()  # FastMCP(tools=[...]): added while the server is built
    if outer is not None and getattr(outer[1], "_local_provider", None) is provider:
        try:
            return outer[1].name
        except Exception:
            return None
    return None


def _add_component(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    result = wrapped(*args, **kwargs)
    try:
        component = args[0] if args else kwargs.get("component")
        # on_duplicate="ignore" returns the existing component: nothing added.
        if result is component:
            kind = _KINDS.get(getattr(type(component), "KEY_PREFIX", None))
            if kind is not None:
                server_add(kind, component, _server_name_of(instance))
    except Exception as exc:
        internal_error("hooks: fastmcp: server_add", exc)
    return result


# ---------------------------------------------------------------------------
# Attribution


def _choose(method: str, target: str, server_name: Any, parent: Any) -> Any:
    """A request of this server for this target (the SDK hook made it
    current already): nothing to do; a mounted server's component refines
    the call in effect (same call id); a call outside any request gets a
    call of its own."""
    if parent is None:
        return call_context(
            session_id=None, request_id=None, method=method, target=target, server_name=server_name
        )
    if parent.get("target") == target and parent.get("server_name") == server_name:
        return None
    return refine(parent, target, server_name)


_SERVER = "fastmcp.server.server"

TARGETS = (
    wrap(_SERVER, "FastMCP.__init__", _fastmcp_init),
    # Called for every request: plain functions, not wrapt wrappers.
    replace(_SERVER, "FastMCP.call_tool", attribute("tools/call", _choose)),
    replace(_SERVER, "FastMCP.read_resource", attribute("resources/read", _choose)),
    replace(_SERVER, "FastMCP.render_prompt", attribute("prompts/get", _choose)),
    wrap(
        "fastmcp.server.providers.local_provider.local_provider",
        "LocalProvider._add_component",
        _add_component,
    ),
    wrap("fastmcp.client.transports.memory", "FastMCPTransport.connect_session", memory_connect),
)


def install(patcher: Patcher, when_imported: Any) -> None:
    install_targets(patcher, when_imported, TARGETS)
