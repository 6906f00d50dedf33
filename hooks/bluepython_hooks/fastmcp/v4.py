# SPDX-License-Identifier: Apache-2.0
"""Hooks for standalone FastMCP 4.x (``fastmcp`` on mcp 2.x).

fastmcp 4 serves on the SDK's runner and dispatcher, so every JSON-RPC
message, session, ``tools/list`` result and SDK client transport is seen by
the mcp 2.x hooks (``mcp/v2/``). This module adds only what fastmcp knows:

- ``python_mcp_server_init`` when a ``FastMCP`` builds its ``LowLevelServer``
  (``fastmcp.server.low_level``), before the constructor registers any tool.
  The SDK hooks report no init for ``Server`` subclasses of the ``fastmcp``
  package, so there is one init event per FastMCP server;
- ``python_mcp_server_add`` for every component stored by a ``LocalProvider``
  (decorators, ``add_tool``/``add_resource``/``add_template``/``add_prompt``,
  ``FastMCP(tools=[...])``, standalone providers, apps);
- the attribution target: while ``FastMCP.call_tool`` / ``read_resource`` /
  ``render_prompt`` run (middleware and the component body included), the
  call in effect names the tool, resource URI or prompt and the server that
  runs it (the innermost server, for mounted ones);
- ``python_mcp_client_connect`` for the in-memory ``FastMCPTransport``, and for
  the stdio / Streamable HTTP / SSE transports only when the SDK client
  functions fastmcp calls are not hooked already.
"""


from __future__ import annotations

import weakref
from typing import Any

from .._attribution import call_context
from .._connect import client_connect, http_client_auth, sse_auth, stdio_fields
from .._emit import internal_error, server_init
from .._patcher import Patcher, arg, install_targets, prepare, replace, wrap
from ._common import FRAMEWORK, attribute, memory_connect, refine, server_add

# LocalProvider -> name of the FastMCP server that owns it (its _local_provider).
_provider_servers: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()

# fastmcp's ContextVar holding the request being served (set once patched).
_request_context: Any = None

# (component class, kind) of the local provider's module (set once patched);
# ResourceTemplate before Resource: a possible subclass.
_component_kinds: tuple[tuple[type, str], ...] = ()


def _learn_component_classes(module: Any) -> None:
    global _component_kinds
    _component_kinds = (
        (module.Tool, "tool"),
        (module.ResourceTemplate, "resource_template"),
        (module.Resource, "resource"),
        (module.Prompt, "prompt"),
    )


def _learn_request_context(module: Any) -> None:
    global _request_context
    try:
        from fastmcp.server.dependencies import fastmcp_request_ctx

        _request_context = fastmcp_request_ctx
    except ImportError as exc:
        internal_error("hooks: fastmcp: request context", exc)


# ---------------------------------------------------------------------------
# Server identity and registration


def _low_level_server_init(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    result = wrapped(*args, **kwargs)
    try:
        server_init(
            instance.name,
            title=getattr(instance, "title", None),
            description=getattr(instance, "description", None),
            version=getattr(instance, "version", None) or None,
            instructions=getattr(instance, "instructions", None),
            framework=FRAMEWORK,
            website_url=getattr(instance, "website_url", None),
        )
        owner = kwargs.get("fastmcp", args[0] if args else None)
        provider = getattr(owner, "_local_provider", None)
        if provider is not None:
            _provider_servers[provider] = instance.name
    except Exception as exc:
        internal_error("hooks: fastmcp: server_init", exc)
    return result


def _add_component(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    result = wrapped(*args, **kwargs)
    try:
        component = args[0] if args else kwargs.get("component")
        # on_duplicate="ignore" keeps (and returns) the existing component:
        # nothing was added then.
        if result is component:
            _component_added(component, instance)
    except Exception as exc:
        internal_error("hooks: fastmcp: server_add", exc)
    return result


def _component_added(component: Any, provider: Any) -> None:
    kind = next((k for cls, k in _component_kinds if isinstance(component, cls)), None)
    if kind is None:
        return  # not an MCP component (fastmcp keeps nothing else there today)
    try:
        server_name = _provider_servers.get(provider)
    except TypeError:  # an unhashable provider subclass
        server_name = None
    server_add(kind, component, server_name)


# ---------------------------------------------------------------------------
# Attribution


def _choose(method: str, target: str, server_name: Any, parent: Any) -> Any:
    """While FastMCP.call_tool / read_resource / render_prompt run, the
    target and the server are part of the call in effect. The hot path (the
    SDK hooks or an outer FastMCP call already name the same target) adds
    nothing; the same operation delegated (a mounted server) or renamed
    (middleware) refines the call in effect; another operation run from a
    handler (a tool reading a resource) stays the outer call's; calls
    outside any request get a fresh one."""
    if parent is None:
        return _fresh_call(method, target, server_name)
    if parent.get("method") == method and (
        parent.get("target") != target or parent.get("server_name") != server_name
    ):
        return refine(parent, target, server_name)
    return None


def _fresh_call(method: str, target: str, server_name: str) -> call_context:
    """The call to make current when none is in effect. Inside a request that
    the SDK hooks did not see (they are missing or failed), fastmcp's own
    request context gives the request id and the protocol session id (HTTP
    only: sessions of other transports are the SDK hooks' to name); a
    programmatic ``await server.call_tool(...)`` has neither."""
    session_id = None
    request_id = None
    try:
        request = _request_context.get() if _request_context is not None else None
        if request is not None:
            request_id = request._srctx.request_id
            connection = getattr(request.session, "_connection", None)
            session_id = getattr(connection, "session_id", None)
    except Exception as exc:
        internal_error("hooks: fastmcp: request context", exc)
    return call_context(
        session_id=session_id, request_id=request_id, method=method, target=target, server_name=server_name
    )


# ---------------------------------------------------------------------------
# Client connects (only where the SDK-level hooks are missing)


def _stdio_client(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        fields = stdio_fields(arg(args, kwargs, 0, "server"))
        client_connect("stdio", **fields, framework=FRAMEWORK)
    except Exception as exc:
        internal_error("hooks: fastmcp: client_connect", exc)
    return wrapped(*args, **kwargs)


def _streamable_http_client(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        url = arg(args, kwargs, 0, "url")
        client_connect("streamable-http", url=url, auth=http_client_auth(kwargs), framework=FRAMEWORK)
    except Exception as exc:
        internal_error("hooks: fastmcp: client_connect", exc)
    return wrapped(*args, **kwargs)


def _sse_client(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        url = arg(args, kwargs, 0, "url")
        client_connect("sse", url=url, auth=sse_auth(args, kwargs), framework=FRAMEWORK)
    except Exception as exc:
        internal_error("hooks: fastmcp: client_connect", exc)
    return wrapped(*args, **kwargs)


_LOCAL_PROVIDER = "fastmcp.server.providers.local_provider.local_provider"
_SERVER = "fastmcp.server.server"

TARGETS = (
    wrap("fastmcp.server.low_level", "LowLevelServer.__init__", _low_level_server_init),
    prepare(_LOCAL_PROVIDER, _learn_component_classes),
    wrap(_LOCAL_PROVIDER, "LocalProvider._add_component", _add_component),
    prepare(_SERVER, _learn_request_context),
    # Called for every request: plain functions, not wrapt wrappers.
    replace(_SERVER, "FastMCP.call_tool", attribute("tools/call", _choose)),
    replace(_SERVER, "FastMCP.read_resource", attribute("resources/read", _choose)),
    replace(_SERVER, "FastMCP.render_prompt", attribute("prompts/get", _choose)),
    wrap("fastmcp.client.transports.memory", "FastMCPTransport.connect_session", memory_connect),
    # fastmcp calls the SDK's client functions through names it imported. The
    # mcp 2.x hooks wrap those functions when mcp.client.* is imported, before
    # fastmcp binds them; Patcher.wrap leaves an already wrapped function
    # alone, so these wrappers only stand in when the SDK-level ones are missing.
    wrap("fastmcp.client.transports.stdio", "stdio_client", _stdio_client),
    wrap("fastmcp.client.transports.http", "streamable_http_client", _streamable_http_client),
    wrap("fastmcp.client.transports.sse", "sse_client", _sse_client),
)


def install(patcher: Patcher, when_imported: Any) -> None:
    install_targets(patcher, when_imported, TARGETS)
