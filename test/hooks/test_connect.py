# SPDX-License-Identifier: Apache-2.0
"""Client-connect reading, shared by every SDK version's hooks (hooks/bluepython_hooks/_connect.py)."""

from __future__ import annotations

import importlib

import pytest
from bluepython_hooks import _connect
from conftest import emitted

# mcp 1.x uses httpx, mcp 2.x its successor httpx2: the same client API.
try:
    httpx = importlib.import_module("httpx")
except ImportError:
    httpx = importlib.import_module("httpx2")


@pytest.mark.parametrize(
    ("auth", "headers", "expected"),
    [
        (None, None, False),
        (None, {}, False),
        (None, {"Accept": "text/event-stream"}, False),
        (None, {"Authorization": "Bearer t"}, True),
        (None, {"authorization": "Bearer t"}, True),
        (httpx.BasicAuth("u", "p"), None, True),
    ],
)
def test_credentials_are_an_auth_handler_or_an_authorization_header(auth, headers, expected) -> None:
    assert _connect.has_auth(auth, headers) is expected


def test_an_httpx_client_carries_its_headers_and_auth() -> None:
    with httpx.Client(headers={"Authorization": "Bearer t"}) as with_header, httpx.Client() as plain, \
            httpx.Client(auth=("u", "p")) as with_auth:
        assert _connect.http_client_auth({"http_client": with_header}) is True
        assert _connect.http_client_auth({"http_client": with_auth}) is True
        assert _connect.http_client_auth({"http_client": plain}) is False
    assert _connect.http_client_auth({}) is False


def test_sse_client_arguments_by_position_and_by_name() -> None:
    url = "http://127.0.0.1:1/sse"
    assert _connect.sse_auth((url, {"Authorization": "x"}), {}) is True
    assert _connect.sse_auth((url, None, 5, 300, None, httpx.BasicAuth("u", "p")), {}) is True
    assert _connect.sse_auth((url,), {"auth": httpx.BasicAuth("u", "p")}) is True
    assert _connect.sse_auth((url,), {"headers": {"Accept": "x"}}) is False


def test_urls_lose_credentials_and_query_values() -> None:
    assert _connect.redact_url("https://user:pw@api.example.com/mcp?key=secret&v=1") == \
        "https://api.example.com/mcp?key=REDACTED&v=REDACTED"
    assert _connect.redact_url(_connect.redact_url("http://h/p?a=1")) == "http://h/p?a=REDACTED"
    assert _connect.redact_url(None) is None


def test_client_connect_event_carries_the_redacted_server(mark) -> None:
    before = mark()
    _connect.client_connect("streamable-http", url="http://u:p@127.0.0.1:9/mcp?token=t", auth=True,
                            framework="unit-test")
    (event,) = emitted("python_mcp_client_connect", lambda e: e.get("framework") == "unit-test")[-1:]
    assert event["server"] == {"type": "streamable-http", "url": "http://127.0.0.1:9/mcp?token=REDACTED",
                               "auth": True}
    assert mark() > before


def test_fastmcp_streamable_http_connect_sees_an_authorization_header(mark) -> None:
    """fastmcp 4's connect wrapper ignored the Authorization header (issue 14); it now reads
    the client the shared way. Under mcp 1.x (fastmcp 3) the SDK-level hooks cover it."""
    fastmcp = pytest.importorskip("fastmcp")
    if not fastmcp.__version__.startswith("4."):
        pytest.skip("fastmcp 4.x only")
    from bluepython_hooks.fastmcp import v4

    def connect(*args, **kwargs):
        return "connected"

    url = "http://127.0.0.1:9/mcp"
    client = httpx.AsyncClient(headers={"Authorization": "Bearer t"})  # never opened: no I/O
    assert v4._streamable_http_client(connect, None, (url,), {"http_client": client}) == "connected"
    assert v4._sse_client(connect, None, (url, {"Authorization": "Bearer t"}), {}) == "connected"
    events = emitted("python_mcp_client_connect", lambda e: e.get("framework") == "fastmcp")[-2:]
    assert [e["server"]["type"] for e in events] == ["streamable-http", "sse"]
    assert [e["server"]["auth"] for e in events] == [True, True]
