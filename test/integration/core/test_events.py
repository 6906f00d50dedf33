# SPDX-License-Identifier: Apache-2.0
"""The spool's contents: one strict NDJSON file per process, each starting with
sensor_startup and ending with sensor_shutdown, every line in the envelope."""

from __future__ import annotations

import json
import os
import socket
import stat
from datetime import datetime, timezone
from typing import Any

import pytest
from conftest import (
    UUID,
    Sandbox,
    attrs,
    check_envelope,
    check_stream,
    name,
    named,
    parse_ndjson,
)

EMIT_THREE = (
    "import _bluepython, json, os, sys\n"
    "for i in range(3):\n"
    "    assert _bluepython.emit('custom', {'i': i, 'who': 'app'}) is True\n"
    "print(json.dumps({'pid': os.getpid(), 'executable': sys.executable}))\n"
)


def _checked_run(sandbox: Sandbox, prog: str, stdout: bytes | None = None) -> list[dict[str, Any]]:
    """Runs `prog` under bluepython (imports not recorded): it must succeed, and
    print `stdout` if given. Returns its events, checked as one whole stream."""
    res = sandbox.bp("-c", prog, env=dict(sandbox.env, BLUEPYTHON_DISABLE="imports"))
    assert res.returncode == 0, res.stderr
    if stdout is not None:
        assert res.stdout == stdout
    events = sandbox.events()
    check_stream(events)
    return events


def test_startup_and_shutdown_frame_the_file(sandbox: Sandbox, ref_version: dict) -> None:
    res = sandbox.bp("-c", EMIT_THREE, "arg1")
    assert res.returncode == 0, res.stderr
    assert res.stderr == b""
    out = json.loads(res.stdout)

    files = sandbox.files()
    assert len(files) == 1
    f = files[0]
    assert f.pid == out["pid"] and f.seq == 0
    assert f.path.name == f"python-bluepython-{f.pid}-{f.start_ms}-0.ndjson"
    started = datetime.strptime(f.events[0]["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert f.start_ms <= started.timestamp() * 1000 + 1, "the name's ms is the process start, before startup"
    events = f.events
    check_stream(events)

    start = attrs(events[0])
    argv = [sandbox.bluepython, "-c", EMIT_THREE, "arg1"]
    assert start["argv"] == argv
    assert start["python_argv"] == argv
    assert start["executable"] == os.path.realpath(sandbox.bluepython)
    assert start["python"]["version"] == ref_version["version"]
    assert len(start["config_digest"]) == 64 and int(start["config_digest"], 16) >= 0
    assert start["categories"] == ["imports", "mcp", "process", "files", "network", "code"]
    assert start["parent"] is None
    assert start["cwd"] == str(sandbox.cwd)
    assert start["spool_dir"] == str(sandbox.spool)
    assert events[0]["event"]["meta"]["type"] == "sensor_lifecycle"
    assert events[-1]["event"]["meta"]["type"] == "sensor_lifecycle"
    assert {e["event"]["meta"]["component_id"] for e in events} == {socket.gethostname()}

    stop = attrs(events[-1])
    assert stop["reason"] == "exit"
    assert stop["written"] == len(events) - 1
    assert stop["dropped"] == 0 and stop["dropped_queue_full"] == 0 and stop["dropped_spool"] == 0

    custom = named(events, "custom")
    assert [attrs(e) for e in custom] == [{"i": i, "who": "app"} for i in range(3)]
    assert all(e["event"]["meta"]["type"] == "event" for e in custom)


def test_every_event_has_the_envelope(sandbox: Sandbox) -> None:
    res = sandbox.bp("-c", EMIT_THREE)
    assert res.returncode == 0, res.stderr
    pid = json.loads(res.stdout)["pid"]
    events = sandbox.events()
    assert len(events) > 5
    uuids = set()
    for ev in events:
        check_envelope(ev)
        assert ev["event"]["context"]["process"]["pid"] == pid
        assert ev["event"]["meta"]["origin"] == "bluepython"
        uuids.add(ev["event"]["meta"]["uuid"])
        datetime.strptime(ev["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert len(uuids) == 1 and UUID.match(uuids.pop())
    ids = [ev["event"]["meta"]["source_event_id"] for ev in events]
    assert ids == list(range(1, len(events) + 1))


def test_one_file_per_process(sandbox: Sandbox) -> None:
    prog = (
        "import subprocess, sys\n"
        "for _ in range(3):\n"
        "    kid = 'import _bluepython; _bluepython.emit(\"kid\", {})'\n"
        "    subprocess.run([sys.executable, '-c', kid], check=True)\n"
    )
    res = sandbox.bp("-c", prog)
    assert res.returncode == 0, res.stderr
    files = sandbox.files()
    assert len(files) == 4
    assert len({f.pid for f in files}) == 4
    for f in files:
        check_stream(f.events)
        assert {e["event"]["context"]["process"]["pid"] for e in f.events} == {f.pid}
    assert sum(len(named(f.events, "kid")) for f in files) == 3


def test_spool_directory_and_file_modes(sandbox: Sandbox) -> None:
    nested = sandbox.root / "deep" / "er" / "spool"
    env = dict(sandbox.env, BLUEPYTHON_SPOOL_DIR=str(nested))
    # A permissive umask must not loosen the modes.
    res = sandbox.run(["sh", "-c", 'umask 000; exec "$0" "$@"', sandbox.bluepython, "-c", "pass"], env=env)
    assert res.returncode == 0, res.stderr
    for d in (sandbox.root / "deep", sandbox.root / "deep" / "er", nested):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    files = list(nested.iterdir())
    assert files
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


@pytest.mark.parametrize(
    ("args", "files", "mode", "target"),
    [
        (["-c", "pass"], {}, "command", "pass"),
        (["app.py", "x"], {"app.py": "pass\n"}, "file", "app.py"),
        (["-m", "appmod", "x"], {"appmod.py": "pass\n"}, "module", "appmod"),
        (["-"], {}, "stdin", None),
    ],
    ids=["command", "file", "module", "stdin"],
)
def test_python_run_event(
    sandbox: Sandbox, args: list[str], files: dict, mode: str, target: str | None
) -> None:
    for rel, text in files.items():
        sandbox.write(rel, text)
    res = sandbox.bp(*args, input=b"pass\n")
    assert res.returncode == 0, res.stderr
    events = sandbox.events()
    check_stream(events)
    runs = named(events, "python_run")
    assert len(runs) == 1
    run = attrs(runs[0])
    assert run["mode"] == mode
    if mode == "command":
        assert run["target"].rstrip("\n") == target
    elif mode == "file":
        assert run["target"] in (target, str(sandbox.cwd / target))
    else:
        assert run["target"] == target


def test_events_to_stderr_flag(sandbox: Sandbox) -> None:
    res = sandbox.bp(
        "run", "--events-to-stderr", "--", "-c", "import _bluepython; _bluepython.emit('x', {}); print('hi')"
    )
    assert res.returncode == 0
    assert res.stdout == b"hi\n"
    mirrored = parse_ndjson(res.stderr, "stderr")
    on_disk = sandbox.events()
    assert mirrored == on_disk
    assert name(mirrored[0]) == "sensor_startup" and name(mirrored[-1]) == "sensor_shutdown"
    assert named(mirrored, "x")


def test_events_to_stderr_env(sandbox: Sandbox) -> None:
    env = dict(sandbox.env, BLUEPYTHON_EVENTS_TO_STDERR="1", BLUEPYTHON_DISABLE="imports")
    res = sandbox.bp("-c", "print('hi')", env=env)
    assert res.returncode == 0
    assert res.stdout == b"hi\n"
    assert parse_ndjson(res.stderr, "stderr") == sandbox.events()


# ---------------------------------------------------------------------------
# _bluepython.emit with hostile values


HOSTILE = {
    "lone-surrogate": ("'\\ud800'", lambda v: isinstance(v, str)),
    "surrogate-pair-halves": ("'a\\udc80\\udbff z'", lambda v: isinstance(v, str) and v.startswith("a")),
    "nul": ("'a\\x00b'", lambda v: v == "a\x00b"),
    "control-chars": (
        "''.join(map(chr, range(32))) + '\\x7f'",
        lambda v: v == "".join(map(chr, range(32))) + "\x7f",
    ),
    "quotes-backslashes": ("'\"\\\\\\n\\u2028\\u2029'", lambda v: v == '"\\\n\u2028\u2029'),
    "invalid-utf8-bytes": ("b'\\xff\\xfe ok \\xc0\\xaf'", lambda v: isinstance(v, str) and " ok " in v),
    "nan": ("float('nan')", lambda v: v is None or isinstance(v, str)),
    "inf": ("float('inf')", lambda v: v is None or isinstance(v, str)),
    "minus-inf": ("float('-inf')", lambda v: v is None or isinstance(v, str)),
    "huge-int": ("10**100", lambda v: v in (str(10**100), 10**100)),
    "negative-huge-int": ("-(2**64)", lambda v: v in (str(-(2**64)), -(2**64))),
    "deep-list": ("deep(10_000)", lambda v: isinstance(v, list)),
    "deep-dict": ("deepd(10_000)", lambda v: isinstance(v, dict)),
    "five-mib-string": (
        "'x' * (5 << 20)",
        lambda v: (
            isinstance(v, str)
            and len(v) < (5 << 20)
            and "truncated by bluepython; original 5242880 bytes" in v
        ),
    ),
    "self-referencing-list": ("selfref()", lambda v: isinstance(v, list)),
    "object-with-bad-str": ("BadStr()", lambda v: isinstance(v, str)),
    "non-str-keys": ("{1: 'a', None: 'b', (1, 2): 'c'}", lambda v: isinstance(v, dict) and len(v) == 3),
    "surrogate-key": ("{'k\\ud800': 1}", lambda v: isinstance(v, dict) and len(v) == 1),
    "many-items": ("list(range(100_000))", lambda v: isinstance(v, list)),
    "set-and-tuple": ("[{1, 2}, (3, 4), frozenset()]", lambda v: isinstance(v, list)),
}

HOSTILE_PRELUDE = """\
import _bluepython, sys
sys.setrecursionlimit(100_000)
def deep(n):
    v = []
    for _ in range(n):
        v = [v]
    return v
def deepd(n):
    v = {}
    for _ in range(n):
        v = {"k": v}
    return v
def selfref():
    v = [1]
    v.append(v)
    return v
class BadStr:
    def __str__(self):
        raise RuntimeError("no str for you")
    __repr__ = __str__
"""


@pytest.mark.parametrize("label", sorted(HOSTILE))
def test_emit_hostile_value_keeps_spool_strict_json(sandbox: Sandbox, label: str) -> None:
    expr, check = HOSTILE[label]
    prog = HOSTILE_PRELUDE + f"print(_bluepython.emit('custom', {{'v': {expr}, 'marker': 'm'}}))\n"
    env = dict(sandbox.env, BLUEPYTHON_DISABLE="imports")
    res = sandbox.bp("-c", prog, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout == b"True\n"
    assert res.stderr == b""
    events = sandbox.events()  # strict: UTF-8, no NaN, unique keys, no lone surrogates
    check_stream(events)
    custom = named(events, "custom")
    assert len(custom) == 1
    value = attrs(custom[0])
    assert value["marker"] == "m"
    assert check(value["v"]), repr(value["v"])[:500]


def test_emit_all_hostile_values_in_one_event(sandbox: Sandbox) -> None:
    body = ", ".join(f"{label!r}: {expr}" for label, (expr, _) in HOSTILE.items())
    prog = HOSTILE_PRELUDE + f"print(_bluepython.emit('custom', {{{body}}}))\n"
    res = sandbox.bp("-c", prog)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout == b"True\n"
    events = sandbox.events()
    check_stream(events)
    (custom,) = named(events, "custom")
    for label, (_, check) in HOSTILE.items():
        assert check(attrs(custom)[label]), label
    for raw in next(iter(sandbox.spool.glob("*.ndjson"))).read_bytes().splitlines():
        raw.decode("utf-8", errors="strict")


def test_emit_rejects_hostile_event_names(sandbox: Sandbox) -> None:
    """Event names are identifiers: anything else is a ValueError, and nothing is written."""
    prog = (
        "import _bluepython\n"
        "for bad in ['n\\x00a\\ud800me\"\\n', '', 'x' * 129, 'sp ace', 'caf\\xe9']:\n"
        "    try:\n"
        "        _bluepython.emit(bad, {})\n"
        "    except ValueError as e:\n"
        "        print('ValueError', 'invalid event name' in str(e))\n"
        "print(_bluepython.emit('ok.name:x-1', {}))\n"
    )
    events = _checked_run(sandbox, prog, b"ValueError True\n" * 5 + b"True\n")
    lifecycle = ("sensor_startup", "sensor_shutdown", "python_run")
    side_effects = ("python_file_", "python_code_", "python_net_", "python_process_")  # site, .pth files
    assert [name(e) for e in events if name(e) not in lifecycle and not name(e).startswith(side_effects)] == [
        "ok.name:x-1"]


def test_emit_cannot_spoof_the_envelope(sandbox: Sandbox) -> None:
    """Attributes named like envelope members are refused, so meta/context cannot be forged."""
    prog = (
        "import _bluepython\n"
        "for key in ('meta', 'context'):\n"
        "    try:\n"
        "        _bluepython.emit('custom', {key: {'origin': 'evil'}})\n"
        "    except ValueError as e:\n"
        "        print('refused', key in str(e))\n"
        "print(_bluepython.emit('custom', {'ts': 'then', 'origin': 'app'}))\n"
    )
    # (sandbox.events() fails on duplicate keys in one object)
    events = _checked_run(sandbox, prog, b"refused True\nrefused True\nTrue\n")
    custom = [e for e in events if name(e) == "custom"]
    assert len(custom) == 1
    assert custom[0]["event"]["meta"]["origin"] == "bluepython"
    assert custom[0]["event"]["origin"] == "app"



def test_emit_api_errors_are_python_exceptions(sandbox: Sandbox) -> None:
    prog = (
        "import _bluepython\n"
        "for bad in [lambda: _bluepython.emit(1), lambda: _bluepython.emit('x', [1]),"
        " lambda: _bluepython.emit('x', {}, False)]:\n"
        "    try:\n"
        "        bad()\n"
        "    except TypeError:\n"
        "        print('TypeError')\n"
        "print(_bluepython.emit('x'), _bluepython.emit('y', None, actionable=False))\n"
    )
    events = _checked_run(sandbox, prog, b"TypeError\nTypeError\nTypeError\nTrue True\n")
    assert named(events, "x")[0]["event"]["meta"]["type"] == "event"
    assert named(events, "y")[0]["event"]["meta"]["type"] == "nonactionable"


def test_many_events_from_threads_are_all_written(sandbox: Sandbox) -> None:
    prog = (
        "import _bluepython, threading\n"
        "def work(t):\n"
        "    for i in range(5000):\n"
        "        _bluepython.emit('t', {'t': t, 'i': i})\n"
        "ts = [threading.Thread(target=work, args=(t,)) for t in range(4)]\n"
        "[t.start() for t in ts]\n"
        "[t.join() for t in ts]\n"
    )
    events = _checked_run(sandbox, prog)
    seen = sorted((attrs(e)["t"], attrs(e)["i"]) for e in named(events, "t"))
    assert seen == [(t, i) for t in range(4) for i in range(5000)]


def test_bluepython_module_helpers(sandbox: Sandbox) -> None:
    prog = (
        "import _bluepython, json\n"
        "flushed = _bluepython.flush(5.0)  # the file is opened on the first write\n"
        "print(json.dumps([_bluepython.enabled('imports'), _bluepython.enabled('mcp'),"
        " json.loads(_bluepython.config_json())['spool']['dir'], _bluepython.spool_location(),"
        " _bluepython.sensor_uuid(), flushed, _bluepython.__version__]))\n"
    )
    env = dict(sandbox.env, BLUEPYTHON_DISABLE="imports")
    res = sandbox.bp("-c", prog, env=env)
    assert res.returncode == 0, res.stderr
    imports_on, mcp_on, spool_dir, location, uuid, flushed, version = json.loads(res.stdout)
    assert (imports_on, mcp_on) == (False, True)
    assert spool_dir == str(sandbox.spool)
    (f,) = sandbox.files()
    assert location == str(f.path)
    assert uuid == f.events[0]["event"]["meta"]["uuid"]
    assert flushed is True
    assert version == attrs(f.events[0])["bluepython_version"]


def test_mcp_message_encodes_the_event_from_its_parts(sandbox: Sandbox) -> None:
    """_bluepython.mcp_message: the MCP hooks' per-message emit. method and
    error come from the body; None members after server_name are left out;
    the call in effect is stamped; bad arguments are Python exceptions."""
    prog = (
        "import _bluepython\n"
        "m = _bluepython.mcp_message\n"
        "req = {'jsonrpc': '2.0', 'id': 7, 'method': 'tools/call', 'params': {'name': 'add'}}\n"
        "err = {'jsonrpc': '2.0', 'id': 7, 'error': {'code': -32602, 'message': 'bad'}}\n"
        "tool_err = {'jsonrpc': '2.0', 'id': 8, 'result': {'content': [], 'isError': True}}\n"
        "img = {'jsonrpc': '2.0', 'id': 9, 'result': {'content': [{'type': 'image', 'data': 'QUJD' * 10,"
        " 'mimeType': 'image/png'}]}}\n"
        "token = _bluepython.enter_call({'call_id': 'c1', 'method': 'tools/call'})\n"
        "print(m('server_received_request', req, 1, 7, 's1', 'cli', 'srv', None, 'stdio', '2025-06-18',"
        " None, '1.2', None))\n"
        "_bluepython.exit_call(token)\n"
        "m('server_send_response', err, 0, 7, 's1', 'cli', 'srv', 1.5, None, None, 'tools/call', None,"
        " 'oauth-1')\n"
        "n = (None,) * 6\n"
        "m('server_send_response', tool_err, 0, 8, 's1', None, None, *n)\n"
        "m('server_send_response', img, 0, 9, 's1', None, None, *n)\n"
        "for bad in [lambda: m('x'), lambda: m(1, req, 0, 1, None, None, *n, None)]:\n"
        "    try:\n"
        "        bad()\n"
        "    except TypeError:\n"
        "        print('TypeError')\n"
    )
    events = _checked_run(sandbox, prog, b"True\nTypeError\nTypeError\n")
    req, err, tool_err, img = named(events, "python_mcp_event")
    a = attrs(req)
    assert a["event"] == "server_received_request" and a["id"] == 7 and a["source"] == 1
    assert a["message"] == {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "add"}}
    assert (a["method"], a["session_id"], a["client_id"], a["client_name"], a["server_name"]) == (
        "tools/call", "s1", "cli", "cli", "srv")
    assert (a["transport"], a["protocol_version"], a["client_version"]) == ("stdio", "2025-06-18", "1.2")
    assert "error" not in a and "duration_ms" not in a and "oauth_client_id" not in a
    assert req["event"]["context"]["mcp"] == {"call_id": "c1", "method": "tools/call"}
    assert "mcp" not in err["event"]["context"]
    a = attrs(err)
    assert a["error"] == {"type": "-32602", "message": "bad"} and "method" not in a
    assert (a["duration_ms"], a["request_method"], a["oauth_client_id"]) == (1.5, "tools/call", "oauth-1")
    assert "transport" not in a and "client_version" not in a
    a = attrs(tool_err)
    assert a["error"] == {"type": "tool_error"}
    assert a["client_id"] is None and a["server_name"] is None and "client_name" not in a
    content = attrs(img)["message"]["result"]["content"][0]
    assert content["data"] == {"bluepython_omitted": "base64", "base64_chars": 40, "bytes": 30}
    assert "error" not in attrs(img)
