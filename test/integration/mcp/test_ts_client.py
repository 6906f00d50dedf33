# SPDX-License-Identifier: Apache-2.0
"""A foreign client: the TypeScript MCP SDK (test/fixtures/ts/client.mjs)
drives a Python MCP server (mcp 1.x FastMCP and mcp 2.x MCPServer) running
under bluepython, over stdio (the client spawns `bluepython server.py`) and
over Streamable HTTP. The client sees exactly what it sees with plain python,
and bluepython's spool holds every message it sent, by method and id.

Needs build/npm: `bash test/setup_npm.sh`.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    FIXTURES,
    TIMEOUT,
    McpVenv,
    Sandbox,
    check_stream,
    named,
    processes,
    read_spool,
    sandbox_at,
    serve,
)
from mcp_traffic import describe, mcp_messages
from node_tools import NODE, require_npm

CLIENT = FIXTURES / "ts" / "client.mjs"
SERVERS = {"mcp1": FIXTURES / "ts" / "server_v1.py", "mcp2": FIXTURES / "ts" / "server_v2.py"}
CASES = [(line, transport) for line in ("mcp1", "mcp2") for transport in ("stdio", "http")]
CASE_IDS = [f"{line}-{transport}" for line, transport in CASES]


@dataclass
class ClientRun:
    summary: dict[str, Any]
    client_stderr: str
    spool: Path
    server_exit: int | None  # http only: the server's exit status after SIGINT


def _run_client(world: Sandbox, venv: McpVenv, transport: str, interpreter: str) -> ClientRun:
    tag = f"{venv.line}-{transport}-{interpreter}"
    exe = venv.python if interpreter == "python" else venv.bluepython
    spool = world.root / "spools" / tag
    env = dict(world.env, BLUEPYTHON_SPOOL_DIR=str(spool))
    server = str(SERVERS[venv.line])
    server_exit = None
    if transport == "stdio":
        res = subprocess.run(
            [str(NODE), str(CLIENT), "stdio", exe, server, "stdio"],
            env=env,
            cwd=world.cwd,
            capture_output=True,
            timeout=TIMEOUT,
        )
    else:
        log = world.root / f"{tag}.server.log"
        with serve(lambda port: [exe, server, "http", str(port)], env, world.cwd, log) as served:
            res = subprocess.run(
                [str(NODE), str(CLIENT), "http", served.url],
                env=env,
                cwd=world.cwd,
                capture_output=True,
                timeout=TIMEOUT,
            )
        server_exit = served.returncode
    stderr = res.stderr.decode(errors="replace")
    assert res.returncode == 0, f"{tag}: client failed ({res.returncode}):\n{stderr[-3000:]}"
    lines = res.stdout.decode().splitlines()
    assert len(lines) == 1, f"{tag}: expected one JSON line on stdout, got {lines!r}"
    return ClientRun(json.loads(lines[0]), stderr, spool, server_exit)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, bluepython: str, ref_python: str) -> Sandbox:
    return sandbox_at(tmp_path_factory.mktemp("ts-client"), bluepython, ref_python)


@pytest.fixture(scope="module")
def client_runs(world: Sandbox, mcp1: McpVenv, mcp2: McpVenv) -> dict[tuple[str, str, str], ClientRun]:
    require_npm()
    venvs = {"mcp1": mcp1, "mcp2": mcp2}
    return {
        (line, transport, interpreter): _run_client(world, venvs[line], transport, interpreter)
        for line, transport in CASES
        for interpreter in ("python", "bluepython")
    }


def _without_session(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k != "sessionId"}


@pytest.mark.parametrize(("line", "transport"), CASES, ids=CASE_IDS)
def test_client_results(
    client_runs: dict[tuple[str, str, str], ClientRun], line: str, transport: str
) -> None:
    bp = client_runs[line, transport, "bluepython"]
    py = client_runs[line, transport, "python"]
    s = bp.summary
    assert s["server"]["name"] == "bluepython-ts-fixture"
    assert s["tools"] == ["add"]
    assert s["call"] == {"isError": False, "text": ["5"], "structured": {"result": 5}}
    assert s["resources"] == ["notes://today"]
    assert s["read"] == [{"uri": "notes://today", "mimeType": "text/plain", "text": "buy milk"}]
    assert s["prompts"] == ["review"]
    assert s["prompt"] == [{"role": "user", "text": "Please review this code:\nx = 1"}]
    if transport == "http":
        assert s["sessionId"] and py.summary["sessionId"]
        assert bp.server_exit == py.server_exit
    assert _without_session(s) == _without_session(py.summary)


@pytest.mark.parametrize(("line", "transport"), CASES, ids=CASE_IDS)
def test_bluepython_spool_is_sound(
    client_runs: dict[tuple[str, str, str], ClientRun], line: str, transport: str
) -> None:
    """Only the server ran under bluepython: one complete stream, no sensor faults."""
    bp = client_runs[line, transport, "bluepython"]
    streams = processes(bp.spool)
    assert len(streams) == 1, f"expected one process in the spool, got {len(streams)}"
    events = next(iter(streams.values()))
    check_stream(events)
    faults = [
        f"{ev['event'].get('where', '')}: {ev['event'].get('message', '')}"
        for ev in named(events, "python_internal_exception")
    ]
    assert not faults, "sensor faults:\n" + "\n".join(faults)


@pytest.mark.parametrize(("line", "transport"), CASES, ids=CASE_IDS)
def test_spool_has_the_client_traffic(
    client_runs: dict[tuple[str, str, str], ClientRun], line: str, transport: str
) -> None:
    """Every request the TS client sent is in the spool as received by the
    server, with its method and id, and answered by a response event with the
    same id; its notifications too; nothing else arrived. Over HTTP every event
    carries the client's Mcp-Session-Id; over stdio all share one session id."""
    bp = client_runs[line, transport, "bluepython"]
    sent = bp.summary["sent"]
    msgs = mcp_messages(read_spool(bp.spool))
    assert msgs, f"no python_mcp_event at all ({len(sent)} messages sent by the client)"
    inbound = [m for m in msgs if m.direction == "in"]
    outbound = [m for m in msgs if m.direction == "out"]
    problems = []

    want = Counter((m["method"], m["id"]) for m in sent if m["kind"] == "request")
    got = Counter((m.method, m.id) for m in inbound if m.kind == "request")
    if want != got:
        problems.append(f"requests: missing {describe(want - got)}; never sent {describe(got - want)}")

    want_notes = Counter(m["method"] for m in sent if m["kind"] == "notification")
    got_notes = Counter(m.method for m in inbound if m.kind == "notification")
    if want_notes != got_notes:
        missing, extra = describe(want_notes - got_notes), describe(got_notes - want_notes)
        problems.append(f"notifications: missing {missing}; never sent {extra}")

    replied = Counter(m.id for m in outbound if m.kind == "response")
    if missing := Counter(i for _, i in want.elements()) - replied:
        problems.append(f"no response event for request ids: {describe(missing)}")

    sessions = {m.session_id for m in msgs}
    if transport == "http" and sessions != {bp.summary["sessionId"]}:
        problems.append(f"session ids {sessions} != the client's Mcp-Session-Id {bp.summary['sessionId']!r}")
    if transport == "stdio" and (len(sessions) != 1 or None in sessions):
        problems.append(f"expected one non-null session id over stdio, got {sessions}")
    assert not problems, "\n".join(problems)
