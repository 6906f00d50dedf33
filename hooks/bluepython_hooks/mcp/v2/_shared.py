# SPDX-License-Identifier: Apache-2.0
"""What the mcp 2.x hooks share: protocol constants, the JSON-RPC message
classes (learned when ``mcp.shared.jsonrpc_dispatcher`` is imported), the
2026-07-28 protocol versions, and reading message bodies and envelopes."""

from __future__ import annotations

import sys
from typing import Any

from ..._emit import ERROR, NOTIFICATION, REQUEST, RESPONSE, internal_error

_FRAMEWORK_LOWLEVEL = "mcp"
_FRAMEWORK_MCPSERVER = "mcp.mcpserver"

_LINK = "_bluepython_link"  # attribute on a JSONRPCDispatcher: its _Link

_PROTOCOL_VERSION_KEY = "io.modelcontextprotocol/protocolVersion"
_CLIENT_INFO_KEY = "io.modelcontextprotocol/clientInfo"
# The 2026-07-28-era protocol versions; refreshed in place from mcp_types at install.
_MODERN_VERSIONS: set[str] = {"2026-07-28"}

# JSON-RPC message kinds (the native observer's numbers, _emit.REQUEST ...),
# keyed by mcp_types class at install: the native observer's table too.
_KINDS: dict[type, int] = {}


def _learn_message_classes(module: Any) -> None:
    """``mcp.shared.jsonrpc_dispatcher`` imported: its JSON-RPC message
    classes (from mcp_types) and the protocol versions of this SDK."""
    for name, kind in (
        ("JSONRPCRequest", REQUEST),
        ("JSONRPCNotification", NOTIFICATION),
        ("JSONRPCResponse", RESPONSE),
        ("JSONRPCError", ERROR),
    ):
        _KINDS[getattr(module, name)] = kind
    _refresh_versions()


def _refresh_versions() -> None:
    try:
        from mcp_types.version import MODERN_PROTOCOL_VERSIONS

        versions = set(MODERN_PROTOCOL_VERSIONS)
        _MODERN_VERSIONS.update(versions)
        _MODERN_VERSIONS.intersection_update(versions)
    except Exception as exc:
        internal_error("hooks: mcp: protocol versions", exc)


def _body(msg: Any, kind: int) -> dict[str, Any]:
    """The JSON-RPC body of an mcp_types message, without a pydantic dump
    (params and results are already plain JSON data)."""
    if kind == REQUEST:
        body = {"jsonrpc": msg.jsonrpc, "id": msg.id, "method": msg.method}
        if msg.params is not None:
            body["params"] = msg.params
        return body
    if kind == NOTIFICATION:
        body = {"jsonrpc": msg.jsonrpc, "method": msg.method}
        if msg.params is not None:
            body["params"] = msg.params
        return body
    if kind == RESPONSE:
        return {"jsonrpc": msg.jsonrpc, "id": msg.id, "result": msg.result}
    return {
        "jsonrpc": msg.jsonrpc,
        "id": msg.id,
        "error": msg.error.model_dump(mode="json", by_alias=True, exclude_none=True),
    }


def _meta_of(params: Any) -> Any:
    if isinstance(params, dict):
        meta = params.get("_meta")
        if isinstance(meta, dict):
            return meta
    return None


def _info(value: Any) -> tuple[Any, Any]:
    """(name, version) of an Implementation model or dict."""
    if value is None:
        return _NO_CLIENT
    if isinstance(value, dict):
        return value.get("name"), value.get("version")
    return getattr(value, "name", None), getattr(value, "version", None)


_NO_CLIENT: tuple[Any, Any] = (None, None)


_HTTP_KINDS = frozenset({"streamable-http", "sse"})


def _oauth_client_id(get: Any) -> str | None:
    """The client_id of the bearer token the SDK's auth middleware accepted for
    the request (its contextvar, read with ``get``: the current context's, or
    the one the message was sent in)."""
    module = sys.modules.get("mcp.server.auth.middleware.auth_context")
    var = getattr(module, "auth_context_var", None)
    if var is None:
        return None
    user = get(var, None)
    token = getattr(user, "access_token", None)
    return getattr(token, "client_id", None)
