# SPDX-License-Identifier: Apache-2.0
"""Shared machinery of the MCP hooks: emitting events, failing open, payload
summaries, request latency, session ids, the attribution context and the
tool-definition ("rug pull") check.

Every public function here is safe to call from a hook: none raises into the
app. Faults become one ``python_internal_exception`` event (and at most one
stderr warning per process, decided natively).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from typing import Any

import _bluepython

SERVER = 0  # `source`: the message or session belongs to the server side
CLIENT = 1  # ... to the client side


# ---------------------------------------------------------------------------
# Emitting and failing open


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


# ---------------------------------------------------------------------------
# Patching


class Patcher:
    """Applies wrapt function wrappers and remembers them, so a framework's
    hooks can be removed again (``unpatch``) and are never applied twice."""

    def __init__(self, framework: str) -> None:
        self.framework = framework
        self.applied: list[tuple[Any, str, Any]] = []  # (owner, attribute, original)

    def wrap(self, module: Any, target: str, wrapper: Any) -> bool:
        """Wraps ``module.<target>`` (``"Class.method"`` or ``"function"``).
        A missing target is reported (naming it and the installed version) and
        skipped; returns whether the wrapper is in place."""
        from ._wrapt import wrapt

        try:
            owner = module
            parts = target.split(".")
            for part in parts[:-1]:
                owner = getattr(owner, part)
            attribute = parts[-1]
            original = owner.__dict__[attribute] if isinstance(owner, type) else getattr(owner, attribute)
        except (AttributeError, KeyError):
            self._missing(module, target)
            return False
        if is_ours(original):
            return True
        try:
            wrapt.wrap_function_wrapper(owner, attribute, wrapper)
            current = owner.__dict__[attribute] if isinstance(owner, type) else getattr(owner, attribute)
            # `_self_` attributes stay on a wrapt proxy; others would be set on
            # the wrapped function itself and survive an unwrap.
            with contextlib.suppress(Exception):  # the marker is best effort
                current._self_bluepython_wrapped = True
            self.applied.append((owner, attribute, original))
            return True
        except Exception as exc:
            internal_error(f"hooks: {self.framework}: wrap {module.__name__}:{target}", exc)
            return False

    def replace(self, module: Any, target: str, make: Any) -> bool:
        """Replaces the method ``module.<Class.method>`` with ``make(original)``,
        a plain function: for the few methods every message passes through,
        where a wrapt wrapper (pure Python in the bundled copy) would cost
        microseconds per call. Same contract as :meth:`wrap`."""
        import functools

        class_name, _, attribute = target.partition(".")
        try:
            owner = getattr(module, class_name)
            original = owner.__dict__[attribute]
        except (AttributeError, KeyError):
            self._missing(module, target)
            return False
        if is_ours(original):
            return True
        try:
            replacement = functools.wraps(original)(make(original))
            replacement._bluepython_wrapped = True
            setattr(owner, attribute, replacement)
            self.applied.append((owner, attribute, original))
            return True
        except Exception as exc:
            internal_error(f"hooks: {self.framework}: replace {module.__name__}:{target}", exc)
            return False

    def _missing(self, module: Any, target: str) -> None:
        version = library_version(self.framework) or "unknown version"
        internal_error(
            f"hooks: {self.framework}",
            f"hook target not found: {module.__name__}:{target} ({self.framework} {version}); "
            "that part of the MCP traffic is not observed",
        )

    def unwrap_all(self) -> None:
        while self.applied:
            owner, attribute, original = self.applied.pop()
            try:
                setattr(owner, attribute, original)
            except Exception as exc:
                internal_error(f"hooks: {self.framework}: unwrap {attribute}", exc)


def is_ours(obj: Any) -> bool:
    """Whether ``obj`` is a wrapper or replacement bluepython put in place."""
    try:
        if getattr(obj, "_self_bluepython_wrapped", False):
            return True
        return "_bluepython_wrapped" in getattr(obj, "__dict__", {})
    except Exception:
        return False


def guarded(where: str, fn: Any) -> Any:
    """A post-import hook that reports instead of raising into the import."""

    def hook(module: Any) -> None:
        try:
            fn(module)
        except Exception as exc:
            internal_error(where, exc)

    return hook


# ---------------------------------------------------------------------------
# Payloads


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


# ---------------------------------------------------------------------------
# Latency: each session keeps the requests awaiting a response, by JSON-RPC id
# and direction, in dicts of its own: {id: (perf_counter, method)}.

# Unanswered requests remembered per session and direction (the native
# observer declines a request beyond it, so this path does the forgetting).
PENDING_LIMIT = _bluepython.MCP_PENDING_LIMIT

# OTLP trace export is on in this process: MCP requests this process sends as
# a client carry a W3C traceparent in params._meta (docs/export.md).
PROPAGATES_TRACES = _bluepython.propagates_traces()
_client_traceparent = _bluepython.client_traceparent


def inject_traceparent(params: Any) -> None:
    """Adds ``_meta.traceparent`` (and a ``bluepython=1`` tracestate member,
    which tells our exporter the client span is ours) to an outgoing
    request's params dict, unless a traceparent is there already: then the
    app's own OpenTelemetry instrumentation propagates, and we step aside."""
    if type(params) is not dict:
        return
    meta = params.get("_meta")
    if meta is None:
        meta = params["_meta"] = {}
    elif type(meta) is not dict or "traceparent" in meta:
        return
    meta["traceparent"] = _client_traceparent()
    state = meta.get("tracestate")
    meta["tracestate"] = f"bluepython=1,{state}" if type(state) is str and state else "bluepython=1"


def traceparent_of(params: Any) -> Any:
    """``params._meta.traceparent`` of an incoming request (dict or model), or None."""
    meta = params.get("_meta") if type(params) is dict else getattr(params, "meta", None)
    if meta is None:
        return None
    value = meta.get("traceparent") if type(meta) is dict else getattr(meta, "traceparent", None)
    return value if type(value) is str else None


def forget_oldest(pending: dict[Any, Any]) -> None:
    """Bounds a dict of unanswered requests (insertion order: the oldest
    goes). No lock: another thread may have evicted it first."""
    with contextlib.suppress(KeyError, RuntimeError, StopIteration):
        del pending[next(iter(pending))]


# ---------------------------------------------------------------------------
# Sessions


def session_id_for(obj: Any) -> str:
    """A stable id for a session object that has no protocol session id
    (stdio, SSE, stateless HTTP): generated once, kept on the object."""
    sid = getattr(obj, "_bluepython_session_id", None)
    if sid is None:
        sid = os.urandom(16).hex()
        try:
            object.__setattr__(obj, "_bluepython_session_id", sid)
        except Exception:
            sid = f"obj-{id(obj):x}"
    return sid


def _app_makes_server_spans() -> bool:
    """The app configured an OpenTelemetry SDK (a tracer provider other than the API's
    proxy or no-op) and serves with a framework that makes MCP server spans with it:
    mcp 2.x (``mcp.server._otel``) or fastmcp."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None or ("fastmcp" not in sys.modules and "mcp.server._otel" not in sys.modules):
        return False
    try:
        provider = trace.get_tracer_provider()
    except Exception:
        return False
    return type(provider).__name__ not in ("ProxyTracerProvider", "NoOpTracerProvider")


def session_created(session_id: str | None, source: int, **extra: Any) -> None:
    _bluepython.mark_serving()  # side effects outside calls: "background" from now on
    if PROPAGATES_TRACES and source == SERVER and _app_makes_server_spans():
        # Their server spans and ours would describe the same requests: ours step aside.
        _bluepython.step_aside_server_spans()
    attrs = {"session_id": session_id, "source": source}
    attrs.update({k: v for k, v in extra.items() if v is not None})
    emit("python_mcp_session_created", attrs, actionable=False)


def session_terminated(session_id: str | None, source: int, **extra: Any) -> None:
    attrs = {"session_id": session_id, "source": source}
    attrs.update({k: v for k, v in extra.items() if v is not None})
    emit("python_mcp_session_terminated", attrs, actionable=False)


# ---------------------------------------------------------------------------
# The six event types


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
    server_received_request, server_send_response, ... (see docs/events.md).
    ``client_name`` is ``client_id`` (clientInfo.name). ``method`` and
    ``error`` (JSON-RPC code, or ``tool_error``) come from the body; the
    native side encodes the event from these parts, with no attribute dict."""
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
    if server_name is not None:
        attrs["server_name"] = server_name
    attrs.update({k: v for k, v in extra.items() if v is not None})
    emit("python_mcp_server_add", attrs)


def redact_url(url: Any) -> str | None:
    """The URL without credentials: no userinfo, query values replaced
    (API keys often travel there). Idempotent."""
    if url is None:
        return None
    text = str(url)
    try:
        from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

        parts = urlsplit(text)
        netloc = parts.netloc.rsplit("@", 1)[-1]
        query = parts.query
        if query:
            query = urlencode([(k, "REDACTED") for k, _ in parse_qsl(query, keep_blank_values=True)], safe="")
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except Exception:
        return text.split("?", 1)[0].rsplit("@", 1)[-1]


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


def client_connect(
    transport: str,
    *,
    command: Any = None,
    args: Any = None,
    url: Any = None,
    auth: bool | None = None,
    **extra: Any,
) -> None:
    """``python_mcp_client_connect``; ``transport``: stdio, sse, streamable-http or websocket."""
    server: dict[str, Any] = {"type": transport}
    if command is not None:
        server["command"] = str(command)
        server["args"] = [str(a) for a in (args or [])]
    if url is not None:
        server["url"] = redact_url(url)
    if auth is not None:
        server["auth"] = bool(auth)
    attrs: dict[str, Any] = {"server": server}
    attrs.update({k: v for k, v in extra.items() if v is not None})
    emit("python_mcp_client_connect", attrs)


# ---------------------------------------------------------------------------
# Attribution: the MCP call in effect


class refined_call:
    """Makes ``attrs`` the call in effect: for a hook that refines the call an
    outer hook entered (same call id, another target or server). Entering
    never raises; leaving restores the previous call."""

    __slots__ = ("_attrs", "_token")

    def __init__(self, attrs: dict[str, Any]) -> None:
        self._attrs = attrs
        self._token = None

    def __enter__(self) -> Any:
        try:
            self._token = _bluepython.enter_call(self._attrs)
        except Exception as exc:
            internal_error("hooks: attribution", exc)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._token is not None:
            try:
                _bluepython.exit_call(self._token)
            except Exception as exc:
                internal_error("hooks: attribution", exc)
            self._token = None


async def run_in(coro: Any, call: Any) -> Any:
    """Awaits ``coro`` with ``call`` (a refined_call/call_context) in effect."""
    with call:
        return await coro


class call_context(refined_call):
    """While a request handler runs, makes the call current for this task or
    thread (a contextvar the native side reads: every event emitted meanwhile
    carries it under ``context.mcp``, with a fresh ``call_id``). Use as
    ``with call_context(...):``; entering never raises, leaving restores the
    previous call."""

    __slots__ = ("_fields",)

    def __init__(
        self,
        *,
        session_id: str | None,
        request_id: Any,
        method: str | None,
        target: str | None = None,
        transport: str | None = None,
        server_name: str | None = None,
    ) -> None:
        self._fields = (session_id, request_id, method, target, transport, server_name)
        self._token = None

    def __enter__(self) -> Any:
        try:
            self._token = _bluepython.enter_mcp_call(*self._fields)
        except Exception as exc:
            internal_error("hooks: attribution", exc)
        return self


def attributed(enter: Any, where: str) -> Any:
    """A ``Patcher.replace`` maker for a request handler method (a coroutine
    function): ``enter(self, args, kwargs)`` makes the request's call current
    and returns the token; the call is left when the handler ends. A fault in
    ``enter`` is reported under ``where`` and the handler runs unattributed."""

    def make(original: Any) -> Any:
        async def handler(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                token = enter(self, args, kwargs)
            except Exception as exc:
                internal_error(where, exc)
                return await original(self, *args, **kwargs)
            try:
                return await original(self, *args, **kwargs)
            finally:
                try:  # restores the call in effect before; never raises into the handler
                    _bluepython.exit_call(token)
                except Exception as exc:
                    internal_error("hooks: attribution", exc)

        return handler

    return make


def current_call() -> dict[str, Any] | None:
    """The MCP call in effect in this task/thread, or None."""
    return _bluepython.current_call()


# ---------------------------------------------------------------------------
# Tool definitions: python_mcp_tool_changed (rug-pull signal)

_TOOLS_FILE = "mcp-tools.json"
_TOOLS_VERSION = 2
_SIDES = {SERVER: "server", CLIENT: "client"}
_tools_lock = threading.Lock()
# side ("server"/"client") -> server name -> tool name -> {digest, definition}. A
# server and the clients that list its tools keep separate baselines.
_tools_seen: dict[str, dict[str, dict[str, dict[str, Any]]]] | None = None
_tools_previous_run: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}


def _tools_path() -> str | None:
    where = _bluepython.spool_location()
    if not where:
        return None
    directory = where if os.path.isdir(where) else os.path.dirname(where)
    return os.path.join(directory, _TOOLS_FILE)


def _load_tools() -> None:
    global _tools_seen, _tools_previous_run
    _tools_seen = {}
    path = _tools_path()
    if path is None:
        return
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if isinstance(data, dict) and data.get("version") == _TOOLS_VERSION:
            sides = [side for side in _SIDES.values() if isinstance(data.get(side), dict)]
            _tools_previous_run = {side: data[side] for side in sides}
    except FileNotFoundError:
        pass
    except Exception as exc:
        internal_error("hooks: tool baseline", exc)


def _save_tools() -> None:
    path = _tools_path()
    if path is None:
        return
    merged: dict[str, Any] = {"version": _TOOLS_VERSION}
    for side in _SIDES.values():
        servers = {server: dict(tools) for server, tools in _tools_previous_run.get(side, {}).items()}
        for server, tools in (_tools_seen or {}).get(side, {}).items():
            servers.setdefault(server, {}).update(tools)
        merged[side] = servers
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(merged, f, sort_keys=True)
        os.replace(tmp, path)
    except Exception as exc:
        internal_error("hooks: tool baseline", exc)
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _definition(tool: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": tool.get("name"),
        "description": tool.get("description"),
        "inputSchema": tool.get("inputSchema"),
    }


def tools_listed(server_name: str | None, tools: Any, *, source: int, session_id: str | None = None) -> None:
    """Checks a ``tools/list`` result against the definitions seen before for
    the same server (in this process, else in the previous run) and emits
    ``python_mcp_tool_changed`` for each tool whose name, description or input
    schema differ."""
    try:
        import hashlib

        if not isinstance(tools, list):
            return
        with _tools_lock:
            if _tools_seen is None:
                _load_tools()
            assert _tools_seen is not None
            side = _SIDES.get(source, "server")
            server_key = str(server_name)
            seen = _tools_seen.setdefault(side, {}).setdefault(server_key, {})
            previous_run = _tools_previous_run.get(side, {}).get(server_key, {})
            changes = []
            dirty = False
            for tool in tools:
                if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
                    continue
                definition = _definition(tool)
                digest = hashlib.sha256(
                    json.dumps(definition, sort_keys=True, separators=(",", ":")).encode()
                ).hexdigest()
                before = seen.get(tool["name"])
                seen_in = "this_process"
                if before is None:
                    before = previous_run.get(tool["name"])
                    seen_in = "previous_run"
                if before is None or before.get("digest") != digest:
                    dirty = True
                    seen[tool["name"]] = {"digest": digest, "definition": definition}
                if before is not None and before.get("digest") != digest:
                    old = before.get("definition") or {}
                    fields = ("name", "description", "inputSchema")
                    changed = [k for k in fields if old.get(k) != definition[k]]
                    changes.append((tool["name"], seen_in, old, definition, changed))
            if dirty:
                _save_tools()
        for name, seen_in, old, new, changed in changes:
            emit(
                "python_mcp_tool_changed",
                {
                    "server_name": server_name,
                    "tool": name,
                    "changed": changed,
                    "seen_in": seen_in,
                    "previous": old,
                    "current": new,
                    "source": source,
                    "session_id": session_id,
                },
            )
    except Exception as exc:
        internal_error("hooks: tool definitions", exc)
