# SPDX-License-Identifier: Apache-2.0
"""mcp 2.x dispatchers: one ``_Link`` per ``JSONRPCDispatcher`` that runs,
telling a server dispatcher from a client one, what its messages are
reported with, and its session's start and end."""

from __future__ import annotations

import sys
import time
from typing import Any

import _bluepython

from ..._emit import CLIENT, SERVER, internal_error
from ..._patcher import arg
from ..._sessions import session_created, session_id_for, session_terminated
from ._shared import _KINDS, _LINK, _MODERN_VERSIONS, _PROTOCOL_VERSION_KEY, _info
from ._transports import _Transport, _transports

_Observer = _bluepython.McpObserver


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
        "deferred",
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
        # Server side: the calls whose handler returned, by request id, left
        # once their response is written (so that it is reported in the call).
        self.deferred: dict[Any, Any] = {}


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
        link = _Link(CLIENT)
        link.session = owner
    elif runner_cls is not None and isinstance(owner, runner_cls):
        link = _Link(SERVER)
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
                link = _Link(SERVER)
                link.server = value.server
                link.connection = value.connection
                break
            if server_cls is not None and isinstance(value, server_cls):
                link = _Link(SERVER)
                link.server = value
        if link is None:
            module = getattr(on_request, "__module__", "") or ""
            if module.startswith("mcp.server"):
                link = _Link(SERVER)
            elif module.startswith("mcp.client"):
                link = _Link(CLIENT)
            else:
                return None
    link.transport = _transports.get(id(getattr(instance, "_write_stream", None)))
    if link.transport is not None:
        link.kind = link.transport.kind
    if link.server is not None:
        link.name = link.server.name
    if link.session is not None:
        link.client_cached = _info(getattr(link.session, "_client_info", None))
    if link.side == SERVER and link.connection is not None:
        connection = link.connection
        link.sid = connection.session_id or session_id_for(connection)
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
    if sid is not None or link.side == SERVER:
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
        sid = session_id_for(session if session is not None else link)
    link.sid = sid
    _announce(link)
    return sid


def _announce(link: _Link) -> None:
    if link.announced or link.sid is None:
        return
    link.announced = True
    session_created(
        link.sid,
        link.side,
        transport=link.kind,
        server_name=link.name if link.name is not None else _client_server_name(link),
        stateless=True if link.stateless else None,
        target=link.transport.target if link.transport is not None and link.side == CLIENT else None,
    )


async def _run_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    link = None
    try:
        on_request = arg(args, kwargs, 0, "on_request")
        link = _link_for_run(instance, on_request)
        if link is not None:
            instance.__dict__[_LINK] = link
            if link.side == SERVER:
                _announce(link)
            # A client's session is announced with its first message of the
            # handshake era (see _session_id): its era is not known yet.
    except Exception as exc:
        internal_error("hooks: mcp: dispatcher run", exc)
    try:
        return await wrapped(*args, **kwargs)
    finally:
        if link is not None:
            link.deferred.clear()  # requests never answered (cancelled): their calls end with their tasks
        if link is not None and link.announced:
            try:
                client = link.client_cached or _info(link.client)
                connection = link.connection
                pv = getattr(connection, "protocol_version", None) if connection is not None else None
                session_terminated(
                    link.sid,
                    link.side,
                    transport=link.kind,
                    server_name=link.name if link.name is not None else _client_server_name(link),
                    duration_ms=round((time.perf_counter() - link.started) * 1000.0, 3),
                    protocol_version=pv if pv is not None else link.pv,
                    client_id=link.client_id,
                    client_name=client[0] if client else None,
                    client_version=client[1] if client else None,
                )
            except Exception as exc:
                internal_error("hooks: mcp: dispatcher run", exc)
