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

import contextvars
import sys
import time
from typing import Any

import _bluepython

from .. import _connect, _core, _emit

SERVER = _core.SERVER
CLIENT = _core.CLIENT

# While a FastMCP constructor runs: (framework, the FastMCP being built). The
# low-level Server it builds reports the FastMCP as the server (one
# python_mcp_server_init per user-visible server). fastmcp 3.x sets it too.
building: contextvars.ContextVar[tuple[str, Any] | None] = contextvars.ContextVar(
    "bluepython_mcp_building", default=None
)

_TRANSPORT_TAG = "_bluepython_transport"  # on a transport's read stream: (transport, session id or getter)

# JSON-RPC message kinds, by the class of SessionMessage.message.root
_REQUEST, _NOTIFICATION, _RESPONSE = _emit.REQUEST, _emit.NOTIFICATION, _emit.RESPONSE
_mcp_message = _bluepython.mcp_message  # the per-message emit (native)
_perf_counter = time.perf_counter
_enter_mcp_call = _bluepython.enter_mcp_call
_Observer = _bluepython.McpObserver
_class_kinds: dict[type, int] = {}  # the native observer's: message class -> 0-3 (3: JSONRPCError)


def _message_classes() -> dict[type, int]:
    """The JSON-RPC message classes of mcp.types for the native observer,
    found once (mcp.types is loaded before any session exists)."""
    if not _class_kinds:
        types = sys.modules.get("mcp.types")
        names = ("JSONRPCRequest", "JSONRPCNotification", "JSONRPCResponse", "JSONRPCError")
        for index, name in enumerate(names):
            cls = getattr(types, name, None)
            if isinstance(cls, type):
                _class_kinds[cls] = index
    return _class_kinds


_KINDS = {
    "JSONRPCRequest": _REQUEST,
    "JSONRPCNotification": _NOTIFICATION,
    "JSONRPCResponse": _RESPONSE,
    "JSONRPCError": _RESPONSE,
}

def install(patcher: _core.Patcher, when_imported: Any) -> None:
    def shared_session(module: Any) -> None:
        patcher.wrap(module, "BaseSession.__aenter__", _session_aenter)
        patcher.wrap(module, "BaseSession.__aexit__", _session_aexit)

    def server_session(module: Any) -> None:
        patcher.wrap(module, "ServerSession.__init__", _server_session_init)

    def client_session(module: Any) -> None:
        patcher.wrap(module, "ClientSession.__init__", _client_session_init)

    def lowlevel(module: Any) -> None:
        patcher.wrap(module, "Server.__init__", _lowlevel_server_init)
        # Every request passes here: a plain function, not a wrapt wrapper
        # (pure Python in the bundled wrapt, microseconds a call).
        patcher.replace(module, "Server._handle_request", _make_handle_request)

    def fastmcp_server(module: Any) -> None:
        patcher.wrap(module, "FastMCP.__init__", _fastmcp_init)

    def tool_manager(module: Any) -> None:
        patcher.wrap(module, "ToolManager.add_tool", _registration("tool", "_tools"))

    def resource_manager(module: Any) -> None:
        patcher.wrap(module, "ResourceManager.add_resource", _registration("resource", "_resources"))
        patcher.wrap(module, "ResourceManager.add_template", _registration("resource_template", "_templates"))

    def prompt_manager(module: Any) -> None:
        patcher.wrap(module, "PromptManager.add_prompt", _registration("prompt", "_prompts"))

    def server_stdio(module: Any) -> None:
        patcher.wrap(module, "stdio_server", _server_transport("stdio"))

    def server_sse(module: Any) -> None:
        patcher.wrap(module, "SseServerTransport.connect_sse", _server_transport("sse"))

    def server_http(module: Any) -> None:
        patcher.wrap(module, "StreamableHTTPServerTransport.connect", _server_transport("streamable-http"))

    def server_websocket(module: Any) -> None:
        patcher.wrap(module, "websocket_server", _server_transport("websocket"))

    def memory(module: Any) -> None:
        patcher.wrap(module, "create_client_server_memory_streams", _memory_streams)

    def client_stdio(module: Any) -> None:
        patcher.wrap(module, "stdio_client", _stdio_client)

    def client_sse(module: Any) -> None:
        patcher.wrap(module, "sse_client", _sse_client)

    def client_http(module: Any) -> None:
        patcher.wrap(module, "streamable_http_client", _streamable_http_client)

    def client_websocket(module: Any) -> None:
        patcher.wrap(module, "websocket_client", _websocket_client)

    when_imported("mcp.shared.session", shared_session)
    when_imported("mcp.server.session", server_session)
    when_imported("mcp.client.session", client_session)
    when_imported("mcp.server.lowlevel.server", lowlevel)
    when_imported("mcp.server.fastmcp.server", fastmcp_server)
    when_imported("mcp.server.fastmcp.tools.tool_manager", tool_manager)
    when_imported("mcp.server.fastmcp.resources.resource_manager", resource_manager)
    when_imported("mcp.server.fastmcp.prompts.manager", prompt_manager)
    when_imported("mcp.server.stdio", server_stdio)
    when_imported("mcp.server.sse", server_sse)
    when_imported("mcp.server.streamable_http", server_http)
    when_imported("mcp.server.websocket", server_websocket)
    when_imported("mcp.shared.memory", memory)
    when_imported("mcp.client.stdio", client_stdio)
    when_imported("mcp.client.sse", client_sse)
    when_imported("mcp.client.streamable_http", client_http)
    when_imported("mcp.client.websocket", client_websocket)


# ---------------------------------------------------------------------------
# Sessions and their messages


class _Session:
    """What the hooks know about one ServerSession or ClientSession."""

    __slots__ = (
        "client_id",
        "client_version",
        "created",
        "get_session_id",
        "inbound",
        "local_id",
        "obs",
        "outbound",
        "protocol_version",
        "server_name",
        "session_id",
        "side",
        "stateless",
        "transport",
        "unchecked_headers",
    )

    def __init__(self, side: int, session: Any) -> None:
        self.side = side
        self.local_id = _core.session_id_for(session)  # when there is no Mcp-Session-Id
        self.session_id: str | None = None  # None: not known yet (Streamable HTTP client before initialize)
        self.transport: str | None = None
        self.get_session_id: Any = None
        self.server_name: str | None = None
        self.protocol_version: str | None = None
        self.client_id: str | None = None  # clientInfo.name from initialize
        self.client_version: str | None = None
        self.stateless: bool | None = None
        self.created = False
        self.unchecked_headers = side == SERVER
        # The native per-message path; it reports ordinary messages once
        # _sync has told it the fields above (see _observe for the rest).
        self.obs = _Observer(side, _message_classes(), unwrap=True)
        # Requests awaiting a response, by JSON-RPC id: (perf_counter, method),
        # shared with the native path. inbound: the peer asked, this side
        # answers; outbound: the reverse. Separate, since each side numbers
        # its own requests.
        self.inbound: dict[Any, tuple[float, str]] = self.obs.inbound
        self.outbound: dict[Any, tuple[float, str]] = self.obs.outbound


def _sync(state: _Session) -> None:
    """Hands the session's fields to its native observer (after they change:
    at session start and after each message taken by the Python path)."""
    obs = state.obs
    obs.session_id = state.session_id
    obs.client_name = state.client_id
    obs.client_version = state.client_version
    obs.server_name = state.server_name
    obs.transport = state.transport
    obs.protocol_version = state.protocol_version
    # HTTP servers read the protocol version header of the first request.
    obs.fast = not state.unchecked_headers


def _state_of(session: Any) -> _Session | None:
    return getattr(session, "_bluepython_state", None)


class _Tap:
    """A stream stand-in that forwards everything to the stream it wraps."""

    __slots__ = ("_bp_inner", "_bp_observe", "_bp_state")

    def __init__(self, inner: Any, state: _Session) -> None:
        self._bp_inner = inner
        self._bp_state = state
        self._bp_observe = state.obs.observe

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bp_inner, name)

    async def __aenter__(self) -> Any:
        await self._bp_inner.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        return await self._bp_inner.__aexit__(*exc_info)

    def __enter__(self) -> Any:
        self._bp_inner.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        return self._bp_inner.__exit__(*exc_info)


class _ReadTap(_Tap):
    """Stands in for a session's ``_read_stream``: forwards everything and
    observes each message the session reads."""

    __slots__ = ()

    def __aiter__(self) -> _ReadTap:
        return self

    async def __anext__(self) -> Any:
        item = await self._bp_inner.__anext__()
        if not self._bp_observe(item, True):
            _observe(self._bp_state, item, True)
        return item

    async def receive(self) -> Any:
        item = await self._bp_inner.receive()
        if not self._bp_observe(item, True):
            _observe(self._bp_state, item, True)
        return item

    def receive_nowait(self) -> Any:
        item = self._bp_inner.receive_nowait()
        if not self._bp_observe(item, True):
            _observe(self._bp_state, item, True)
        return item


class _WriteTap(_Tap):
    """Stands in for a session's ``_write_stream``: observes each message the
    session writes, then forwards it."""

    __slots__ = ()

    def send(self, item: Any) -> Any:
        # Not a coroutine itself: hands back the inner stream's awaitable, so
        # no extra coroutine frame per message.
        if _PROPAGATE and self._bp_state.side == CLIENT:
            _inject(item)
        if not self._bp_observe(item, False):
            _observe(self._bp_state, item, False)
        return self._bp_inner.send(item)

    def send_nowait(self, item: Any) -> Any:
        if _PROPAGATE and self._bp_state.side == CLIENT:
            _inject(item)
        if not self._bp_observe(item, False):
            _observe(self._bp_state, item, False)
        return self._bp_inner.send_nowait(item)


_PROPAGATE = _core.PROPAGATES_TRACES


def _inject(item: Any) -> None:
    """W3C trace context into a request this client sends (OTLP traces on)."""
    try:
        root = item.message.root
        if type(root).__name__ == "JSONRPCRequest":
            _core.inject_traceparent(root.params)
    except Exception as exc:
        _core.internal_error("hooks: mcp: trace context", exc)


def _tap_streams(session: Any, state: _Session) -> None:
    object.__setattr__(session, "_bluepython_state", state)
    session._read_stream = _ReadTap(session._read_stream, state)
    session._write_stream = _WriteTap(session._write_stream, state)


def _arg(args: Any, kwargs: Any, index: int, name: str, default: Any = None) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _server_session_init(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    result = wrapped(*args, **kwargs)
    try:
        state = _Session(SERVER, instance)
        tag = getattr(_arg(args, kwargs, 0, "read_stream"), _TRANSPORT_TAG, None)
        if tag is not None:
            state.transport, session_id = tag
            if isinstance(session_id, str):
                state.session_id = session_id
        if state.session_id is None:
            state.session_id = state.local_id
        options = getattr(instance, "_init_options", None)
        state.server_name = getattr(options, "server_name", None)
        state.stateless = bool(_arg(args, kwargs, 3, "stateless", False))
        _sync(state)
        _tap_streams(instance, state)
    except Exception as exc:
        _core.internal_error("hooks: mcp: server session", exc)
    return result


def _client_session_init(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    result = wrapped(*args, **kwargs)
    try:
        state = _Session(CLIENT, instance)
        tag = getattr(_arg(args, kwargs, 0, "read_stream"), _TRANSPORT_TAG, None)
        if tag is not None:
            state.transport, getter = tag
            if callable(getter):
                # Streamable HTTP: the server assigns the session id in its
                # answer to initialize; until then the id is unknown.
                state.get_session_id = getter
                state.session_id = getter()
        if state.session_id is None and state.get_session_id is None:
            state.session_id = state.local_id
        client_info = getattr(instance, "_client_info", None)
        state.client_id = getattr(client_info, "name", None)
        state.client_version = getattr(client_info, "version", None)
        _sync(state)
        _tap_streams(instance, state)
    except Exception as exc:
        _core.internal_error("hooks: mcp: client session", exc)
    return result


def _created(state: _Session) -> None:
    state.created = True
    _core.session_created(
        state.session_id,
        state.side,
        transport=state.transport,
        server_name=state.server_name,
        protocol_version=state.protocol_version,
        stateless=state.stateless,
    )


async def _session_aenter(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    result = await wrapped(*args, **kwargs)
    try:
        state = _state_of(instance)
        if state is not None and not state.created and state.session_id is not None:
            _created(state)
    except Exception as exc:
        _core.internal_error("hooks: mcp: session created", exc)
    return result


async def _session_aexit(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        return await wrapped(*args, **kwargs)
    finally:
        try:
            state = _state_of(instance)
            if state is not None and state.created:
                state.created = False
                _core.session_terminated(
                    state.session_id,
                    state.side,
                    transport=state.transport,
                    server_name=state.server_name,
                    protocol_version=state.protocol_version,
                    client_id=state.client_id,
                    client_name=state.client_id,
                    client_version=state.client_version,
                )
        except Exception as exc:
            _core.internal_error("hooks: mcp: session terminated", exc)


def _body(root: Any, kind: int) -> Any:
    """The JSON-RPC body without a pydantic dump: in 1.x the params and
    results the session carries are already plain JSON data. Anything
    unexpected falls back to the model itself (dumped by _core)."""
    cls = type(root).__name__
    if cls == "JSONRPCRequest":
        body = {"jsonrpc": root.jsonrpc, "id": root.id, "method": root.method}
    elif cls == "JSONRPCNotification":
        body = {"jsonrpc": root.jsonrpc, "method": root.method}
    elif cls == "JSONRPCResponse" and type(root.result) is dict:
        return {"jsonrpc": root.jsonrpc, "id": root.id, "result": root.result}
    else:
        return root  # JSONRPCError (ErrorData model) and anything new
    params = root.params
    if params is not None:
        if type(params) is not dict:
            return root
        body["params"] = params
    return body


def _observe(state: _Session, item: Any, inbound: bool) -> None:
    """One SessionMessage read (inbound) or written by a session: one
    python_mcp_event. The messages the native observer declines: the
    handshake, tools/list results, errors, the first request over HTTP and
    anything unexpected. Leaves the session's fields synced to it."""
    try:
        message = getattr(item, "message", None)
        if message is None:
            return  # an exception the transport forwarded, not a message
        root = message.root
        kind = _KINDS.get(type(root).__name__)
        if kind is None:
            return
        side = state.side
        request_id = getattr(root, "id", None)
        duration = None
        request_method = None
        if kind == _REQUEST:
            method = root.method
            pending = state.inbound if inbound else state.outbound
            pending[request_id] = (_perf_counter(), method)
            if len(pending) > _core.PENDING_LIMIT:
                _core.forget_oldest(pending)
            if method == "initialize":
                _initialize_request(state, root.params, inbound)
        elif kind == _RESPONSE:
            pending = state.outbound if inbound else state.inbound
            entry = pending.pop(request_id, None)
            if entry is None and type(request_id) is str and request_id.isdigit():
                entry = pending.pop(int(request_id), None)  # a peer that echoed the id as a string
            if entry is not None:
                duration = round((_perf_counter() - entry[0]) * 1000.0, 3)
                request_method = entry[1]
                if request_method == "initialize":
                    _initialize_result(state, getattr(root, "result", None), inbound)
        if state.unchecked_headers and inbound:
            _protocol_header(state, item)
        source = (CLIENT if side == SERVER else SERVER) if inbound else side  # who sent it
        body = _body(root, kind)
        if type(body) is not dict:
            body = _core.dump(body)
        _mcp_message(
            _emit.EVENT_NAMES[(side, inbound, kind)], body, source, request_id, state.session_id,
            state.client_id, state.server_name, duration, state.transport, state.protocol_version,
            request_method, state.client_version, None,
        )
        if request_method == "tools/list":
            result = getattr(root, "result", None)
            if isinstance(result, dict):
                _core.tools_listed(
                    state.server_name, result.get("tools"), source=side, session_id=state.session_id
                )
        _sync(state)
    except Exception as exc:
        _core.internal_error("hooks: mcp: message", exc)


def _initialize_request(state: _Session, params: Any, inbound: bool) -> None:
    if not isinstance(params, dict):
        return
    if inbound:  # the server learns who the client is
        info = params.get("clientInfo")
        if isinstance(info, dict):
            state.client_id = info.get("name")
            state.client_version = info.get("version")


def _initialize_result(state: _Session, result: Any, inbound: bool) -> None:
    if not isinstance(result, dict):
        return
    version = result.get("protocolVersion")
    if isinstance(version, str):
        state.protocol_version = version
    if not inbound:
        return
    # The client learns the server's name and (Streamable HTTP) its session id.
    info = result.get("serverInfo")
    if isinstance(info, dict) and isinstance(info.get("name"), str):
        state.server_name = info["name"]
    if state.session_id is None:
        session_id = state.get_session_id() if state.get_session_id is not None else None
        state.session_id = session_id if isinstance(session_id, str) else state.local_id
    if not state.created:
        _created(state)


def _protocol_header(state: _Session, item: Any) -> None:
    """HTTP transports: the MCP-Protocol-Version header of the first request
    (a stateless session never sees initialize)."""
    state.unchecked_headers = False
    if state.protocol_version is not None:
        return
    request = getattr(getattr(item, "metadata", None), "request_context", None)
    headers = getattr(request, "headers", None)
    if headers is not None:
        version = headers.get("mcp-protocol-version")
        if isinstance(version, str):
            state.protocol_version = version


# ---------------------------------------------------------------------------
# Attribution: Server._handle_request(message, req, session, lifespan_context, raise_exceptions)


def _enter_call(server: Any, args: Any, kwargs: Any) -> Any:
    """Makes the request's call current (_bluepython.enter_mcp_call); returns
    the token to leave it with."""
    if len(args) >= 3:
        responder, req, session = args[0], args[1], args[2]
    else:
        responder = _arg(args, kwargs, 0, "message")
        req = _arg(args, kwargs, 1, "req")
        session = _arg(args, kwargs, 2, "session")
    params = getattr(req, "params", None)
    target = getattr(params, "name", None)
    if type(target) is not str:
        uri = getattr(params, "uri", None)
        target = str(uri) if uri is not None else None
    state = getattr(session, "_bluepython_state", None)
    if state is not None:
        session_id, transport, server_name = state.session_id, state.transport, state.server_name
    else:
        session_id, transport = _core.session_id_for(session), None
        server_name = getattr(server, "name", None)
    return _enter_mcp_call(
        session_id, getattr(responder, "request_id", None), getattr(req, "method", None), target, transport,
        server_name, _core.traceparent_of(params) if params is not None else None,
    )


_make_handle_request = _core.attributed(_enter_call, "hooks: mcp: attribution")


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
            _core.server_init(
                getattr(instance, "name", None),
                title=getattr(instance, "title", None),
                description=getattr(instance, "description", None),
                version=getattr(instance, "version", None),
                instructions=getattr(instance, "instructions", None),
                framework=framework,
                website_url=getattr(instance, "website_url", None),
            )
    except Exception as exc:
        _core.internal_error("hooks: mcp: server_init", exc)
    return result


def _fastmcp_init(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    token = None
    try:
        token = building.set(("mcp.fastmcp", instance))
    except Exception as exc:
        _core.internal_error("hooks: mcp: FastMCP", exc)
    try:
        result = wrapped(*args, **kwargs)
    finally:
        if token is not None:
            building.reset(token)
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
        _core.internal_error("hooks: mcp: FastMCP", exc)
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
            _core.internal_error("hooks: mcp: server_add", exc)
        return result

    return wrapper


def _server_add(kind: str, element: Any, server_name: Any) -> None:
    _core.component_added(kind, element, server_name=server_name, framework="mcp.fastmcp")


# ---------------------------------------------------------------------------
# Transports


_observed_cm_classes: dict[type, type] = {}


def _observed_cm_class(base: type) -> type:
    async def __aenter__(self: Any) -> Any:
        value = await base.__aenter__(self)
        callback = self.__dict__.pop("_bluepython_on_enter", None)
        if callback is not None:
            try:
                callback(value)
            except Exception as exc:
                _core.internal_error("hooks: mcp: transport", exc)
        return value

    return type(
        base.__name__,
        (base,),
        {
            "__slots__": (),
            "__aenter__": __aenter__,
            "__module__": base.__module__,
            "__qualname__": base.__qualname__,
        },
    )


def _on_enter(cm: Any, callback: Any) -> None:
    """Calls ``callback(value)`` with what the async context manager ``cm``
    (an ``@asynccontextmanager`` object) yields, once entered. ``cm`` stays
    the same object, of a subclass of its class that only adds this."""
    base = type(cm)
    observed = _observed_cm_classes.get(base)
    if observed is None:
        observed = _observed_cm_class(base)
        _observed_cm_classes[base] = observed
    cm._bluepython_on_enter = callback
    cm.__class__ = observed


def _tag(streams: Any, transport: str, session_id: Any) -> None:
    if isinstance(streams, tuple) and streams:
        setattr(streams[0], _TRANSPORT_TAG, (transport, session_id))


def _server_transport(transport: str) -> Any:
    """The server side of a transport: tag the read stream it yields."""

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        cm = wrapped(*args, **kwargs)
        try:
            session_id = getattr(instance, "mcp_session_id", None) if instance is not None else None
            _on_enter(cm, lambda streams: _tag(streams, transport, session_id))
        except Exception as exc:
            _core.internal_error(f"hooks: mcp: {transport} server transport", exc)
        return cm

    return wrapper


def _memory_streams(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    cm = wrapped(*args, **kwargs)

    def tag(value: Any) -> None:
        client_streams, server_streams = value
        _tag(client_streams, "memory", None)
        _tag(server_streams, "memory", None)

    try:
        _on_enter(cm, tag)
    except Exception as exc:
        _core.internal_error("hooks: mcp: memory transport", exc)
    return cm


def _client_transport(wrapped: Any, call_args: Any, call_kwargs: Any, transport: str, **connect: Any) -> Any:
    try:
        _core.client_connect(transport, **connect)
    except Exception as exc:
        _core.internal_error("hooks: mcp: client_connect", exc)
    cm = wrapped(*call_args, **call_kwargs)
    try:

        def tag(streams: Any) -> None:
            getter = streams[2] if isinstance(streams, tuple) and len(streams) > 2 else None
            _tag(streams, transport, getter)

        _on_enter(cm, tag)
    except Exception as exc:
        _core.internal_error(f"hooks: mcp: {transport} client transport", exc)
    return cm


def _stdio_client(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    fields = _connect.stdio_fields(_arg(args, kwargs, 0, "server"))
    return _client_transport(wrapped, args, kwargs, "stdio", **fields)


def _sse_client(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    auth = _connect.sse_auth(args, kwargs)
    return _client_transport(wrapped, args, kwargs, "sse", url=_arg(args, kwargs, 0, "url"), auth=auth)


def _streamable_http_client(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    # streamablehttp_client (deprecated) builds an httpx client with its
    # headers/auth and calls this: one connect event, auth seen on the client.
    auth = _connect.http_client_auth(kwargs)
    return _client_transport(
        wrapped, args, kwargs, "streamable-http", url=_arg(args, kwargs, 0, "url"), auth=auth
    )


def _websocket_client(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    return _client_transport(wrapped, args, kwargs, "websocket", url=_arg(args, kwargs, 0, "url"))
