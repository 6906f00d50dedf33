# SPDX-License-Identifier: Apache-2.0
"""mcp 1.x's WebSocket transport (deprecated upstream, still shipped): the
client connect, sessions and every message on both sides."""

from __future__ import annotations

import json

from conftest import (
    FIXTURES,
    McpVenv,
    Sandbox,
    attrs,
    attrs_of,
    named,
    processes,
    serve,
)

SERVER = str(FIXTURES / "websocket_v1" / "server.py")
CLIENT = str(FIXTURES / "websocket_v1" / "client.py")


def test_websocket_transport(sandbox: Sandbox, mcp1: McpVenv) -> None:
    argv = [mcp1.bluepython, SERVER]
    log = sandbox.root / "server.log"
    with serve(lambda port: [*argv, str(port)], sandbox.env, sandbox.cwd, log) as server:
        url = server.at("/ws", scheme="ws")
        proc = sandbox.run([mcp1.bluepython, CLIENT, url])
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        assert json.loads(proc.stdout) == {"text": "5"}

    by_process = list(processes(sandbox.spool).values())
    assert len(by_process) == 2
    client_events, server_events = sorted(
        by_process, key=lambda evs: bool(named(evs, "python_mcp_client_connect")), reverse=True
    )
    (connect,) = named(client_events, "python_mcp_client_connect")
    assert attrs(connect)["server"] == {"type": "websocket", "url": url}

    for events, side in ((client_events, "client"), (server_events, "server")):
        assert not named(events, "python_internal_exception"), side
        sessions = attrs_of(events, "python_mcp_session_created")
        assert len(sessions) == 1 and sessions[0]["transport"] == "websocket", (side, sessions)
        assert len(named(events, "python_mcp_session_terminated")) == 1, side
        messages = attrs_of(events, "python_mcp_event")
        assert messages and {m["transport"] for m in messages} == {"websocket"}, side
        assert {m["session_id"] for m in messages} == {sessions[0]["session_id"]}, side
        kinds = {(m["event"], m.get("method") or m.get("request_method")) for m in messages}
        assert {
            (f"{side}_{'send' if side == 'client' else 'received'}_request", "tools/call"),
            (f"{side}_{'received' if side == 'client' else 'send'}_response", "tools/call"),
        } <= kinds, kinds
    calls = [
        attrs(e)
        for e in named(server_events, "python_mcp_event")
        if attrs(e).get("request_method") == "tools/call"
    ]
    assert calls[0]["duration_ms"] >= 0
