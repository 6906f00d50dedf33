# SPDX-License-Identifier: Apache-2.0
"""mcp 2.x attribution: ``ServerRunner._on_request``, the kernel every
transport runs each request through, makes the request's call current."""

from __future__ import annotations

from typing import Any

import _bluepython

from ..._attribution import attributed
from ..._patcher import arg
from ..._sessions import PENDING_LIMIT, traceparent_of
from ._modern import remember_call
from ._shared import _LINK

_enter_mcp_call = _bluepython.enter_mcp_call

# Request methods whose params name the handler's target.
_TARGET_KEY = {
    "tools/call": "name",
    "prompts/get": "name",
    "resources/read": "uri",
    "resources/subscribe": "uri",
    "resources/unsubscribe": "uri",
}


def _link_of(dctx: Any) -> Any:
    """The link of the dispatcher a request came through, or None."""
    dispatcher = getattr(dctx, "_dispatcher", None)
    if dispatcher is None:
        inner = getattr(dctx, "_inner", None)  # the 2026-07-28 era's no-server-requests wrapper
        dispatcher = getattr(inner, "_dispatcher", None)
    return None if dispatcher is None else dispatcher.__dict__.get(_LINK)


def _enter_call(runner: Any, args: Any, kwargs: Any) -> Any:
    """Makes the request's call current (_bluepython.enter_mcp_call); returns
    the token to leave it with."""
    if len(args) >= 3:
        dctx, method, params = args[0], args[1], args[2]
    else:
        dctx = arg(args, kwargs, 0, "dctx")
        method = arg(args, kwargs, 1, "method")
        params = arg(args, kwargs, 2, "params")
    target = None
    key = _TARGET_KEY.get(method)
    if key is not None and params:
        value = params.get(key)
        if value is not None:
            target = str(value)
    link = _link_of(dctx)
    transport = None
    session_id = None
    if link is not None:
        session_id = link.sid if link.connection is not None else None
        transport = link.kind
    if transport is None:
        # The 2026-07-28 wrapper context's `transport` property copies a
        # dataclass on every access: read the inner context's.
        inner = getattr(dctx, "_inner", None)
        transport_ctx = getattr(inner if inner is not None else dctx, "transport", None)
        kind = getattr(transport_ctx, "kind", None)
        if kind not in (None, "jsonrpc"):
            transport = "memory" if kind == "direct" else kind
    traceparent = None
    if params and (type(params) is not dict or "_meta" in params):
        traceparent = traceparent_of(params)
    request_id = getattr(dctx, "request_id", None)
    return _enter_mcp_call(session_id, request_id, method, target, transport, runner.server.name, traceparent)


def _refusal(runner: Any, args: Any, kwargs: Any) -> Any:
    """The policy's answer to a tools/call: None to run it, else a coroutine
    giving the error result (the wire shape _on_request returns), the handler
    never running."""
    method = args[1] if len(args) >= 2 else arg(args, kwargs, 1, "method")
    if method != "tools/call":
        return None
    params = (args[2] if len(args) >= 3 else arg(args, kwargs, 2, "params")) or {}
    message = _bluepython.policy_check_call(params.get("name"), params.get("arguments"))
    if message is None:
        return None
    return _refused(message)


async def _refused(message: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": message}], "isError": True}


def _defer(runner: Any, args: Any, kwargs: Any, token: Any) -> bool:
    """The JSON-RPC dispatcher writes the response after ``_on_request``
    returns, in the request's own task: the call stays in effect until then
    (its response event then carries it, as on mcp 1.x). The link's ``_write``
    leaves it once the response (or error) for this request id is written.
    A 2026-07-28 HTTP exchange runs the handler in a task of its own: the call
    is left now, and the exchange remembers it for its response. Other
    dispatchers: the call is left now."""
    dctx = args[0] if args else kwargs.get("dctx")
    link = _link_of(dctx)
    request_id = getattr(dctx, "request_id", None)
    if link is None:  # a 2026-07-28 HTTP exchange: its response is reported in the call it remembers
        remember_call()
        return False
    if request_id is None or request_id in link.deferred or len(link.deferred) >= PENDING_LIMIT:
        return False
    link.deferred[request_id] = token
    return True


_make_on_request = attributed(_enter_call, "hooks: mcp: attribution", _refusal, _defer)
