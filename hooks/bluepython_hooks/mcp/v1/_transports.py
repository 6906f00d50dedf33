# SPDX-License-Identifier: Apache-2.0
"""mcp 1.x transports: their connect context managers tag the read stream
they yield with the transport (and the session id, or the client's getter),
so the session built on it knows both; the client ones also report
``python_mcp_client_connect``."""

from __future__ import annotations

from typing import Any

from ..._connect import client_connect, http_client_auth, sse_auth, stdio_fields
from ..._emit import internal_error
from ..._patcher import arg

TRANSPORT_TAG = "_bluepython_transport"  # on a transport's read stream: (transport, session id or getter)

_observed_cm_classes: dict[type, type] = {}


def _observed_cm_class(base: type) -> type:
    async def __aenter__(self: Any) -> Any:
        value = await base.__aenter__(self)
        callback = self.__dict__.pop("_bluepython_on_enter", None)
        if callback is not None:
            try:
                callback(value)
            except Exception as exc:
                internal_error("hooks: mcp: transport", exc)
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
        setattr(streams[0], TRANSPORT_TAG, (transport, session_id))


def _server_transport(transport: str) -> Any:
    """The server side of a transport: tag the read stream it yields."""

    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        cm = wrapped(*args, **kwargs)
        try:
            session_id = getattr(instance, "mcp_session_id", None) if instance is not None else None
            _on_enter(cm, lambda streams: _tag(streams, transport, session_id))
        except Exception as exc:
            internal_error(f"hooks: mcp: {transport} server transport", exc)
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
        internal_error("hooks: mcp: memory transport", exc)
    return cm


def _client_transport(wrapped: Any, call_args: Any, call_kwargs: Any, transport: str, **connect: Any) -> Any:
    try:
        client_connect(transport, **connect)
    except Exception as exc:
        internal_error("hooks: mcp: client_connect", exc)
    cm = wrapped(*call_args, **call_kwargs)
    try:

        def tag(streams: Any) -> None:
            getter = streams[2] if isinstance(streams, tuple) and len(streams) > 2 else None
            _tag(streams, transport, getter)

        _on_enter(cm, tag)
    except Exception as exc:
        internal_error(f"hooks: mcp: {transport} client transport", exc)
    return cm


def _stdio_client(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    fields = stdio_fields(arg(args, kwargs, 0, "server"))
    return _client_transport(wrapped, args, kwargs, "stdio", **fields)


def _sse_client(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    auth = sse_auth(args, kwargs)
    return _client_transport(wrapped, args, kwargs, "sse", url=arg(args, kwargs, 0, "url"), auth=auth)


def _streamable_http_client(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    # streamablehttp_client (deprecated) builds an httpx client with its
    # headers/auth and calls this: one connect event, auth seen on the client.
    auth = http_client_auth(kwargs)
    return _client_transport(
        wrapped, args, kwargs, "streamable-http", url=arg(args, kwargs, 0, "url"), auth=auth
    )


def _websocket_client(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    return _client_transport(wrapped, args, kwargs, "websocket", url=arg(args, kwargs, 0, "url"))
