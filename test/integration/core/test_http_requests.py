# SPDX-License-Identifier: Apache-2.0
"""HTTP client requests (httpx sync and async, requests/urllib3, aiohttp; urllib
through its audit event) are reported with their URL, status, size, duration
and error, inside the tool call that made them, without a credential from the
URL, and without changing what goes over the wire. A real server, real
libraries, a loopback HTTP server."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from conftest import FIXTURES, McpVenv, attrs, named, read_spool

_SERVER = FIXTURES / "http_clients" / "server.py"
_CLIENTS = ["httpx", "httpx_async", "requests", "urllib", "aiohttp"]
_SECRET = "s3cr3t-k3y-value"  # noqa: S105 (a fake credential the spool must not hold)
_BODIES = {"/robots.txt": b"User-agent: *\nDisallow:\n", "/page": b"<p>the page</p>"}


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, list[tuple[str, str]]]]] = []

    def do_GET(self) -> None:
        headers = sorted((k.lower(), v) for k, v in self.headers.items())
        type(self).seen.append((self.requestline, headers))
        path = self.path.split("?")[0]
        if path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/page")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = _BODIES.get(path, b"")
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def web() -> Iterator[tuple[str, type[_Recorder]]]:
    handler = type("Recorder", (_Recorder,), {"seen": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()


def _calls() -> list[Any]:
    calls: list[Any] = []
    for client in _CLIENTS:
        calls += [["fetch", {"client": client, "path": "/robots.txt"}],
                  ["fetch", {"client": client, "path": f"/page?q=1&api_key={_SECRET}"}],
                  ["fetch", {"client": client, "path": "/redirect"}],
                  ["refused", {"client": client}]]
    return calls


def _run(venv: McpVenv, exe: str, base: str, root: Path) -> Path:
    spool = root / "spool"
    env = venv.env(root, BLUEPYTHON_SPOOL_DIR=str(spool))
    res = subprocess.run([venv.python, str(FIXTURES / "call_tools.py"), exe, json.dumps([str(_SERVER), base]),
                          json.dumps(_calls())], env=env, capture_output=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr.decode()
    return spool


@pytest.fixture(scope="module", params=["mcp1", "mcp2"])
def ran(request: pytest.FixtureRequest, web: tuple[str, type[_Recorder]],
        tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    venv: McpVenv = request.getfixturevalue(request.param)
    base, recorder = web
    recorder.seen.clear()
    _run(venv, venv.python, base, tmp_path_factory.mktemp("plain"))
    plain = list(recorder.seen)
    recorder.seen.clear()
    spool = _run(venv, venv.bluepython, base, tmp_path_factory.mktemp("bp"))
    return {"base": base, "plain": plain, "observed": list(recorder.seen), "spool": spool,
            "events": read_spool(spool)}


def _requests(ran: dict[str, Any]) -> list[dict[str, Any]]:
    return [ev for ev in named(ran["events"], "python_net_request") if ev["event"]["context"].get("mcp")]


def test_what_goes_over_the_wire_is_unchanged(ran: dict[str, Any]) -> None:
    assert ran["observed"] == ran["plain"]
    assert len(ran["observed"]) >= 3 * len(_CLIENTS)


def _via(client: str) -> str:
    return "httpx" if client.startswith("httpx") else "urllib3" if client == "requests" else client


@pytest.mark.parametrize("client", _CLIENTS)
def test_each_request_with_its_url_status_size_and_call(ran: dict[str, Any], client: str) -> None:
    via = _via(client)
    base = ran["base"]
    mine = [ev for ev in _requests(ran)
            if ev["event"]["context"]["mcp"]["target"] == "fetch" and attrs(ev)["via"] == via]
    # httpx's two clients share a via: tell them apart by the call's arguments' order
    got = {(attrs(ev)["url"], attrs(ev)["status"], attrs(ev)["bytes"]) for ev in mine}
    assert (f"{base}/robots.txt", 200, len(_BODIES["/robots.txt"])) in got
    assert (f"{base}/page?q=1&api_key=[REDACTED]", 200, len(_BODIES["/page"])) in got
    for ev in mine:
        a = attrs(ev)
        assert a["method"] == "GET" and a["duration_ms"] >= 0 and "error" not in a
    redirected = [attrs(ev) for ev in mine if attrs(ev)["url"] in (f"{base}/page", f"{base}/redirect")]
    if via == "urllib3":  # requests follows redirects itself: each hop is a request
        hops = {(a["url"], a["status"]) for a in redirected}
        assert hops == {(f"{base}/redirect", 302), (f"{base}/page", 200)}
    else:  # one request, the final URL, the hops counted
        assert [(a["url"], a["status"], a.get("redirects")) for a in redirected] in (
            [(f"{base}/page", 200, 1)], [(f"{base}/page", 200, 1)] * 2)


@pytest.mark.parametrize("client", _CLIENTS)
def test_a_refused_connection_is_a_failed_request(ran: dict[str, Any], client: str) -> None:
    via = _via(client)
    failed = [attrs(ev) for ev in _requests(ran)
              if ev["event"]["context"]["mcp"]["target"] == "refused" and attrs(ev)["via"] == via]
    assert failed, client
    for a in failed:
        assert a["url"] == "http://127.0.0.1:9/nothing" and a["status"] is None and a["error"]


def test_urllib_requests_are_reported_once(ran: dict[str, Any]) -> None:
    # The hook reports them (with a status); their audit event, which comes first, is left to it.
    assert [a for a in map(attrs, _requests(ran)) if a["via"] == "urllib.Request"] == []
    urls = [attrs(ev)["url"] for ev in _requests(ran) if attrs(ev)["via"] == "urllib"]
    assert urls.count(f"{ran['base']}/robots.txt") == 1


def test_no_credential_from_a_url_reaches_the_spool(ran: dict[str, Any]) -> None:
    for file in Path(ran["spool"]).iterdir():
        if file.name.endswith(".ndjson"):
            data = file.read_bytes()
            # the tool's arguments carry it (MCP messages: redaction is another matter); the requests do not
            for line in data.splitlines():
                if b'"python_net_request"' in line:
                    assert _SECRET.encode() not in line
