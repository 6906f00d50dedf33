# SPDX-License-Identifier: Apache-2.0
"""The MCP SDK 2.x (mcp 2.x) under bluepython: every JSON-RPC message on both
sides, sessions, servers and what they offer, client connects, the
attribution of a call to its tool, resource or prompt (async and sync tools,
concurrent calls), and tool-definition changes. Over stdio, SSE, Streamable
HTTP (stateful, stateless, JSON responses) and the 2026-07-28 revision (the
SDK's Client over HTTP and stdio, and raw POSTs), with the SDK's
ClientSession and Client. Real fixture servers and clients
(test/fixtures/mcp_v2/) in subprocesses on loopback; nothing is mocked."""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    FIXTURES,
    McpVenv,
    Served,
    attrs,
    attrs_of,
    by_program,
    check_stream,
    named,
    one_process,
    run_json,
    serve,
)
from mcp_traffic import RESPONSE_OF, message_events

FIXTURE_DIR = FIXTURES / "mcp_v2"
SERVER = str(FIXTURE_DIR / "server.py")
LOWLEVEL = str(FIXTURE_DIR / "lowlevel_server.py")
CLIENT = str(FIXTURE_DIR / "client.py")
IN_PROCESS = str(FIXTURE_DIR / "in_process.py")

SERVER_NAME = "bp-v2-server"
LOWLEVEL_NAME = "bp-v2-lowlevel"
HANDSHAKE = "2025-11-25"
MODERN = "2026-07-28"
SRC_SERVER, SRC_CLIENT = 0, 1
HEX32 = re.compile(r"^[0-9a-f]{32}$")

SOURCE_OF = {
    "server_received_request": SRC_CLIENT,
    "server_received_notification": SRC_CLIENT,
    "server_received_response": SRC_CLIENT,
    "server_send_request": SRC_SERVER,
    "server_send_notification": SRC_SERVER,
    "server_send_response": SRC_SERVER,
    "client_received_request": SRC_SERVER,
    "client_received_notification": SRC_SERVER,
    "client_received_response": SRC_SERVER,
    "client_send_request": SRC_CLIENT,
    "client_send_notification": SRC_CLIENT,
    "client_send_response": SRC_CLIENT,
}

# ---------------------------------------------------------------------------
# Running the fixtures


def _client(venv: McpVenv, root: Path, *args: str) -> dict[str, Any]:
    return run_json([venv.bluepython, CLIENT, *args], venv.env(root), root)


def _server(venv: McpVenv, root: Path, script: str, mode: str) -> contextlib.AbstractContextManager[Served]:
    """A fixture server under bluepython on a loopback port; always stopped."""
    argv = [venv.bluepython, script, mode]
    return serve(lambda port: [*argv, str(port)], venv.env(root), root, root / f"server-{mode}.log")


def _stdio(venv: McpVenv, root: Path, api: str, scenario: str, script: str) -> Run:
    """The client fixture (`api`: session or client) spawning `script` over stdio."""
    run = Run(root)
    spawn = [venv.bluepython, script, "stdio"]
    run.outputs["client"] = _client(venv, root, api, "stdio", scenario, "--", *spawn)
    return run.collect()


@dataclass
class Run:
    """One scenario: what the client fixtures printed and every process's events."""

    root: Path
    outputs: dict[str, Any] = field(default_factory=dict)
    by_script: dict[str, list[list[dict[str, Any]]]] = field(default_factory=dict)
    server_port: int | None = None

    def collect(self) -> Run:
        self.by_script = by_program(self.root / "spool")
        return self

    def one(self, script: str) -> list[dict[str, Any]]:
        return one_process(self.by_script, script)

    def every(self) -> list[list[dict[str, Any]]]:
        return [events for runs in self.by_script.values() for events in runs]


# ---------------------------------------------------------------------------
# Looking at events


def _requests(events: list[dict[str, Any]], sub: str, method: str) -> list[dict[str, Any]]:
    return [m for m in message_events(events, sub) if m["message"].get("method") == method]


def _tool_request(events: list[dict[str, Any]], sub: str, name: str, **arguments: Any) -> dict[str, Any]:
    found = [
        m
        for m in _requests(events, sub, "tools/call")
        if m["message"]["params"]["name"] == name
        and all(m["message"]["params"].get("arguments", {}).get(k) == v for k, v in arguments.items())
    ]
    assert len(found) == 1, (name, arguments, len(found))
    return found[0]


def _response_to(events: list[dict[str, Any]], request: dict[str, Any]) -> dict[str, Any]:
    sub = RESPONSE_OF[request["event"]]
    # None for a Streamable HTTP client's initialize: its id comes with the response.
    sid = request["session_id"]
    found = [
        m for m in message_events(events, sub) if m["id"] == request["id"] and sid in (None, m["session_id"])
    ]
    assert len(found) == 1, (sub, request["id"], len(found))
    return found[0]


def _check_pairs(events: list[dict[str, Any]], side: str) -> None:
    """Every request of this side has exactly one response with its id, a
    duration and the request's method; every message has its source."""
    messages = message_events(events)
    assert messages, "no python_mcp_event"
    for m in messages:
        assert m["event"].startswith(side + "_"), m["event"]
        assert m["source"] == SOURCE_OF[m["event"]], m
        assert m["message"]["jsonrpc"] == "2.0"
        if "method" in m["message"]:
            assert m["method"] == m["message"]["method"]
    for m in messages:
        if m["event"] in RESPONSE_OF:
            assert m["id"] is not None and m["id"] == m["message"]["id"]
            response = _response_to(events, m)
            assert isinstance(response["duration_ms"], (int, float)) and response["duration_ms"] >= 0, (
                response
            )
            assert response["request_method"] == m["message"]["method"]
            assert response["message"]["id"] == m["id"]


def _internal_errors(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return attrs_of(events, "python_internal_exception")


def _probes(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """test_probe events by tag, with the MCP call the envelope carries."""
    out: dict[str, list[dict[str, Any]]] = {}
    for ev in named(events, "test_probe"):
        a = attrs(ev)
        out.setdefault(a["tag"], []).append({"phase": a["phase"], "mcp": ev["event"]["context"].get("mcp")})
    return out


def _check_attribution(
    run_output: dict[str, Any], server: list[dict[str, Any]], session_id: Any, transport: str
) -> None:
    """The call each tool/resource/prompt saw is the request that ran it."""
    sub = "server_received_request"

    def check(call: dict[str, Any], request: dict[str, Any], method: str, target: str) -> None:
        assert call is not None, request
        assert call["request_id"] == request["id"]
        assert call["method"] == method
        assert call["target"] == target
        assert call["session_id"] == session_id
        assert call["transport"] == transport
        assert call["server_name"] == SERVER_NAME
        assert call["call_id"]

    whoami = run_output["whoami"]
    check(whoami["call"], _tool_request(server, sub, "whoami"), "tools/call", "whoami")
    assert whoami["thread"] == "MainThread"
    whoami_sync = run_output["whoami_sync"]
    check(whoami_sync["call"], _tool_request(server, sub, "whoami_sync"), "tools/call", "whoami_sync")
    assert whoami_sync["thread"] != "MainThread"  # an anyio worker thread

    # Six concurrent calls (three async, three in threads): each saw its own
    # request, and so did the events it emitted while the others ran.
    probes = run_output["probes"]
    probe_events = _probes(server)
    call_ids = set()
    for tag, seen in probes.items():
        tool = "probe" if tag.startswith("a") else "probe_sync"
        request = _tool_request(server, sub, tool, tag=tag)
        check(seen["call"], request, "tools/call", tool)
        call_ids.add(seen["call"]["call_id"])
        assert sorted(p["phase"] for p in probe_events[tag]) == ["end", "start"]
        for p in probe_events[tag]:
            assert p["mcp"] == seen["call"], (tag, p)
    assert len(call_ids) == 6
    # The probes overlapped (the point of the exercise): several started before the first ended.
    phases = [attrs(ev)["phase"] for ev in named(server, "test_probe")]
    assert phases.index("end") >= 2, phases

    greeting = _requests(server, sub, "resources/read")
    by_uri = {m["message"]["params"]["uri"]: m for m in greeting}
    check(run_output["greeting"]["call"], by_uri["res://greeting"], "resources/read", "res://greeting")
    check(run_output["item"]["call"], by_uri["res://item/42"], "resources/read", "res://item/42")
    prompt_call = json.loads(run_output["prompt"].split("! ", 1)[1])
    check(prompt_call, _requests(server, sub, "prompts/get")[0], "prompts/get", "greet")
    # A request arrives before its handler runs: no call is in effect. Its
    # response is written in the call (as on mcp 1.x): the request's own.
    responses = 0
    for ev in named(server, "python_mcp_event"):
        if attrs(ev)["event"] == "server_received_request":
            assert "mcp" not in ev["event"]["context"], attrs(ev)
        elif attrs(ev)["event"] == "server_send_response":
            call = ev["event"]["context"].get("mcp")
            if attrs(ev).get("request_method") in ("tools/call", "resources/read", "prompts/get"):
                assert call is not None, attrs(ev)
                responses += 1
            if call is not None:
                assert call["request_id"] == attrs(ev)["id"], attrs(ev)
                assert call["session_id"] == session_id and call["transport"] == transport
    assert responses >= 6


def _check_errors(events: list[dict[str, Any]], side: str) -> None:
    received, sent = (
        ("server_received_request", "server_send_response")
        if side == "server"
        else ("client_send_request", "client_received_response")
    )
    fail = _response_to(events, _tool_request(events, received, "fail", message="boom"))
    assert fail["error"] == {"type": "tool_error"}
    assert fail["message"]["result"]["isError"] is True
    missing = [
        m
        for m in _requests(events, received, "resources/read")
        if m["message"]["params"]["uri"] == "res://missing"
    ]
    assert len(missing) == 1
    error = _response_to(events, missing[0])
    assert error["event"] == sent
    assert error["error"]["type"] == str(error["message"]["error"]["code"])
    assert int(error["error"]["type"]) < 0
    assert "res://missing" in error["error"]["message"]
    ok = _response_to(events, _tool_request(events, received, "echo"))
    assert "error" not in ok


# ---------------------------------------------------------------------------
# Scenarios (each run once per module)


@pytest.fixture(scope="module")
def stdio(mcp2: McpVenv, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """ClientSession over stdio_client to the MCPServer fixture."""
    return _stdio(mcp2, tmp_path_factory.mktemp("v2-stdio"), "session", "full", SERVER)


@pytest.fixture(scope="module")
def http(mcp2: McpVenv, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One stateful Streamable HTTP server (SSE responses): a ClientSession
    (handshake era), the SDK Client (2026-07-28 revision) and raw 2026-07-28
    POSTs, one after the other."""
    run = Run(tmp_path_factory.mktemp("v2-http"))
    with _server(mcp2, run.root, SERVER, "http") as server:
        run.server_port = server.port
        run.outputs["session"] = _client(mcp2, run.root, "session", "http", "full", server.url)
        run.outputs["modern"] = _client(mcp2, run.root, "client", "http", "full", server.url)
        run.outputs["raw"] = _client(mcp2, run.root, "raw-modern", "http", "full", server.url)
    return run.collect()


@pytest.fixture(scope="module")
def http_stateless(mcp2: McpVenv, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A stateless Streamable HTTP server with JSON responses: a ClientSession
    (with credentials and a secret in the URL) and raw 2026-07-28 POSTs."""
    run = Run(tmp_path_factory.mktemp("v2-http-json"))
    with _server(mcp2, run.root, SERVER, "http-json") as server:
        run.server_port = server.port
        url = server.at("/mcp?token=fixture-secret")
        run.outputs["session"] = _client(mcp2, run.root, "session", "http", "ping", "--auth", url)
        run.outputs["raw"] = _client(mcp2, run.root, "raw-modern", "http", "full", server.url)
    return run.collect()


@pytest.fixture(scope="module")
def sse(mcp2: McpVenv, tmp_path_factory: pytest.TempPathFactory) -> Run:
    run = Run(tmp_path_factory.mktemp("v2-sse"))
    with _server(mcp2, run.root, SERVER, "sse") as server:
        run.server_port = server.port
        run.outputs["session"] = _client(mcp2, run.root, "session", "sse", "ping", server.at("/sse"))
    return run.collect()


@pytest.fixture(scope="module")
def modern_stdio(mcp2: McpVenv, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The SDK Client over stdio: it opens with server/discover, so the server's
    dual-era loop serves the 2026-07-28 revision."""
    return _stdio(mcp2, tmp_path_factory.mktemp("v2-modern-stdio"), "client", "ping", SERVER)


@pytest.fixture(scope="module")
def lowlevel(mcp2: McpVenv, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """ClientSession over stdio to the low-level Server fixture (its tool's
    description changes between two tools/list)."""
    return _stdio(mcp2, tmp_path_factory.mktemp("v2-lowlevel"), "session", "lowlevel", LOWLEVEL)


@pytest.fixture(scope="module")
def in_process(mcp2: McpVenv, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The SDK Client on an in-process MCPServer: default mode and legacy."""
    run = Run(tmp_path_factory.mktemp("v2-in-process"))
    run.outputs["client"] = run_json([mcp2.bluepython, IN_PROCESS], mcp2.env(run.root), run.root)
    return run.collect()


ALL = ("stdio", "http", "http_stateless", "sse", "modern_stdio", "lowlevel", "in_process")


# ---------------------------------------------------------------------------
# Every process


@pytest.mark.parametrize("scenario", ALL)
def test_streams_whole_and_fault_free(scenario: str, request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(scenario)
    assert run.every(), "no process wrote events"
    for events in run.every():
        # HTTP servers are stopped with a signal uvicorn re-raises after its
        # graceful shutdown: no sensor_shutdown there (a launcher matter).
        argv = attrs(events[0])["python_argv"]
        http_server = run.server_port is not None and argv[-1] == str(run.server_port)
        check_stream(events, shutdown=not http_server)
        assert _internal_errors(events) == [], (argv, _internal_errors(events))


# ---------------------------------------------------------------------------
# Servers and what they offer


def test_mcpserver_init_and_components(stdio: Run) -> None:
    server = stdio.one("server.py")
    inits = attrs_of(server, "python_mcp_server_init")
    # One event for the MCPServer; the low-level Server it builds is not reported again.
    assert len(inits) == 1, inits
    assert inits[0]["framework"] == "mcp.mcpserver"
    assert inits[0]["server"] == {
        "name": SERVER_NAME,
        "title": "bluepython v2 fixture",
        "description": None,
        "version": "1.2.3",
        "instructions": "test fixture",
    }
    adds = attrs_of(server, "python_mcp_server_add")
    assert all(a["server_name"] == SERVER_NAME and a["framework"] == "mcp.mcpserver" for a in adds)
    elements = {(a["element"]["type"], a["element"]["name"]): a["element"] for a in adds}
    assert len(elements) == len(adds), "a component reported twice"
    assert set(elements) == {
        ("tool", "constructor_tool"),  # MCPServer(tools=...): never passes ToolManager.add_tool
        ("tool", "echo"),
        ("tool", "whoami"),
        ("tool", "whoami_sync"),
        ("tool", "probe"),
        ("tool", "probe_sync"),
        ("tool", "fail"),
        ("tool", "progress"),
        ("tool", "ping_client"),
        ("resource", "constructor_res"),  # MCPServer(resources=...)
        ("resource", "greeting"),
        ("resource_template", "item"),
        ("prompt", "greet"),
        ("prompt", "about"),
    }
    assert elements[("tool", "constructor_tool")]["parameters"]["properties"] == {
        "x": {"title": "X", "type": "integer"}
    }
    assert elements[("tool", "echo")]["description"] == "Echoes its text."
    assert elements[("resource", "constructor_res")]["uri"] == "res://constructor"
    assert elements[("resource", "greeting")]["uri"] == "res://greeting"
    assert elements[("resource_template", "item")]["uri_template"] == "res://item/{item_id}"
    assert elements[("prompt", "greet")]["arguments"] == [{"name": "name", "required": True}]
    # Registration comes after the server's own event.
    names = [ev["event"]["meta"]["name"] for ev in server]
    assert names.index("python_mcp_server_init") < names.index("python_mcp_server_add")


def test_lowlevel_server_init_and_changed_tool(lowlevel: Run) -> None:
    server = lowlevel.one("lowlevel_server.py")
    client = lowlevel.one("client.py")
    inits = attrs_of(server, "python_mcp_server_init")
    assert len(inits) == 1 and inits[0]["framework"] == "mcp", inits
    assert inits[0]["server"]["name"] == LOWLEVEL_NAME
    assert inits[0]["server"]["version"] == "0.0.1"
    assert attrs_of(server, "python_mcp_server_add") == []  # a low-level server is known by its tools/list
    out = lowlevel.outputs["client"]
    assert out["tools1"] != out["tools2"]
    for events, source in ((server, SRC_SERVER), (client, SRC_CLIENT)):
        changed = attrs_of(events, "python_mcp_tool_changed")
        assert len(changed) == 1, changed
        c = changed[0]
        assert c["server_name"] == LOWLEVEL_NAME and c["tool"] == "lookup"
        assert c["changed"] == ["description"]
        assert c["previous"]["description"] == "Looks a key up."
        assert c["current"]["description"].endswith("secrets along.")
        assert c["source"] == source
        sessions = {s["session_id"] for s in attrs_of(events, "python_mcp_session_created")}
        assert sessions == {c["session_id"]}
    assert attrs_of(server, "python_mcp_tool_changed")[0]["seen_in"] == "this_process"
    # The definitions are kept for the next run in the state directory beside the spool.
    baseline = json.loads((lowlevel.root / "spool.state" / "mcp-tools.json").read_text())
    assert "lookup" in baseline["server"][LOWLEVEL_NAME]
    # The low-level handlers are attributed like MCPServer's.
    call = out["call"]["call"]
    request = _tool_request(server, "server_received_request", "lookup")
    assert call["request_id"] == request["id"] and call["target"] == "lookup"
    assert call["server_name"] == LOWLEVEL_NAME and call["session_id"] == request["session_id"]
    assert out["read"]["call"]["target"] == "mem://state"
    assert json.loads(out["prompt"])["target"] == "hint"


def test_first_tools_list_changes_nothing(stdio: Run) -> None:
    for events in stdio.every():
        assert named(events, "python_mcp_tool_changed") == []
    baseline = json.loads((stdio.root / "spool.state" / "mcp-tools.json").read_text())
    assert set(baseline["server"][SERVER_NAME]) >= {"echo", "whoami", "constructor_tool"}


# ---------------------------------------------------------------------------
# stdio


def test_stdio_messages_both_sides(stdio: Run) -> None:
    server, client = stdio.one("server.py"), stdio.one("client.py")
    _check_pairs(server, "server")
    _check_pairs(client, "client")
    methods = {m["message"].get("method") for m in message_events(server, "server_received_request")}
    assert methods == {"initialize", "tools/list", "tools/call", "resources/read", "prompts/get"}
    assert [m["message"]["method"] for m in message_events(server, "server_received_notification")] == [
        "notifications/initialized"
    ]
    # Both sides saw the same requests, in the same order for the sequential ones.
    sent = [(m["id"], m["message"]["method"]) for m in message_events(client, "client_send_request")]
    received = [(m["id"], m["message"]["method"]) for m in message_events(server, "server_received_request")]
    assert sorted(sent, key=str) == sorted(received, key=str)
    assert sent[0] == (1, "initialize")
    init = message_events(server, "server_received_request")[0]
    assert init["message"]["params"]["clientInfo"]["name"] == "mcp"

    for events, side in ((server, "server"), (client, "client")):
        messages = message_events(events)
        created = attrs_of(events, "python_mcp_session_created")
        terminated = attrs_of(events, "python_mcp_session_terminated")
        assert len(created) == 1 and len(terminated) == 1, side
        sid = created[0]["session_id"]
        assert HEX32.match(sid), sid
        assert terminated[0]["session_id"] == sid and terminated[0]["duration_ms"] > 0
        assert created[0]["transport"] == "stdio"
        assert {m["session_id"] for m in messages} == {sid}
        assert {m["transport"] for m in messages} == {"stdio"}
        assert {m["protocol_version"] for m in messages} == {HANDSHAKE}
        assert {m["client_name"] for m in messages} == {"mcp"}
        # The client knows the server's name once initialize answered.
        assert {m["server_name"] for m in messages[2:]} == {SERVER_NAME}
        names = [ev["event"]["meta"]["name"] for ev in events]
        first = names.index("python_mcp_event")
        assert names.index("python_mcp_session_created") < first
        assert names.index("python_mcp_session_terminated") > len(names) - 1 - names[::-1].index(
            "python_mcp_event"
        )
    # stdio has no protocol session id: each side names its own.
    assert message_events(server)[0]["session_id"] != message_events(client)[0]["session_id"]


def test_stdio_server_to_client_request(stdio: Run) -> None:
    """A request of the server's own (ping, from inside a tool): sent and
    answered on both sides, within the tool's call on the server."""
    server, client = stdio.one("server.py"), stdio.one("client.py")
    assert stdio.outputs["client"]["ping_client"] == "pong"
    sent = [ev for ev in named(server, "python_mcp_event") if attrs(ev)["event"] == "server_send_request"]
    assert [attrs(ev)["message"]["method"] for ev in sent] == ["ping"]
    call = _tool_request(server, "server_received_request", "ping_client")
    assert sent[0]["event"]["context"]["mcp"]["request_id"] == call["id"]
    assert sent[0]["event"]["context"]["mcp"]["target"] == "ping_client"
    answer = _response_to(server, attrs(sent[0]))
    assert answer["event"] == "server_received_response" and answer["source"] == SRC_CLIENT
    received = message_events(client, "client_received_request")
    assert [m["message"]["method"] for m in received] == ["ping"]
    assert received[0]["id"] == attrs(sent[0])["id"]
    reply = _response_to(client, received[0])
    assert reply["event"] == "client_send_response" and reply["message"]["result"] == {}


def test_stdio_errors(stdio: Run) -> None:
    _check_errors(stdio.one("server.py"), "server")
    _check_errors(stdio.one("client.py"), "client")


def test_stdio_attribution(stdio: Run) -> None:
    server = stdio.one("server.py")
    sid = attrs_of(server, "python_mcp_session_created")[0]["session_id"]
    _check_attribution(stdio.outputs["client"], server, sid, "stdio")


def test_stdio_client_connect(stdio: Run, mcp2: McpVenv) -> None:
    connects = attrs_of(stdio.one("client.py"), "python_mcp_client_connect")
    assert [c["server"] for c in connects] == [
        {"type": "stdio", "command": mcp2.bluepython, "args": [SERVER, "stdio"]}
    ]
    assert connects[0]["framework"] == "mcp"


# ---------------------------------------------------------------------------
# Streamable HTTP


def _server_events(run: Run) -> list[dict[str, Any]]:
    return run.one("server.py")


def _clients(run: Run) -> list[list[dict[str, Any]]]:
    """The client processes, in the order they ran."""
    return sorted(run.by_script["client.py"], key=lambda events: events[0]["ts"])


def _of_session(
    events: list[dict[str, Any]], sid: str | None, client_name: str | None = None
) -> list[dict[str, Any]]:
    keep = []
    for ev in events:
        a = attrs(ev)
        name = ev["event"]["meta"]["name"]
        if name in ("python_mcp_event", "test_probe") or name.startswith("python_mcp_session"):
            if name == "test_probe":
                mcp = ev["event"]["context"].get("mcp") or {}
                if mcp.get("session_id") != sid:
                    continue
            elif a.get("session_id") != sid:
                continue
            if client_name is not None and name == "python_mcp_event" and a.get("client_name") != client_name:
                continue
            keep.append(ev)
    return keep


def test_http_stateful_session(http: Run) -> None:
    client = _clients(http)[0]
    created = attrs_of(client, "python_mcp_session_created")
    assert len(created) == 1
    sid = created[0]["session_id"]
    assert HEX32.match(sid) and created[0]["transport"] == "streamable-http"
    # The server's session: the same Mcp-Session-Id, begun and ended (the client's DELETE).
    server = _server_events(http)
    server_created = [s for s in attrs_of(server, "python_mcp_session_created") if s["session_id"] == sid]
    server_ended = [s for s in attrs_of(server, "python_mcp_session_terminated") if s["session_id"] == sid]
    assert len(server_created) == 1 and len(server_ended) == 1
    assert "stateless" not in server_created[0]
    assert server_created[0]["server_name"] == SERVER_NAME
    assert [s["session_id"] for s in attrs_of(client, "python_mcp_session_terminated")] == [sid]

    mine = _of_session(server, sid)
    _check_pairs(mine, "server")
    assert {attrs(ev)["transport"] for ev in named(mine, "python_mcp_event")} == {"streamable-http"}
    assert message_events(mine, "server_received_request")[0]["message"]["method"] == "initialize"
    # The client learns the id from the initialize response: its request goes out without one.
    client_messages = message_events(client)
    assert (
        client_messages[0]["message"]["method"] == "initialize" and client_messages[0]["session_id"] is None
    )
    assert {m["session_id"] for m in client_messages[1:]} == {sid}
    _check_pairs(client, "client")
    # Every request the client sent, the server received (same ids).
    assert sorted(str(m["id"]) for m in message_events(client, "client_send_request")) == sorted(
        str(m["id"]) for m in message_events(mine, "server_received_request")
    )
    _check_errors(mine, "server")
    _check_errors(client, "client")


def test_http_stateful_attribution(http: Run) -> None:
    client = _clients(http)[0]
    sid = attrs_of(client, "python_mcp_session_created")[0]["session_id"]
    _check_attribution(
        http.outputs["session"], _of_session(_server_events(http), sid), sid, "streamable-http"
    )


def test_http_client_connect(http: Run, http_stateless: Run) -> None:
    for run, (url, auth) in (
        (http, (f"http://127.0.0.1:{http.server_port}/mcp", False)),
        (http_stateless, (f"http://127.0.0.1:{http_stateless.server_port}/mcp?token=REDACTED", True)),
    ):
        client = _clients(run)[0]
        connects = attrs_of(client, "python_mcp_client_connect")
        assert [c["server"] for c in connects] == [{"type": "streamable-http", "url": url, "auth": auth}]
    # The secret in the URL is in no MCP event (argv has it: that is the command line).
    for events in http_stateless.every():
        mcp_events = [ev for ev in events if ev["event"]["meta"]["name"].startswith("python_mcp")]
        assert "fixture-secret" not in json.dumps(mcp_events)


def test_http_modern_client(http: Run) -> None:
    """The SDK Client speaks the 2026-07-28 revision over Streamable HTTP:
    one POST per request, no handshake, no session."""
    client = _clients(http)[1]
    server = _of_session(_server_events(http), None, client_name="mcp")
    assert attrs_of(client, "python_mcp_session_created") == []
    messages = message_events(client)
    assert messages[0]["message"]["method"] == "server/discover"
    assert {m["session_id"] for m in messages} == {None}
    assert {m["protocol_version"] for m in messages} == {MODERN}
    assert {m["transport"] for m in messages} == {"streamable-http"}
    _check_pairs(client, "client")
    modern = server
    assert {m["protocol_version"] for m in message_events(modern)} == {MODERN}
    _check_pairs(modern, "server")
    server_messages = message_events(modern)
    assert {m["client_name"] for m in server_messages} == {"mcp"}
    assert {m["server_name"] for m in server_messages} == {SERVER_NAME}
    assert "initialize" not in {m["message"].get("method") for m in server_messages}
    assert sorted(str(m["id"]) for m in message_events(client, "client_send_request")) == sorted(
        str(m["id"]) for m in message_events(modern, "server_received_request")
    )
    _check_errors(modern, "server")
    _check_errors(client, "client")
    _check_attribution(http.outputs["modern"], modern, None, "streamable-http")


def _raw_exchanges(server: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The raw client's traffic: its requests name it; its notification
    (no envelope at this revision) is the only 2026-07-28 one."""

    def raw(a: dict[str, Any]) -> bool:
        if a["event"] == "server_received_notification":
            return a["protocol_version"] == MODERN
        return a.get("client_name") == "raw-client"

    return [ev for ev in server if ev["event"]["meta"]["name"] != "python_mcp_event" or raw(attrs(ev))]


@pytest.mark.parametrize("scenario", ["http", "http_stateless"])
def test_http_raw_modern_requests(scenario: str, request: pytest.FixtureRequest) -> None:
    """Raw 2026-07-28 POSTs (SSE or JSON responses) reach the server's
    single-exchange entry, which no dispatcher sees."""
    run: Run = request.getfixturevalue(scenario)
    out = run.outputs["raw"]
    assert out["missing"] == -32601 and out["fail"] is True
    server = _raw_exchanges(_server_events(run))
    messages = message_events(server)
    assert {m["protocol_version"] for m in messages} == {MODERN}
    assert {m["client_version"] for m in messages if "notification" not in m["event"]} == {"9.9"}
    assert {m["session_id"] for m in messages} == {None}
    received = message_events(server, "server_received_request")
    assert [m["message"]["method"] for m in received] == [
        "tools/list",
        "tools/call",
        "tools/call",
        "no/such/method",
        "tools/call",
    ]
    for req in received:
        response = _response_to(server, req)
        assert response["duration_ms"] >= 0 and response["request_method"] == req["message"]["method"]
    missing = _response_to(server, received[3])
    assert missing["error"]["type"] == "-32601"
    assert _response_to(server, received[2])["error"] == {"type": "tool_error"}
    whoami = out["whoami"]["call"]
    assert whoami["request_id"] == received[1]["id"] and whoami["target"] == "whoami"
    assert whoami["session_id"] is None and whoami["transport"] == "streamable-http"
    # Progress notifications ride the request's own response stream, within its call.
    notes = [
        ev for ev in named(server, "python_mcp_event") if attrs(ev)["event"] == "server_send_notification"
    ]
    if scenario == "http":
        assert out["notifications"] == ["notifications/progress", "notifications/progress"]
        assert [attrs(ev)["message"]["method"] for ev in notes] == ["notifications/progress"] * 2
        for ev in notes:
            assert ev["event"]["context"]["mcp"]["target"] == "progress"
            assert ev["event"]["context"]["mcp"]["request_id"] == received[4]["id"]
    assert out["progress"]["call"]["request_id"] == received[4]["id"]
    # A POSTed notification: acknowledged and dropped by the SDK, reported as received.
    assert out["notification_status"] == 202
    posted = message_events(server, "server_received_notification")
    assert [m["message"] for m in posted] == [
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 999}}
    ]
    assert posted[0]["protocol_version"] == MODERN and posted[0]["session_id"] is None


def test_http_stateless_sessions(http_stateless: Run) -> None:
    server = _server_events(http_stateless)
    handshake = [m for m in message_events(server) if m["protocol_version"] != MODERN]
    assert handshake, "no handshake-era message"
    created = attrs_of(server, "python_mcp_session_created")
    terminated = attrs_of(server, "python_mcp_session_terminated")
    # One short-lived session per POST, each with its own id.
    assert len(created) == len(terminated) >= 3
    assert all(s["stateless"] is True for s in created)
    ids = [s["session_id"] for s in created]
    assert len(set(ids)) == len(ids)
    assert {m["session_id"] for m in handshake} <= set(ids)
    for m in handshake:
        if m["event"] == "server_received_request":
            assert _response_to(server, m)["duration_ms"] >= 0
    # The server required a bearer token: its OAuth client is on every message it saw.
    assert {m["oauth_client_id"] for m in message_events(server)} == {"fixture-client"}
    # client_id is the client's name from initialize, as on every transport.
    assert all(m["client_id"] == m.get("client_name") for m in message_events(server))
    client = _clients(http_stateless)[0]
    _check_pairs(client, "client")
    assert {m.get("oauth_client_id") for m in message_events(client)} == {None}
    # No Mcp-Session-Id: the client names its session itself, once initialize is answered.
    assert [m["session_id"] for m in message_events(client)[:2]] == [None, None]
    client_sids = {m["session_id"] for m in message_events(client)[2:]}
    assert len(client_sids) == 1 and not (client_sids & set(ids))


# ---------------------------------------------------------------------------
# SSE, 2026-07-28 over stdio


def test_sse(sse: Run) -> None:
    server, client = sse.one("server.py"), sse.one("client.py")
    assert sse.outputs["session"]["echo"] == "ping"
    for events, side in ((server, "server"), (client, "client")):
        _check_pairs(events, side)
        created = attrs_of(events, "python_mcp_session_created")
        assert len(created) == 1 and created[0]["transport"] == "sse"
        assert {m["session_id"] for m in message_events(events)} == {created[0]["session_id"]}
        assert {m["transport"] for m in message_events(events)} == {"sse"}
        assert len(attrs_of(events, "python_mcp_session_terminated")) == 1
    echo = _tool_request(server, "server_received_request", "echo")
    assert _response_to(server, echo)["message"]["result"]["content"][0]["text"] == "ping"
    connects = attrs_of(client, "python_mcp_client_connect")
    assert [c["server"] for c in connects] == [
        {"type": "sse", "url": f"http://127.0.0.1:{sse.server_port}/sse", "auth": False}
    ]


def test_modern_stdio(modern_stdio: Run) -> None:
    """A 2026-07-28 connection over stdio (the dual-era loop): no session."""
    server, client = modern_stdio.one("server.py"), modern_stdio.one("client.py")
    assert modern_stdio.outputs["client"]["protocol_version"] == MODERN
    for events, side in ((server, "server"), (client, "client")):
        _check_pairs(events, side)
        messages = message_events(events)
        assert messages[0]["message"]["method"] == "server/discover"
        assert {m["session_id"] for m in messages} == {None}
        assert {m["protocol_version"] for m in messages} == {MODERN}
        assert {m["transport"] for m in messages} == {"stdio"}
        assert named(events, "python_mcp_session_created") == []
        assert named(events, "python_mcp_session_terminated") == []
    assert {m["client_name"] for m in message_events(server)} == {"mcp"}
    echo = _tool_request(server, "server_received_request", "echo")
    assert _response_to(server, echo)["server_name"] == SERVER_NAME


def test_in_process_client(in_process: Run) -> None:
    """Client(server): the default mode calls the server's kernel directly (no
    JSON-RPC, so no python_mcp_event) and is still attributed; mode="legacy"
    runs both sides over in-memory streams in this one process."""
    events = in_process.one("in_process.py")
    out = in_process.outputs["client"]
    connects = attrs_of(events, "python_mcp_client_connect")
    assert [c["server"] for c in connects] == [{"type": "memory"}, {"type": "memory"}]
    assert {c["server_name"] for c in connects} == {SERVER_NAME}

    direct = out["auto"]["call"]
    assert direct["transport"] == "memory" and direct["session_id"] is None
    assert direct["method"] == "tools/call" and direct["target"] == "whoami"
    assert direct["server_name"] == SERVER_NAME and isinstance(direct["request_id"], int)

    legacy = out["legacy"]["call"]
    server_sessions = [
        s for s in attrs_of(events, "python_mcp_session_created") if s["source"] == SRC_SERVER
    ]
    assert [s["session_id"] for s in server_sessions] == [legacy["session_id"]]
    assert legacy["transport"] == "memory" and legacy["target"] == "whoami"
    server_side = [ev for ev in events if not attrs(ev).get("event", "").startswith("client_")]
    client_side = [ev for ev in events if not attrs(ev).get("event", "").startswith("server_")]
    _check_pairs(server_side, "server")
    _check_pairs(client_side, "client")
    request = _tool_request(events, "server_received_request", "whoami")
    assert request["id"] == legacy["request_id"] and request["session_id"] == legacy["session_id"]
    assert request["transport"] == "memory"
    sent = _tool_request(events, "client_send_request", "whoami")
    assert sent["id"] == request["id"] and sent["session_id"] != request["session_id"]
    # Every message of the process is the legacy connection's: the direct mode framed none.
    assert {m["protocol_version"] for m in message_events(events)} == {HANDSHAKE}
