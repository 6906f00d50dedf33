# SPDX-License-Identifier: Apache-2.0
"""Hooks for standalone FastMCP 3.x (``fastmcp`` on mcp 1.x).

fastmcp 3 serves through the SDK's low-level ``Server`` (its
``LowLevelServer`` subclass, ``MiddlewareServerSession``) and its client
drives the SDK's ``ClientSession`` over the SDK's transport functions, so every
JSON-RPC message, session, ``tools/list`` result, client connect and the call
in effect while a request handler runs are seen by the mcp 1.x hooks
(``mcp/_v1.py``). This module adds what only fastmcp knows:

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

import _bluepython

from .. import _core
from ..mcp import _v1

_FRAMEWORK = "fastmcp"
_KINDS = {"tool": "tool", "resource": "resource", "template": "resource_template", "prompt": "prompt"}


def install(patcher: _core.Patcher, when_imported: Any) -> None:
    def server(module: Any) -> None:
        patcher.wrap(module, "FastMCP.__init__", _fastmcp_init)
        # Called for every request: plain functions, not wrapt wrappers.
        patcher.replace(module, "FastMCP.call_tool", _attribute("tools/call", "name"))
        patcher.replace(module, "FastMCP.read_resource", _attribute("resources/read", "uri"))
        patcher.replace(module, "FastMCP.render_prompt", _attribute("prompts/get", "name"))

    def local_provider(module: Any) -> None:
        patcher.wrap(module, "LocalProvider._add_component", _add_component)

    def memory(module: Any) -> None:
        patcher.wrap(module, "FastMCPTransport.connect_session", _memory_connect)

    when_imported("fastmcp.server.server", server)
    when_imported("fastmcp.server.providers.local_provider.local_provider", local_provider)
    when_imported("fastmcp.client.transports.memory", memory)


# ---------------------------------------------------------------------------
# Server identity and registration


def _fastmcp_init(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    token = None
    try:
        token = _v1.building.set((_FRAMEWORK, instance))
    except Exception as exc:
        _core.internal_error("hooks: fastmcp: FastMCP", exc)
    try:
        result = wrapped(*args, **kwargs)
    finally:
        if token is not None:
            _v1.building.reset(token)
    try:
        provider = getattr(instance, "_local_provider", None)
        if provider is not None:
            object.__setattr__(provider, "_bluepython_server_name", instance.name)
    except Exception as exc:
        _core.internal_error("hooks: fastmcp: FastMCP", exc)
    return result


def _server_name_of(provider: Any) -> Any:
    name = getattr(provider, "_bluepython_server_name", None)
    if name is not None:
        return name
    outer = _v1.building.get()  # FastMCP(tools=[...]): added while the server is built
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
                _server_add(kind, component, _server_name_of(instance))
    except Exception as exc:
        _core.internal_error("hooks: fastmcp: server_add", exc)
    return result


def _server_add(kind: str, component: Any, server_name: Any) -> None:
    _core.component_added(kind, component, server_name=server_name, framework=_FRAMEWORK)


# ---------------------------------------------------------------------------
# Attribution


_refined_call = _core.refined_call
_run_in = _core.run_in
_current_call = _bluepython.current_call


def _attribute(method: str, key: str) -> Any:
    """Replacement maker for FastMCP.call_tool(name, ...) / read_resource(uri,
    ...) / render_prompt(name, ...). On the hot path (a request of this server
    for this target: the SDK hook made it current already) this costs one
    lookup and hands back the original coroutine; a mounted server's component
    refines the call in effect (same call id); a call outside any request gets
    a call of its own."""

    def make(original: Any) -> Any:
        def attributed(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                target = str(args[0]) if args else str(kwargs.get(key))
                server_name = self.name
                parent = _current_call()
                if parent is not None:
                    if parent.get("target") == target and parent.get("server_name") == server_name:
                        return original(self, *args, **kwargs)
                    parent["target"] = target  # current_call() returns a copy
                    parent["server_name"] = server_name
                    call: Any = _refined_call(parent)
                else:
                    call = _core.call_context(
                        session_id=None, request_id=None, method=method, target=target,
                        server_name=server_name,
                    )
            except Exception as exc:
                _core.internal_error("hooks: fastmcp: attribution", exc)
                return original(self, *args, **kwargs)
            return _run_in(original(self, *args, **kwargs), call)

        return attributed

    return make


# ---------------------------------------------------------------------------
# Client connects


def _memory_connect(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    # An async context manager factory: the fastmcp Client enters it right away.
    try:
        server = getattr(instance, "server", None)
        _core.client_connect("memory", server_name=getattr(server, "name", None), framework=_FRAMEWORK)
    except Exception as exc:
        _core.internal_error("hooks: fastmcp: client_connect", exc)
    return wrapped(*args, **kwargs)
