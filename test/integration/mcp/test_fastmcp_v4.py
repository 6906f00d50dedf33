# SPDX-License-Identifier: Apache-2.0
"""Standalone FastMCP 4.x (fastmcp 4 on mcp 2.x) under bluepython: server
identity, component registration, the attribution of a call to its tool,
resource or prompt, and fastmcp Client connects, over stdio, Streamable HTTP,
SSE and the in-memory transport. Real fixture servers and clients
(test/fixtures/fastmcp_v4/) in subprocesses; nothing is mocked.

The SDK-level hooks (mcp/v2/) see the JSON-RPC traffic; these tests hold
with and without them, and check that traffic only when they exist."""

from __future__ import annotations

import contextlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    FIXTURES,
    REPO,
    TIMEOUT,
    McpVenv,
    attrs,
    attrs_of,
    by_program,
    check_stream,
    named,
    one_process,
    processes,
    run_json,
    serve,
)

FIXTURE_DIR = FIXTURES / "fastmcp_v4"
SERVER = str(FIXTURE_DIR / "server.py")
CLIENT = str(FIXTURE_DIR / "client.py")
IN_PROCESS = str(FIXTURE_DIR / "in_process.py")
SDK_HOOKS = REPO / "hooks" / "bluepython_hooks" / "mcp" / "v2" / "__init__.py"

MAIN = "fixture-v4"
CHILD = "fixture-child"

# What the client's scenario calls -> (target, server running it, method).
EXPECTED_CALLS = {
    "probe_sync": ("probe_sync", MAIN, "tools/call"),
    "probe_async": ("probe_async", MAIN, "tools/call"),
    "slow": ("probe_async", MAIN, "tools/call"),
    "fast": ("probe_async", MAIN, "tools/call"),
    "sync": ("probe_sync", MAIN, "tools/call"),
    "kid_greet": ("greet", CHILD, "tools/call"),  # the mounted server's own tool
    "indirect": ("indirect", MAIN, "tools/call"),
    "static": ("fixture://static", MAIN, "resources/read"),
    "item": ("fixture://items/42", MAIN, "resources/read"),
    "prompt": ("review", MAIN, "prompts/get"),
}


# ---------------------------------------------------------------------------
# Running the fixtures


def _run_all(argvs: list[list[str]], env: dict[str, str], cwd: Path) -> list[dict[str, Any]]:
    """Runs the programs side by side; each must succeed and print JSON."""
    procs = [
        subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for argv in argvs
    ]
    outputs = []
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=TIMEOUT)
            assert proc.returncode == 0, stderr.decode(errors="replace")[-3000:]
            outputs.append(json.loads(stdout))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return outputs


def _by_program(spool: Path) -> dict[str, list[dict[str, Any]]]:
    """Each process's events, keyed by its script and first argument
    (``server.py stdio``, ``client.py http``, ``in_process.py``): one process each."""
    programs = by_program(spool, args=1)
    return {key: one_process(programs, key) for key in programs}


def _calls(result: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
    """The call in effect that each step of the client's scenario reported."""
    return {
        "probe_sync": result["probe_sync"]["call"],
        "probe_async": result["probe_async"]["call"],
        **{k: v["call"] for k, v in result["concurrent"].items()},
        "kid_greet": result["kid_greet"]["call"],
        "indirect": result["indirect"]["call"],
        "static": result["static"],
        "item": result["item"],
        "prompt": result["prompt"],
    }


def _fastmcp_faults(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        attrs(e)
        for e in named(events, "python_internal_exception")
        if attrs(e)["where"].startswith("hooks: fastmcp")
    ]


@pytest.fixture(scope="module")
def stdio_run(mcp2: McpVenv, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A fastmcp Client under bluepython spawning the fixture server under
    bluepython over stdio, and the same pair under plain python."""
    root = tmp_path_factory.mktemp("fastmcp-v4-stdio")
    env = mcp2.env(root)
    bp, py = _run_all(
        [
            [mcp2.bluepython, CLIENT, "stdio", mcp2.bluepython, SERVER],
            [mcp2.python, CLIENT, "stdio", mcp2.python, SERVER],
        ],
        env,
        root,
    )
    return {"bp": bp, "py": py, "events": _by_program(root / "spool"), "venv": mcp2}


@pytest.fixture(scope="module")
def http_run(mcp2: McpVenv, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The fixture server under bluepython on Streamable HTTP and on SSE, each
    called by a fastmcp Client under bluepython (HTTP: bearer auth and the
    initialize handshake, so there is a protocol session)."""
    root = tmp_path_factory.mktemp("fastmcp-v4-http")
    env = mcp2.env(root)
    # Stopped with SIGINT (stop_server): uvicorn ends gracefully. (On SIGTERM it
    # re-raises the signal with the default action after its own shutdown, and
    # the process ends without sensor_shutdown: a launcher matter, not this file's.)
    with contextlib.ExitStack() as stack:
        servers = {
            kind: stack.enter_context(
                serve(lambda port, kind=kind: [mcp2.bluepython, SERVER, kind, str(port)], env, root,
                      root / f"server-{kind}.log")
            )
            for kind in ("http", "sse")
        }
        http_url = servers["http"].url
        # A credential in the query string: reported redacted.
        sse_url = servers["sse"].at("/sse?token=secret")
        http, sse = _run_all(
            [
                [mcp2.bluepython, CLIENT, "http", http_url, "secret-token", "--legacy"],
                [mcp2.bluepython, CLIENT, "sse", sse_url],
            ],
            env,
            root,
        )
    return {
        "http": http,
        "sse": sse,
        "http_url": http_url,
        "sse_url": sse_url,
        "events": _by_program(root / "spool"),
    }


# ---------------------------------------------------------------------------
# Server identity and registration


def test_one_server_init_per_fastmcp_server(stdio_run: dict[str, Any]) -> None:
    events = stdio_run["events"]["server.py stdio"]
    inits = attrs_of(events, "python_mcp_server_init")
    fastmcp_version = stdio_run["venv"].versions()["fastmcp"]
    # fastmcp's LowLevelServer (an SDK Server subclass) adds no init of its own.
    assert inits == [
        {
            "server": {
                "name": MAIN,
                "title": None,
                "description": None,
                "version": "4.0.1",
                "instructions": "Fixture server for bluepython tests.",
            },
            "framework": "fastmcp",
        },
        {
            # No version given: the server advertises fastmcp's.
            "server": {
                "name": CHILD,
                "title": None,
                "description": None,
                "version": fastmcp_version,
                "instructions": None,
            },
            "framework": "fastmcp",
        },
    ]


def test_every_local_component_is_added_once(stdio_run: dict[str, Any]) -> None:
    events = stdio_run["events"]["server.py stdio"]
    adds = attrs_of(events, "python_mcp_server_add")
    keys = sorted((a["element"]["type"], a["element"]["name"], a.get("server_name")) for a in adds)
    assert keys == sorted(
        [
            ("tool", "made_in_constructor", MAIN),  # FastMCP(tools=[...])
            ("tool", "probe_sync", MAIN),
            ("tool", "probe_async", MAIN),
            ("tool", "ping", MAIN),
            ("tool", "added_tool", MAIN),  # add_tool(Tool.from_function(...))
            ("tool", "indirect", MAIN),
            ("resource", "static_resource", MAIN),
            ("resource_template", "item", MAIN),
            ("prompt", "review", MAIN),
            ("tool", "greet", CHILD),
        ]
    )
    by_name = {a["element"]["name"]: a for a in adds}
    assert all(a["framework"] == "fastmcp" for a in adds)

    assert by_name["probe_async"]["element"] == {
        "type": "tool",
        "name": "probe_async",
        "title": "Async probe",
        "description": "Sleeps, then reports the call in effect.",
        "parameters": {
            "additionalProperties": False,
            "properties": {"tag": {"type": "string"}, "delay": {"default": 0.0, "type": "number"}},
            "required": ["tag"],
            "type": "object",
        },
    }
    constructor_tool = by_name["made_in_constructor"]["element"]
    assert constructor_tool["description"] == "Registered through FastMCP(tools=[...])."
    assert by_name["added_tool"]["element"]["description"] == "Added with add_tool."
    assert by_name["static_resource"]["element"] == {
        "type": "resource",
        "name": "static_resource",
        "title": None,
        "description": "A static resource.",
        "uri": "fixture://static",
    }
    template = by_name["item"]["element"]
    assert template["uri_template"] == "fixture://items/{item_id}"
    assert template["description"] == "One item."
    assert template["parameters"]["required"] == ["item_id"]
    prompt = by_name["review"]["element"]
    assert prompt["description"] == "Asks for a review."
    assert [(a["name"], a["required"]) for a in prompt["arguments"]] == [("topic", True), ("depth", False)]

    # The server is announced before its components, constructor tools included.
    init_seq = {
        attrs(e)["server"]["name"]: e["event"]["meta"]["source_event_id"]
        for e in named(events, "python_mcp_server_init")
    }
    for e in named(events, "python_mcp_server_add"):
        assert e["event"]["meta"]["source_event_id"] > init_seq[attrs(e)["server_name"]]


# ---------------------------------------------------------------------------
# Attribution


def _check_calls(calls: dict[str, dict[str, Any] | None], server_uuid: str) -> None:
    for label, (target, server_name, method) in EXPECTED_CALLS.items():
        call = calls[label]
        assert call is not None, f"{label}: no call in effect"
        assert (call["target"], call["server_name"], call["method"]) == (target, server_name, method), label
        assert isinstance(call["request_id"], int), call
        assert call["call_id"].startswith(server_uuid + ":"), call
    # One call per request, concurrent ones included: nothing leaks between them.
    assert len({c["request_id"] for c in calls.values()}) == len(calls)
    assert len({c["call_id"] for c in calls.values()}) == len(calls)


def test_calls_are_attributed_to_their_tool_resource_and_prompt(stdio_run: dict[str, Any]) -> None:
    events = stdio_run["events"]["server.py stdio"]
    uuid = events[0]["event"]["meta"]["uuid"]
    result = stdio_run["bp"]
    _check_calls(_calls(result), uuid)
    # A resource read by a tool (ctx.read_resource) is part of the tool's call.
    assert result["indirect"]["resource_saw"] == result["indirect"]["call"]
    # Sync tools run in fastmcp's thread pool; the call goes with them.
    assert result["probe_sync"]["thread"] != "MainThread"
    assert result["concurrent"]["sync"]["thread"] != "MainThread"


def test_events_emitted_by_handlers_carry_the_call(stdio_run: dict[str, Any]) -> None:
    events = stdio_run["events"]["server.py stdio"]
    result = stdio_run["bp"]
    probes = [(attrs(e), e["event"]["context"].get("mcp")) for e in named(events, "test_probe")]
    assert all(mcp is not None for _, mcp in probes), probes

    # Concurrent calls of one tool: each body's events carry its own request.
    tagged = {a["tag"]: mcp for a, mcp in probes if a["where"] == "probe_async"}
    for tag in ("slow", "fast"):
        assert tagged[tag] == result["concurrent"][tag]["call"]
    assert tagged["a1"] == result["probe_async"]["call"]

    # Middleware (on_call_tool) runs in the call, under the name the client called.
    middleware = [(a, mcp) for a, mcp in probes if a["where"] == "middleware"]
    called = ["probe_sync", "probe_async", "probe_async", "probe_async", "probe_sync", "kid_greet"]
    assert sorted(a["tool"] for a, _ in middleware) == sorted([*called, "added_tool", "indirect"])
    for a, mcp in middleware:
        assert (mcp["target"], mcp["server_name"], mcp["method"]) == (a["tool"], MAIN, "tools/call")
    # The mounted server's tool refines the same call: same call id, its own target.
    greet_mcp = next(mcp for a, mcp in probes if a["where"] == "greet")
    kid_mw = next(mcp for a, mcp in middleware if a["tool"] == "kid_greet")
    assert greet_mcp["call_id"] == kid_mw["call_id"]
    assert greet_mcp["request_id"] == kid_mw["request_id"]
    assert (greet_mcp["target"], greet_mcp["server_name"]) == ("greet", CHILD)

    others = sorted(
        (a["where"], mcp["target"]) for a, mcp in probes if a["where"] not in ("middleware", "greet")
    )
    assert [w for w in others if not w[0].startswith("probe")] == [
        ("prompt", "review"),
        ("resource", "fixture://static"),
        ("resource", "indirect"),  # read by the tool
        ("template", "fixture://items/42"),
    ]


def test_behaviour_is_unchanged(stdio_run: dict[str, Any]) -> None:
    """The same scenario under plain python gives the same answers, bar the
    call in effect (which only bluepython has)."""
    bp = json.loads(json.dumps(stdio_run["bp"]))
    for key in ("probe_sync", "probe_async", "kid_greet", "indirect"):
        bp[key]["call"] = None
    bp["indirect"]["resource_saw"] = None
    for value in bp["concurrent"].values():
        value["call"] = None
    for key in ("static", "item", "prompt"):
        bp[key] = None
    assert bp == stdio_run["py"]
    assert bp["added_tool"] == 42
    assert bp["tools"] == sorted(
        ["added_tool", "indirect", "kid_greet", "made_in_constructor", "ping", "probe_async", "probe_sync"]
    )


def test_streams_are_whole_and_hooks_fault_free(stdio_run: dict[str, Any], http_run: dict[str, Any]) -> None:
    for run in (stdio_run, http_run):
        for program, events in run["events"].items():
            check_stream(events)
            assert _fastmcp_faults(events) == [], program


# ---------------------------------------------------------------------------
# Client connects


def _connects(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [attrs(e)["server"] for e in named(events, "python_mcp_client_connect")]


def test_stdio_client_connect(stdio_run: dict[str, Any]) -> None:
    events = stdio_run["events"]["client.py stdio"]
    # Once, whether the SDK hooks or these report it.
    assert _connects(events) == [
        {"type": "stdio", "command": stdio_run["venv"].bluepython, "args": [SERVER, "stdio"]}
    ]
    assert named(stdio_run["events"]["server.py stdio"], "python_mcp_client_connect") == []


def test_http_and_sse_client_connects(http_run: dict[str, Any]) -> None:
    (http,) = _connects(http_run["events"]["client.py http"])
    assert (http["type"], http["url"]) == ("streamable-http", http_run["http_url"])
    assert http.get("auth", True) is True  # a bearer token
    (sse,) = _connects(http_run["events"]["client.py sse"])
    assert (sse["type"], sse["url"]) == ("sse", http_run["sse_url"].replace("secret", "REDACTED"))
    assert sse.get("auth", False) is False


def test_http_and_sse_calls_are_attributed(http_run: dict[str, Any]) -> None:
    for kind in ("http", "sse"):
        server = http_run["events"][f"server.py {kind}"]
        calls = _calls(http_run[kind])
        _check_calls(calls, server[0]["event"]["meta"]["uuid"])
    # Streamable HTTP with the initialize handshake: every call of the
    # client's one session names it.
    sessions = {c["session_id"] for c in _calls(http_run["http"]).values()}
    assert len(sessions) == 1 and None not in sessions, sessions


# ---------------------------------------------------------------------------
# In one process: in-memory transport, programmatic calls, corner cases


def test_in_process(mcp2: McpVenv, tmp_path: Path) -> None:
    env = mcp2.env(tmp_path)
    result = run_json([mcp2.bluepython, IN_PROCESS], env, tmp_path)
    (events,) = processes(tmp_path / "spool").values()
    check_stream(events)
    assert _fastmcp_faults(events) == []

    assert _connects(events) == [{"type": "memory"}]
    (connect,) = attrs_of(events, "python_mcp_client_connect")
    assert connect["server_name"] == "in-process"

    memory = result["memory"]["call"]
    assert (memory["target"], memory["server_name"]) == ("where", "in-process")
    assert memory["method"] == "tools/call"
    assert isinstance(memory["request_id"], int)
    assert result["from_provider"]["call"]["target"] == "from_provider"
    # Called from code, outside any request: a call of its own, no request id.
    outside = result["outside"]["call"]
    assert (outside["target"], outside["method"], outside["request_id"]) == ("where", "tools/call", None)
    assert outside["call_id"] != memory["call_id"]
    assert result["after"] is None  # nothing stays current once the call is over

    probes = {attrs(e)["tag"]: e["event"]["context"]["mcp"] for e in named(events, "test_probe")}
    assert probes == {"memory": memory, "outside": outside}

    adds = attrs_of(events, "python_mcp_server_add")
    assert [(a["element"]["name"], a.get("server_name")) for a in adds] == [
        ("from_provider", None),  # a standalone provider, before any server existed
        ("where", "in-process"),
        ("where_again", "in-process"),  # its second registration was ignored
    ]
    assert [attrs(e)["server"]["name"] for e in named(events, "python_mcp_server_init")] == ["in-process"]


# ---------------------------------------------------------------------------
# With the SDK hooks: the JSON-RPC traffic of a fastmcp server


@pytest.mark.skipif(not SDK_HOOKS.exists(), reason="mcp 2.x SDK hooks (mcp/v2/) not there yet")
def test_sdk_hooks_see_fastmcp_traffic(stdio_run: dict[str, Any], http_run: dict[str, Any]) -> None:
    for run, program in ((stdio_run, "server.py stdio"), (http_run, "server.py http")):
        events = run["events"][program]
        messages = attrs_of(events, "python_mcp_event")
        methods = {m.get("method") for m in messages}
        assert {"tools/call", "resources/read", "prompts/get", "tools/list"} <= methods, (program, methods)
        # The requests the tools' events are attributed to are those on the wire.
        wire_ids = {m.get("id") for m in messages if m.get("method") == "tools/call"}
        attributed = {
            e["event"]["context"]["mcp"]["request_id"]
            for e in named(events, "test_probe")
            if e["event"]["context"]["mcp"]["method"] == "tools/call"
        }
        assert attributed <= wire_ids, (program, attributed - wire_ids)
