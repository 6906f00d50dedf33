# SPDX-License-Identifier: Apache-2.0
"""HTTP client requests. The audit hook sees a connect and a name lookup, but
not which URL went over the connection. These hooks report each request that
httpx and httpx2 (sync and async), urllib, urllib3 (and requests, which is built on it) and
aiohttp send. The event is ``python_net_request``: method, URL, status, bytes
of the body, duration, redirects and error. It goes through the network
category's switch and filters (the URL is the subject), the call in effect,
the scope and the folding, as the audit hook's events do. Nothing that goes
over the wire changes: the hooks read the request and the response only.

The URL is reported without the password of its user information, and the
values of query parameters whose names suggest a credential are replaced by
``[REDACTED]`` (``_bluepython.safe_url``).

urllib.request (``OpenerDirector.open``, so ``urlopen`` and every opener) is
reported here too (``via`` ``urllib``). Until these hooks are active (before
the app imports ``mcp``), the native hook reports urllib's own audit event
(``urllib.Request``), which comes before the request and has no status."""

from __future__ import annotations

import threading
import time
from typing import Any

import _bluepython

from ._emit import internal_error
from ._wrapt import wrapt

_side_effect = _bluepython.side_effect
_safe_url = _bluepython.safe_url  # native: the same rules as the urllib.Request events'
_EVENT = "python_net_request"
_inside = threading.local()  # urllib3's retries and urllib's redirects open again: reported once


def _report(via: str, method: Any, url: str, started: float, status: Any = None, size: Any = None,
            redirects: int = 0, error: BaseException | None = None) -> None:
    try:
        shown = _safe_url(url)
        attrs: dict[str, Any] = {"via": via, "method": str(method).upper(), "url": shown}
        attrs["status"] = int(status) if status is not None else None
        attrs["bytes"] = int(size) if size is not None else None
        attrs["duration_ms"] = round((time.perf_counter() - started) * 1000.0, 3)
        if redirects:
            attrs["redirects"] = redirects
        if error is not None:
            attrs["error"] = f"{type(error).__name__}: {error}"[:500]
        _side_effect(_EVENT, "network", attrs, shown)
    except Exception as exc:
        internal_error(f"hooks: http: {via}", exc)


def _length(headers: Any) -> Any:
    try:
        value = headers.get("content-length")
        return int(value) if value is not None else None
    except (TypeError, ValueError, AttributeError):
        return None


# httpx and httpx2: Client.send / AsyncClient.send (redirects followed inside:
# one event, the final URL and status, with the number of redirects).


def _httpx_result(via: str, request: Any, response: Any, stream: bool, started: float) -> None:
    try:
        url = str(response.url) if response is not None else str(request.url)
        size = None
        if response is not None:
            consumed = not stream and response.is_stream_consumed
            size = len(response.content) if consumed else _length(response.headers)
        _report(via, request.method, url, started, response.status_code, size, len(response.history))
    except Exception as exc:
        internal_error(f"hooks: http: {via}", exc)


def _httpx_failed(via: str, request: Any, started: float, exc: BaseException) -> None:
    _report(via, getattr(request, "method", "?"), str(getattr(request, "url", "")), started, error=exc)


def _httpx_wrappers(via: str) -> tuple[Any, Any]:
    def send(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        started = time.perf_counter()
        request = args[0] if args else kwargs.get("request")
        try:
            response = wrapped(*args, **kwargs)
        except Exception as exc:
            _httpx_failed(via, request, started, exc)
            raise
        _httpx_result(via, request, response, bool(kwargs.get("stream", False)), started)
        return response

    async def send_async(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        started = time.perf_counter()
        request = args[0] if args else kwargs.get("request")
        try:
            response = await wrapped(*args, **kwargs)
        except Exception as exc:
            _httpx_failed(via, request, started, exc)
            raise
        _httpx_result(via, request, response, bool(kwargs.get("stream", False)), started)
        return response

    return send, send_async


def _patch_httpx(module: Any) -> None:
    """httpx, and httpx2 (its successor, which the openai and anthropic SDKs use)."""
    send, send_async = _httpx_wrappers(module.__name__)
    wrapt.wrap_function_wrapper(module, "Client.send", send)
    wrapt.wrap_function_wrapper(module, "AsyncClient.send", send_async)


# urllib3 (requests): HTTPConnectionPool.urlopen, one event per request
# requests sends (it follows redirects itself).


def _pool_url(pool: Any, url: str) -> str:
    if "://" in url:  # through a proxy: the URL is absolute
        return url
    scheme = getattr(pool, "scheme", "http")
    host = getattr(pool, "host", "")
    port = getattr(pool, "port", None)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}{'' if port in (None, default) else f':{port}'}{url}"


def _urllib3_urlopen(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    if getattr(_inside, "urlopen", False):
        return wrapped(*args, **kwargs)
    started = time.perf_counter()
    method = args[0] if args else kwargs.get("method", "?")
    url = args[1] if len(args) > 1 else kwargs.get("url", "")
    _inside.urlopen = True
    try:
        response = wrapped(*args, **kwargs)
    except Exception as exc:
        _report("urllib3", method, _pool_url(instance, str(url)), started, error=exc)
        raise
    finally:
        _inside.urlopen = False
    try:
        preload = kwargs.get("preload_content", True)
        size = len(response.data) if preload else _length(response.headers)
        redirects = len(getattr(getattr(response, "retries", None), "history", ()) or ())
        _report("urllib3", method, _pool_url(instance, str(url)), started, response.status, size, redirects)
    except Exception as exc:
        internal_error("hooks: http: urllib3", exc)
    return response


def _patch_urllib3(module: Any) -> None:
    wrapt.wrap_function_wrapper(module, "HTTPConnectionPool.urlopen", _urllib3_urlopen)


# aiohttp: ClientSession._request (the headers are in; the body may not be).


async def _aiohttp_request(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    started = time.perf_counter()
    method = args[0] if args else kwargs.get("method", "?")
    url = args[1] if len(args) > 1 else kwargs.get("str_or_url", "")
    try:
        response = await wrapped(*args, **kwargs)
    except Exception as exc:
        _report("aiohttp", method, str(url), started, error=exc)
        raise
    try:
        _report("aiohttp", method, str(response.url), started, response.status, response.content_length,
                len(response.history))
    except Exception as exc:
        internal_error("hooks: http: aiohttp", exc)
    return response


def _patch_aiohttp(module: Any) -> None:
    wrapt.wrap_function_wrapper(module, "ClientSession._request", _aiohttp_request)


# urllib.request: OpenerDirector.open (urlopen and every opener). Redirects
# are followed inside: the URL reported is the final one. The body is not
# read yet: its size is the Content-Length.


def _urllib_open(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    if getattr(_inside, "urllib", False):  # a redirect: HTTPRedirectHandler opens the new URL
        return wrapped(*args, **kwargs)
    started = time.perf_counter()
    target = args[0] if args else kwargs.get("fullurl")
    data = args[1] if len(args) > 1 else kwargs.get("data")
    try:
        url = target if isinstance(target, str) else target.full_url
        method = ("POST" if data is not None else "GET") if isinstance(target, str) else target.get_method()
    except Exception:
        url, method = str(target), "?"
    _inside.urllib = True
    try:
        response = wrapped(*args, **kwargs)
    except Exception as exc:
        _inside.urllib = False
        status = getattr(exc, "code", None)  # urllib.error.HTTPError: a response all the same
        _report("urllib", method, url, started, status if isinstance(status, int) else None,
                _length(getattr(exc, "headers", None)), error=exc)
        raise
    _inside.urllib = False
    try:
        final = response.geturl() if hasattr(response, "geturl") else url
        _report("urllib", method, final or url, started, getattr(response, "status", None),
                _length(getattr(response, "headers", None)), 1 if final and final != url else 0)
    except Exception as exc:
        internal_error("hooks: http: urllib", exc)
    return response


def _patch_urllib(module: Any) -> None:
    wrapt.wrap_function_wrapper(module, "OpenerDirector.open", _urllib_open)
    _bluepython.urllib_hooked()  # the urllib.Request audit event is left to this hook


def _guarded(name: str, patch: Any) -> Any:
    def apply(module: Any) -> None:
        try:
            patch(module)
        except Exception as exc:
            internal_error(f"hooks: http: {name}", exc)

    return apply


def install() -> None:
    if not _bluepython.enabled("network"):
        return
    wrapt.register_post_import_hook(_guarded("httpx", _patch_httpx), "httpx")
    wrapt.register_post_import_hook(_guarded("httpx2", _patch_httpx), "httpx2")
    wrapt.register_post_import_hook(_guarded("urllib3", _patch_urllib3), "urllib3.connectionpool")
    wrapt.register_post_import_hook(_guarded("aiohttp", _patch_aiohttp), "aiohttp.client")
    wrapt.register_post_import_hook(_guarded("urllib", _patch_urllib), "urllib.request")
