# SPDX-License-Identifier: Apache-2.0
"""Payload safety: large tool arguments and results are truncated in events
(with the original size), binary content is summarized, not copied, and every
event stays valid JSON — on both SDK lines, both sides of the wire."""

from __future__ import annotations

import json

from conftest import FIXTURES, McpVenv, Sandbox, attrs, check_stream, named, processes

CLIENT = str(FIXTURES / "payloads" / "client.py")
UNICODE = "\U0001f600 \u2028 \x00 \x1f \"'\\ \ud7ff"


def _results(sandbox: Sandbox, client_python: str, server_python: str) -> dict:
    proc = sandbox.run([client_python, CLIENT, server_python])
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return json.loads(proc.stdout)


def _responses(events: list[dict], event: str) -> dict[object, dict]:
    return {attrs(e)["id"]: attrs(e) for e in named(events, "python_mcp_event") if attrs(e)["event"] == event}


def test_large_and_binary_payloads(sandbox: Sandbox, mcp_venv: McpVenv) -> None:
    plain = _results(sandbox, mcp_venv.python, mcp_venv.python)
    assert plain == {
        "image": ["image", "text"],
        "image_chars": 409600,
        "big_text": 200000,
        "echo_len": "150000",
        "unicode": UNICODE,
    }
    # Both client and server under bluepython: what they get is unchanged.
    assert _results(sandbox, mcp_venv.bluepython, mcp_venv.bluepython) == plain

    by_process = processes(sandbox.spool)
    assert len(by_process) == 2
    for events in by_process.values():
        check_stream(events)
        assert not named(events, "python_internal_exception")
    events = sandbox.events()
    limit = 64 * 1024
    for side, received in (
        ("server_send_response", "server_received_request"),
        ("client_received_response", "client_send_request"),
    ):
        responses = _responses(events, side)
        requests = _responses(events, received)
        by_tool = {
            r["message"]["params"]["name"]: responses[i]
            for i, r in requests.items()
            if r["message"].get("method") == "tools/call"
        }
        assert set(by_tool) == {"image", "big_text", "echo_len", "unicode"}, side

        image = by_tool["image"]["message"]["result"]["content"]
        assert image[0]["data"] == {"bluepython_omitted": "base64", "base64_chars": 409600, "bytes": 307200}
        assert image[0]["mimeType"] == "image/png"
        assert image[1] == {"type": "text", "text": "cap"}

        text = by_tool["big_text"]["message"]["result"]["content"][0]["text"]
        assert text.endswith("...[truncated by bluepython; original 200000 bytes]")
        assert len(text.encode()) <= limit + 100

        arg = next(r for r in requests.values() if r["message"].get("params", {}).get("name") == "echo_len")[
            "message"
        ]["params"]["arguments"]["payload"]
        assert arg.startswith("yyyy")
        assert arg.endswith("...[truncated by bluepython; original 150000 bytes]")

        assert by_tool["unicode"]["message"]["result"]["content"][0]["text"] == UNICODE
