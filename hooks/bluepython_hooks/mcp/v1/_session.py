# SPDX-License-Identifier: Apache-2.0
"""mcp 1.x sessions and their messages: the state kept per ``ServerSession``
/ ``ClientSession``, the taps on its streams that see every JSON-RPC message
once, the Python path for what the native observer declines, and the
session start and end events."""

from __future__ import annotations

import sys
import time
from typing import Any

import _bluepython

from ..._baseline import tools_listed
from ..._emit import CLIENT, EVENT_NAMES, NOTIFICATION, REQUEST, RESPONSE, SERVER, dump, internal_error
from ..._patcher import arg
from ..._sessions import (
    PENDING_LIMIT,
    PROPAGATES_TRACES,
    forget_oldest,
    inject_traceparent,
    session_created,
    session_id_for,
    session_terminated,
)
from ._transports import TRANSPORT_TAG

_mcp_message = _bluepython.mcp_message  # the per-message emit (native)
_perf_counter = time.perf_counter
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


# JSON-RPC message kinds, by the class name of SessionMessage.message.root
_KINDS = {
    "JSONRPCRequest": REQUEST,
    "JSONRPCNotification": NOTIFICATION,
    "JSONRPCResponse": RESPONSE,
    "JSONRPCError": RESPONSE,
}


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
        self.local_id = session_id_for(session)  # when there is no Mcp-Session-Id
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


_PROPAGATE = PROPAGATES_TRACES


def _inject(item: Any) -> None:
    """W3C trace context into a request this client sends (OTLP traces on)."""
    try:
        root = item.message.root
        if type(root).__name__ == "JSONRPCRequest":
            inject_traceparent(root.params)
    except Exception as exc:
        internal_error("hooks: mcp: trace context", exc)


def _tap_streams(session: Any, state: _Session) -> None:
    object.__setattr__(session, "_bluepython_state", state)
    session._read_stream = _ReadTap(session._read_stream, state)
    session._write_stream = _WriteTap(session._write_stream, state)


def _server_session_init(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    result = wrapped(*args, **kwargs)
    try:
        state = _Session(SERVER, instance)
        tag = getattr(arg(args, kwargs, 0, "read_stream"), TRANSPORT_TAG, None)
        if tag is not None:
            state.transport, session_id = tag
            if isinstance(session_id, str):
                state.session_id = session_id
        if state.session_id is None:
            state.session_id = state.local_id
        options = getattr(instance, "_init_options", None)
        state.server_name = getattr(options, "server_name", None)
        state.stateless = bool(arg(args, kwargs, 3, "stateless", False))
        _sync(state)
        _tap_streams(instance, state)
    except Exception as exc:
        internal_error("hooks: mcp: server session", exc)
    return result


def _client_session_init(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    result = wrapped(*args, **kwargs)
    try:
        state = _Session(CLIENT, instance)
        tag = getattr(arg(args, kwargs, 0, "read_stream"), TRANSPORT_TAG, None)
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
        internal_error("hooks: mcp: client session", exc)
    return result


def _created(state: _Session) -> None:
    state.created = True
    session_created(
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
        internal_error("hooks: mcp: session created", exc)
    return result


async def _session_aexit(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    try:
        return await wrapped(*args, **kwargs)
    finally:
        try:
            state = _state_of(instance)
            if state is not None and state.created:
                state.created = False
                session_terminated(
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
            internal_error("hooks: mcp: session terminated", exc)


def _body(root: Any, kind: int) -> Any:
    """The JSON-RPC body without a pydantic dump: in 1.x the params and
    results the session carries are already plain JSON data. Anything
    unexpected falls back to the model itself (dumped by _emit.dump)."""
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
        if kind == REQUEST:
            method = root.method
            pending = state.inbound if inbound else state.outbound
            pending[request_id] = (_perf_counter(), method)
            if len(pending) > PENDING_LIMIT:
                forget_oldest(pending)
            if method == "initialize":
                _initialize_request(state, root.params, inbound)
        elif kind == RESPONSE:
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
            body = dump(body)
        _mcp_message(
            EVENT_NAMES[(side, inbound, kind)], body, source, request_id, state.session_id, state.client_id,
            state.server_name, duration, state.transport, state.protocol_version, request_method,
            state.client_version, None,
        )
        if request_method == "tools/list":
            result = getattr(root, "result", None)
            if isinstance(result, dict):
                tools_listed(
                    state.server_name, result.get("tools"), source=side, session_id=state.session_id
                )
        _sync(state)
    except Exception as exc:
        internal_error("hooks: mcp: message", exc)


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
