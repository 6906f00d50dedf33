# SPDX-License-Identifier: Apache-2.0
"""Hooks for the MCP Python SDK 1.x (``mcp`` < 2).

Where 1.x is observed:

- Every JSON-RPC message of a session, both sides, both directions: a session
  (``mcp.shared.session.BaseSession``) reads every inbound message from its
  ``_read_stream`` (in ``_receive_loop``) and writes every outbound one to its
  ``_write_stream`` (requests, notifications, responses, the error responses
  it makes itself for invalid requests, ``ServerSession.send_message``). When
  a ``ServerSession`` or ``ClientSession`` is built, those two streams are
  replaced by thin taps that forward every call and see each
  ``SessionMessage`` once, as the raw JSON-RPC body. No other code path
  reaches the wire.
- Sessions: ``BaseSession.__aenter__`` / ``__aexit__``.
- Transports: the server transports' connect context managers
  (``stdio_server``, ``SseServerTransport.connect_sse``,
  ``StreamableHTTPServerTransport.connect``, ``websocket_server``,
  ``create_client_server_memory_streams``) and the client ones
  (``stdio_client``, ``sse_client``, ``streamable_http_client`` -- which the
  deprecated ``streamablehttp_client`` calls --, ``websocket_client``) tag the
  streams they yield with the transport (and the Streamable HTTP session id, or
  the client's ``get_session_id``), so the session built on them knows both.
  The client ones also emit ``python_mcp_client_connect``. These functions are
  wrapped in their defining module when it is imported, before any module that
  ``from``-imports them (``mcp/__init__``, fastmcp) binds the name.
- Servers: ``mcp.server.lowlevel.server.Server.__init__`` (one
  ``python_mcp_server_init``; the framework is the FastMCP being built around
  it, if any) and ``Server._handle_request`` (the call in effect while a
  request handler runs, sync tools included: 1.x FastMCP runs them inline).
- 1.x FastMCP registration: ``ToolManager.add_tool``,
  ``ResourceManager.add_resource`` / ``add_template``,
  ``PromptManager.add_prompt``, and ``FastMCP(tools=[...])`` (stored without
  ``add_tool``) after ``FastMCP.__init__``.
"""


from __future__ import annotations

from typing import Any

from ..._patcher import Patcher, install_targets, replace, wrap
from . import _servers, _session, _transports
from ._servers import build_as, building

TARGETS = (
    wrap("mcp.shared.session", "BaseSession.__aenter__", _session._session_aenter),
    wrap("mcp.shared.session", "BaseSession.__aexit__", _session._session_aexit),
    wrap("mcp.server.session", "ServerSession.__init__", _session._server_session_init),
    wrap("mcp.client.session", "ClientSession.__init__", _session._client_session_init),
    wrap("mcp.server.lowlevel.server", "Server.__init__", _servers._lowlevel_server_init),
    # Every request passes here: a plain function, not a wrapt wrapper (pure
    # Python in the bundled wrapt, microseconds a call).
    replace("mcp.server.lowlevel.server", "Server._handle_request", _servers._make_handle_request),
    wrap("mcp.server.fastmcp.server", "FastMCP.__init__", _servers._fastmcp_init),
    wrap(
        "mcp.server.fastmcp.tools.tool_manager",
        "ToolManager.add_tool",
        _servers._registration("tool", "_tools"),
    ),
    wrap(
        "mcp.server.fastmcp.resources.resource_manager",
        "ResourceManager.add_resource",
        _servers._registration("resource", "_resources"),
    ),
    wrap(
        "mcp.server.fastmcp.resources.resource_manager",
        "ResourceManager.add_template",
        _servers._registration("resource_template", "_templates"),
    ),
    wrap(
        "mcp.server.fastmcp.prompts.manager",
        "PromptManager.add_prompt",
        _servers._registration("prompt", "_prompts"),
    ),
    wrap("mcp.server.stdio", "stdio_server", _transports._server_transport("stdio")),
    wrap("mcp.server.sse", "SseServerTransport.connect_sse", _transports._server_transport("sse")),
    wrap(
        "mcp.server.streamable_http",
        "StreamableHTTPServerTransport.connect",
        _transports._server_transport("streamable-http"),
    ),
    wrap("mcp.server.websocket", "websocket_server", _transports._server_transport("websocket")),
    wrap("mcp.shared.memory", "create_client_server_memory_streams", _transports._memory_streams),
    wrap("mcp.client.stdio", "stdio_client", _transports._stdio_client),
    wrap("mcp.client.sse", "sse_client", _transports._sse_client),
    wrap("mcp.client.streamable_http", "streamable_http_client", _transports._streamable_http_client),
    wrap("mcp.client.websocket", "websocket_client", _transports._websocket_client),
)


def install(patcher: Patcher, when_imported: Any) -> None:
    install_targets(patcher, when_imported, TARGETS)


__all__ = ["TARGETS", "build_as", "building", "install"]
