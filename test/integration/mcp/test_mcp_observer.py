"""The native per-message path (_bluepython.McpObserver) against the hooks'
Python path: for the same session state and the same real SDK message
objects, both must write the same python_mcp_event; what the native path
declines (the handshake, tools/list results, errors, unknown ids, unsettled
sessions) it must leave untouched for the Python path."""

from __future__ import annotations

import json

import pytest
from conftest import McpVenv, Sandbox, attrs, check_stream, named

# Messages both paths see, in order: (message, received). Built in the child
# from the SDK's own classes. Covers both directions, ids colliding across
# directions, notifications with and without params, base64 content, a tool
# error, escapes and non-ASCII text, and a request's _meta.
_MESSAGES = r"""
req = Request(jsonrpc="2.0", id=5, method="tools/call", params={
    "name": "ls", "arguments": {"path": "/tmp/\u00e9\"x\\n\x01", "n": 1.25, "deep": [[{"a": None}]]},
    "_meta": {"progressToken": 1}})
note = Notification(jsonrpc="2.0", method="notifications/progress",
                    params={"progressToken": 1, "progress": 0.5})
bare = Notification(jsonrpc="2.0", method="notifications/initialized")
ask = Request(jsonrpc="2.0", id=0, method="sampling/createMessage", params={"messages": []})
asked = Response(jsonrpc="2.0", id=0, result={"role": "assistant", "content": {"type": "text", "text": "hi"}})
reply = Response(jsonrpc="2.0", id=5, result={
    "content": [{"type": "image", "data": "QUJD" * 8, "mimeType": "image/png"}], "isError": True})
other = Request(jsonrpc="2.0", id="r-7", method="resources/read", params={"uri": "file:///x"})
other_reply = Response(jsonrpc="2.0", id="r-7", result={"contents": []})
orphan = Response(jsonrpc="2.0", id=99, result={})
SEQUENCE = [(req, True), (note, False), (bare, True), (ask, False), (asked, True), (reply, False),
            (other, True), (other_reply, False), (orphan, False)]
list_tools = Request(jsonrpc="2.0", id=6, method="tools/list")
listed = Response(jsonrpc="2.0", id=6, result={"tools": []})
init = Request(jsonrpc="2.0", id=1, method="initialize", params={"protocolVersion": "2025-06-18"})
err = Error(jsonrpc="2.0", id=5, error={"code": -32602, "message": "bad"})
str_echo = Response(jsonrpc="2.0", id="5", result={})
"""

_V1 = r"""
import json, sys
import mcp.types as t
from mcp.shared.message import SessionMessage
from bluepython_hooks._emit import SERVER
from bluepython_hooks.mcp.v1 import _session as _v1
Request, Notification = t.JSONRPCRequest, t.JSONRPCNotification
Response, Error = t.JSONRPCResponse, t.JSONRPCError
""" + _MESSAGES + r"""
wrap = lambda m: SessionMessage(t.JSONRPCMessage(m))
def session():
    st = _v1._Session(SERVER, object())
    st.session_id, st.client_id, st.client_version = "s-1", "cli", "2.0"
    st.server_name, st.transport, st.protocol_version = "srv", "stdio", "2025-06-18"
    st.unchecked_headers = False
    _v1._sync(st)
    return st
out = {}
st = session()
out["native"] = [st.obs.observe(wrap(m), r) for m, r in SEQUENCE]
out["pending_after"] = [len(st.inbound), len(st.outbound)]
st = session()
for m, r in SEQUENCE:
    _v1._observe(st, wrap(m), r)
st = session()
st.obs.observe(wrap(list_tools), True)
st.obs.observe(wrap(req), True)
out["declined"] = [st.obs.observe(wrap(m), r) for m, r in
                   [(listed, False), (init, True), (err, False), (str_echo, False)]]
out["pending_kept"] = sorted(map(str, st.inbound))
st.obs.fast = False
out["unsettled"] = st.obs.observe(wrap(note), True)
print(json.dumps(out))
"""

_V2 = r"""
import json, sys, types
import mcp.shared.jsonrpc_dispatcher  # applies the hooks (and their message classes)
import mcp_types as t
from bluepython_hooks._emit import SERVER
from bluepython_hooks.mcp.v2._links import _Link
from bluepython_hooks.mcp.v2._messages import _observe
from bluepython_hooks.mcp.v2._shared import _PROTOCOL_VERSION_KEY
Request, Notification = t.JSONRPCRequest, t.JSONRPCNotification
Response, Error = t.JSONRPCResponse, t.JSONRPCError
""" + _MESSAGES + r"""
def link():
    ln = _Link(SERVER)
    ln.connection = types.SimpleNamespace(
        protocol_version="2025-11-25", session_id=None,
        client_params=types.SimpleNamespace(client_info={"name": "cli", "version": "2.0"}))
    ln.sid, ln.name, ln.kind, ln.client_id = "s-1", "srv", "streamable-http", "oauth-9"
    return ln
out = {}
ln = link()
_observe(ln, bare, True)  # the Python path settles the link (the reference run reports it too)
out["settled"] = ln.obs.fast
out["native"] = [ln.obs.observe(m, r) for m, r in SEQUENCE]
out["pending_after"] = [len(ln.inbound), len(ln.outbound)]
ln = link()
_observe(ln, bare, True)
for m, r in SEQUENCE:
    _observe(ln, m, r)
ln = link()
_observe(ln, bare, True)
ln.obs.observe(list_tools, True)
ln.obs.observe(req, True)
enveloped = Request(jsonrpc="2.0", id=8, method="tools/call", params={
    "name": "x", "_meta": {_PROTOCOL_VERSION_KEY: "2026-07-28"}})
out["declined"] = [ln.obs.observe(m, r) for m, r in
                   [(listed, False), (init, True), (err, False), (str_echo, False), (enveloped, True)]]
out["pending_kept"] = sorted(map(str, ln.inbound))
ln.obs.fast = False
out["unsettled"] = ln.obs.observe(note, True)
print(json.dumps(out))
"""


def _comparable(event: dict) -> dict:
    a = dict(attrs(event))
    a["duration_ms"] = "duration_ms" in a  # timing differs; its presence must not
    return a


@pytest.mark.parametrize("line", ["mcp1", "mcp2"])
def test_native_and_python_paths_write_the_same_events(sandbox: Sandbox, line: str, request) -> None:
    venv: McpVenv = request.getfixturevalue(line)
    res = sandbox.run([venv.bluepython, "-c", _V1 if line == "mcp1" else _V2])
    assert res.returncode == 0, res.stderr.decode()
    out = json.loads(res.stdout)
    n = 9  # SEQUENCE
    assert out["native"] == [True] * n
    assert out["pending_after"] == [0, 0]  # every request answered, in both directions
    events = sandbox.events()
    check_stream(events)
    mcp_events = named(events, "python_mcp_event")
    # mcp 2.x: each run starts with the message the Python path settles the
    # link with (notifications/initialized).
    lead = 0
    if line == "mcp2":
        assert out["settled"] is True
        lead = 1
        for start in (0, n + 1, 2 * n + 2):
            settling = attrs(mcp_events[start])["message"]
            assert settling == {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert len(mcp_events) == 2 * n + 2 + 3 * lead  # + the two requests the declined responses answer
    native, python = mcp_events[lead : lead + n], mcp_events[2 * lead + n : 2 * lead + 2 * n]
    assert [_comparable(e) for e in native] == [_comparable(e) for e in python]
    by_id = {(attrs(e)["event"], attrs(e)["id"]): attrs(e) for e in native}
    reply = by_id[("server_send_response", 5)]
    assert reply["error"] == {"type": "tool_error"} and reply["request_method"] == "tools/call"
    assert reply["message"]["result"]["content"][0]["data"]["bluepython_omitted"] == "base64"
    assert by_id[("server_received_response", 0)]["request_method"] == "sampling/createMessage"
    assert "duration_ms" not in by_id[("server_send_response", 99)]
    path = by_id[("server_received_request", 5)]["message"]["params"]["arguments"]["path"]
    assert path == '/tmp/\u00e9"x\\n\x01'
    # Declined: nothing reported, nothing consumed (the pending requests stay
    # for the Python path).
    assert out["declined"] == [False] * len(out["declined"])
    assert out["pending_kept"] == ["5", "6"]
    assert out["unsettled"] is False
