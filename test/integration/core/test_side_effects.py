"""Side effects reported from the native audit hook (process category so far):
what they carry, that environment values never reach the spool, and that each
is attributed to the MCP tool call that caused it, or marked startup or
background. Real subprocesses, real fork/exec, real MCP servers and clients."""

from __future__ import annotations

import http.server
import json
import marshal
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import (
    FIXTURES,
    McpVenv,
    Sandbox,
    attrs,
    attrs_of,
    check_stream,
    named,
    serve,
)

_PROCESSES = r"""
import os, pathlib, subprocess, sys
env = {"SECRET_TOKEN": "hunter2", "PATH": os.environ["PATH"]}
subprocess.run(["true", "x"], env=env, cwd="/tmp", check=True)
subprocess.run("exit 0", shell=True, check=True)
subprocess.run(["/bin/true", "posix-spawn-path"], close_fds=False, check=True)  # one event, not two
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
    spawns = attrs_of(events, "python_process_spawn")
    by_via: dict[str, list[dict]] = {}
    for a in spawns:
        by_via.setdefault(a["via"], []).append(a)
    popen, shell, spawned = by_via["subprocess.Popen"]
    assert spawned["argv"] == ["/bin/true", "posix-spawn-path"]
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
import socket, subprocess, sys
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

@server.tool()
async def run_in_task() -> str:
    # A task the tool creates (and a thread that task starts) inherit the call.
    import asyncio
    run = asyncio.to_thread(subprocess.run, ["echo", "task"], capture_output=True)
    await asyncio.get_running_loop().create_task(run)
    return "task"

@server.tool()
async def touch_all(path: str) -> str:
    with open(path, "w") as f:
        f.write("written by a tool")
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    socket.create_connection(srv.getsockname()).close()
    srv.close()
    exec("tool_made = 1")
    return "touched"

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
                     ("run_in_threads", {}), ("run_in_task", {}), ("touch_all", {"path": "touched.txt"})]
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
    assert out[0].startswith("git version") and out[1:] == ["one", "two", "threads", "task", "touched"]
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
    assert len(requests) == 6
    in_calls = [e for e in spawns if e is not startup[0]]
    assert [attrs(e)["argv"] for e in in_calls] == [
        ["git", "--version"], ["echo", "one"], ["echo", "two"], ["echo", "thread"], ["echo", "pool"],
        ["echo", "task"]]
    call_ids = set()
    for e in in_calls:
        context = e["event"]["context"]
        assert context["scope"] == "call"
        mcp = context["mcp"]
        request_ = requests[mcp["request_id"]]
        assert mcp["method"] == "tools/call" and mcp["target"] == request_["message"]["params"]["name"]
        assert mcp["session_id"] == request_["session_id"] and mcp["transport"] == "stdio"
        call_ids.add(mcp["call_id"])
    assert len(call_ids) == 5  # one per call; the threads' and the task's spawns belong to their call
    # touch_all: a file written, a socket bound and connected, code run from a string, all in its call.
    (touch,) = [a for a in requests.values() if a["message"]["params"]["name"] == "touch_all"]
    touched = [e for e in events if e["event"]["context"].get("mcp", {}).get("request_id") == touch["id"]
               and e["event"]["meta"]["name"].startswith(("python_file_", "python_net_", "python_code_"))]
    kinds = [(e["event"]["meta"]["name"], attrs(e).get("via")) for e in touched]
    assert kinds == [
        ("python_file_open", "open"),
        ("python_net_bind", "socket.bind"),
        ("python_net_resolve", "socket.getaddrinfo"),  # create_connection resolves first
        ("python_net_connect", "socket.connect"),
        ("python_code_dynamic", "compile"),
    ]
    assert attrs(touched[0])["path"] == "touched.txt" and attrs(touched[4])["source"] == "tool_made = 1"
    assert all(e["event"]["context"]["scope"] == "call" for e in touched)
    # Nothing of these categories in a call other than the one that did it.
    for e in events:
        name = e["event"]["meta"]["name"]
        mcp = e["event"]["context"].get("mcp")
        if mcp is not None and name.startswith(("python_file_", "python_net_", "python_code_")):
            assert mcp["request_id"] == touch["id"], e


_FILES_NET_CODE = r"""
import collections, ctypes, importlib.metadata, marshal, os, pickle, shutil, socket, sys, tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path
d = tempfile.mkdtemp(prefix="bp-")
p = os.path.join(d, "a.txt")
with open(p, "w") as f:
    f.write("x")
open(p).read()
with open(p, "ab") as f:
    f.write(b"y")
fd = os.open(p, os.O_RDWR | os.O_TRUNC)
os.close(fd)
os.rename(p, p + ".2")
shutil.copyfile(p + ".2", p)
os.chmod(p, 0o600)
os.symlink(p, p + ".ln")
os.remove(p + ".ln")
os.mkdir(os.path.join(d, "sub"))
with open(os.path.join(d, "fresh_module.py"), "w") as f:
    f.write("VALUE = 1\n")
sys.path.insert(0, d)
import fresh_module  # the import system's reads and code loading: not reported
list(importlib.metadata.distributions())
open(os.__file__).close()  # the installation's own files, read: not reported
Point = collections.namedtuple("Point", "x y")  # generated code: not reported
shutil.rmtree(d)
exec("z = 40 + 2")
compile("w = 1", "<dyn>", "exec")
marshal.loads(marshal.dumps([1, 2]))
pickle.loads(pickle.dumps(collections.OrderedDict()))
ctypes.CDLL("libc.so.6")
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen()
port = srv.getsockname()[1]
c = socket.create_connection(("localhost", port))
c.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"x", ("127.0.0.1", port))
u.close()
import http.server, threading
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
web = http.server.HTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=web.handle_request).start()
url = f"http://127.0.0.1:{web.server_port}/x"
urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"))
print(d, port, web.server_port)
"""


def _effects(events: list[dict], prefix: str) -> list[dict]:
    return [dict(attrs(e), _name=e["event"]["meta"]["name"]) for e in events
            if e["event"]["meta"]["name"].startswith(prefix)]


def test_file_network_and_code_events(sandbox: Sandbox) -> None:
    sandbox.write("fnc.py", _FILES_NET_CODE)
    res = sandbox.bp("fnc.py")
    assert res.returncode == 0, res.stderr.decode()
    d, port, web_port = res.stdout.decode().split()
    port, web_port = int(port), int(web_port)
    events = sandbox.events()
    check_stream(events)
    mine = [a for a in _effects(events, "python_file_") if str(a.get("path", "")).startswith(d)]
    opens = [(a["path"][len(d):], a["access"], a["create"], a["append"], a["truncate"]) for a in mine
             if a["_name"] == "python_file_open"]
    assert opens == [
        ("/a.txt", "write", True, False, True),
        ("/a.txt", "read", False, False, False),
        ("/a.txt", "write", True, True, False),
        ("/a.txt", "read_write", False, False, True),
        ("/fresh_module.py", "write", True, False, True),
    ]
    changes = [(a["op"], a["path"][len(d):], a.get("target", d)[len(d):]) for a in mine
               if a["_name"] == "python_file_change"]
    assert changes == [
        ("mkdtemp", "", ""),
        ("rename", "/a.txt", "/a.txt.2"),
        ("copy", "/a.txt", "/a.txt.2"),
        ("chmod", "/a.txt", ""),
        ("symlink", "/a.txt.ln", "/a.txt"),
        ("remove", "/a.txt.ln", ""),
        ("mkdir", "/sub", ""),
        ("rmtree", "", ""),
    ]
    assert not [a for a in _effects(events, "python_file_open") if str(a["path"]).endswith("/os.py")]
    # Nothing from the import system: no module source, bytecode or metadata reads.
    for a in _effects(events, "python_file_open"):
        path = str(a["path"])
        imported = "__pycache__" in path or path.endswith(("fresh_module.py", "METADATA", "RECORD"))
        assert not imported or (
            path == f"{d}/fresh_module.py" and a["access"] == "write"), a
    code = _effects(events, "python_code_")
    dynamic = [(a["via"], a.get("source")) for a in code if a["_name"] == "python_code_dynamic"]
    assert ("compile", "z = 40 + 2") in dynamic and ("compile", "w = 1") in dynamic
    assert not any(a[1] and "_tuple_new" in a[1] for a in dynamic)  # namedtuple's generated code
    assert [a for a in code if a["via"] == "marshal.loads"] == [
        {"via": "marshal.loads", "bytes": len(marshal.dumps([1, 2])), "_name": "python_code_dynamic"}]
    assert {"via": "pickle.find_class", "module": "collections", "name": "OrderedDict",
            "_name": "python_code_dynamic"} in code
    assert {"via": "ctypes.dlopen", "library": "libc.so.6", "_name": "python_code_native_load"} in code
    net = _effects(events, "python_net_")
    assert {"_name": "python_net_bind", "via": "socket.bind", "family": "inet", "type": "stream",
            "host": "127.0.0.1", "port": 0} in net
    resolve = {"_name": "python_net_resolve", "via": "socket.getaddrinfo", "host": "localhost", "port": port}
    assert resolve in net
    connects = [(a["via"], a.get("type"), a.get("host"), a.get("port")) for a in net
                if a["_name"] == "python_net_connect"]
    assert ("socket.connect", "stream", "127.0.0.1", port) in connects or (
        "socket.connect", "stream", "::1", port) in connects
    assert ("socket.sendto", "datagram", "127.0.0.1", port) in connects
    assert {"_name": "python_net_request", "via": "urllib.Request", "url": f"http://127.0.0.1:{web_port}/x",
            "method": "POST"} in net
    assert {"_name": "python_net_connect", "via": "http.client.connect", "host": "127.0.0.1",
            "port": web_port} in net
    # Before the program ran (site, .pth files of the environment): "interpreter"; after: "startup".
    run_at = next(i for i, e in enumerate(events) if e["event"]["meta"]["name"] == "python_run")
    for i, e in enumerate(events):
        if e["event"]["meta"]["name"].startswith(("python_file_", "python_net_", "python_code_")):
            assert e["event"]["context"]["scope"] == ("interpreter" if i < run_at else "startup"), e


def test_file_network_code_switches(sandbox: Sandbox) -> None:
    sandbox.write("fnc.py", _FILES_NET_CODE)
    res = sandbox.bp("run", "--disable", "files,network,code", "--", "fnc.py")
    assert res.returncode == 0, res.stderr.decode()
    names = {e["event"]["meta"]["name"] for e in sandbox.events()}
    assert not {n for n in names if n.startswith(("python_file_", "python_net_", "python_code_"))}


_TREE = r"""
import multiprocessing as mp, subprocess, sys
import mcp.types  # bluepython's MCP hooks are applied (what a server does first)
import _bluepython

def work(path):
    with open(path, "w") as f:
        f.write("from a worker")
    # a grandchild: linked to this worker, not to the call
    subprocess.run([sys.executable, "-c", "pass"], check=True)

if __name__ == "__main__":
    token = _bluepython.enter_mcp_call("s-1", 7, "tools/call", "spawner", "stdio", "srv")
    call_id = _bluepython.current_call()["call_id"]
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    for method in ("spawn", "fork"):
        p = mp.get_context(method).Process(target=work, args=(f"out-{method}.txt",))
        p.start()
        p.join()
        assert p.exitcode == 0
    _bluepython.exit_call(token)
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    print(call_id)
"""


_POSIX_SPAWN = r"""
import os, subprocess, sys
import _bluepython

env = dict(os.environ)
before = dict(env)
kid = [sys.executable, "-c", "pass"]
token = _bluepython.enter_mcp_call("s-1", 7, "tools/call", "spawner", "stdio", "srv")
# subprocess's posix_spawn path: every version with close_fds off; 3.13+ by default
subprocess.run(kid, close_fds=False, check=True)
os.waitpid(os.posix_spawn(sys.executable, kid, env), 0)
os.waitpid(os.posix_spawnp(os.path.basename(sys.executable), kid, env), 0)
if sys.version_info >= (3, 13):
    os.waitpid(os.posix_spawn(sys.executable, kid, None), 0)  # None: this environment (3.13+)
else:
    try:
        os.posix_spawn(sys.executable, kid, None)
    except TypeError as exc:  # refused before 3.13, as under python
        print(type(exc).__name__, file=sys.stderr)
_bluepython.exit_call(token)
os.waitpid(os.posix_spawn(sys.executable, kid, env), 0)
print(env == before)
"""


def test_posix_spawn_children_name_the_call(sandbox: Sandbox, ref_minor: tuple[int, int]) -> None:
    """os.posix_spawn(p) (subprocess's path for most spawns on 3.13+) hands the call in
    effect to the child through a copy of its env; the caller's mapping is untouched."""
    sandbox.write("spawn.py", _POSIX_SPAWN)
    env = dict(sandbox.env, PATH=f"{Path(sandbox.bluepython).parent}:{sandbox.env.get('PATH', '')}")
    res = sandbox.bp("spawn.py", env=env)
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout.decode().split() == ["True"]
    assert res.stderr.decode().split() == ([] if ref_minor >= (3, 13) else ["TypeError"])
    procs = list(sandbox.processes().values())
    (root,) = [evs for evs in procs if evs[0]["event"]["parent"] is None]
    call_id = next(e["event"]["context"]["mcp"]["call_id"] for e in named(root, "python_process_spawn"))
    kids = [evs[0]["event"]["parent"] for evs in procs if evs is not root]
    in_call = 4 if ref_minor >= (3, 13) else 3
    links = [(k["via"], (k.get("call") or {}).get("call_id")) for k in kids]
    assert links.count(("exec", call_id)) == in_call, links
    assert sum(1 for k in kids if not k.get("call")) == 1
    assert "BLUEPYTHON_PARENT_CALL" not in json.dumps([attrs(e) for e in named(root, "python_process_spawn")])


def test_children_name_the_call_that_started_them(sandbox: Sandbox, mcp1: McpVenv) -> None:
    sandbox.write("tree.py", _TREE)
    res = sandbox.run([mcp1.bluepython, "tree.py"])
    assert res.returncode == 0, res.stderr.decode()
    call_id = res.stdout.decode().strip()
    procs = list(sandbox.processes().values())
    root = next(
        evs for evs in procs
        if evs[0]["event"]["python_argv"][1:] == ["tree.py"] and evs[0]["event"]["parent"] is None
    )
    root_uuid = root[0]["event"]["meta"]["uuid"]

    def parent(evs: list[dict]) -> dict:
        return evs[0]["event"]["parent"] or {}

    children = [evs for evs in procs if parent(evs).get("uuid") == root_uuid]
    calls = [(parent(evs).get("via"), (parent(evs).get("call") or {}).get("call_id")) for evs in children]
    # subprocess in the call, the multiprocessing resource tracker and spawn
    # child (started through fork_exec in the call), the fork child, and
    # subprocess after the call: only the last names no call.
    assert calls.count(("exec", call_id)) == 3, calls
    assert calls.count(("fork", call_id)) == 1, calls
    assert calls.count(("exec", None)) == 1, calls
    for evs in children:
        call = parent(evs).get("call")
        if call:
            assert call == {"call_id": call_id, "session_id": "s-1", "request_id": 7,
                            "method": "tools/call", "target": "spawner", "transport": "stdio",
                            "server_name": "srv"}
    # multiprocessing's spawn raises no audit event on 3.11: reported from fork_exec, in the call.
    spawns = [e for e in named(root, "python_process_spawn")
              if attrs(e)["via"] == "_posixsubprocess.fork_exec"]
    assert len(spawns) == 2 and all(e["event"]["context"]["mcp"]["call_id"] == call_id for e in spawns)
    # The workers' writes: the fork child still runs in the call; the spawn
    # child is linked through its sensor_startup.
    for evs in children:
        for e in named(evs, "python_file_open"):
            if str(attrs(e)["path"]).startswith("out-"):
                expected = "call" if parent(evs)["via"] == "fork" else "startup"
                assert e["event"]["context"]["scope"] == expected, e
    # Grandchildren (each worker's subprocess) link to their worker; the fork
    # worker still runs in the call (it inherited the forking thread's
    # context), so its child names the call too; the spawn worker's does not.
    def wrote_out(evs: list[dict]) -> bool:
        return any(str(attrs(e).get("path", "")).startswith("out-") for e in named(evs, "python_file_open"))

    workers = {evs[0]["event"]["meta"]["uuid"]: parent(evs)["via"] for evs in children if wrote_out(evs)}
    grandchildren = [evs for evs in procs if parent(evs).get("uuid") in workers]
    assert sorted((workers[parent(evs)["uuid"]], (parent(evs).get("call") or {}).get("call_id"))
                  for evs in grandchildren) == [("exec", None), ("fork", call_id)]


class _TagHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = self.path.strip("/").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _mentions(e: dict, tag: str) -> bool:
    a = attrs(e)
    text = json.dumps([a.get("argv"), a.get("path"), a.get("target"), a.get("url"), a.get("source")])
    return tag in text


def test_concurrent_calls_each_side_effect_attributed_to_its_call(sandbox: Sandbox, mcp1: McpVenv) -> None:
    """20 concurrent Streamable HTTP calls of mixed tools (git, files, an HTTP fetch from a
    loopback server, code from a string, a multiprocessing worker): every side effect is
    attributed to exactly the call that caused it; none is missing."""
    calls = 20
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TagHandler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    work = sandbox.root / "work-files"
    work.mkdir()
    server = [mcp1.bluepython, str(FIXTURES / "side_effects" / "server.py")]
    try:
        with serve(lambda port: [*server, str(port), str(work)], sandbox.env, sandbox.cwd,
                   sandbox.root / "server.log") as served:
            res = sandbox.run([mcp1.python, str(FIXTURES / "side_effects" / "client.py"),
                               served.url, str(web.server_port), str(calls)])
    finally:
        web.shutdown()
    assert res.returncode == 0, res.stderr.decode()[-3000:]
    results = json.loads(res.stdout)
    assert len(results) == calls and not any(r["error"] for r in results.values()), results

    procs = list(sandbox.processes().values())
    server = next(evs for evs in procs if evs[0]["event"]["python_argv"][1].endswith("server.py"))
    check_stream(server)
    requests = {
        attrs(e)["message"]["params"]["arguments"]["tag"]: (attrs(e)["session_id"], attrs(e)["id"])
        for e in named(server, "python_mcp_event")
        if attrs(e)["event"] == "server_received_request" and attrs(e)["method"] == "tools/call"
    }
    assert sorted(requests) == sorted(results)
    by_call = {v: k for k, v in requests.items()}
    effects = [e for e in server if e["event"]["meta"]["name"].startswith(
        ("python_process_", "python_file_", "python_net_", "python_code_"))]

    # Zero misattributed: an effect that names a tag belongs to that tag's call, and every
    # effect inside a call belongs to a call of a tool that does such things.
    for e in effects:
        mcp = e["event"]["context"].get("mcp")
        tags = [t for t in requests if _mentions(e, t)]
        if tags:
            assert len(tags) == 1 and mcp is not None, e
            assert (mcp["session_id"], mcp["request_id"]) == requests[tags[0]], e
            assert mcp["target"] == results[tags[0]]["tool"] and mcp["method"] == "tools/call", e
        if mcp is not None:
            tag = by_call[(mcp["session_id"], mcp["request_id"])]
            tool = results[tag]["tool"]
            name = e["event"]["meta"]["name"]
            if name.startswith("python_net_"):
                assert tool == "fetch" and attrs(e).get("port") in (None, web.server_port), e
            elif name == "python_process_spawn":
                assert tool in ("run_git", "worker"), e
            elif name.startswith("python_file_"):
                assert tool in ("file_io", "worker"), e
            elif name == "python_code_dynamic":
                assert tool in ("run_code", "worker"), e

    # Zero missing: each call's own effects are there.
    def effects_of(tag: str) -> list[dict]:
        def call_of(e: dict) -> tuple:
            mcp = e["event"]["context"].get("mcp") or {}
            return mcp.get("session_id"), mcp.get("request_id")

        return [e for e in effects if call_of(e) == requests[tag]]

    def started_by(evs: list[dict]) -> tuple:
        call = (evs[0]["event"]["parent"] or {}).get("call") or {}
        return call.get("session_id"), call.get("request_id")

    workers = {started_by(evs): evs for evs in procs if evs is not server}
    for tag, result in results.items():
        mine = effects_of(tag)
        kinds = {(e["event"]["meta"]["name"], attrs(e)["via"]) for e in mine if _mentions(e, tag)}
        tool = result["tool"]
        if tool == "run_git":
            assert ("python_process_spawn", "subprocess.Popen") in kinds, (tag, mine)
        elif tool == "file_io":
            opens = [attrs(e)["access"] for e in mine if e["event"]["meta"]["name"] == "python_file_open"]
            assert opens == ["write", "read"], (tag, mine)
        elif tool == "fetch":
            # reported by the HTTP hooks (active in an MCP server), with its status
            assert ("python_net_request", "urllib") in kinds, (tag, mine)
            [got] = [attrs(e) for e in mine if e["event"]["meta"]["name"] == "python_net_request"]
            assert got["status"] == 200 and got["method"] == "GET", got
            assert any(e["event"]["meta"]["name"] == "python_net_connect" for e in mine), (tag, mine)
        elif tool == "run_code":
            assert ("python_code_dynamic", "compile") in kinds, (tag, mine)
        else:  # worker: spawned in the call; the child names the call and writes the file
            assert any(attrs(e)["via"] == "_posixsubprocess.fork_exec" for e in mine), (tag, mine)
            child = workers[requests[tag]]  # the one process started by this call
            assert any(str(attrs(e).get("path", "")).endswith(f"{tag}.worker")
                       for e in named(child, "python_file_open")), tag


_FOLDING = r"""
import mcp.types
import _bluepython
open("f.txt", "w").close()
token = _bluepython.enter_mcp_call("s-1", 3, "tools/call", "reader", "stdio", "srv")
for _ in range(5):
    open("f.txt").close()
open("g.txt", "w").close()
_bluepython.exit_call(token)
for _ in range(3):
    open("f.txt").close()
_bluepython.mark_serving()  # what the hooks do when the first MCP session opens
open("f.txt").close()
"""


def test_repeated_identical_events_in_a_call_are_folded(sandbox: Sandbox, mcp1: McpVenv) -> None:
    sandbox.write("fold.py", _FOLDING)
    res = sandbox.run([mcp1.bluepython, "fold.py"])
    assert res.returncode == 0, res.stderr.decode()
    events = sandbox.events()
    check_stream(events)
    opens = named(events, "python_file_open")
    reads = [(e["event"]["context"]["scope"], attrs(e).get("repeated")) for e in opens
             if attrs(e)["path"] == "f.txt" and attrs(e)["access"] == "read"]
    # In the call: the first read, then its 4 repeats counted when the call ended;
    # outside any call nothing is folded; once a session opened, outside calls is "background".
    assert reads == [("call", None), ("call", 4), ("startup", None), ("startup", None), ("startup", None),
                     ("background", None)]
    writes = [attrs(e).get("repeated") for e in opens if attrs(e)["path"] == "g.txt"]
    assert writes == [None]


def test_include_and_exclude_patterns(sandbox: Sandbox) -> None:
    sandbox.write("fnc.py", _FILES_NET_CODE)
    sandbox.write("cfg.json", json.dumps({
        "files": {"exclude": ["*/a.txt*"]},
        "network": {"include": ["localhost"]},
        "code": {"exclude": ["<dyn>"]},
    }))
    res = sandbox.bp("run", "--config", "cfg.json", "--", "fnc.py")
    assert res.returncode == 0, res.stderr.decode()
    events = sandbox.events()
    files = _effects(events, "python_file_")
    assert not [a for a in files if "/a.txt" in str(a.get("path")) + str(a.get("target"))]
    assert any(str(a.get("path")).endswith("/fresh_module.py") for a in files)  # not excluded
    net = _effects(events, "python_net_")
    assert net and all(a.get("host") == "localhost" for a in net), net
    code = _effects(events, "python_code_")
    assert not [a for a in code if a.get("filename") == "<dyn>"]
    assert any(a.get("source") == "z = 40 + 2" for a in code)


_ASGI = r"""
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    with open("hit.txt", "a") as f:  # a side effect in the worker process
        f.write("hit\n")
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})
"""


def _serve_and_hit(sandbox: Sandbox, label: str, argv_for: Callable[[int], list[str]], hits: int = 4) -> None:
    """Starts a worker-manager server on a free port, GETs / `hits` times, stops it."""
    with serve(argv_for, sandbox.env, sandbox.cwd, sandbox.root / f"{label}.log") as served:
        for _ in range(hits):
            with urllib.request.urlopen(served.at("/"), timeout=10) as response:
                assert response.read() == b"ok"


def test_uvicorn_workers_run_instrumented(sandbox: Sandbox, mcp1: McpVenv) -> None:
    """A worker manager (uvicorn --workers) starts its workers with sys.executable: they run
    under bluepython, linked to the manager, and report their own side effects."""
    sandbox.write("asgi_app.py", _ASGI)
    _serve_and_hit(sandbox, "uvicorn", lambda port: [
        mcp1.bluepython, "-m", "uvicorn", "asgi_app:app", "--workers", "2", "--port", str(port),
        "--log-level", "warning"])
    procs = list(sandbox.processes().values())
    manager = next(evs for evs in procs if evs[0]["event"]["parent"] is None)
    manager_uuid = manager[0]["event"]["meta"]["uuid"]
    workers = [evs for evs in procs if (evs[0]["event"]["parent"] or {}).get("uuid") == manager_uuid
               and any(attrs(e).get("path") == "hit.txt" for e in named(evs, "python_file_open"))]
    hits = sum(1 for evs in workers for e in named(evs, "python_file_open")
               if attrs(e).get("path") == "hit.txt")
    assert workers and hits == 4, [evs[0]["event"]["python_argv"] for evs in procs]
    for evs in workers:
        assert evs[0]["event"]["parent"]["pid"] == manager[0]["event"]["context"]["process"]["pid"]


_MP_SPAWN = r"""
import multiprocessing as mp

def work():
    open("from-worker.txt", "w").close()

if __name__ == "__main__":
    p = mp.get_context("spawn").Process(target=work)
    p.start()
    p.join()
"""


def test_multiprocessing_spawn_is_reported_without_mcp(sandbox: Sandbox) -> None:
    """No audit event announces a multiprocessing spawn on 3.11-3.13: the native fork_exec
    wrapper reports it, in any process (no MCP hooks needed)."""
    sandbox.write("mp.py", _MP_SPAWN)
    res = sandbox.bp("mp.py")
    assert res.returncode == 0, res.stderr.decode()
    procs = list(sandbox.processes().values())
    root = next(evs for evs in procs if evs[0]["event"]["parent"] is None)
    spawns = attrs_of(root, "python_process_spawn")
    # the resource tracker and the worker
    assert [a["via"] for a in spawns] == ["_posixsubprocess.fork_exec"] * 2, spawns
    assert any("spawn_main" in " ".join(map(str, a["argv"])) for a in spawns)
    worker = next(evs for evs in procs if any(attrs(e).get("path") == "from-worker.txt"
                                              for e in named(evs, "python_file_open")))
    assert worker[0]["event"]["parent"]["uuid"] == root[0]["event"]["meta"]["uuid"]


def test_fork_exec_wrapper_per_version(sandbox: Sandbox, ref_minor: tuple[int, int]) -> None:
    """Where subprocess finds fork_exec: 3.11+ keeps its own reference (subprocess._fork_exec),
    replaced by the wrapper too; 3.10 looks it up on _posixsubprocess at each spawn."""
    prog = (
        "import _posixsubprocess, subprocess\n"
        "ours = lambda f: 'observed by bluepython' in (f.__doc__ or '')\n"
        "ref = getattr(subprocess, '_fork_exec', None)\n"
        "print(ours(_posixsubprocess.fork_exec), None if ref is None else ours(ref))\n"
        "subprocess.run(['true'], check=True)\n"
    )
    res = sandbox.bp("-c", prog)
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout.decode().split() == (["True", "None"] if ref_minor < (3, 11) else ["True", "True"])
    # The spawn itself is announced by subprocess.Popen's audit event on every version.
    (root,) = [evs for evs in sandbox.processes().values() if evs[0]["event"]["parent"] is None]
    assert [a["via"] for a in attrs_of(root, "python_process_spawn")] == ["subprocess.Popen"]


_FORKSERVER = r"""
import multiprocessing as mp
import mcp.types  # bluepython's MCP hooks are applied (what a server does first)
import _bluepython

def work(path):
    with open(path, "w") as f:
        f.write("from a forkserver worker")

def start(ctx, path):
    p = ctx.Process(target=work, args=(path,))
    p.start()
    p.join()
    assert p.exitcode == 0

if __name__ == "__main__":
    ctx = mp.get_context("forkserver")
    ids = []
    for n, target in ((1, "first"), (2, "second")):
        token = _bluepython.enter_mcp_call("s-1", n, "tools/call", target, "stdio", "srv")
        ids.append(_bluepython.current_call()["call_id"])
        start(ctx, f"out-{n}.txt")
        _bluepython.exit_call(token)
    start(ctx, "out-3.txt")  # outside any call
    print(" ".join(ids))
"""


def test_forkserver_workers_link_to_the_process_and_call_that_asked(sandbox: Sandbox, mcp1: McpVenv) -> None:
    """A forkserver worker is forked by the fork server, started once for all calls: its
    python_process_link names the requesting process and the call each worker was for."""
    sandbox.write("fs.py", _FORKSERVER)
    res = sandbox.run([mcp1.bluepython, "fs.py"])
    assert res.returncode == 0, res.stderr.decode()
    first, second = res.stdout.decode().split()
    procs = list(sandbox.processes().values())
    root = next(evs for evs in procs if evs[0]["event"]["parent"] is None)
    root_pid = root[0]["event"]["context"]["process"]["pid"]
    root_uuid = root[0]["event"]["meta"]["uuid"]

    def wrote(evs: list[dict]) -> str | None:
        paths = [attrs(e)["path"] for e in named(evs, "python_file_open")
                 if str(attrs(e)["path"]).startswith("out-")]
        return paths[0] if paths else None

    workers = {wrote(evs): evs for evs in procs if wrote(evs)}
    assert sorted(workers) == ["out-1.txt", "out-2.txt", "out-3.txt"], [evs[0]["event"]["python_argv"]
                                                                        for evs in procs]
    expected = {"out-1.txt": first, "out-2.txt": second, "out-3.txt": None}
    for path, evs in workers.items():
        # forked by the fork server, not by the requester
        assert evs[0]["event"]["parent"]["via"] == "fork"
        assert evs[0]["event"]["parent"]["pid"] != root_pid
        links = attrs_of(evs, "python_process_link")
        assert len(links) == 1, (path, links)
        assert links[0]["via"] == "multiprocessing.forkserver"
        assert links[0]["parent"]["pid"] == root_pid and links[0]["parent"]["uuid"] == root_uuid
        assert (links[0]["parent"].get("call") or {}).get("call_id") == expected[path], (path, links)
    # The fork server itself and spawn-style children are linked at start-up: no link events.
    assert not [e for evs in procs if evs not in workers.values() for e in named(evs, "python_process_link")]


_WSGI = r"""
def app(environ, start_response):
    with open("hit.txt", "a") as f:
        f.write("hit\n")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"""


def test_gunicorn_workers_run_instrumented(sandbox: Sandbox, mcp1: McpVenv) -> None:
    """gunicorn (a pre-fork worker manager) forks its workers: they carry on under bluepython,
    linked to the arbiter by fork, and report their own side effects."""
    sandbox.write("wsgi_app.py", _WSGI)
    _serve_and_hit(sandbox, "gunicorn", lambda port: [
        mcp1.bluepython, "-m", "gunicorn", "wsgi_app:app", "--workers", "2", "--bind", f"127.0.0.1:{port}",
        "--log-level", "warning"])
    procs = list(sandbox.processes().values())
    arbiter = next(evs for evs in procs if evs[0]["event"]["parent"] is None)
    arbiter_uuid = arbiter[0]["event"]["meta"]["uuid"]
    workers = [evs for evs in procs if (evs[0]["event"]["parent"] or {}).get("uuid") == arbiter_uuid]
    assert len(workers) >= 2, [evs[0]["event"] for evs in procs]
    for evs in workers:
        assert evs[0]["event"]["parent"]["via"] == "fork"
        assert evs[-1]["event"]["meta"]["name"] == "sensor_shutdown", evs[-1]
    hits = sum(1 for evs in workers for e in named(evs, "python_file_open")
               if attrs(e).get("path") == "hit.txt")
    assert hits == 4
    # the arbiter reports the forks of its workers
    assert len(named(arbiter, "python_process_fork")) >= 2


# App code that runs while bluepython encodes an event (str() of an object in
# argv, of an environment key, of a dict key) and changes the container being
# encoded: bluepython must behave as python does, never crash (issue 14,
# defect 2: a list cleared from __str__ made bluepython exit 139).
_HOSTILE = {
    "argv_list_cleared_by_str": r"""
        import os
        class P:
            def __fspath__(self):
                return "/x"
            def __str__(self):
                lst.clear()
                return "/x"
        lst = ["/bin/true", P()] + [str(i) * 3 for i in range(50)]
        os.execv("/bin/true", lst)
    """,
    "nested_list_cleared_by_its_item": r"""
        import subprocess
        class V:
            def __str__(self):
                inner.clear()
                return "v"
        inner = [V()] + [str(i) * 3 for i in range(50)]
        try:
            subprocess.Popen(["/bin/true", {"k": inner}])  # Popen copies the outer list only
        except TypeError:
            pass
    """,
    "execve_env_keys_list_cleared_by_key_str": r"""
        import os
        class K:
            def __init__(self, name):
                self.name = name
            def __fspath__(self):
                return self.name
            def __str__(self):
                env.kept.clear()
                return self.name
        class Env:
            def __init__(self, keys):
                self.kept = keys
            def keys(self):
                return self.kept  # the list itself: PyMapping_Keys hands it over as is
            def values(self):
                return ["v"] * len(self.kept)
            def __getitem__(self, key):
                return "v"
            def __len__(self):
                return len(self.kept)
        env = Env([K("A")] + [K("N%d" % i) for i in range(50)])
        os.execve("/bin/true", ["/bin/true"], env)
    """,
    "popen_env_keys_list_cleared_by_key_str": r"""
        import subprocess
        class K:
            def __init__(self, name):
                self.name = name
            def __fspath__(self):
                return self.name
            def __str__(self):
                env.kept.clear()
                return self.name
        class Env:
            def __init__(self, keys):
                self.kept = keys
                self.pairs = [(k, "v") for k in keys]
            def keys(self):
                return self.kept
            def items(self):
                return self.pairs
        env = Env([K("A")] + [K("N%d" % i) for i in range(50)])
        # A cwd keeps subprocess on fork_exec: 3.13 takes os.posix_spawn otherwise,
        # and posix_spawn wants a real mapping (python itself refuses this one).
        subprocess.run(["/bin/true"], env=env, cwd="/", check=True)
    """,
    "dict_cleared_by_key_str": r"""
        import subprocess
        class K:
            def __str__(self):
                d.clear()
                return "k"
        d = {K(): [str(i) * 5 for i in range(100)], "b": [str(i) * 5 for i in range(100)]}
        try:
            subprocess.Popen(["/bin/true", d])
        except TypeError:
            pass
    """,
    "dict_cleared_by_value_str_that_raises": r"""
        import subprocess
        class V:
            def __str__(self):
                d.clear()
                raise RuntimeError("no text")
        d = {"a": V(), "b": [str(i) * 5 for i in range(100)], "c": [1, 2, 3]}
        try:
            subprocess.Popen(["/bin/true", d])
        except TypeError:
            pass
    """,
    "socket_address_of_hostile_str_and_int": r"""
        import socket
        class Host(str):
            def __str__(self):
                raise RuntimeError("no text")
        class Port(int):
            def __str__(self):
                raise RuntimeError("no text")
            def __index__(self):
                return int(self)
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen()
            with socket.socket() as client:
                client.connect((Host("127.0.0.1"), Port(server.getsockname()[1])))
    """,
}


@pytest.mark.parametrize("label", sorted(_HOSTILE))
def test_app_code_changing_what_is_encoded_does_not_crash(sandbox: Sandbox, label: str) -> None:
    sandbox.write("hostile.py", _HOSTILE[label])
    ref = sandbox.py("hostile.py")
    res = sandbox.bp("hostile.py")
    assert res.returncode == ref.returncode == 0, (res.returncode, res.stderr.decode(), ref.stderr.decode())
    events = sandbox.events()
    assert not named(events, "python_internal_exception")
    if label.startswith("socket"):
        (connect,) = attrs_of(events, "python_net_connect")
        assert connect["host"] == "127.0.0.1"
    else:
        assert attrs_of(events, "python_process_spawn")
