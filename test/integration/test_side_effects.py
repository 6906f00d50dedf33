"""Side effects reported from the native audit hook (process category so far):
what they carry, that environment values never reach the spool, and that each
is attributed to the MCP tool call that caused it, or marked startup or
background. Real subprocesses, real fork/exec, real MCP servers and clients."""

from __future__ import annotations

import json

import pytest
from conftest import McpVenv, Sandbox, attrs, check_stream, named

_PROCESSES = r"""
import os, pathlib, subprocess, sys
env = {"SECRET_TOKEN": "hunter2", "PATH": os.environ["PATH"]}
subprocess.run(["true", "x"], env=env, cwd="/tmp", check=True)
subprocess.run("exit 0", shell=True, check=True)
os.system("exit 0")
os.kill(os.getpid(), 0)
pid = os.posix_spawn("/bin/true", ["true", pathlib.Path("p")], {"ONLY_NAME": "v"})
os.waitpid(pid, 0)
pid = os.fork()
if pid == 0:
    os.execv("/bin/true", ["true", "child"])
os.waitpid(pid, 0)
print("done")
"""


def test_process_events_carry_what_ran_and_never_env_values(sandbox: Sandbox) -> None:
    sandbox.write("p.py", _PROCESSES)
    res = sandbox.bp("p.py")
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout == b"done\n"
    raw = b"".join(f.path.read_bytes() for f in sandbox.files())
    assert b"hunter2" not in raw and b"ONLY_NAME" in raw
    procs = sandbox.processes()
    assert len(procs) == 2  # the script and its forked child, which exec'd
    for evs in procs.values():
        execd = any(attrs(e)["via"] == "os.exec" for e in named(evs, "python_process_spawn"))
        check_stream(evs, shutdown=not execd)
    events = sandbox.events()
    spawns = [attrs(e) for e in named(events, "python_process_spawn")]
    by_via: dict[str, list[dict]] = {}
    for a in spawns:
        by_via.setdefault(a["via"], []).append(a)
    popen, shell = by_via["subprocess.Popen"]
    assert popen["executable"] == "true" and popen["argv"] == ["true", "x"] and popen["cwd"] == "/tmp"
    assert popen["env_keys"] == ["SECRET_TOKEN", "PATH"]
    assert shell["argv"] == ["/bin/sh", "-c", "exit 0"] and shell["env_keys"] is None
    (system,) = by_via["os.system"]
    assert system["argv"] == ["/bin/sh", "-c", "exit 0"]
    (spawn,) = by_via["os.posix_spawn"]
    assert spawn["executable"] == "/bin/true" and spawn["argv"] == ["true", "p"]
    assert spawn["env_keys"] == ["ONLY_NAME"]
    (exec_,) = by_via["os.exec"]  # written by the forked child before exec replaced it
    assert exec_["argv"] == ["true", "child"]
    (fork,) = named(events, "python_process_fork")
    (signal,) = named(events, "python_process_signal")
    own_pid = signal["event"]["context"]["process"]["pid"]
    assert attrs(signal) == {"via": "os.kill", "pid": own_pid, "signal": 0}
    child = next(e for e in named(events, "python_process_spawn") if attrs(e)["via"] == "os.exec")
    assert child["event"]["context"]["process"]["ppid"] == fork["event"]["context"]["process"]["pid"]
    # No MCP session in this process: everything is start-up.
    for e in [*named(events, "python_process_spawn"), fork, signal]:
        assert e["event"]["context"]["scope"] == "startup"
        assert "mcp" not in e["event"]["context"]


def test_process_category_switch(sandbox: Sandbox) -> None:
    sandbox.write("p.py", _PROCESSES)
    res = sandbox.bp("run", "--disable", "process", "--", "p.py")
    assert res.returncode == 0, res.stderr.decode()
    events = sandbox.events()
    assert not [e for e in events if e["event"]["meta"]["name"].startswith("python_process_")]


_SERVER = r"""
import subprocess, sys
subprocess.run(["true", "at-startup"], check=True)
if sys.argv[1] == "mcp1":
    from mcp.server.fastmcp import FastMCP as Server
else:
    from mcp.server.mcpserver import MCPServer as Server
server = Server("side-effects")

@server.tool()
async def run_git() -> str:
    return subprocess.run(["git", "--version"], capture_output=True, text=True, check=True).stdout

@server.tool()
def run_sync(word: str) -> str:
    # A sync tool: the SDK runs it in a worker thread.
    return subprocess.run(["echo", word], capture_output=True, text=True, check=True).stdout

@server.tool()
async def run_in_threads() -> str:
    # Plain threads and a thread pool start with an empty context on 3.11:
    # bluepython carries the call into them.
    import concurrent.futures, threading
    t = threading.Thread(target=subprocess.run, args=(["echo", "thread"],), kwargs={"capture_output": True})
    t.start()
    t.join()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(subprocess.run, ["echo", "pool"], capture_output=True).result()
    return "threads"

server.run("stdio")
"""

_CLIENT = r"""
import json, os, sys, anyio
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

async def main():
    params = StdioServerParameters(command=sys.argv[1], args=["server.py", sys.argv[2]], env=dict(os.environ))
    async with stdio_client(params) as (r, w, *_):
        async with ClientSession(r, w) as s:
            await s.initialize()
            out = []
            calls = [("run_git", {}), ("run_sync", {"word": "one"}), ("run_sync", {"word": "two"}),
                     ("run_in_threads", {})]
            for name, args in calls:
                result = await s.call_tool(name, args)
                out.append(result.content[0].text.strip())
    print(json.dumps(out))

anyio.run(main)
"""


@pytest.mark.parametrize("line", ["mcp1", "mcp2"])
def test_process_events_are_attributed_to_the_tool_call(sandbox: Sandbox, line: str, request) -> None:
    venv: McpVenv = request.getfixturevalue(line)
    sandbox.write("server.py", _SERVER)
    sandbox.write("client.py", _CLIENT)
    res = sandbox.run([venv.python, "client.py", venv.bluepython, line])
    assert res.returncode == 0, res.stderr.decode()
    out = json.loads(res.stdout)
    assert out[0].startswith("git version") and out[1:] == ["one", "two", "threads"]
    events = sandbox.events()
    check_stream(events)
    spawns = named(events, "python_process_spawn")
    startup = [e for e in spawns if attrs(e)["argv"] == ["true", "at-startup"]]
    assert len(startup) == 1 and startup[0]["event"]["context"]["scope"] == "startup"
    requests = {
        attrs(e)["id"]: attrs(e)
        for e in named(events, "python_mcp_event")
        if attrs(e)["event"] == "server_received_request" and attrs(e)["method"] == "tools/call"
    }
    assert len(requests) == 4
    in_calls = [e for e in spawns if e is not startup[0]]
    assert [attrs(e)["argv"] for e in in_calls] == [
        ["git", "--version"], ["echo", "one"], ["echo", "two"], ["echo", "thread"], ["echo", "pool"]]
    call_ids = set()
    for e in in_calls:
        context = e["event"]["context"]
        assert context["scope"] == "call"
        mcp = context["mcp"]
        request_ = requests[mcp["request_id"]]
        assert mcp["method"] == "tools/call" and mcp["target"] == request_["message"]["params"]["name"]
        assert mcp["session_id"] == request_["session_id"] and mcp["transport"] == "stdio"
        call_ids.add(mcp["call_id"])
    assert len(call_ids) == 4  # one per call; the threads' spawns belong to the call that started them
