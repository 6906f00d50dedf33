# SPDX-License-Identifier: Apache-2.0
"""Hooks for the MCP Python SDK 2.x (``mcp`` 2.x with ``mcp-types``).

Where each event comes from (verified against mcp 2.3.0):

- ``python_mcp_event``, both sides, on every transport that frames JSON-RPC
  (stdio, SSE, Streamable HTTP stateful and stateless, in-memory streams, and
  the 2026-07-28 revision over a duplex stream):
  ``mcp.shared.jsonrpc_dispatcher:JSONRPCDispatcher._dispatch`` (inbound) and
  ``JSONRPCDispatcher._write`` (outbound). ``JSONRPCDispatcher.run`` tells a
  server dispatcher from a client one by the ``on_request`` it is given (a
  ``ServerRunner``, a closure of the runner's serving loops, or a
  ``ClientSession``) and links it to its ``Connection`` / ``ClientSession``
  (a ``_Link`` kept on the dispatcher). The transport comes from the context
  manager that yielded the dispatcher's write stream (``stdio_server``,
  ``SseServerTransport.connect_sse``, ``StreamableHTTPServerTransport.connect``,
  ``stdio_client``, ``sse_client``, ``streamable_http_client``,
  ``InMemoryTransport``, ``create_client_server_memory_streams``).
- The 2026-07-28 single-exchange HTTP entry uses no dispatcher:
  ``mcp.server._streamable_http_modern`` is hooked instead
  (``handle_modern_request`` for the exchange, ``classify_inbound_request``
  for the request body, ``_write`` / ``_sse_event`` for what goes out,
  ``_acknowledge_notification`` for POSTed notifications). All but the first
  are called through that module's globals; ``handle_modern_request`` is
  patched when its module loads, before ``streamable_http_manager`` imports
  the name.
- sessions (``python_mcp_session_created`` / ``_terminated``): the start and
  end of ``JSONRPCDispatcher.run`` (server: one per ``Connection``; client: one
  per ``ClientSession``). A Streamable HTTP session ends with the transport
  (client DELETE, idle timeout, shutdown), which ends the run.
- attribution: ``mcp.server.runner:ServerRunner._on_request``, the kernel every
  transport (the 2026-07-28 entries and the in-process ``DirectDispatcher``
  included) runs each request through; middleware and handler run inside.
- ``python_mcp_server_init``: ``mcp.server.lowlevel.server:Server.__init__``
  and ``mcp.server.mcpserver.server:MCPServer.__init__`` (rule below).
- ``python_mcp_server_add``: ``ToolManager.add_tool``,
  ``ResourceManager.add_resource`` / ``add_template``,
  ``PromptManager.add_prompt``, and what ``MCPServer(tools=..., resources=...)``
  put in its managers without those calls. A low-level ``Server`` is known by
  its ``tools/list`` results (``python_mcp_tool_changed``).
- ``python_mcp_client_connect``: entering ``stdio_client``, ``sse_client``,
  ``streamable_http_client`` (wrapped when their modules load, so
  ``from``-imports, ``mcp.Client`` and fastmcp get the wrapped functions),
  ``InMemoryTransport`` and ``mcp.client.client:_connect_inproc`` (``Client`` on
  an in-process server).

``_dispatch``, ``_write`` and ``_on_request`` run for every message: they are
replaced by plain functions (``replace`` rows), not wrapt wrappers, because
the wrapt bundled with bluepython is pure Python (about 4 us a call).

Session ids: the ``Mcp-Session-Id`` on stateful Streamable HTTP (both sides);
otherwise a generated id kept on the server's ``Connection`` / the client's
``ClientSession`` (``_sessions.session_id_for``, as fastmcp's hooks do), so client
and server ids match only over stateful HTTP. Stateless Streamable HTTP has a
``Connection`` per POST: each is a session of its own (``stateless: true``).
The 2026-07-28 revision has no sessions (OTel MCP conventions:
``mcp.session.id`` must not be set): ``session_id`` is null and no session
events are emitted, whatever the transport. A client's era shows in its
first request (``initialize`` or ``server/discover``) and, on Streamable HTTP,
its id in the ``initialize`` response: its session is announced once both are
known, and the events before (that ``initialize``) carry a null id.
"""


from __future__ import annotations

from typing import Any

from ..._emit import CLIENT, SERVER
from ..._patcher import Patcher, install_targets, prepare, replace, wrap
from . import _attribution, _links, _messages, _modern, _servers, _shared
from ._transports import _connect_inproc_wrapper, _http_transport_init_wrapper, _transport_cm

_MODERN = "mcp.server._streamable_http_modern"
_DISPATCHER = "mcp.shared.jsonrpc_dispatcher"
_MCPSERVER = "mcp.server.mcpserver"

TARGETS = (
    prepare(_DISPATCHER, _shared._learn_message_classes),
    wrap(_DISPATCHER, "JSONRPCDispatcher.run", _links._run_wrapper),
    replace(_DISPATCHER, "JSONRPCDispatcher._dispatch", _messages._make_dispatch),
    replace(_DISPATCHER, "JSONRPCDispatcher._write", _messages._make_write),
    replace("mcp.server.runner", "ServerRunner._on_request", _attribution._make_on_request),
    wrap("mcp.server.lowlevel.server", "Server.__init__", _servers._server_init_wrapper),
    wrap(f"{_MCPSERVER}.server", "MCPServer.__init__", _servers._mcpserver_init_wrapper),
    wrap(f"{_MCPSERVER}.tools.tool_manager", "ToolManager.add_tool", _servers._add_wrapper("tool")),
    wrap(
        f"{_MCPSERVER}.resources.resource_manager",
        "ResourceManager.add_resource",
        _servers._add_wrapper("resource"),
    ),
    wrap(
        f"{_MCPSERVER}.resources.resource_manager",
        "ResourceManager.add_template",
        _servers._add_wrapper("resource_template"),
    ),
    wrap(f"{_MCPSERVER}.prompts.manager", "PromptManager.add_prompt", _servers._add_wrapper("prompt")),
    wrap(_MODERN, "handle_modern_request", _modern._modern_request_wrapper),
    wrap(_MODERN, "classify_inbound_request", _modern._modern_classify_wrapper),
    wrap(_MODERN, "_write", _modern._modern_outbound_wrapper),
    wrap(_MODERN, "_sse_event", _modern._modern_outbound_wrapper),
    wrap(_MODERN, "_acknowledge_notification", _modern._modern_notification_wrapper),
    # Transports: each registers the streams it yields, so a dispatcher over
    # them knows its transport (and, for a Streamable HTTP client, where the
    # Mcp-Session-Id lives).
    wrap("mcp.server.stdio", "stdio_server", _transport_cm("stdio", SERVER)),
    wrap("mcp.server.sse", "SseServerTransport.connect_sse", _transport_cm("sse", SERVER)),
    wrap(
        "mcp.server.streamable_http",
        "StreamableHTTPServerTransport.connect",
        _transport_cm("streamable-http", SERVER),
    ),
    wrap("mcp.client.stdio", "stdio_client", _transport_cm("stdio", CLIENT)),
    wrap("mcp.client.sse", "sse_client", _transport_cm("sse", CLIENT)),
    wrap("mcp.client.streamable_http", "StreamableHTTPTransport.__init__", _http_transport_init_wrapper),
    wrap("mcp.client.streamable_http", "streamable_http_client", _transport_cm("streamable-http", CLIENT)),
    wrap("mcp.client._memory", "InMemoryTransport._connect", _transport_cm("memory", CLIENT)),
    wrap("mcp.shared.memory", "create_client_server_memory_streams", _transport_cm("memory-pair", SERVER)),
    wrap("mcp.client.client", "_connect_inproc", _connect_inproc_wrapper),
)


def install(patcher: Patcher, when_imported: Any) -> None:
    install_targets(patcher, when_imported, TARGETS)


__all__ = ["TARGETS", "install"]
