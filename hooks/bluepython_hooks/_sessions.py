# SPDX-License-Identifier: Apache-2.0
"""Sessions: their ids, their start and end events, the requests each keeps
awaiting a response (latency) and the W3C trace context of their requests."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

import _bluepython

from ._emit import SERVER, emit

# ---------------------------------------------------------------------------
# Latency: each session keeps the requests awaiting a response, by JSON-RPC id
# and direction, in dicts of its own: {id: (perf_counter, method)}.

# Unanswered requests remembered per session and direction (the native
# observer declines a request beyond it, so this path does the forgetting).
PENDING_LIMIT = _bluepython.MCP_PENDING_LIMIT


def forget_oldest(pending: dict[Any, Any]) -> None:
    """Bounds a dict of unanswered requests (insertion order: the oldest
    goes). No lock: another thread may have evicted it first."""
    with contextlib.suppress(KeyError, RuntimeError, StopIteration):
        del pending[next(iter(pending))]


# ---------------------------------------------------------------------------
# Trace context

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


# ---------------------------------------------------------------------------
# Session ids and events


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
