# SPDX-License-Identifier: Apache-2.0
"""Hostile input through MCP: raw JSON-RPC lines with invalid UTF-8, lone
surrogates, NUL and control characters, a 50 MiB string, 10,000-deep nesting,
100,000 keys, binary blobs and garbage, written to a real stdio server of each
SDK line. The server answers exactly as under python, and the spool stays
strict JSON with the limits of docs/configuration.md applied."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import re
import subprocess
import threading
from typing import Any

import pytest
from conftest import FIXTURES, TIMEOUT, McpVenv, Sandbox, attrs, attrs_of, check_stream, named, warning_lines

SERVER = str(FIXTURES / "reliability" / "hostile_server.py")
MAX_STRING, MAX_DEPTH, MAX_ITEMS = 64 * 1024, 64, 10000
TRUNCATED = "...[truncated by bluepython; original "

INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-03-26", "capabilities": {},
                   "clientInfo": {"name": "h", "version": "0"}}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
LAST_ID = 999  # a normal call after the hostile ones: the server still works


def line(doc: Any) -> bytes:
    return json.dumps(doc).encode() + b"\n"


def call(request_id: int, name: str, value: Any, arg: str = "value") -> bytes:
    doc = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
           "params": {"name": name, "arguments": {arg: value}}}
    return line(doc)


def deep(n: int) -> str:
    return "[" * n + "]" * n


def _cases() -> dict[str, bytes]:
    blob = random.Random(6).randbytes(1 << 20)  # noqa: S311 (test data, not a secret)
    return {
        "invalid-utf8": (
            b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"take\xff\xfe",'
            b'"arguments":{"value":"\xc3\x28 \xed\xa0\x80 \xf8\x88\x80\x80\x80"}}}\n'
            + b'{"jsonrpc":"2.0","id":3,"method":"tools/call",'
            b'"params":{"name":"take","arguments":{"value":"ok\xff"}}}\n'
        ),
        "lone-surrogates": (
            b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"\\ud800take",'
            b'"arguments":{"value":"\\udfff"}}}\n'
            + b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"take",'
            b'"arguments":{"value":{"\\udc00key":"a\\ud83d"}}}}\n'
        ),
        "nul-and-controls": (
            call(2, "take\u0000\u001b[31m", "x") + call(3, "take", "\u0000\u0001\u001b[2J\u007f\u2028\u2029")
        ),
        "50-mib-string": call(2, "take", "s" * (50 << 20)),
        "10000-deep": (
            b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"take","arguments":{"value":'
            + deep(10000).encode() + b"}}}\n"
        ),
        "100000-keys": call(2, "take", {f"k{i}": i for i in range(100000)}),
        # Deep enough for bluepython's limit, shallow enough for the SDK's parser.
        "150-deep": (
            b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"take","arguments":{"value":'
            + deep(150).encode() + b"}}}\n"
        ),
        # Values made by a tool, in the server's own objects. (Lone surrogates
        # in a tool's result make both SDKs fail to serialize the response and
        # stall: the emit-API tests of test_events.py cover them.)
        **{f"made-{kind}": call(2, "make", kind, "kind") for kind in ("deep", "wide", "huge")},
        "binary-blobs": (
            call(2, "take", blob.decode("latin-1")) + call(3, "take", base64.b64encode(blob).decode())
        ),
        "garbage": (
            b"not json at all\n\x00\x01\x02\n[]\n[1,2]\n{}\n"
            + line({"jsonrpc": "1.0", "id": 2, "method": "tools/call"})
            + line({"jsonrpc": "2.0", "id": {"nested": ["id"]}, "method": "tools/list"})
            + b'{"jsonrpc":"2.0","id":3,"method":"tools/call","params":' + b"[" * 100 + b"\n"
        ),
    }


CASES = _cases()
# Requests of each case the SDKs answer (the others they reject as unparsable
# or invalid without an answer): the driver waits for these before closing stdin.
ANSWERED = {"invalid-utf8": {2, 3}, "nul-and-controls": {2, 3}, "50-mib-string": {2}, "100000-keys": {2},
            "150-deep": {2}, "made-deep": {2}, "made-wide": {2}, "made-huge": {2}, "binary-blobs": {2, 3}}


def _drive(argv: list[str], env: dict[str, str], cwd: str, payload: bytes,
           expect: set[int]) -> tuple[int, list[bytes], bytes]:
    """Writes init + payload + a last normal call, waits for the answers to the
    last call and to `expect` (or the server's end), then closes stdin. Returns (exit status,
    stdout lines sorted, stderr). Every wait is bounded: a hang fails the test."""
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    stdin, stdout, stderr = proc.stdin, proc.stdout, proc.stderr
    assert stdin is not None and stdout is not None and stderr is not None
    out: list[bytes] = []
    err: list[bytes] = []
    answered = threading.Event()
    waiting = {*expect, LAST_ID}

    def read_out() -> None:
        for raw in stdout:
            out.append(raw)
            try:
                waiting.discard(json.loads(raw).get("id"))
            except (ValueError, AttributeError, TypeError):
                continue
            if not waiting:
                answered.set()
        answered.set()  # EOF: the server is gone

    def feed() -> None:
        try:
            stdin.write(line(INIT) + line(INITIALIZED) + payload + call(LAST_ID, "take", "last"))
            stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    threads = [threading.Thread(target=read_out), threading.Thread(target=lambda: err.append(stderr.read())),
               threading.Thread(target=feed)]
    for t in threads:
        t.start()
    try:
        answered.wait(TIMEOUT * 2)
        threads[2].join(TIMEOUT)
        with contextlib.suppress(BrokenPipeError):
            stdin.close()
        status = proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for t in threads:
        t.join(TIMEOUT)
    return status, sorted(out), b"".join(err)


_RECURSION = re.compile(rb"maximum recursion depth exceeded[^\"]*")


def _same_recursion(lines: list[bytes]) -> list[bytes]:
    # The hooks' wrappers add a few Python frames to a call's stack, so a
    # RecursionError may be raised a few frames earlier, in another function
    # (docs/reliability.md): its message names where it happened.
    return [_RECURSION.sub(b"maximum recursion depth exceeded", raw) for raw in lines]


def _depth(value: Any) -> int:
    depth, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        depth = max(depth, d)
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return depth


def _check_limits(value: Any) -> None:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            assert len(v.encode()) <= MAX_STRING + 100, len(v)
        elif isinstance(v, dict):
            assert len(v) <= MAX_ITEMS + 1, len(v)
            stack.extend(v.values())
        elif isinstance(v, list):
            assert len(v) <= MAX_ITEMS + 1, len(v)
            stack.extend(v)


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_input_answered_as_under_python(sandbox: Sandbox, mcp_venv: McpVenv, case: str) -> None:
    flavor = "sdk1" if mcp_venv.line == "mcp1" else "sdk2"
    env = dict(sandbox.env, PYTHONUNBUFFERED="1")
    expect = ANSWERED.get(case, set())
    py = _drive([mcp_venv.python, SERVER, flavor], env, str(sandbox.cwd), CASES[case], expect)
    assert sandbox.files() == []
    bp = _drive([mcp_venv.bluepython, SERVER, flavor], env, str(sandbox.cwd), CASES[case], expect)
    assert bp[0] == py[0], (bp[0], py[0], bp[2][-2000:])
    assert _same_recursion(bp[1]) == _same_recursion(py[1]), "answered differently under bluepython"
    answered = {json.loads(raw).get("id") for raw in bp[1] if raw.startswith(b"{")}
    assert {*expect, LAST_ID} <= answered
    assert warning_lines(bp[2]) == [], bp[2][-2000:]
    assert b"bluepython" not in bp[2], bp[2][-2000:]

    (events,) = sandbox.processes().values()  # every line parsed as strict JSON
    check_stream(events)
    assert named(events, "python_internal_exception") == []
    for ev in events:
        _check_limits(ev)
        assert _depth(ev["event"]) <= MAX_DEPTH + 3, "nesting beyond limits.max_depth"
    received = [attrs(e) for e in named(events, "python_mcp_event")
                if attrs(e)["event"] == "server_received_request"]
    assert any(r["id"] == LAST_ID for r in received)
    if case == "150-deep":
        (nested,) = [r for r in received if r["id"] == 2]
        assert _depth(nested["message"]["params"]["arguments"]["value"]) < 150
        assert "bluepython" in json.dumps(nested["message"]["params"]["arguments"]["value"]), "no marker"
    sent = {attrs(e)["id"]: attrs(e)["message"] for e in named(events, "python_mcp_event")
            if attrs(e)["event"] == "server_send_response"}
    if case == "made-huge":
        text = sent[2]["result"]["content"][0]["text"]
        assert text.startswith("hhh") and text.endswith(f"{TRUNCATED}{50 << 20} bytes]")
    if case == "50-mib-string":
        (big,) = [r for r in received if r["id"] == 2]
        value = big["message"]["params"]["arguments"]["value"]
        assert value.startswith("sss") and value.endswith(f"{TRUNCATED}{50 << 20} bytes]")
    if os.environ.get("BLUEPYTHON_TEST_SHOW_SPOOL"):
        print(json.dumps(attrs_of(events, "python_mcp_event"))[:5000])
