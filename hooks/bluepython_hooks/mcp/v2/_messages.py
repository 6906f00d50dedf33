# SPDX-License-Identifier: Apache-2.0
"""mcp 2.x messages: ``JSONRPCDispatcher._dispatch`` (inbound) and
``_write`` (outbound) hand each message to the link's native observer; what
it declines is reported here (the Python path)."""

from __future__ import annotations

import time
from typing import Any

import _bluepython

from ..._baseline import tools_listed
from ..._emit import CLIENT, ERROR, EVENT_NAMES, NOTIFICATION, REQUEST, RESPONSE, SERVER, internal_error
from ..._sessions import PENDING_LIMIT, PROPAGATES_TRACES, forget_oldest, inject_traceparent
from ._links import _client_server_name, _Link, _session_id
from ._shared import (
    _CLIENT_INFO_KEY,
    _HTTP_KINDS,
    _KINDS,
    _LINK,
    _MODERN_VERSIONS,
    _NO_CLIENT,
    _PROTOCOL_VERSION_KEY,
    _body,
    _info,
    _oauth_client_id,
)

_mcp_message = _bluepython.mcp_message  # the per-message emit (native)
_perf_counter = time.perf_counter

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
    response_to = None
    pv = None
    client = None
    if kind <= NOTIFICATION:
        request_id = msg.id if kind == REQUEST else None
        pv, client = _request_facts(link, msg, kind, received)
    else:
        request_id = msg.id
        entry = (link.outbound if received else link.inbound).pop(request_id, None)
        if entry is not None:
            duration = round((_perf_counter() - entry[0]) * 1000.0, 3)
            response_to = entry[1]
        if response_to == "initialize" and kind == RESPONSE and isinstance(msg.result, dict):
            pv = msg.result.get("protocolVersion")
    if link.side == SERVER:
        pv, client = _server_identity(link, pv, client)
        sid = link.sid
        server_name = link.name
    else:
        pv, client, sid, server_name = _client_identity(link, pv, client)
    if client is None:
        client = _NO_CLIENT
    _mcp_message(
        EVENT_NAMES[(link.side, received, kind)],
        body,
        (CLIENT if link.side == SERVER else SERVER) if received else link.side,
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
    if response_to == "tools/list" and kind == RESPONSE and (link.side == SERVER) != received:
        _tools_listed(link, msg.result, server_name, sid)
    if link.side == SERVER and not link.obs.fast:
        _settle(link, sid, server_name)


def _request_facts(link: _Link, msg: Any, kind: int, received: bool) -> tuple[Any, Any]:
    """A request or notification: a request awaits its response (latency);
    returns the protocol version and client (name, version) it carries, if
    any (initialize; a 2026-07-28 envelope is also kept on the link)."""
    method = msg.method
    pv = None
    client = None
    if kind == REQUEST:
        pending = link.inbound if received else link.outbound
        pending[msg.id] = (_perf_counter(), method)
        if len(pending) > PENDING_LIMIT:
            forget_oldest(pending)
    params = msg.params
    if params is not None:
        if "_meta" in params:
            meta = params["_meta"]
            if isinstance(meta, dict) and _PROTOCOL_VERSION_KEY in meta:
                pv = link.pv = meta[_PROTOCOL_VERSION_KEY]
                info = meta.get(_CLIENT_INFO_KEY)
                if info is not None:
                    link.client = info
        if method == "initialize" and kind == REQUEST:
            pv = params.get("protocolVersion")
            client = _info(params.get("clientInfo"))
    return pv, client


def _server_identity(link: _Link, pv: Any, client: Any) -> tuple[Any, Any]:
    """Server side: the protocol version and client a message is reported
    with, when it does not carry them itself."""
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
    return pv, client


def _client_identity(link: _Link, pv: Any, client: Any) -> tuple[Any, Any, str | None, str | None]:
    """Client side: protocol version, client, session id and server name of
    a message (announcing the session once its id is known)."""
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
    return pv, client, sid, server_name


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
    tools_listed(name, result.get("tools"), source=link.side, session_id=sid)


def _leave_answered(link: _Link, message: Any) -> None:
    """A response or error of the server: the call of its request, kept in
    effect since its handler returned (_attribution._defer), ends."""
    if _KINDS.get(message.__class__) not in (RESPONSE, ERROR):
        return
    token = link.deferred.pop(message.id, None)
    if token is not None:
        _bluepython.exit_call(token)


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
                    if link.client_id is None and link.side == SERVER and link.kind in _HTTP_KINDS:
                        sender_ctx = args[3] if len(args) > 3 else kwargs.get("sender_ctx")
                        if sender_ctx is not None:
                            link.client_id = link.obs.oauth_client_id = _oauth_client_id(sender_ctx.get)
                    if not link.obs.observe(message, True):
                        _observe(link, message, True)
            except Exception as exc:
                internal_error("hooks: mcp: inbound message", exc)
        return original(self, *args, **kwargs)

    return _dispatch


_PROPAGATE = PROPAGATES_TRACES  # OTLP traces on: client requests carry a traceparent


def _make_write(original: Any) -> Any:
    def _write(self: Any, *args: Any, **kwargs: Any) -> Any:
        link = self.__dict__.get(_LINK)
        if link is not None:
            try:
                message = args[0] if args else kwargs["message"]
                if _PROPAGATE and link.side == CLIENT and type(message).__name__ == "JSONRPCRequest":
                    inject_traceparent(message.params)
                if not link.obs.observe(message, False):
                    _observe(link, message, False)
                if link.deferred:
                    _leave_answered(link, message)
            except Exception as exc:
                internal_error("hooks: mcp: outbound message", exc)
        return original(self, *args, **kwargs)

    return _write
