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
replaced by plain functions (``_replace``), not wrapt wrappers, because the
wrapt bundled with bluepython is pure Python (about 4 us a call).

Session ids: the ``Mcp-Session-Id`` on stateful Streamable HTTP (both sides);
otherwise a generated id kept on the server's ``Connection`` / the client's
``ClientSession`` (``_core.session_id_for``, as fastmcp's hooks do), so client
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

import contextlib
import contextvars
import sys
import threading
import time
import weakref
from typing import Any

import _bluepython

from .. import _connect, _core, _emit

_FRAMEWORK_LOWLEVEL = "mcp"
_FRAMEWORK_MCPSERVER = "mcp.mcpserver"

_SERVER = _core.SERVER
_CLIENT = _core.CLIENT

_LINK = "_bluepython_link"  # attribute on a JSONRPCDispatcher: its _Link

_PROTOCOL_VERSION_KEY = "io.modelcontextprotocol/protocolVersion"
_CLIENT_INFO_KEY = "io.modelcontextprotocol/clientInfo"
_MODERN_VERSIONS: frozenset[str] = frozenset({"2026-07-28"})  # refreshed from mcp_types at install

# Frameworks with hooks of their own that subclass the SDK's low-level Server
# and emit their own python_mcp_server_init (fastmcp's LowLevelServer).
_OWN_HOOKS_PACKAGES = frozenset({"fastmcp"})

# Request methods whose params name the handler's target.
_TARGET_KEY = {
    "tools/call": "name",
    "prompts/get": "name",
    "resources/read": "uri",
    "resources/subscribe": "uri",
    "resources/unsubscribe": "uri",
}

# JSON-RPC message kinds, keyed by mcp_types class at install.
_REQUEST, _NOTIFICATION, _RESPONSE, _ERROR = _emit.REQUEST, _emit.NOTIFICATION, _emit.RESPONSE, _emit.ERROR
_mcp_message = _bluepython.mcp_message  # the per-message emit (native)
_enter_mcp_call = _bluepython.enter_mcp_call
_perf_counter = time.perf_counter
_Observer = _bluepython.McpObserver
_KINDS: dict[type, int] = {}  # the native observer's too (same kind numbers)


def install(patcher: _core.Patcher, when_imported: Any) -> None:
    def dispatcher(module: Any) -> None:
        for name, kind in (
            ("JSONRPCRequest", _REQUEST),
            ("JSONRPCNotification", _NOTIFICATION),
            ("JSONRPCResponse", _RESPONSE),
            ("JSONRPCError", _ERROR),
        ):
            _KINDS[getattr(module, name)] = kind
        _refresh_versions()
        patcher.wrap(module, "JSONRPCDispatcher.run", _run_wrapper)
        _replace(patcher, module, "JSONRPCDispatcher._dispatch", _make_dispatch)
        _replace(patcher, module, "JSONRPCDispatcher._write", _make_write)

    def runner(module: Any) -> None:
        _replace(patcher, module, "ServerRunner._on_request", _make_on_request)

    def lowlevel(module: Any) -> None:
        patcher.wrap(module, "Server.__init__", _server_init_wrapper)

    def mcpserver(module: Any) -> None:
        patcher.wrap(module, "MCPServer.__init__", _mcpserver_init_wrapper)

    def tool_manager(module: Any) -> None:
        patcher.wrap(module, "ToolManager.add_tool", _add_wrapper("tool"))

    def resource_manager(module: Any) -> None:
        patcher.wrap(module, "ResourceManager.add_resource", _add_wrapper("resource"))
        patcher.wrap(module, "ResourceManager.add_template", _add_wrapper("resource_template"))

    def prompt_manager(module: Any) -> None:
        patcher.wrap(module, "PromptManager.add_prompt", _add_wrapper("prompt"))

    def modern_http(module: Any) -> None:
        patcher.wrap(module, "handle_modern_request", _modern_request_wrapper)
        patcher.wrap(module, "classify_inbound_request", _modern_classify_wrapper)
        patcher.wrap(module, "_write", _modern_write_wrapper)
        patcher.wrap(module, "_sse_event", _modern_sse_event_wrapper)
        patcher.wrap(module, "_acknowledge_notification", _modern_notification_wrapper)

    # Transports: each registers the streams it yields, so a dispatcher over
    # them knows its transport (and, for a Streamable HTTP client, where the
    # Mcp-Session-Id lives).
    def server_stdio(module: Any) -> None:
        patcher.wrap(module, "stdio_server", _transport_cm("stdio", _SERVER))

    def server_sse(module: Any) -> None:
        patcher.wrap(module, "SseServerTransport.connect_sse", _transport_cm("sse", _SERVER))

    def server_http(module: Any) -> None:
        patcher.wrap(
            module, "StreamableHTTPServerTransport.connect", _transport_cm("streamable-http", _SERVER)
        )

    def client_stdio(module: Any) -> None:
        patcher.wrap(module, "stdio_client", _transport_cm("stdio", _CLIENT))

    def client_sse(module: Any) -> None:
        patcher.wrap(module, "sse_client", _transport_cm("sse", _CLIENT))

    def client_http(module: Any) -> None:
        patcher.wrap(module, "StreamableHTTPTransport.__init__", _http_transport_init_wrapper)
        patcher.wrap(module, "streamable_http_client", _transport_cm("streamable-http", _CLIENT))

    def client_memory(module: Any) -> None:
        patcher.wrap(module, "InMemoryTransport._connect", _transport_cm("memory", _CLIENT))

    def memory_streams(module: Any) -> None:
        patcher.wrap(module, "create_client_server_memory_streams", _transport_cm("memory-pair", _SERVER))

    def client_client(module: Any) -> None:
        patcher.wrap(module, "_connect_inproc", _connect_inproc_wrapper)

    when_imported("mcp.shared.jsonrpc_dispatcher", dispatcher)
    when_imported("mcp.server.runner", runner)
    when_imported("mcp.server.lowlevel.server", lowlevel)
    when_imported("mcp.server.mcpserver.server", mcpserver)
    when_imported("mcp.server.mcpserver.tools.tool_manager", tool_manager)
    when_imported("mcp.server.mcpserver.resources.resource_manager", resource_manager)
    when_imported("mcp.server.mcpserver.prompts.manager", prompt_manager)
    when_imported("mcp.server._streamable_http_modern", modern_http)
    when_imported("mcp.server.stdio", server_stdio)
    when_imported("mcp.server.sse", server_sse)
    when_imported("mcp.server.streamable_http", server_http)
    when_imported("mcp.client.stdio", client_stdio)
    when_imported("mcp.client.sse", client_sse)
    when_imported("mcp.client.streamable_http", client_http)
    when_imported("mcp.client._memory", client_memory)
    when_imported("mcp.shared.memory", memory_streams)
    when_imported("mcp.client.client", client_client)


def _refresh_versions() -> None:
    global _MODERN_VERSIONS
    try:
        from mcp_types.version import MODERN_PROTOCOL_VERSIONS

        _MODERN_VERSIONS = frozenset(MODERN_PROTOCOL_VERSIONS)
    except Exception as exc:
        _core.internal_error("hooks: mcp: protocol versions", exc)


# ---------------------------------------------------------------------------
# Transports: which streams belong to which transport


class _Transport:
    """A transport context entered by the app: its kind, what it connects to
    (client side), and for a Streamable HTTP client the object that keeps the
    Mcp-Session-Id. Keyed by the id of the write stream it yields (the one a
    dispatcher gets unchanged; the server's dual-era loop replaces the read
    stream by a replaying one)."""

    __slots__ = ("http", "kind", "side", "streams", "target")

    def __init__(self, kind: str, side: int) -> None:
        self.kind = kind
        self.side = side
        self.target: str | None = None  # client: url or command
        self.http: Any = None  # client Streamable HTTP: StreamableHTTPTransport
        self.streams: Any = None  # keeps the stream objects (and so their ids) alive while registered


_transports: dict[int, _Transport] = {}
# Set while a client's Streamable HTTP context is being entered: collects the
# StreamableHTTPTransport it creates (in the entering task's context).
_http_capture: contextvars.ContextVar[_Transport | None] = contextvars.ContextVar(
    "bluepython_mcp_http_capture", default=None
)


def _transport_cm(kind: str, side: int) -> Any:
    """Wrapper for a function or method returning an async context manager
    that yields (read_stream, write_stream)."""

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        cm = wrapped(*args, **kwargs)
        try:
            transport = _Transport(kind, side)
            if side == _CLIENT:
                transport.target = _connect_target(kind, instance, args, kwargs)
            return _observed_cm(cm, transport, args, kwargs)
        except Exception as exc:
            _core.internal_error(f"hooks: mcp: {kind} transport", exc)
            return cm

    return wrapper


_ObservedCM: Any = None


def _observed_cm(cm: Any, transport: _Transport, args: Any, kwargs: Any) -> Any:
    global _ObservedCM
    if _ObservedCM is None:
        _ObservedCM = _make_observed_cm_class()
    return _ObservedCM(cm, transport, args, kwargs)


def _make_observed_cm_class() -> Any:
    from .._wrapt import wrapt

    class ObservedCM(wrapt.ObjectProxy):  # type: ignore[misc,name-defined]
        """The transport's context manager, unchanged but for entering and
        leaving it: connects are reported and the yielded streams registered."""

        def __init__(self, cm: Any, transport: _Transport, args: Any, kwargs: Any) -> None:
            super().__init__(cm)
            self._self_transport = transport
            self._self_args = args
            self._self_kwargs = kwargs
            self._self_registered: list[tuple[int, _Transport]] = []

        async def __aenter__(self) -> Any:
            transport = self._self_transport
            token = None
            try:
                if transport.side == _CLIENT:
                    _client_connect(transport, self._self_args, self._self_kwargs)
                    if transport.kind == "streamable-http":
                        token = _http_capture.set(transport)
            except Exception as exc:
                _core.internal_error("hooks: mcp: client_connect", exc)
            try:
                streams = await self.__wrapped__.__aenter__()
            finally:
                if token is not None:
                    with contextlib.suppress(ValueError):  # entered in another context
                        _http_capture.reset(token)
            try:
                if transport.kind == "memory-pair":
                    # ((client read, client write), (server read, server write))
                    pairs = (
                        (streams[0], _Transport("memory", _CLIENT)),
                        (streams[1], _Transport("memory", _SERVER)),
                    )
                else:
                    pairs = ((streams, transport),)
                for pair, owner in pairs:
                    owner.streams = pair
                    key = id(pair[1])
                    _transports[key] = owner
                    self._self_registered.append((key, owner))
            except Exception as exc:
                _core.internal_error("hooks: mcp: transport streams", exc)
            return streams

        async def __aexit__(self, *exc_info: Any) -> Any:
            try:
                return await self.__wrapped__.__aexit__(*exc_info)
            finally:
                for key, owner in self._self_registered:
                    if _transports.get(key) is owner:
                        del _transports[key]
                    owner.streams = None
                self._self_registered.clear()

    return ObservedCM


def _http_transport_init_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    result = wrapped(*args, **kwargs)
    try:
        transport = _http_capture.get()
        if transport is not None and transport.http is None:
            transport.http = instance
    except Exception as exc:
        _core.internal_error("hooks: mcp: streamable http transport", exc)
    return result


def _arg(args: Any, kwargs: Any, index: int, name: str) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name)


_redact_url = _core.redact_url


def _connect_target(kind: str, instance: Any, args: Any, kwargs: Any) -> str | None:
    if kind == "stdio":
        server = _arg(args, kwargs, 0, "server")
        command = getattr(server, "command", None)
        return None if command is None else str(command)
    if kind in ("sse", "streamable-http"):
        return _redact_url(_arg(args, kwargs, 0, "url"))
    if kind == "memory":
        server = getattr(instance, "_server", None)
        return getattr(server, "name", None)
    return None


def _client_connect(transport: _Transport, args: Any, kwargs: Any) -> None:
    kind = transport.kind
    if kind == "stdio":
        fields = _connect.stdio_fields(_arg(args, kwargs, 0, "server"))
        _core.client_connect("stdio", **fields, framework=_FRAMEWORK_LOWLEVEL)
    elif kind == "sse":
        auth = _connect.sse_auth(args, kwargs)
        _core.client_connect("sse", url=transport.target, auth=auth, framework=_FRAMEWORK_LOWLEVEL)
    elif kind == "streamable-http":
        auth = _connect.http_client_auth(kwargs)
        _core.client_connect(
            "streamable-http", url=transport.target, auth=auth, framework=_FRAMEWORK_LOWLEVEL
        )
    elif kind == "memory":
        _core.client_connect("memory", server_name=transport.target, framework=_FRAMEWORK_LOWLEVEL)


def _connect_inproc_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``Client(server)`` on an in-process Server: its connector is called when
    the Client is entered. The legacy mode goes through InMemoryTransport
    (reported there); the default drives a DirectDispatcher pair, which frames
    no JSON-RPC (no python_mcp_event; attribution still applies)."""
    connect = wrapped(*args, **kwargs)
    try:
        server = _arg(args, kwargs, 0, "server")
        server_name = getattr(server, "name", None)

        async def connected(exit_stack: Any, mode: Any, *rest: Any, **kw: Any) -> Any:
            if mode != "legacy":
                try:
                    _core.client_connect("memory", server_name=server_name, framework=_FRAMEWORK_LOWLEVEL)
                except Exception as exc:
                    _core.internal_error("hooks: mcp: client_connect", exc)
            return await connect(exit_stack, mode, *rest, **kw)

        return connected
    except Exception as exc:
        _core.internal_error("hooks: mcp: client_connect", exc)
        return connect


# ---------------------------------------------------------------------------
# Dispatchers: one _Link per JSONRPCDispatcher that runs


class _Link:
    """What a dispatcher's messages are reported with: its side, the server
    (server side) and its Connection (handshake era), or the ClientSession
    (client side), the transport, and the session id once known."""

    __slots__ = (
        "__weakref__",
        "announced",
        "client",
        "client_cached",
        "client_id",
        "connection",
        "inbound",
        "kind",
        "name",
        "obs",
        "outbound",
        "pv",
        "server",
        "session",
        "sid",
        "side",
        "started",
        "stateless",
        "transport",
    )

    def __init__(self, side: int) -> None:
        self.side = side
        self.server: Any = None
        self.connection: Any = None
        self.session: Any = None  # client: ClientSession
        self.transport: _Transport | None = None
        self.sid: str | None = None
        self.announced = False
        self.started = time.perf_counter()
        self.stateless = False
        # The native per-message path: reports ordinary messages once
        # _settle found the connection's facts final (server side).
        self.obs = _Observer(side, _KINDS, meta_key=_PROTOCOL_VERSION_KEY)
        # Requests awaiting a response, by JSON-RPC id: (perf_counter, method),
        # shared with the native path. inbound: the peer asked, this side
        # answers; outbound: the reverse.
        self.inbound: dict[Any, tuple[float, str]] = self.obs.inbound
        self.outbound: dict[Any, tuple[float, str]] = self.obs.outbound
        self.pv: str | None = None  # protocol version seen in a 2026-07-28 envelope
        self.client: Any = None  # client info seen in a 2026-07-28 envelope
        self.kind: str | None = None  # transport kind
        self.name: str | None = None  # server name (client side: once the server told it)
        self.client_cached: tuple[Any, Any] | None = None  # (name, version) of the client, once known
        self.client_id: str | None = None  # server side: the OAuth client of the session's bearer token


def _classes(module: str, *names: str) -> tuple[Any, ...]:
    mod = sys.modules.get(module)
    return tuple(getattr(mod, n, None) for n in names)


def _link_for_run(instance: Any, on_request: Any) -> _Link | None:
    """Decides whose dispatcher this is from the on_request it runs."""
    (runner_cls,) = _classes("mcp.server.runner", "ServerRunner")
    (session_cls,) = _classes("mcp.client.session", "ClientSession")
    (server_cls,) = _classes("mcp.server.lowlevel.server", "Server")
    owner = getattr(on_request, "__self__", None)
    link: _Link | None = None
    if session_cls is not None and isinstance(owner, session_cls):
        link = _Link(_CLIENT)
        link.session = owner
    elif runner_cls is not None and isinstance(owner, runner_cls):
        link = _Link(_SERVER)
        link.server = owner.server
        link.connection = owner.connection
    else:
        # The runner's serving loops (dual-era) hand a closure over the
        # ServerRunner (handshake era) or over the Server (2026-07-28 era).
        cells = getattr(on_request, "__closure__", None) or ()
        for cell in cells:
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if runner_cls is not None and isinstance(value, runner_cls):
                link = _Link(_SERVER)
                link.server = value.server
                link.connection = value.connection
                break
            if server_cls is not None and isinstance(value, server_cls):
                link = _Link(_SERVER)
                link.server = value
        if link is None:
            module = getattr(on_request, "__module__", "") or ""
            if module.startswith("mcp.server"):
                link = _Link(_SERVER)
            elif module.startswith("mcp.client"):
                link = _Link(_CLIENT)
            else:
                return None
    link.transport = _transports.get(id(getattr(instance, "_write_stream", None)))
    if link.transport is not None:
        link.kind = link.transport.kind
    if link.server is not None:
        link.name = link.server.name
    if link.session is not None:
        link.client_cached = _info(getattr(link.session, "_client_info", None))
    if link.side == _SERVER and link.connection is not None:
        connection = link.connection
        link.sid = connection.session_id or _core.session_id_for(connection)
        # Streamable HTTP without session tracking: one Connection per POST.
        link.stateless = connection.session_id is None and (
            (link.transport is not None and link.transport.kind == "streamable-http")
            or connection.initialized.is_set()
        )
    return link


def _client_server_name(link: _Link) -> str | None:
    """The server's name as the client knows it (initialize / discover
    result), cached once known."""
    session = link.session
    if session is None:
        return None
    try:
        info = session.server_info
    except Exception:
        return None
    if info is None:
        return None
    link.name = info.name
    return link.name


def _session_id(link: _Link) -> str | None:
    """The session id of this dispatcher's messages (see the module doc);
    announces the session the first time it is known."""
    sid = link.sid
    if sid is not None or link.side == _SERVER:
        return sid
    session = link.session
    version = getattr(session, "_negotiated_version", None)
    if version in _MODERN_VERSIONS:
        return None
    transport = link.transport
    if transport is not None and transport.kind == "streamable-http":
        http = transport.http
        sid = getattr(http, "session_id", None)
        if sid is None and version is None:
            return None  # before the initialize response: not known yet
    if sid is None:
        sid = _core.session_id_for(session if session is not None else link)
    link.sid = sid
    _announce(link)
    return sid


def _announce(link: _Link) -> None:
    if link.announced or link.sid is None:
        return
    link.announced = True
    _core.session_created(
        link.sid,
        link.side,
        transport=link.kind,
        server_name=link.name if link.name is not None else _client_server_name(link),
        stateless=True if link.stateless else None,
        target=link.transport.target if link.transport is not None and link.side == _CLIENT else None,
    )


async def _run_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    link = None
    try:
        on_request = _arg(args, kwargs, 0, "on_request")
        link = _link_for_run(instance, on_request)
        if link is not None:
            instance.__dict__[_LINK] = link
            if link.side == _SERVER:
                _announce(link)
            # A client's session is announced with its first message of the
            # handshake era (see _session_id): its era is not known yet.
    except Exception as exc:
        _core.internal_error("hooks: mcp: dispatcher run", exc)
    try:
        return await wrapped(*args, **kwargs)
    finally:
        if link is not None and link.announced:
            try:
                _core.session_terminated(
                    link.sid,
                    link.side,
                    transport=link.kind,
                    server_name=link.name if link.name is not None else _client_server_name(link),
                    duration_ms=round((time.perf_counter() - link.started) * 1000.0, 3),
                )
            except Exception as exc:
                _core.internal_error("hooks: mcp: dispatcher run", exc)


# ---------------------------------------------------------------------------
# Messages


def _body(msg: Any, kind: int) -> dict[str, Any]:
    """The JSON-RPC body of an mcp_types message, without a pydantic dump
    (params and results are already plain JSON data)."""
    if kind == _REQUEST:
        body = {"jsonrpc": msg.jsonrpc, "id": msg.id, "method": msg.method}
        if msg.params is not None:
            body["params"] = msg.params
        return body
    if kind == _NOTIFICATION:
        body = {"jsonrpc": msg.jsonrpc, "method": msg.method}
        if msg.params is not None:
            body["params"] = msg.params
        return body
    if kind == _RESPONSE:
        return {"jsonrpc": msg.jsonrpc, "id": msg.id, "result": msg.result}
    return {
        "jsonrpc": msg.jsonrpc,
        "id": msg.id,
        "error": msg.error.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def _meta_of(params: Any) -> Any:
    if isinstance(params, dict):
        meta = params.get("_meta")
        if isinstance(meta, dict):
            return meta
    return None


def _info(value: Any) -> tuple[Any, Any]:
    """(name, version) of an Implementation model or dict."""
    if value is None:
        return _NO_CLIENT
    if isinstance(value, dict):
        return value.get("name"), value.get("version")
    return getattr(value, "name", None), getattr(value, "version", None)


_NO_CLIENT: tuple[Any, Any] = (None, None)


def _observe(link: _Link, msg: Any, received: bool) -> None:
    """Reports one JSON-RPC message of a dispatcher: the messages the native
    observer declines (the handshake, tools/list results, errors, 2026-07-28
    envelopes, the client side). No pydantic dumps; per-connection facts
    cached on the link."""
    kind = _KINDS.get(msg.__class__)
    if kind is None:
        return
    body = _body(msg, kind)
    duration = None
    request_id = None
    response_to = None
    pv = None
    client = None
    if kind <= _NOTIFICATION:
        method = msg.method
        if kind == _REQUEST:
            request_id = msg.id
            pending = link.inbound if received else link.outbound
            pending[request_id] = (_perf_counter(), method)
            if len(pending) > _core.PENDING_LIMIT:
                _core.forget_oldest(pending)
        params = msg.params
        if params is not None:
            if "_meta" in params:
                meta = params["_meta"]
                if isinstance(meta, dict) and _PROTOCOL_VERSION_KEY in meta:
                    pv = link.pv = meta[_PROTOCOL_VERSION_KEY]
                    info = meta.get(_CLIENT_INFO_KEY)
                    if info is not None:
                        link.client = info
            if method == "initialize" and kind == _REQUEST:
                pv = params.get("protocolVersion")
                client = _info(params.get("clientInfo"))
    else:
        request_id = msg.id
        entry = (link.outbound if received else link.inbound).pop(request_id, None)
        if entry is not None:
            duration = round((_perf_counter() - entry[0]) * 1000.0, 3)
            response_to = entry[1]
        if response_to == "initialize" and kind == _RESPONSE and isinstance(msg.result, dict):
            pv = msg.result.get("protocolVersion")

    if link.side == _SERVER:
        connection = link.connection
        if connection is not None:
            if pv is None:
                pv = connection.protocol_version
            if client is None:
                client = link.client_cached
                if client is None and connection.client_params is not None:
                    client = link.client_cached = _info(connection.client_params.client_info)
        else:  # the 2026-07-28 era: identity travels in each request's envelope
            if pv is None:
                pv = link.pv
            if client is None:
                client = _info(link.client)
        sid = link.sid
        server_name = link.name
    else:
        if pv is None:
            # Before a version is negotiated: the one its last 2026-07-28
            # envelope proposed (server/discover), if any.
            pv = getattr(link.session, "_negotiated_version", None) or link.pv
        if client is None:
            client = link.client_cached
        sid = link.sid
        if sid is None and pv not in _MODERN_VERSIONS:
            sid = _session_id(link)
        server_name = link.name if link.name is not None else _client_server_name(link)
    if client is None:
        client = _NO_CLIENT
    _mcp_message(
        _emit.EVENT_NAMES[(link.side, received, kind)],
        body,
        (_CLIENT if link.side == _SERVER else _SERVER) if received else link.side,
        request_id,
        sid,
        client[0],
        server_name,
        duration,
        link.kind,
        pv,
        response_to,
        client[1],
        link.client_id,
    )
    if response_to == "tools/list" and kind == _RESPONSE and (link.side == _SERVER) != received:
        _tools_listed(link, msg.result, server_name, sid)
    if link.side == _SERVER and not link.obs.fast:
        _settle(link, sid, server_name)


def _settle(link: _Link, sid: str | None, server_name: str | None) -> None:
    """Server side, handshake era: once the connection knows the client and
    the protocol version, what every later message is reported with is fixed;
    hands it to the native observer. (The 2026-07-28 era carries identity in
    each request: its links stay on the Python path.)"""
    connection = link.connection
    if connection is None or link.client_cached is None or connection.protocol_version is None:
        return
    obs = link.obs
    obs.session_id = sid
    obs.server_name = server_name
    obs.transport = link.kind
    obs.protocol_version = connection.protocol_version
    obs.client_name, obs.client_version = link.client_cached
    obs.oauth_client_id = link.client_id
    obs.fast = True


def _tools_listed(link: _Link, result: Any, server_name: str | None, sid: str | None) -> None:
    if not isinstance(result, dict):
        return
    name = server_name
    if name is None and link.transport is not None:
        name = link.transport.target
    _core.tools_listed(name, result.get("tools"), source=link.side, session_id=sid)


# The per-message methods are replaced by plain functions, not wrapt
# wrappers: the wrapt bluepython bundles is pure Python (about 4 us a call),
# too much for a path taken twice per request on each side. _replace keeps
# Patcher.wrap's contract: a missing target is reported, nothing is applied
# twice, patcher.unwrap_all() restores the original.


def _replace(patcher: _core.Patcher, module: Any, target: str, make: Any) -> None:
    patcher.replace(module, target, make)


_HTTP_KINDS = frozenset({"streamable-http", "sse"})


def _oauth_client_id(get: Any) -> str | None:
    """The client_id of the bearer token the SDK's auth middleware accepted for
    the request (its contextvar, read with ``get``: the current context's, or
    the one the message was sent in)."""
    module = sys.modules.get("mcp.server.auth.middleware.auth_context")
    var = getattr(module, "auth_context_var", None)
    if var is None:
        return None
    user = get(var, None)
    token = getattr(user, "access_token", None)
    return getattr(token, "client_id", None)


# Plain functions that hand back the original coroutine (the dispatcher awaits
# both directly): observing costs no extra coroutine frame per message.


def _make_dispatch(original: Any) -> Any:
    def _dispatch(self: Any, *args: Any, **kwargs: Any) -> Any:
        link = self.__dict__.get(_LINK)
        if link is not None:
            try:
                item = args[0] if args else kwargs["item"]
                message = getattr(item, "message", None)  # an Exception item has none
                if message is not None:
                    if link.client_id is None and link.side == _SERVER and link.kind in _HTTP_KINDS:
                        sender_ctx = args[3] if len(args) > 3 else kwargs.get("sender_ctx")
                        if sender_ctx is not None:
                            link.client_id = link.obs.oauth_client_id = _oauth_client_id(sender_ctx.get)
                    if not link.obs.observe(message, True):
                        _observe(link, message, True)
            except Exception as exc:
                _core.internal_error("hooks: mcp: inbound message", exc)
        return original(self, *args, **kwargs)

    return _dispatch


_PROPAGATE = _core.PROPAGATES_TRACES  # OTLP traces on: client requests carry a traceparent


def _make_write(original: Any) -> Any:
    def _write(self: Any, *args: Any, **kwargs: Any) -> Any:
        link = self.__dict__.get(_LINK)
        if link is not None:
            try:
                message = args[0] if args else kwargs["message"]
                if _PROPAGATE and link.side == _CLIENT and type(message).__name__ == "JSONRPCRequest":
                    _core.inject_traceparent(message.params)
                if not link.obs.observe(message, False):
                    _observe(link, message, False)
            except Exception as exc:
                _core.internal_error("hooks: mcp: outbound message", exc)
        return original(self, *args, **kwargs)

    return _write


# ---------------------------------------------------------------------------
# Attribution


def _enter_call(runner: Any, args: Any, kwargs: Any) -> Any:
    """Makes the request's call current (_bluepython.enter_mcp_call); returns
    the token to leave it with."""
    if len(args) >= 3:
        dctx, method, params = args[0], args[1], args[2]
    else:
        dctx = _arg(args, kwargs, 0, "dctx")
        method = _arg(args, kwargs, 1, "method")
        params = _arg(args, kwargs, 2, "params")
    target = None
    key = _TARGET_KEY.get(method)
    if key is not None and params:
        value = params.get(key)
        if value is not None:
            target = str(value)
    dispatcher = getattr(dctx, "_dispatcher", None)
    if dispatcher is None:
        inner = getattr(dctx, "_inner", None)  # the 2026-07-28 era's no-server-requests wrapper
        dispatcher = getattr(inner, "_dispatcher", None)
    link = None if dispatcher is None else dispatcher.__dict__.get(_LINK)
    transport = None
    session_id = None
    if link is not None:
        session_id = link.sid if link.connection is not None else None
        transport = link.kind
    if transport is None:
        # The 2026-07-28 wrapper context's `transport` property copies a
        # dataclass on every access: read the inner context's.
        inner = getattr(dctx, "_inner", None)
        transport_ctx = getattr(inner if inner is not None else dctx, "transport", None)
        kind = getattr(transport_ctx, "kind", None)
        if kind not in (None, "jsonrpc"):
            transport = "memory" if kind == "direct" else kind
    return _enter_mcp_call(
        session_id, getattr(dctx, "request_id", None), method, target, transport, runner.server.name,
        _core.traceparent_of(params) if params else None,
    )


_make_on_request = _core.attributed(_enter_call, "hooks: mcp: attribution")


# ---------------------------------------------------------------------------
# The 2026-07-28 single-exchange HTTP entry (no dispatcher, no session)


# The server's python_mcp_event sub-types here (the one table, _emit.EVENT_NAMES).
_RECEIVED_REQUEST = _emit.EVENT_NAMES[(_SERVER, True, _REQUEST)]
_RECEIVED_NOTIFICATION = _emit.EVENT_NAMES[(_SERVER, True, _NOTIFICATION)]
_SEND_NOTIFICATION = _emit.EVENT_NAMES[(_SERVER, False, _NOTIFICATION)]
_SEND_RESPONSE = _emit.EVENT_NAMES[(_SERVER, False, _RESPONSE)]


class _Exchange:
    __slots__ = ("client", "client_id", "method", "pv", "request_id", "server_name", "started")

    def __init__(self, server_name: str | None) -> None:
        self.server_name = server_name
        self.client_id = _oauth_client_id(lambda var, default: var.get(default))
        self.started: float | None = None
        self.request_id: Any = None
        self.method: str | None = None
        self.pv: Any = None
        self.client: tuple[Any, Any] = (None, None)


_exchange: contextvars.ContextVar[_Exchange | None] = contextvars.ContextVar(
    "bluepython_mcp_exchange", default=None
)


async def _modern_request_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    token = None
    try:
        app = _arg(args, kwargs, 0, "app")
        token = _exchange.set(_Exchange(getattr(app, "name", None)))
    except Exception as exc:
        _core.internal_error("hooks: mcp: 2026-07-28 http", exc)
    try:
        return await wrapped(*args, **kwargs)
    finally:
        if token is not None:
            _exchange.reset(token)


def _modern_classify_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    exchange = _exchange.get()
    if exchange is not None and exchange.started is None:
        try:
            body = _arg(args, kwargs, 0, "body")
            if isinstance(body, dict):
                exchange.started = time.perf_counter()
                exchange.request_id = body.get("id")
                method = body.get("method")
                exchange.method = method if isinstance(method, str) else None
                meta = _meta_of(body.get("params"))
                headers = kwargs.get("headers") or {}
                exchange.pv = (meta or {}).get(_PROTOCOL_VERSION_KEY) or headers.get("mcp-protocol-version")
                exchange.client = _info((meta or {}).get(_CLIENT_INFO_KEY))
                _modern_event(_RECEIVED_REQUEST, body, exchange, _CLIENT)
        except Exception as exc:
            _core.internal_error("hooks: mcp: 2026-07-28 http", exc)
    return wrapped(*args, **kwargs)


def _modern_notification_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """A notification POSTed on the 2026-07-28 revision: acknowledged (202)
    and dropped by the SDK, reported as received."""
    exchange = _exchange.get()
    if exchange is not None:
        try:
            body = _arg(args, kwargs, 0, "decoded")
            if isinstance(body, dict) and isinstance(body.get("method"), str):
                request = _arg(args, kwargs, 1, "request")
                headers = getattr(request, "headers", None) or {}
                meta = _meta_of(body.get("params")) or {}
                exchange.pv = meta.get(_PROTOCOL_VERSION_KEY) or headers.get("mcp-protocol-version")
                exchange.client = _info(meta.get(_CLIENT_INFO_KEY))
                _modern_event(_RECEIVED_NOTIFICATION, body, exchange, _CLIENT)
        except Exception as exc:
            _core.internal_error("hooks: mcp: 2026-07-28 http", exc)
    return wrapped(*args, **kwargs)


def _modern_event(
    event: str, body: Any, exchange: _Exchange, source: int, duration: float | None = None
) -> None:
    _core.message_event(
        event,
        body,
        source=source,
        request_id=body.get("id") if isinstance(body, dict) else None,
        session_id=None,
        client_id=exchange.client[0],
        oauth_client_id=exchange.client_id,
        server_name=exchange.server_name,
        duration_ms=duration,
        transport="streamable-http",
        protocol_version=exchange.pv,
        client_version=exchange.client[1],
        request_method=exchange.method if event == _SEND_RESPONSE else None,
    )


def _modern_outbound(msg: Any) -> None:
    exchange = _exchange.get()
    kind = _KINDS.get(type(msg))
    if exchange is None or kind is None:
        return
    body = _body(msg, kind)
    if kind == _NOTIFICATION:
        _modern_event(_SEND_NOTIFICATION, body, exchange, _SERVER)
        return
    if kind == _REQUEST:
        return
    duration = None
    if exchange.started is not None and msg.id == exchange.request_id:
        duration = round((time.perf_counter() - exchange.started) * 1000.0, 3)
    _modern_event(_SEND_RESPONSE, body, exchange, _SERVER, duration)
    if kind == _RESPONSE and exchange.method == "tools/list":
        _core.tools_listed(exchange.server_name, msg.result.get("tools"), source=_SERVER, session_id=None)


def _modern_write_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        _modern_outbound(_arg(args, kwargs, 0, "msg"))
    except Exception as exc:
        _core.internal_error("hooks: mcp: 2026-07-28 http", exc)
    return wrapped(*args, **kwargs)


def _modern_sse_event_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        _modern_outbound(_arg(args, kwargs, 0, "msg"))
    except Exception as exc:
        _core.internal_error("hooks: mcp: 2026-07-28 http", exc)
    return wrapped(*args, **kwargs)


# ---------------------------------------------------------------------------
# Servers and their components
#
# One python_mcp_server_init per server the app creates:
# - MCPServer: emitted by MCPServer.__init__ (framework "mcp.mcpserver"); the
#   low-level Server it builds inside its __init__ is not reported again.
# - Server: emitted for the SDK's class and the app's own subclasses, not for
#   subclasses defined by a framework with hooks of its own (fastmcp's
#   LowLevelServer: fastmcp/_v4 reports those), nor while an MCPServer is
#   being constructed (in this thread).

_constructing = threading.local()  # .depth: MCPServer.__init__ calls in progress in this thread
_manager_servers: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def _server_init_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    result = wrapped(*args, **kwargs)
    try:
        package = (type(instance).__module__ or "").split(".", 1)[0]
        if getattr(_constructing, "depth", 0) == 0 and package not in _OWN_HOOKS_PACKAGES:
            _core.server_init(
                instance.name,
                title=instance.title,
                description=instance.description,
                version=instance.version or None,
                instructions=instance.instructions,
                framework=_FRAMEWORK_LOWLEVEL,
                website_url=getattr(instance, "website_url", None),
            )
    except Exception as exc:
        _core.internal_error("hooks: mcp: server_init", exc)
    return result


def _mcpserver_init_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    _constructing.depth = getattr(_constructing, "depth", 0) + 1
    try:
        result = wrapped(*args, **kwargs)
    finally:
        _constructing.depth -= 1
    try:
        name = instance.name
        _core.server_init(
            name,
            title=instance.title,
            description=instance.description,
            version=instance.version or None,
            instructions=instance.instructions,
            framework=_FRAMEWORK_MCPSERVER,
            website_url=instance.website_url,
        )
        tools = instance._tool_manager
        resources = instance._resource_manager
        prompts = instance._prompt_manager
        for manager in (tools, resources, prompts):
            _manager_servers[manager] = name
        # Components given to the constructor (ToolManager(tools=...) stores
        # them without add_tool; ResourceManager(resources=...) calls
        # add_resource before the server is known).
        for tool in tools.list_tools():
            _server_add("tool", tool, name)
        for resource in resources.list_resources():
            _server_add("resource", resource, name)
        for template in resources.list_templates():
            _server_add("resource_template", template, name)
        for prompt in prompts.list_prompts():
            _server_add("prompt", prompt, name)
    except Exception as exc:
        _core.internal_error("hooks: mcp: server_init", exc)
    return result


def _server_add(kind: str, component: Any, server_name: str | None) -> None:
    _core.component_added(kind, component, server_name=server_name, framework=_FRAMEWORK_MCPSERVER)


_STORES = {
    "tool": "_tools",
    "resource": "_resources",
    "resource_template": "_templates",
    "prompt": "_prompts",
}


def _add_wrapper(kind: str) -> Any:
    store = _STORES[kind]

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if getattr(_constructing, "depth", 0):
            return wrapped(*args, **kwargs)  # reported by MCPServer.__init__, with its server
        try:
            before = len(getattr(instance, store))
        except Exception:
            before = None
        result = wrapped(*args, **kwargs)
        try:
            # A duplicate keeps (and returns) the existing component: nothing
            # was added. Templates are replaced, so always reported.
            if kind == "resource_template" or before is None or len(getattr(instance, store)) > before:
                try:
                    server_name = _manager_servers.get(instance)
                except TypeError:
                    server_name = None
                _server_add(kind, result, server_name)
        except Exception as exc:
            _core.internal_error("hooks: mcp: server_add", exc)
        return result

    return wrapper
