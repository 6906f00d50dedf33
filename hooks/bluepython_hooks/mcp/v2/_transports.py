# SPDX-License-Identifier: Apache-2.0
"""mcp 2.x transports: which streams belong to which transport (so a
dispatcher over them knows its transport, and a Streamable HTTP client where
its Mcp-Session-Id lives), and the client connects they report."""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any

from ..._connect import client_connect, http_client_auth, redact_url, sse_auth, stdio_fields
from ..._emit import CLIENT, SERVER, internal_error
from ..._patcher import arg
from ._shared import _FRAMEWORK_LOWLEVEL


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
            if side == CLIENT:
                transport.target = _connect_target(kind, instance, args, kwargs)
            return _observed_cm(cm, transport, args, kwargs)
        except Exception as exc:
            internal_error(f"hooks: mcp: {kind} transport", exc)
            return cm

    return wrapper


_ObservedCM: Any = None


def _observed_cm(cm: Any, transport: _Transport, args: Any, kwargs: Any) -> Any:
    global _ObservedCM
    if _ObservedCM is None:
        _ObservedCM = _make_observed_cm_class()
    return _ObservedCM(cm, transport, args, kwargs)


def _make_observed_cm_class() -> Any:
    from ..._wrapt import wrapt

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
                if transport.side == CLIENT:
                    _client_connect(transport, self._self_args, self._self_kwargs)
                    if transport.kind == "streamable-http":
                        token = _http_capture.set(transport)
            except Exception as exc:
                internal_error("hooks: mcp: client_connect", exc)
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
                        (streams[0], _Transport("memory", CLIENT)),
                        (streams[1], _Transport("memory", SERVER)),
                    )
                else:
                    pairs = ((streams, transport),)
                for pair, owner in pairs:
                    owner.streams = pair
                    key = id(pair[1])
                    _transports[key] = owner
                    self._self_registered.append((key, owner))
            except Exception as exc:
                internal_error("hooks: mcp: transport streams", exc)
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
        internal_error("hooks: mcp: streamable http transport", exc)
    return result


def _connect_target(kind: str, instance: Any, args: Any, kwargs: Any) -> str | None:
    if kind == "stdio":
        server = arg(args, kwargs, 0, "server")
        command = getattr(server, "command", None)
        return None if command is None else str(command)
    if kind in ("sse", "streamable-http"):
        return redact_url(arg(args, kwargs, 0, "url"))
    if kind == "memory":
        server = getattr(instance, "_server", None)
        return getattr(server, "name", None)
    return None


def _client_connect(transport: _Transport, args: Any, kwargs: Any) -> None:
    kind = transport.kind
    if kind == "stdio":
        fields = stdio_fields(arg(args, kwargs, 0, "server"))
        client_connect("stdio", **fields, framework=_FRAMEWORK_LOWLEVEL)
    elif kind == "sse":
        auth = sse_auth(args, kwargs)
        client_connect("sse", url=transport.target, auth=auth, framework=_FRAMEWORK_LOWLEVEL)
    elif kind == "streamable-http":
        auth = http_client_auth(kwargs)
        client_connect("streamable-http", url=transport.target, auth=auth, framework=_FRAMEWORK_LOWLEVEL)
    elif kind == "memory":
        client_connect("memory", server_name=transport.target, framework=_FRAMEWORK_LOWLEVEL)


def _connect_inproc_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``Client(server)`` on an in-process Server: its connector is called when
    the Client is entered. The legacy mode goes through InMemoryTransport
    (reported there); the default drives a DirectDispatcher pair, which frames
    no JSON-RPC (no python_mcp_event; attribution still applies)."""
    connect = wrapped(*args, **kwargs)
    try:
        server = arg(args, kwargs, 0, "server")
        server_name = getattr(server, "name", None)

        async def connected(exit_stack: Any, mode: Any, *rest: Any, **kw: Any) -> Any:
            if mode != "legacy":
                try:
                    client_connect("memory", server_name=server_name, framework=_FRAMEWORK_LOWLEVEL)
                except Exception as exc:
                    internal_error("hooks: mcp: client_connect", exc)
            return await connect(exit_stack, mode, *rest, **kw)

        return connected
    except Exception as exc:
        internal_error("hooks: mcp: client_connect", exc)
        return connect
