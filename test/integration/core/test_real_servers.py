# SPDX-License-Identifier: Apache-2.0
"""Real MCP servers published on PyPI (written elsewhere), driven by the SDK's
client under bluepython: what their tool calls did is in the spool, in the
right call. mcp-server-sqlite writes a database, mcp-server-fetch fetches
robots.txt and then the page, mcp-server-git runs git."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, McpVenv, attrs, read_spool

_BODIES = {"/robots.txt": b"User-agent: *\nAllow: /\n",
           "/page": b"<html><body><p>a real page</p></body></html>"}


class _Site(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = _BODIES.get(self.path, b"")
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/plain" if self.path.endswith(".txt") else "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _run(venv: McpVenv, root: Path, server_argv: list[str],
         calls: list[Any]) -> dict[str, list[dict[str, Any]]]:
    """The tool calls' events (not the MCP messages), by tool."""
    spool = root / "spool"
    res = subprocess.run([venv.python, str(FIXTURES / "call_tools.py"), venv.bluepython,
                          json.dumps(server_argv), json.dumps(calls)],
                         env=venv.env(root, BLUEPYTHON_SPOOL_DIR=str(spool)), cwd=root,
                         capture_output=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr.decode()[-3000:]
    by_tool: dict[str, list[dict[str, Any]]] = {}
    for ev in read_spool(spool):
        mcp = ev["event"]["context"].get("mcp")
        if mcp and not ev["event"]["meta"]["name"].startswith("python_mcp"):
            by_tool.setdefault(mcp["target"], []).append(ev)
    return by_tool


def _of(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [attrs(ev) for ev in events if ev["event"]["meta"]["name"] == name]


def test_sqlite_server_writes_are_its_calls_effects(mcp1: McpVenv, tmp_path: Path) -> None:
    db = tmp_path / "business.db"
    # The package has no __main__: its console script calls main().
    server = ["-c", "from mcp_server_sqlite import main; main()", "--db-path", str(db)]
    by_tool = _run(mcp1, tmp_path, server, [
        ["create_table", {"query": "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)"}],
        ["write_query", {"query": "INSERT INTO notes (body) VALUES ('hello')"}],
        ["read_query", {"query": "SELECT * FROM notes"}],
    ])
    writes = {tool: {(a["path"], a["statement"])
                     for a in _of(evs, "python_file_change") if a["via"] == "sqlite3"}
              for tool, evs in by_tool.items()}
    assert writes["create_table"] == {(str(db), "create table notes")}
    assert writes["write_query"] == {(str(db), "insert into notes")}
    assert writes.get("read_query", set()) == set()  # a read changes nothing
    opened = [a for a in _of(by_tool["read_query"], "python_file_open")
              if a["via"] == "sqlite3.connect/handle"]
    assert [(a["path"], a["access"]) for a in opened] == [(str(db), "read_write")]


def test_fetch_server_requests_robots_txt_then_the_page(mcp1: McpVenv, tmp_path: Path, site: str) -> None:
    by_tool = _run(mcp1, tmp_path, ["-m", "mcp_server_fetch", "--allow-private-ips"],
                   [["fetch", {"url": f"{site}/page"}]])
    requests = [(a["method"], a["url"], a["status"], a["bytes"])
                for a in _of(by_tool["fetch"], "python_net_request")]
    assert requests == [("GET", f"{site}/robots.txt", 200, len(_BODIES["/robots.txt"])),
                        ("GET", f"{site}/page", 200, len(_BODIES["/page"]))]


def test_git_server_runs_git_in_its_call(mcp1: McpVenv, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    by_tool = _run(mcp1, tmp_path, ["-m", "mcp_server_git", "--repository", str(repo)],
                   [["git_status", {"repo_path": str(repo)}]])
    spawns = _of(by_tool["git_status"], "python_process_spawn")
    assert spawns and all(Path(a["argv"][0]).name == "git" and a["pid"] > 0 for a in spawns), spawns
    assert any("status" in a["argv"] for a in spawns), spawns
