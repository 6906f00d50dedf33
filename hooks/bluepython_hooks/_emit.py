# SPDX-License-Identifier: Apache-2.0
"""Emitting events and failing open: the one place the hooks hand events to
the native side (``_bluepython``), the ``python_mcp_event`` sub-type table
every SDK version uses, and the attribute shapes of the server events.

Every public function here is safe to call from a hook: none raises into the
app. Faults become one ``python_internal_exception`` event (and at most one
stderr warning per process, decided natively).
"""

from __future__ import annotations

from typing import Any

import _bluepython

SERVER = 0  # `source`: the message or session belongs to the server side
CLIENT = 1  # ... to the client side

# JSON-RPC message kinds, as the native observer numbers them
# (_bluepython.McpObserver's `kinds` dict maps message classes to these).
REQUEST, NOTIFICATION, RESPONSE, ERROR = 0, 1, 2, 3

# python_mcp_event sub-types, at side * 8 + received * 4 + kind (errors are
# responses). The one table of the names is native (kEventNames in
# launcher/capture/mcp_observer.hpp), shared with the native per-message path.
_EVENT_ORDER: tuple[str, ...] = _bluepython.MCP_EVENT_NAMES
# (side of the session, received?, kind) -> python_mcp_event sub-type
EVENT_NAMES: dict[tuple[int, bool, int], str] = {
    (side, received, kind): _EVENT_ORDER[side * 8 + received * 4 + kind]
    for side in (SERVER, CLIENT)
    for received in (False, True)
    for kind in (REQUEST, NOTIFICATION, RESPONSE, ERROR)
}


def emit(
    name: str, attrs: dict[str, Any], *, actionable: bool = True, summarize_binary: bool = False
) -> None:
    """Queues one event. Never raises. ``summarize_binary``: base64 payloads
    (image/audio ``data``, resource ``blob``) are summarized by the native
    encoder instead of copied."""
    try:
        _bluepython.emit(name, attrs, actionable=actionable, summarize_binary=summarize_binary)
    except Exception as exc:
        internal_error(f"emit {name}", exc)


_reported: set[tuple[str, str]] = set()


def internal_error(where: str, error: BaseException | str) -> None:
    """Records a fault of ours as ``python_internal_exception`` (once per place
    and kind of fault, so a broken hook on a hot path cannot flood the spool)."""
    try:
        if isinstance(error, BaseException):
            message = f"{type(error).__name__}: {error}"
            kind = type(error).__name__
        else:
            message = str(error)
            kind = message
        key = (where, kind)
        if key in _reported:
            return
        if len(_reported) < 1024:
            _reported.add(key)
        _bluepython.report_internal(where, message)
    except Exception:  # noqa: S110 - nothing left to report to
        pass


def library_version(dist: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return None


def dump(obj: Any) -> Any:
    """A JSON-able form of an SDK object (pydantic model, dict, list, ...).
    Binary content is summarized and long strings truncated by the native
    encoder when the event is emitted (``summarize_binary``, limits)."""
    try:
        if hasattr(obj, "model_dump"):
            return obj.model_dump(mode="json", by_alias=True, exclude_none=True)
        return obj
    except Exception as exc:
        internal_error("hooks: payload", exc)
        return {"bluepython_unserializable": type(obj).__name__}


def message_event(
    event: str,
    body: Any,
    *,
    source: int,
    request_id: Any = None,
    session_id: str | None = None,
    client_id: str | None = None,
    server_name: str | None = None,
    duration_ms: float | None = None,
    transport: str | None = None,
    protocol_version: str | None = None,
    request_method: str | None = None,
    client_version: str | None = None,
    oauth_client_id: str | None = None,
) -> None:
    """``python_mcp_event``: one JSON-RPC message. ``body`` is the whole
    JSON-RPC message (an SDK object or a dict); ``event`` is one of
    :data:`EVENT_NAMES` (see docs/events.md). ``client_name`` is
    ``client_id`` (clientInfo.name). ``method`` and ``error`` (JSON-RPC code,
    or ``tool_error``) come from the body; the native side encodes the event
    from these parts, with no attribute dict."""
    try:
        if type(body) is not dict:
            body = dump(body)
        _bluepython.mcp_message(
            event, body, source, request_id, session_id, client_id, server_name, duration_ms, transport,
            protocol_version, request_method, client_version, oauth_client_id,
        )
    except Exception as exc:
        internal_error("hooks: python_mcp_event", exc)


def server_init(
    name: Any,
    *,
    title: Any = None,
    description: Any = None,
    version: Any = None,
    instructions: Any = None,
    framework: str | None = None,
    **extra: Any,
) -> None:
    server = {
        "name": name,
        "title": title,
        "description": description,
        "version": version,
        "instructions": instructions,
    }
    attrs: dict[str, Any] = {"server": server}
    if framework is not None:
        attrs["framework"] = framework
    attrs.update({k: v for k, v in extra.items() if v is not None})
    emit("python_mcp_server_init", attrs)


def server_add(
    kind: str,
    name: Any,
    *,
    title: Any = None,
    description: Any = None,
    parameters: Any = None,
    uri: Any = None,
    uri_template: Any = None,
    arguments: Any = None,
    server_name: Any = None,
    **extra: Any,
) -> None:
    """``python_mcp_server_add``; ``kind``: tool, resource, resource_template or prompt."""
    element: dict[str, Any] = {"type": kind, "name": name, "title": title, "description": description}
    if parameters is not None:
        element["parameters"] = dump(parameters)
    if uri is not None:
        element["uri"] = str(uri)
    if uri_template is not None:
        element["uri_template"] = str(uri_template)
    if arguments is not None:
        element["arguments"] = dump(arguments)
    attrs: dict[str, Any] = {"element": element}
    if kind == "tool" and isinstance(name, str):
        _bluepython.note_tool_definition(name, description, element.get("parameters"))
    if server_name is not None:
        attrs["server_name"] = server_name
    attrs.update({k: v for k, v in extra.items() if v is not None})
    emit("python_mcp_server_add", attrs)


def component_added(kind: str, component: Any, *, server_name: Any, framework: str) -> None:
    """``python_mcp_server_add`` for an SDK or fastmcp component object (Tool,
    Resource, ResourceTemplate, Prompt): the attributes its kind has."""
    arguments = getattr(component, "arguments", None) if kind == "prompt" else None
    server_add(
        kind,
        getattr(component, "name", None),
        title=getattr(component, "title", None),
        description=getattr(component, "description", None),
        parameters=getattr(component, "parameters", None) if kind in ("tool", "resource_template") else None,
        uri=getattr(component, "uri", None) if kind == "resource" else None,
        uri_template=getattr(component, "uri_template", None) if kind == "resource_template" else None,
        arguments=[dump(a) for a in arguments] if arguments is not None else None,
        server_name=server_name,
        framework=framework,
        mime_type=getattr(component, "mime_type", None) if kind.startswith("resource") else None,
        component_version=getattr(component, "version", None),
    )
