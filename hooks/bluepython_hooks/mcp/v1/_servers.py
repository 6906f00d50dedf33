# SPDX-License-Identifier: Apache-2.0
"""mcp 1.x servers: the call in effect while ``Server._handle_request`` runs,
``python_mcp_server_init`` (one per user-visible server) and the 1.x FastMCP
registrations (``python_mcp_server_add``)."""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any

import _bluepython

from ..._attribution import attributed
from ..._emit import component_added, internal_error, server_init
from ..._patcher import arg
from ..._sessions import session_id_for, traceparent_of

# While a FastMCP constructor runs: (framework, the FastMCP being built). The
# low-level Server it builds reports the FastMCP as the server (one
# python_mcp_server_init per user-visible server). fastmcp 3.x sets it too.
building: contextvars.ContextVar[tuple[str, Any] | None] = contextvars.ContextVar(
    "bluepython_mcp_building", default=None
)

_enter_mcp_call = _bluepython.enter_mcp_call


# ---------------------------------------------------------------------------
# Attribution: Server._handle_request(message, req, session, lifespan_context, raise_exceptions)


def _enter_call(server: Any, args: Any, kwargs: Any) -> Any:
    """Makes the request's call current (_bluepython.enter_mcp_call); returns
    the token to leave it with."""
    if len(args) >= 3:
        responder, req, session = args[0], args[1], args[2]
    else:
        responder = arg(args, kwargs, 0, "message")
        req = arg(args, kwargs, 1, "req")
        session = arg(args, kwargs, 2, "session")
    params = getattr(req, "params", None)
    target = getattr(params, "name", None)
    if type(target) is not str:
        uri = getattr(params, "uri", None)
        target = str(uri) if uri is not None else None
    state = getattr(session, "_bluepython_state", None)
    if state is not None:
        session_id, transport, server_name = state.session_id, state.transport, state.server_name
    else:
        session_id, transport = session_id_for(session), None
        server_name = getattr(server, "name", None)
    return _enter_mcp_call(
        session_id, getattr(responder, "request_id", None), getattr(req, "method", None), target, transport,
        server_name, traceparent_of(params) if params is not None else None,
    )


def _refusal(server: Any, args: Any, kwargs: Any) -> Any:
    """The policy's answer to a tools/call: None to run it, else a coroutine
    that responds with an error result (as the SDK answers a tool that
    raised), the handler never running."""
    req = args[1] if len(args) >= 2 else arg(args, kwargs, 1, "req")
    if getattr(req, "method", None) != "tools/call":
        return None
    params = getattr(req, "params", None)
    message = _bluepython.policy_check_call(getattr(params, "name", None), getattr(params, "arguments", None))
    if message is None:
        return None
    responder = args[0] if args else arg(args, kwargs, 0, "message")
    return _respond_refused(responder, message)


async def _respond_refused(responder: Any, message: str) -> None:
    import anyio
    from mcp import types

    result = types.ServerResult(
        types.CallToolResult(content=[types.TextContent(type="text", text=message)], isError=True)
    )
    # The transport closed meanwhile: as the SDK, nothing to answer.
    with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
        await responder.respond(result)


_make_handle_request = attributed(_enter_call, "hooks: mcp: attribution", _refusal)


# ---------------------------------------------------------------------------
# Servers and what they offer


def _lowlevel_server_init(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    result = wrapped(*args, **kwargs)
    try:
        outer = building.get()
        framework = outer[0] if outer is not None else "mcp"
        if outer is None or getattr(outer[1], "_bluepython_server", None) is None:
            if outer is not None:
                object.__setattr__(outer[1], "_bluepython_server", instance)  # one init event per FastMCP
            server_init(
                getattr(instance, "name", None),
                title=getattr(instance, "title", None),
                description=getattr(instance, "description", None),
                version=getattr(instance, "version", None),
                instructions=getattr(instance, "instructions", None),
                framework=framework,
                website_url=getattr(instance, "website_url", None),
            )
    except Exception as exc:
        internal_error("hooks: mcp: server_init", exc)
    return result


def build_as(framework: str, where: str, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """Runs a FastMCP constructor (``wrapped``) with ``building`` set to
    (``framework``, ``instance``); a fault of ours is reported under ``where``."""
    token = None
    try:
        token = building.set((framework, instance))
    except Exception as exc:
        internal_error(where, exc)
    try:
        return wrapped(*args, **kwargs)
    finally:
        if token is not None:
            building.reset(token)


def _fastmcp_init(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    result = build_as("mcp.fastmcp", "hooks: mcp: FastMCP", wrapped, instance, args, kwargs)
    try:
        name = instance.name
        for manager in ("_tool_manager", "_resource_manager", "_prompt_manager"):
            owner = getattr(instance, manager, None)
            if owner is not None:
                object.__setattr__(owner, "_bluepython_server_name", name)
        # FastMCP(tools=[...]) stores its tools without ToolManager.add_tool.
        tools = getattr(getattr(instance, "_tool_manager", None), "_tools", None) or {}
        for tool in list(tools.values()):
            _server_add("tool", tool, name)
    except Exception as exc:
        internal_error("hooks: mcp: FastMCP", exc)
    return result


def _registration(kind: str, registry: str) -> Any:
    """ToolManager.add_tool / ResourceManager.add_resource, add_template /
    PromptManager.add_prompt: one python_mcp_server_add per element added (a
    duplicate that is ignored returns the existing element and adds nothing)."""

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        try:
            before = len(getattr(instance, registry))
        except Exception:
            before = None
        result = wrapped(*args, **kwargs)
        try:
            if before is None or len(getattr(instance, registry)) > before:
                _server_add(kind, result, getattr(instance, "_bluepython_server_name", None))
        except Exception as exc:
            internal_error("hooks: mcp: server_add", exc)
        return result

    return wrapper


def _server_add(kind: str, element: Any, server_name: Any) -> None:
    component_added(kind, element, server_name=server_name, framework="mcp.fastmcp")
