# SPDX-License-Identifier: Apache-2.0
"""mcp 2.x, the 2026-07-28 single-exchange HTTP entry
(``mcp.server._streamable_http_modern``): no dispatcher and no session;
``handle_modern_request`` frames the exchange, ``classify_inbound_request``
sees the request body, ``_write`` / ``_sse_event`` what goes out and
``_acknowledge_notification`` POSTed notifications."""

from __future__ import annotations

import contextvars
import time
from typing import Any

import _bluepython

from ..._attribution import refined_call
from ..._baseline import tools_listed
from ..._emit import (
    CLIENT,
    EVENT_NAMES,
    NOTIFICATION,
    REQUEST,
    RESPONSE,
    SERVER,
    internal_error,
    message_event,
)
from ..._patcher import arg
from ._shared import _CLIENT_INFO_KEY, _KINDS, _PROTOCOL_VERSION_KEY, _body, _info, _meta_of, _oauth_client_id

# The server's python_mcp_event sub-types here (the one table, _emit.EVENT_NAMES).
_RECEIVED_REQUEST = EVENT_NAMES[(SERVER, True, REQUEST)]
_RECEIVED_NOTIFICATION = EVENT_NAMES[(SERVER, True, NOTIFICATION)]
_SEND_NOTIFICATION = EVENT_NAMES[(SERVER, False, NOTIFICATION)]
_SEND_RESPONSE = EVENT_NAMES[(SERVER, False, RESPONSE)]

class _Exchange:
    __slots__ = ("call", "client", "client_id", "method", "pv", "request_id", "server_name", "started")

    def __init__(self, server_name: str | None) -> None:
        self.server_name = server_name
        self.client_id = _oauth_client_id(lambda var, default: var.get(default))
        self.started: float | None = None
        self.request_id: Any = None
        self.method: str | None = None
        self.pv: Any = None
        self.client: tuple[Any, Any] = (None, None)
        # The call its handler ran in (a copy of current_call()): the handler
        # runs in a task of its own, and the response is written from the
        # exchange's task, where that call is put in effect again.
        self.call: Any = None


_exchange: contextvars.ContextVar[_Exchange | None] = contextvars.ContextVar(
    "bluepython_mcp_exchange", default=None
)


def remember_call() -> bool:
    """In a 2026-07-28 exchange's handler: remembers the call in effect for
    the exchange's response; False outside one."""
    exchange = _exchange.get()
    if exchange is None:
        return False
    exchange.call = _bluepython.current_call()
    return True


async def _modern_request_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    token = None
    try:
        app = arg(args, kwargs, 0, "app")
        token = _exchange.set(_Exchange(getattr(app, "name", None)))
    except Exception as exc:
        internal_error("hooks: mcp: 2026-07-28 http", exc)
    try:
        return await wrapped(*args, **kwargs)
    finally:
        if token is not None:
            _exchange.reset(token)


def _modern_classify_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    exchange = _exchange.get()
    if exchange is not None and exchange.started is None:
        try:
            body = arg(args, kwargs, 0, "body")
            if isinstance(body, dict):
                exchange.started = time.perf_counter()
                exchange.request_id = body.get("id")
                method = body.get("method")
                exchange.method = method if isinstance(method, str) else None
                meta = _meta_of(body.get("params"))
                headers = kwargs.get("headers") or {}
                exchange.pv = (meta or {}).get(_PROTOCOL_VERSION_KEY) or headers.get("mcp-protocol-version")
                exchange.client = _info((meta or {}).get(_CLIENT_INFO_KEY))
                _modern_event(_RECEIVED_REQUEST, body, exchange, CLIENT)
        except Exception as exc:
            internal_error("hooks: mcp: 2026-07-28 http", exc)
    return wrapped(*args, **kwargs)


def _modern_notification_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """A notification POSTed on the 2026-07-28 revision: acknowledged (202)
    and dropped by the SDK, reported as received."""
    exchange = _exchange.get()
    if exchange is not None:
        try:
            body = arg(args, kwargs, 0, "decoded")
            if isinstance(body, dict) and isinstance(body.get("method"), str):
                request = arg(args, kwargs, 1, "request")
                headers = getattr(request, "headers", None) or {}
                meta = _meta_of(body.get("params")) or {}
                exchange.pv = meta.get(_PROTOCOL_VERSION_KEY) or headers.get("mcp-protocol-version")
                exchange.client = _info(meta.get(_CLIENT_INFO_KEY))
                _modern_event(_RECEIVED_NOTIFICATION, body, exchange, CLIENT)
        except Exception as exc:
            internal_error("hooks: mcp: 2026-07-28 http", exc)
    return wrapped(*args, **kwargs)


def _modern_event(
    event: str, body: Any, exchange: _Exchange, source: int, duration: float | None = None
) -> None:
    message_event(
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
    if kind == NOTIFICATION:
        _modern_event(_SEND_NOTIFICATION, body, exchange, SERVER)
        return
    if kind == REQUEST:
        return
    duration = None
    if exchange.started is not None and msg.id == exchange.request_id:
        duration = round((time.perf_counter() - exchange.started) * 1000.0, 3)
    if exchange.call is not None and msg.id == exchange.request_id:
        with refined_call(exchange.call):  # the response is reported in its request's call
            _modern_event(_SEND_RESPONSE, body, exchange, SERVER, duration)
    else:
        _modern_event(_SEND_RESPONSE, body, exchange, SERVER, duration)
    if kind == RESPONSE and exchange.method == "tools/list":
        tools_listed(exchange.server_name, msg.result.get("tools"), source=SERVER, session_id=None)


def _modern_outbound_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``_write(msg, ...)`` and ``_sse_event(msg, ...)``: what the exchange sends."""
    try:
        _modern_outbound(arg(args, kwargs, 0, "msg"))
    except Exception as exc:
        internal_error("hooks: mcp: 2026-07-28 http", exc)
    return wrapped(*args, **kwargs)
