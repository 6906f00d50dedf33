# SPDX-License-Identifier: Apache-2.0
"""The spool directory holds event files only, so that any log shipper pointed at it (the
Collector's filelog receiver, Promtail, Vector, a `cat *.ndjson | jq`) reads events and
nothing else. Journals and the two baselines (imports, tool definitions) live in the state
directory beside it (`<spool>.state`, spool.state_dir). Baselines an earlier release left in
the spool directory are read once and moved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import FIXTURES, SPOOL_NAME, Sandbox, attrs, named

_CALL_TOOLS = str(FIXTURES / "call_tools.py")
_SERVER = """
import sys
if sys.argv[1] == "mcp1":
    from mcp.server.fastmcp import FastMCP as Server
else:
    from mcp.server.mcpserver import MCPServer as Server
server = Server("layout")

@server.tool()
def touch(path: str) -> str:
    open(path, "w").close()
    return "touched"

server.run("stdio")
"""


def _serve(sandbox: Sandbox, venv: Any) -> None:
    sandbox.write("server.py", _SERVER)
    calls = json.dumps([["tools/list", {}], ["touch", {"path": "t.txt"}]])
    server = json.dumps(["server.py", venv.line])
    res = sandbox.run([venv.python, _CALL_TOOLS, venv.bluepython, server, calls])
    assert res.returncode == 0, res.stderr.decode()


def _state(sandbox: Sandbox) -> Path:
    return Path(f"{sandbox.spool}.state")


def test_the_spool_directory_holds_event_files_only(sandbox: Sandbox, mcp2: Any) -> None:
    for _ in range(2):
        _serve(sandbox, mcp2)
        names = sorted(p.name for p in sandbox.spool.iterdir())
        assert names and all(SPOOL_NAME.match(n) for n in names), names
        assert sorted(p.name for p in _state(sandbox).iterdir()) == ["import-baseline.tsv", "mcp-tools.json"]
    # Every file a shipper would pick up is events, line by line.
    for path in sandbox.spool.iterdir():
        for line in path.read_text().splitlines():
            assert json.loads(line)["event"]["meta"]["name"]


def test_baselines_an_earlier_release_left_in_the_spool_are_read_once_and_moved(
        sandbox: Sandbox, mcp2: Any) -> None:
    sandbox.write("helper.py", "VALUE = 1\n")
    assert sandbox.bp("-c", "import helper").returncode == 0
    _serve(sandbox, mcp2)
    # As an earlier release left them: in the spool directory, none in the state directory.
    for name in ("import-baseline.tsv", "mcp-tools.json"):
        (_state(sandbox) / name).rename(sandbox.spool / name)
    tools_before = json.loads((sandbox.spool / "mcp-tools.json").read_text())
    sandbox.write("helper.py", "VALUE = 2\n")
    assert sandbox.bp("-c", "import helper").returncode == 0
    # The old import baseline was read: the change is seen ...
    last = max(sandbox.files(), key=lambda f: f.start_ms)
    helper = [attrs(e) for e in named(last.events, "python_import") if attrs(e)["fullname"] == "helper"]
    assert helper and helper[0]["hash_changed"] is True
    # ... and it is now in the state directory only.
    assert not (sandbox.spool / "import-baseline.tsv").exists()
    assert (_state(sandbox) / "import-baseline.tsv").exists()
    _serve(sandbox, mcp2)
    assert not (sandbox.spool / "mcp-tools.json").exists()
    tools_after = json.loads((_state(sandbox) / "mcp-tools.json").read_text())
    assert tools_after["server"].keys() >= tools_before["server"].keys()
    assert all(SPOOL_NAME.match(p.name) for p in sandbox.spool.iterdir())
