# SPDX-License-Identifier: Apache-2.0
"""``python_mcp_client_connect``: what a client connects to (stdio command,
redacted URL, whether the connection carries credentials)."""

from __future__ import annotations

from typing import Any

from ._emit import emit


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
