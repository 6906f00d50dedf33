# SPDX-License-Identifier: Apache-2.0
"""``python_mcp_client_connect``: what a client connects to, read the same
way by every SDK version's hooks (stdio command, redacted URL, whether the
connection carries credentials)."""

from __future__ import annotations

from typing import Any

from ._emit import emit
from ._patcher import arg


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


def has_auth(auth: Any, headers: Any) -> bool:
    """Whether a connection carries credentials: an auth handler (httpx
    ``Auth``) or an ``Authorization`` header (any case)."""
    if auth is not None:
        return True
    try:
        return bool(headers) and any(str(k).lower() == "authorization" for k in headers)
    except Exception:
        return False


def sse_auth(args: Any, kwargs: Any) -> bool:
    """``sse_client(url, headers, timeout, sse_read_timeout, httpx_client_factory, auth, ...)``
    (mcp 1.x and 2.x): the auth handler or an Authorization header."""
    return has_auth(arg(args, kwargs, 5, "auth"), arg(args, kwargs, 1, "headers"))


def http_client_auth(kwargs: Any) -> bool:
    """``streamable_http_client(url, *, http_client=...)``: credentials on the
    httpx client it is given (the deprecated ``streamablehttp_client`` builds
    one from its headers and auth); none without a client."""
    client = kwargs.get("http_client")
    return client is not None and has_auth(getattr(client, "auth", None), getattr(client, "headers", None))


def stdio_fields(params: Any) -> dict[str, Any]:
    """The connect fields of a ``StdioServerParameters``: command, args, cwd."""
    cwd = getattr(params, "cwd", None)
    return {
        "command": getattr(params, "command", None),
        "args": getattr(params, "args", None),
        "cwd": None if cwd is None else str(cwd),
    }
