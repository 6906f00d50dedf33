# SPDX-License-Identifier: Apache-2.0
"""Hooks for standalone FastMCP 4.x (``fastmcp`` on mcp 2.x).

fastmcp 4 serves on the SDK's runner and dispatcher, so every JSON-RPC
message, session, ``tools/list`` result and SDK client transport is seen by
the mcp 2.x hooks (``mcp/_v2.py``). This module adds only what fastmcp knows:

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

import _bluepython

from .. import _connect, _core
from .._patcher import arg as _arg

_FRAMEWORK = "fastmcp"

# LocalProvider -> name of the FastMCP server that owns it (its _local_provider).
_provider_servers: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()

# fastmcp's ContextVar holding the request being served (set once patched).
_request_context: Any = None


def install(patcher: _core.Patcher, when_imported: Any) -> None:
    def low_level(module: Any) -> None:
        patcher.wrap(module, "LowLevelServer.__init__", _low_level_server_init)

    def local_provider(module: Any) -> None:
        kinds = (
            (module.Tool, "tool"),
            (module.ResourceTemplate, "resource_template"),  # before Resource: a possible subclass
            (module.Resource, "resource"),
            (module.Prompt, "prompt"),
        )
        patcher.wrap(module, "LocalProvider._add_component", _add_component_wrapper(kinds))

    def server(module: Any) -> None:
        global _request_context
        try:
            from fastmcp.server.dependencies import fastmcp_request_ctx

            _request_context = fastmcp_request_ctx
        except ImportError as exc:
            _core.internal_error("hooks: fastmcp: request context", exc)
        # Called for every request: plain functions, not wrapt wrappers.
        patcher.replace(module, "FastMCP.call_tool", _attribute("tools/call"))
        patcher.replace(module, "FastMCP.read_resource", _attribute("resources/read"))
        patcher.replace(module, "FastMCP.render_prompt", _attribute("prompts/get"))

    def memory(module: Any) -> None:
        patcher.wrap(module, "FastMCPTransport.connect_session", _memory_connect)

    # fastmcp calls the SDK's client functions through names it imported. The
    # mcp 2.x hooks wrap those functions when mcp.client.* is imported, before
    # fastmcp binds them; Patcher.wrap leaves an already wrapped function alone,
    # so these wrappers only stand in when the SDK-level ones are missing.
    def stdio(module: Any) -> None:
        patcher.wrap(module, "stdio_client", _stdio_client)

    def http(module: Any) -> None:
        patcher.wrap(module, "streamable_http_client", _streamable_http_client)

    def sse(module: Any) -> None:
        patcher.wrap(module, "sse_client", _sse_client)

    when_imported("fastmcp.server.low_level", low_level)
    when_imported("fastmcp.server.providers.local_provider.local_provider", local_provider)
    when_imported("fastmcp.server.server", server)
    when_imported("fastmcp.client.transports.memory", memory)
    when_imported("fastmcp.client.transports.stdio", stdio)
    when_imported("fastmcp.client.transports.http", http)
    when_imported("fastmcp.client.transports.sse", sse)


# ---------------------------------------------------------------------------
# Server identity and registration


def _low_level_server_init(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    result = wrapped(*args, **kwargs)
    try:
        _core.server_init(
            instance.name,
            title=getattr(instance, "title", None),
            description=getattr(instance, "description", None),
            version=getattr(instance, "version", None) or None,
            instructions=getattr(instance, "instructions", None),
            framework=_FRAMEWORK,
            website_url=getattr(instance, "website_url", None),
        )
        owner = kwargs.get("fastmcp", args[0] if args else None)
        provider = getattr(owner, "_local_provider", None)
        if provider is not None:
            _provider_servers[provider] = instance.name
    except Exception as exc:
        _core.internal_error("hooks: fastmcp: server_init", exc)
    return result


def _add_component_wrapper(kinds: tuple[tuple[type, str], ...]) -> Any:
    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        result = wrapped(*args, **kwargs)
        try:
            component = args[0] if args else kwargs.get("component")
            # on_duplicate="ignore" keeps (and returns) the existing component:
            # nothing was added then.
            if result is component:
                _server_add(component, instance, kinds)
        except Exception as exc:
            _core.internal_error("hooks: fastmcp: server_add", exc)
        return result

    return wrapper


def _server_add(component: Any, provider: Any, kinds: tuple[tuple[type, str], ...]) -> None:
    kind = next((k for cls, k in kinds if isinstance(component, cls)), None)
    if kind is None:
        return  # not an MCP component (fastmcp keeps nothing else there today)
    try:
        server_name = _provider_servers.get(provider)
    except TypeError:  # an unhashable provider subclass
        server_name = None
    _core.component_added(kind, component, server_name=server_name, framework=_FRAMEWORK)


# ---------------------------------------------------------------------------
# Attribution


def _attribute(method: str) -> Any:
    """Replacement maker for FastMCP.call_tool(name, ...) / read_resource(uri,
    ...) / render_prompt(name, ...): the target and the server become part of
    the call in effect while the coroutine runs. The hot path (the SDK hooks or
    an outer FastMCP call already name the same target) adds nothing but one
    lookup and hands back the original coroutine; otherwise the call in effect
    is refined (same call id, session, request and method) or, for calls
    outside any request, a fresh one is made current."""
    key = "uri" if method == "resources/read" else "name"

    def make(original: Any) -> Any:
        def attributed(self: Any, *args: Any, **kwargs: Any) -> Any:
            call: Any = None
            try:
                target = str(args[0]) if args else str(kwargs.get(key))
                server_name = self.name
                parent = _current_call()
                if parent is None:
                    call = _fresh_call(method, target, server_name)
                elif parent.get("method") == method and (
                    parent.get("target") != target or parent.get("server_name") != server_name
                ):
                    # The same operation delegated (a mounted server) or
                    # renamed (middleware). Another operation run from a
                    # handler (a tool reading a resource) stays the outer call's.
                    parent["target"] = target  # current_call() returns a copy
                    parent["server_name"] = server_name
                    call = _refined_call(parent)
            except Exception as exc:
                _core.internal_error("hooks: fastmcp: attribution", exc)
            if call is None:  # already named so (or unobservable): the coroutine as it is
                return original(self, *args, **kwargs)
            return _run_in(original(self, *args, **kwargs), call)

        return attributed

    return make


def _fresh_call(method: str, target: str, server_name: str) -> _core.call_context:
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
        _core.internal_error("hooks: fastmcp: request context", exc)
    return _core.call_context(
        session_id=session_id, request_id=request_id, method=method, target=target, server_name=server_name
    )


_refined_call = _core.refined_call
_run_in = _core.run_in
_current_call = _bluepython.current_call


# ---------------------------------------------------------------------------
# Client connects


def _memory_connect(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    # connect_session is an async context manager factory: the connect happens
    # when the fastmcp Client enters it, right after this call.
    try:
        server = getattr(instance, "server", None)
        _core.client_connect("memory", server_name=getattr(server, "name", None), framework=_FRAMEWORK)
    except Exception as exc:
        _core.internal_error("hooks: fastmcp: client_connect", exc)
    return wrapped(*args, **kwargs)


def _stdio_client(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        fields = _connect.stdio_fields(_arg(args, kwargs, 0, "server"))
        _core.client_connect("stdio", **fields, framework=_FRAMEWORK)
    except Exception as exc:
        _core.internal_error("hooks: fastmcp: client_connect", exc)
    return wrapped(*args, **kwargs)


def _streamable_http_client(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        url = _arg(args, kwargs, 0, "url")
        auth = _connect.http_client_auth(kwargs)
        _core.client_connect("streamable-http", url=url, auth=auth, framework=_FRAMEWORK)
    except Exception as exc:
        _core.internal_error("hooks: fastmcp: client_connect", exc)
    return wrapped(*args, **kwargs)


def _sse_client(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        url = _arg(args, kwargs, 0, "url")
        _core.client_connect("sse", url=url, auth=_connect.sse_auth(args, kwargs), framework=_FRAMEWORK)
    except Exception as exc:
        _core.internal_error("hooks: fastmcp: client_connect", exc)
    return wrapped(*args, **kwargs)
