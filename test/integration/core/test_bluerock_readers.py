# SPDX-License-Identifier: Apache-2.0
"""BlueRock's readers on our spool, unchanged: the `jq` recipes its documentation gives for
its own spool (`cat <spool>/python-*.ndjson | jq ...`: every event, counts by name, the MCP
events, the server's registrations, imports with their versions), run by the real `jq` through
the shell's glob, after a real MCP client and server (both under bluepython) on each SDK
line. Each answer is checked against what the spool says, read independently here. Also the
envelope's BlueRock fields: `meta.type` `sensor_lifecycle` on sensor_startup/shutdown and
`meta.component_id` (the `component_id` setting, else the host name)."""

from __future__ import annotations

import collections
import json
import shlex
import shutil
import socket
import subprocess
from typing import Any

import pytest
from conftest import FIXTURES, Sandbox, attrs, name

_CALL_TOOLS = str(FIXTURES / "call_tools.py")
_SERVER = """
import json, sys
if sys.argv[1] == "mcp1":
    from mcp.server.fastmcp import FastMCP as Server
else:
    from mcp.server.mcpserver import MCPServer as Server
server = Server("readers")

@server.tool()
def add(a: int, b: int) -> int:
    return a + b

@server.tool()
def dump(value: str) -> str:
    return json.dumps({"value": value})

server.run("stdio")
"""


def _jq(sandbox: Sandbox, program: str, *flags: str) -> list[str]:
    """`cat <spool>/python-*.ndjson | jq FLAGS PROGRAM`, as the recipes run it: the lines out."""
    jq = shutil.which("jq")
    if jq is None:
        pytest.fail("jq is not installed (packaging/setup-debian.sh installs it)")
    files = f"{shlex.quote(str(sandbox.spool))}/python-*.ndjson"
    pipeline = f"cat {files} | {jq} {' '.join(flags)} {shlex.quote(program)}"
    done = subprocess.run(["sh", "-c", pipeline], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode().splitlines()


def _run_both(sandbox: Sandbox, venv: Any, **env: str) -> list[dict[str, Any]]:
    """A client and a stdio server, both under bluepython; the events of both."""
    sandbox.write("server.py", _SERVER)
    calls = json.dumps([["tools/list", {}], ["add", {"a": 2, "b": 3}], ["dump", {"value": "x"}]])
    server = json.dumps(["server.py", venv.line])
    res = sandbox.run([venv.bluepython, _CALL_TOOLS, venv.bluepython, server, calls],
                      env={**venv.env(sandbox.root), **sandbox.env, **env})
    assert res.returncode == 0, res.stderr.decode()
    events = sandbox.events()
    assert len(sandbox.files()) == 2  # one file per process
    return events


def test_bluerock_jq_recipes_read_our_spool(sandbox: Sandbox, mcp_venv: Any) -> None:
    events = _run_both(sandbox, mcp_venv)
    names = [name(e) for e in events]

    # Every event: `jq .event` gives one object per line, each with its meta.
    every = [json.loads(line) for line in _jq(sandbox, ".event", "-c")]
    assert len(every) == len(events)
    assert sorted(json.dumps(e, sort_keys=True) for e in every) == sorted(
        json.dumps(e["event"], sort_keys=True) for e in events)

    # Counts by name: `jq -r '.event.meta.name' | sort | uniq -c` (the counting done here).
    assert collections.Counter(_jq(sandbox, ".event.meta.name", "-r")) == collections.Counter(names)

    # The MCP events: both sides' messages, the server's start and registrations, the client's
    # connection, the sessions.
    mcp_only = '.event | select(.meta.name | startswith("python_mcp_"))'
    mcp = [json.loads(line) for line in _jq(sandbox, mcp_only, "-c")]
    assert [m["meta"]["name"] for m in mcp] == [n for n in names if n.startswith("python_mcp_")]
    kinds = {m["meta"]["name"] for m in mcp}
    assert {"python_mcp_server_init", "python_mcp_server_add", "python_mcp_client_connect",
            "python_mcp_session_created", "python_mcp_event"} <= kinds
    calls = {(m["event"], m.get("method") or m.get("request_method"))
             for m in mcp if m["meta"]["name"] == "python_mcp_event"}
    assert {("client_send_request", "tools/call"), ("server_received_request", "tools/call"),
            ("server_send_response", "tools/call"), ("client_received_response", "tools/call")} <= calls

    # The server's side: its start and what it registered.
    server_side = ('.event | select(.meta.name == "python_mcp_server_init"'
                   ' or .meta.name == "python_mcp_server_add")')
    server = [json.loads(line) for line in _jq(sandbox, server_side, "-c")]
    inits = [s["server"]["name"] for s in server if s["meta"]["name"] == "python_mcp_server_init"]
    assert inits == ["readers"]
    assert sorted(s["element"]["name"] for s in server if s["meta"]["name"] == "python_mcp_server_add") == [
        "add", "dump"]

    # Imports with their versions: "<module> <version or n/a>".
    with_versions = '.event | select(.meta.name == "python_import") | "\\(.fullname) \\(.version // "n/a")"'
    imports = _jq(sandbox, with_versions, "-r")
    expected = [f"{attrs(e)['fullname']} {attrs(e).get('version') or 'n/a'}" for e in events
                if name(e) == "python_import"]
    assert imports == expected
    version_of_mcp = "import importlib.metadata as m; print(m.version('mcp'))"
    mcp_version = subprocess.run([mcp_venv.python, "-c", version_of_mcp],
                                 capture_output=True, check=True).stdout.decode().strip()
    assert f"mcp {mcp_version}" in imports
    assert "json n/a" in imports  # the standard library belongs to no distribution


def test_lifecycle_type_and_component_id(sandbox: Sandbox, mcp2: Any) -> None:
    _run_both(sandbox, mcp2)
    lifecycle = _jq(sandbox, 'select(.event.meta.type == "sensor_lifecycle") | .event.meta.name', "-r")
    assert sorted(lifecycle) == ["sensor_shutdown", "sensor_shutdown", "sensor_startup", "sensor_startup"]
    assert set(_jq(sandbox, ".event.meta.component_id", "-r")) == {socket.gethostname()}
    # The meta keys in BlueRock's order, component_id after source_event_id.
    assert set(_jq(sandbox, ".event.meta | keys_unsorted | join(\",\")", "-r")) == {
        "name,type,origin,sensor_id,source_event_id,component_id,uuid"}


def test_component_id_from_the_environment_and_the_config_file(sandbox: Sandbox, mcp2: Any) -> None:
    _run_both(sandbox, mcp2, BLUEPYTHON_COMPONENT_ID='notes "prod" ü')
    assert set(_jq(sandbox, ".event.meta.component_id", "-r")) == {'notes "prod" ü'}

    config = sandbox.write("bp.json", json.dumps({"component_id": "billing-mcp"}))
    other = sandbox.root / "other-spool"
    res = sandbox.bp("run", "--config", str(config), "--spool-dir", str(other), "--", "-c", "pass")
    assert res.returncode == 0, res.stderr.decode()
    (one,) = sandbox.files(other)
    assert {e["event"]["meta"]["component_id"] for e in one.events} == {"billing-mcp"}


def test_a_component_id_too_long_is_refused(sandbox: Sandbox) -> None:
    res = sandbox.bp("-c", "print('never')", env={**sandbox.env, "BLUEPYTHON_COMPONENT_ID": "x" * 257})
    assert res.returncode == 2
    assert res.stdout == b""
    lines = res.stderr.decode().splitlines()
    assert len(lines) == 1 and "component_id" in lines[0] and "256" in lines[0], lines
