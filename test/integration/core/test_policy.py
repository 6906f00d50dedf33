# SPDX-License-Identifier: Apache-2.0
"""Guardrail policies at run time (docs/policy.md): real servers driven by a
real client, each with a policy that refuses something the server really
does, in observe, enforce and kill modes; bad policies; the import lock; tool
pins; children; concurrent calls."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, TIMEOUT, McpVenv, Sandbox, attrs, attrs_of, chromium, name, read_spool

POLICY_FIXTURES = FIXTURES / "policy"


def write_policy(where: Path, doc: dict[str, Any]) -> Path:
    path = where / "policy.json"
    path.write_text(json.dumps(doc))
    return path


def violations(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [ev for ev in events if name(ev) == "python_policy_violation"]


def calls(
    venv: McpVenv,
    root: Path,
    server_argv: list[str],
    tool_calls: list,
    *,
    policy: Path,
    mode: str | None = None,
    sessions: int = 1,
    concurrent: bool = False,
    extra_env: dict[str, str] | None = None,
) -> tuple[list[dict[str, Any]], subprocess.CompletedProcess[bytes]]:
    """Runs the policy client against `server_argv` started as
    `bluepython run --policy ... -- ARGV` and returns its result lines."""
    env = venv.env(root, **(extra_env or {}))
    if concurrent:
        env["POLICY_TEST_CONCURRENT"] = "1"
    flags = ["run", "--policy", str(policy)] + (["--policy-mode", mode] if mode else []) + ["--"]
    proc = subprocess.run(
        [
            venv.python,
            str(POLICY_FIXTURES / "client.py"),
            str(sessions),
            venv.bluepython,
            json.dumps(flags + server_argv),
            json.dumps(tool_calls),
        ],
        env=env,
        cwd=root,
        capture_output=True,
        timeout=TIMEOUT * 2,
    )
    lines = [json.loads(line) for line in proc.stdout.decode().splitlines() if line.startswith("{")]
    return lines, proc


class Listener:
    """A loopback TCP listener that accepts and closes connections."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Any:
    lst = Listener()
    yield lst
    lst.close()


def fixture_policy(root: Path, port: int) -> dict[str, Any]:
    allowed = root / "allowed"
    allowed.mkdir(exist_ok=True)
    (allowed / "notes.txt").write_text("notes")
    return {
        "version": 1,
        "rules": [
            {
                "id": "read-only-allowed",
                "scope": {"tool": "read"},
                "why": "the read tool serves one folder",
                "files": {"allow": {"read": [f"{allowed}/**"]}},
            },
            {"id": "only-true", "process": {"allow": {"spawn": ["true"]}}},
            {"id": "loopback-port", "network": {"allow": {"connect": [f"127.0.0.1:{port}"]}}},
            {"id": "no-secret", "tools": {"deny": {"call": ["secret"]}}},
        ],
    }


def fixture_calls(root: Path, other_port: int, port: int) -> list:
    return [
        ["read", {"path": str(root / "allowed" / "notes.txt")}],
        ["read", {"path": "/etc/hostname"}],
        ["spawn", {"argv": ["true"]}],
        ["spawn", {"argv": ["ls", "/"]}],
        ["connect", {"host": "127.0.0.1", "port": port}],
        ["connect", {"host": "127.0.0.1", "port": other_port}],
        ["secret", {}],
        ["read", {"path": str(root / "allowed" / "notes.txt")}],
    ]


def test_enforce_refuses_inside_the_tool_and_the_server_goes_on(
    mcp_venv: McpVenv, tmp_path: Path, listener: Listener
) -> None:
    other = Listener()
    try:
        policy = write_policy(tmp_path, fixture_policy(tmp_path, listener.port))
        lines, proc = calls(
            mcp_venv,
            tmp_path,
            [str(POLICY_FIXTURES / "server.py")],
            fixture_calls(tmp_path, other.port, listener.port),
            policy=policy,
        )
    finally:
        other.close()
    assert proc.returncode == 0, proc.stderr.decode()
    outcome = [(line["tool"], line["error"]) for line in lines]
    assert outcome == [
        ("read", False),
        ("read", True),
        ("spawn", False),
        ("spawn", True),
        ("connect", False),
        ("connect", True),
        ("secret", True),
        ("read", False),
    ], lines
    assert lines[0]["text"] == "notes" and lines[-1]["text"] == "notes"
    # The PermissionError raised inside the tool becomes its error result; mcp
    # 1.x puts the exception's text in it, mcp 2.x only "Error executing tool".
    if mcp_venv.line == "mcp1":
        assert "read not allowed by rule read-only-allowed: /etc/hostname" in lines[1]["text"]
        assert "spawn not allowed by rule only-true" in lines[3]["text"]
        assert f"connect not allowed by rule loopback-port: 127.0.0.1:{other.port}" in lines[5]["text"]
    # The denied tool's handler never ran: its result is the policy's message.
    assert "s3cr3t" not in lines[6]["text"] and "call denied by rule no-secret" in lines[6]["text"]

    events = read_spool(tmp_path / "spool")
    found = violations(events)
    by_rule = {attrs(ev)["rule"]: ev for ev in found}
    assert set(by_rule) == {"read-only-allowed", "only-true", "loopback-port", "no-secret"}, found
    for ev in found:
        a = attrs(ev)
        assert a["mode"] == "enforce" and a["action"] == "denied"
        assert ev["event"]["context"]["scope"] == "call"
        assert ev["event"]["context"]["mcp"]["method"] == "tools/call"
    read = attrs(by_rule["read-only-allowed"])
    assert read["subject"] == {"kind": "files", "op": "read", "path": "/etc/hostname", "via": "open"}
    assert read["why"] == "the read tool serves one folder"
    assert read["origin"]["file"].endswith("server.py") and read["origin"]["function"] == "read"
    assert by_rule["read-only-allowed"]["event"]["context"]["mcp"]["target"] == "read"
    assert attrs(by_rule["only-true"])["subject"]["executable"].endswith("/ls")
    # A denied operation is never also reported as one that happened.
    assert not [a for a in attrs_of(events, "python_file_open") if a["path"] == "/etc/hostname"]
    assert not [a for a in attrs_of(events, "python_process_spawn") if "ls" in json.dumps(a.get("argv"))]
    assert not [a for a in attrs_of(events, "python_net_connect") if a.get("port") == other.port]

    # `report` puts them under their calls and per rule, in its totals and in --json.
    spool = str(tmp_path / "spool")
    bp = mcp_venv.bluepython
    report = subprocess.run([bp, "report", spool], capture_output=True, text=True, timeout=TIMEOUT)
    assert report.returncode == 0, report.stderr
    assert "4 policy violations (4 refused)" in report.stdout, report.stdout
    assert "DENIED read /etc/hostname (rule read-only-allowed) in tools/call read" in report.stdout
    assert "why: the read tool serves one folder" in report.stdout
    doc = json.loads(
        subprocess.run(
            [mcp_venv.bluepython, "report", "--json", spool],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=True,
        ).stdout
    )
    server = next(p for p in doc["processes"] if p["policy_violations"])
    assert {v["where"] for v in server["policy_violations"]} == {
        "tools/call read",
        "tools/call spawn",
        "tools/call connect",
        "tools/call secret",
    }
    refused_calls = [c for s in server["sessions"] for c in s["calls"] if c["policy_violations"]]
    assert [c["target"] for c in refused_calls] == ["read", "spawn", "connect", "secret"]
    # The HTML page: a row per violation, a marker on each refused call.
    page = tmp_path / "report.html"
    subprocess.run([mcp_venv.bluepython, "report", "--html", str(page), spool], timeout=TIMEOUT, check=True)
    dom = chromium("--dump-dom", page.as_uri()).stdout.decode()
    assert 'data-ready="1"' in dom
    assert dom.count('<tr class="violation-row"') == 4
    assert dom.count('<div class="violation"') == 4


def test_observe_records_and_changes_nothing(mcp_venv: McpVenv, tmp_path: Path, listener: Listener) -> None:
    other = Listener()
    try:
        policy = write_policy(tmp_path, fixture_policy(tmp_path, listener.port))
        lines, proc = calls(
            mcp_venv,
            tmp_path,
            [str(POLICY_FIXTURES / "server.py")],
            fixture_calls(tmp_path, other.port, listener.port),
            policy=policy,
            mode="observe",
        )
    finally:
        other.close()
    assert proc.returncode == 0, proc.stderr.decode()
    assert [line["error"] for line in lines] == [False] * 8, lines
    assert lines[6]["text"] == "s3cr3t"
    events = read_spool(tmp_path / "spool")
    found = violations(events)
    assert {attrs(ev)["rule"] for ev in found} == {
        "read-only-allowed",
        "only-true",
        "loopback-port",
        "no-secret",
    }
    assert {(attrs(ev)["mode"], attrs(ev)["action"]) for ev in found} == {("observe", "recorded")}
    # What happened is reported as it always is.
    assert [a for a in attrs_of(events, "python_file_open") if a["path"] == "/etc/hostname"]


def test_kill_ends_the_process_after_the_violation_is_on_disk(mcp_venv: McpVenv, tmp_path: Path) -> None:
    policy = write_policy(
        tmp_path,
        {
            "version": 1,
            "mode": "kill",
            "rules": [{"id": "only-true", "process": {"allow": {"spawn": ["true"]}}}],
        },
    )
    lines, _ = calls(
        mcp_venv,
        tmp_path,
        [str(POLICY_FIXTURES / "server.py")],
        [["spawn", {"argv": ["true"]}], ["spawn", {"argv": ["ls"]}], ["secret", {}]],
        policy=policy,
    )
    assert lines[0]["error"] is False
    # The server is gone: the second call gets no result, the third is never answered.
    assert all(line["error"] for line in lines[1:]), lines
    events = read_spool(tmp_path / "spool")
    found = violations(events)
    assert [(attrs(ev)["rule"], attrs(ev)["action"]) for ev in found] == [("only-true", "killed")]
    shutdown = [attrs(ev) for ev in events if name(ev) == "sensor_shutdown"]
    assert shutdown and shutdown[-1]["reason"] == "policy_kill"


def test_concurrent_calls_only_the_denied_one_fails(mcp_venv: McpVenv, tmp_path: Path) -> None:
    policy = write_policy(tmp_path, fixture_policy(tmp_path, 1))
    good = ["read", {"path": str(tmp_path / "allowed" / "notes.txt")}]
    bad = ["read", {"path": "/etc/hostname"}]
    batch = [bad if i % 4 == 0 else good for i in range(20)]
    lines, proc = calls(
        mcp_venv, tmp_path, [str(POLICY_FIXTURES / "server.py")], batch, policy=policy, concurrent=True
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert len(lines) == 20
    for line in lines:
        denied = line["index"] % 4 == 0
        assert line["error"] is denied, line
        assert (line["text"] == "notes") is not denied
    found = violations(read_spool(tmp_path / "spool"))
    assert len(found) == 5
    # Each denial is attributed to its own call.
    assert len({ev["event"]["context"]["mcp"]["call_id"] for ev in found}) == 5


def test_children_enforce_the_inherited_policy(sandbox: Sandbox) -> None:
    policy = write_policy(
        sandbox.root, {"version": 1, "rules": [{"id": "no-etc", "files": {"deny": {"read": ["/etc/**"]}}}]}
    )
    sandbox.write(
        "child.py",
        """
        import os, subprocess, sys
        probe = "open('/etc/hostname').read()"
        for env in (None, {}):  # the environment kept, and scrubbed (the handoff file)
            r = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
            print("child", r.returncode, "PermissionError" in r.stderr)
        pid = os.fork()
        if pid == 0:
            try:
                open("/etc/hostname").read()
                os._exit(0)
            except PermissionError:
                os._exit(7)
        print("fork", os.waitpid(pid, 0)[1] >> 8)
    """,
    )
    r = sandbox.bp("run", "--policy", str(policy), "--", "child.py")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().split("\n")[:3] == ["child 1 True", "child 1 True", "fork 7"]
    pids = {
        ev["event"]["context"]["process"]["pid"]
        for ev in violations(sandbox.events())
        if attrs(ev)["subject"]["path"] == "/etc/hostname"
    }
    assert len(pids) == 3


def test_multiprocessing_spawn_is_checked_against_spawn_rules(sandbox: Sandbox) -> None:
    # multiprocessing's spawn and forkserver start children through
    # _posixsubprocess.fork_exec with no audit event: checked all the same.
    only_true = {"id": "only-true", "process": {"allow": {"spawn": ["true"]}}}
    policy = write_policy(sandbox.root, {"version": 1, "rules": [only_true]})
    sandbox.write(
        "mp.py",
        """
        import multiprocessing, subprocess

        def work():
            pass

        if __name__ == "__main__":
            print("true", subprocess.run(["true"]).returncode)
            for method in ("spawn", "forkserver"):
                try:
                    p = multiprocessing.get_context(method).Process(target=work)
                    p.start()
                    p.join()
                    print(method, "started")
                except PermissionError as exc:
                    print(method, "refused", "only-true" in str(exc))
    """,
    )
    r = sandbox.bp("run", "--policy", str(policy), "--", "mp.py")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.decode().split("\n")[:3] == ["true 0", "spawn refused True", "forkserver refused True"]
    found = [attrs(ev)["subject"] for ev in violations(sandbox.events())]
    assert found, r.stderr.decode()
    assert all(s["via"] == "_posixsubprocess.fork_exec" and s["op"] == "spawn" for s in found), found


def test_a_process_wide_allow_list_lets_the_interpreter_start(mcp1: McpVenv, tmp_path: Path) -> None:
    # site reads pyvenv.cfg and .pth files before the program starts: the
    # interpreter's own start is not the program's doing and is not checked.
    allowed = tmp_path / "data"
    allowed.mkdir()
    (allowed / "ok.txt").write_text("ok")
    rule = {"id": "data-only", "files": {"allow": {"read": [f"{allowed}/**"]}}}
    policy = write_policy(tmp_path, {"version": 1, "rules": [rule]})
    script = tmp_path / "main.py"
    script.write_text(
        "print(open('data/ok.txt').read())\n"
        "try:\n"
        "    open('/etc/hostname').read()\n"
        "except PermissionError as exc:\n"
        "    print('refused', 'data-only' in str(exc))\n"
    )
    r = subprocess.run(
        [mcp1.bluepython, "run", "--policy", str(policy), "--", str(script)],
        cwd=tmp_path,
        env=mcp1.env(tmp_path),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["ok", "refused True"], r.stdout + r.stderr
    found = [attrs(ev)["subject"]["path"] for ev in violations(read_spool(tmp_path / "spool"))]
    assert found == ["/etc/hostname"], found


def test_symlinks_and_dotdot_do_not_escape(sandbox: Sandbox) -> None:
    allowed = sandbox.root / "allowed"
    allowed.mkdir()
    (allowed / "ok.txt").write_text("ok")
    (allowed / "escape").symlink_to("/etc")
    policy = write_policy(
        sandbox.root,
        {
            "version": 1,
            "rules": [
                {
                    "id": "one-folder",
                    "files": {"allow": {"read": [f"{allowed}/**"], "write": [f"{allowed}/**"]}},
                }
            ],
        },
    )
    sandbox.write(
        "probe.py",
        f"""
        import os
        for path in ["{allowed}/ok.txt", "{allowed}/escape/hostname", "{allowed}/../work/probe.py"]:
            try:
                open(path).read()
                print("read", path)
            except PermissionError as e:
                print("denied", path)
        os.symlink("/tmp/bp-policy-outside", "{allowed}/dangling")
        try:
            open("{allowed}/dangling", "w").write("x")
            print("wrote through a dangling link")
        except PermissionError:
            print("denied dangling")
    """,
    )
    r = sandbox.bp("run", "--policy", str(policy), "--", "probe.py")
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode().splitlines()
    assert out == [
        f"read {allowed}/ok.txt",
        f"denied {allowed}/escape/hostname",
        f"denied {allowed}/../work/probe.py",
        "denied dangling",
    ], out
    assert not Path("/tmp/bp-policy-outside").exists()


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {"version": 1, "rules": [{"files": {"allow": {"read": ["/a/[b"]}}}]},
            'key "rules[0].files.allow.read[0]": invalid pattern "/a/[b": unterminated',
        ),
        ({"version": 1, "rulez": []}, 'key "rulez": unknown key'),
        (
            {"version": 1, "rules": [{"network": {"allow": {"connect": "host"}}}]},
            'key "rules[0].network.allow.connect": must be an array, got string',
        ),
        ({"version": 1, "mode": "block"}, 'key "mode": must be one of observe, enforce, kill'),
        ({"rules": []}, 'key "version": is required'),
    ],
)
def test_bad_policies_stop_before_user_code(sandbox: Sandbox, doc: dict[str, Any], message: str) -> None:
    policy = write_policy(sandbox.root, doc)
    marker = sandbox.root / "ran"
    r = sandbox.bp("run", "--policy", str(policy), "--", "-c", f"open({str(marker)!r}, 'w')")
    assert r.returncode == 2
    err = r.stderr.decode()
    assert err.count("\n") == 1 and err.startswith(f"bluepython: policy error: {policy}: "), err
    assert message in err
    assert not marker.exists()


def test_unreadable_huge_and_invalid_policy_files(sandbox: Sandbox) -> None:
    huge = sandbox.root / "huge.json"
    with open(huge, "w") as f:
        f.write('{"version": 1, "description": "')
        f.write("x" * (17 << 20))
        f.write('"}')
    cases = {
        str(sandbox.root / "missing.json"): "cannot read file",
        str(huge): "the limit is",
        str(sandbox.write("bad.json", "{not json")): "invalid JSON at byte",
        str(sandbox.write("twice.json", '{"version": 1, "version": 1}')): 'key "version" appears twice',
    }
    for path, message in cases.items():
        r = sandbox.bp("run", "--policy", path, "--", "-c", "pass")
        assert r.returncode == 2 and message in r.stderr.decode(), (path, r.stderr)
    r = sandbox.bp("run", "--policy-mode", "observe", "--", "-c", "pass")
    assert r.returncode == 2 and "no policy" in r.stderr.decode()
    ok = write_policy(sandbox.root, {"version": 1})
    r = sandbox.bp("run", "--policy", str(ok), "--policy-mode", "loud", "--", "-c", "pass")
    assert r.returncode == 2 and "--policy-mode must be observe, enforce or kill" in r.stderr.decode()
    env = dict(sandbox.env, BLUEPYTHON_POLICY=str(sandbox.root / "missing.json"))
    r = sandbox.bp("-c", "pass", env=env)
    assert r.returncode == 2 and "cannot read file" in r.stderr.decode()


def test_import_lock_refuses_a_changed_module(sandbox: Sandbox) -> None:
    module = sandbox.write("lockedmod.py", "VALUE = 1\n")
    digest = hashlib.sha256(module.read_bytes()).hexdigest()
    doc = {"version": 1, "imports": {"lock": {"lockedmod": digest}, "unlisted": ["*"]}}
    policy = write_policy(sandbox.root, doc)
    program = "import lockedmod; print(lockedmod.VALUE)"
    r = sandbox.bp("run", "--policy", str(policy), "--", "-c", program)
    assert r.returncode == 0 and r.stdout == b"1\n", r.stderr.decode()
    module.write_text("VALUE = 2  # changed on disk\n")
    r = sandbox.bp("run", "--policy", str(policy), "--", "-c", program)
    assert r.returncode == 1
    assert "ImportError: bluepython policy: module lockedmod changed on disk" in r.stderr.decode()
    found = [
        attrs(ev) for ev in violations(sandbox.events()) if attrs(ev)["subject"].get("module") == "lockedmod"
    ]
    assert found and found[-1]["rule"] == "imports.lock" and found[-1]["action"] == "denied"
    assert found[-1]["subject"]["sha256"] == hashlib.sha256(module.read_bytes()).hexdigest()
    r = sandbox.bp("run", "--policy", str(policy), "--policy-mode", "observe", "--", "-c", program)
    assert r.returncode == 0 and r.stdout == b"2\n"


def test_import_lock_refuses_a_module_not_in_it(sandbox: Sandbox) -> None:
    sandbox.write("stranger.py", "X = 1\n")
    policy = write_policy(
        sandbox.root, {"version": 1, "imports": {"lock": {}, "unlisted": ["encodings*", "json*"]}}
    )
    r = sandbox.bp("run", "--policy", str(policy), "--", "-c", "import json\nimport stranger")
    assert r.returncode == 1
    assert "module stranger is not in the import lock" in r.stderr.decode()


def test_a_tool_whose_definition_changed_is_refused(mcp_venv: McpVenv, tmp_path: Path) -> None:
    # What the definition's digest is: a first run with a wrong pin says it.
    policy = write_policy(
        tmp_path, {"version": 1, "tool_pins": {"mode": "observe", "pins": {"describe": "0" * 64}}}
    )
    lines, _ = calls(
        mcp_venv, tmp_path, [str(POLICY_FIXTURES / "server.py")], [["describe", {}]], policy=policy
    )
    assert lines[0]["error"] is False
    seen = [attrs(ev) for ev in violations(read_spool(tmp_path / "spool"))]
    assert len(seen) == 1 and "changed since it was pinned" in seen[0]["reason"]
    digest = seen[0]["subject"]["definition"]
    policy = write_policy(tmp_path, {"version": 1, "tool_pins": {"pins": {"describe": digest}}})
    lines, _ = calls(
        mcp_venv,
        tmp_path,
        [str(POLICY_FIXTURES / "server.py")],
        [["describe", {}], ["secret", {}]],
        policy=policy,
    )
    assert [line["error"] for line in lines] == [False, True]  # secret is not pinned
    assert "tool secret is not pinned" in lines[1]["text"]
    lines, _ = calls(
        mcp_venv,
        tmp_path,
        [str(POLICY_FIXTURES / "server.py")],
        [["describe", {}]],
        policy=policy,
        extra_env={"POLICY_TEST_DESCRIPTION": "Now does something else."},
    )
    assert lines[0]["error"] is True and "tool describe changed since it was pinned" in lines[0]["text"]


def low_level_server(venv: McpVenv) -> tuple[list[str], str, dict[str, str]]:
    """(argv, tool, arguments) of the low-level Server fixture of the venv's line."""
    if venv.line == "mcp1":
        return [str(FIXTURES / "mcp_v1" / "server_lowlevel.py")], "echo", {"text": "hi"}
    return [str(FIXTURES / "mcp_v2" / "lowlevel_server.py"), "stdio"], "lookup", {"key": "k"}


def pins(doc: dict[str, str], mode: str | None = None) -> dict[str, Any]:
    return {"version": 1, "tool_pins": {"pins": doc, **({"mode": mode} if mode else {})}}


def test_low_level_server_tools_are_pinned_by_what_they_list(mcp_venv: McpVenv, tmp_path: Path) -> None:
    # A low-level Server has no registry: the pin compares with its tools/list
    # answer. The mcp 1.x fixture takes its description from the environment;
    # the mcp 2.x one changes it after the first listing.
    server, tool, args = low_level_server(mcp_venv)
    listed_call = [["tools/list", {}], [tool, args]]
    policy = write_policy(tmp_path, pins({tool: "0" * 64}, "observe"))
    lines, _ = calls(mcp_venv, tmp_path, server, listed_call, policy=policy)
    assert lines[1]["error"] is False, lines
    seen = [attrs(ev) for ev in violations(read_spool(tmp_path / "spool"))]
    assert len(seen) == 1 and "changed since it was pinned" in seen[0]["reason"], seen
    policy = write_policy(tmp_path, pins({tool: seen[0]["subject"]["definition"]}))
    if mcp_venv.line == "mcp1":
        lines, _ = calls(mcp_venv, tmp_path, server, listed_call, policy=policy)
        assert lines[1]["error"] is False, lines
        lines, _ = calls(
            mcp_venv,
            tmp_path,
            server,
            listed_call,
            policy=policy,
            extra_env={"FIXTURE_DESCRIPTION": "Echoes its text, and your keys."},
        )
        assert lines[1]["error"] is True, lines
        assert f"tool {tool} changed since it was pinned" in lines[1]["text"]
    else:
        lines, _ = calls(mcp_venv, tmp_path, server, listed_call + listed_call, policy=policy)
        assert "secrets" in lines[2]["text"]  # the second listing is the changed one
        assert [line["error"] for line in lines] == [False, False, False, True], lines
        assert f"tool {tool} changed since it was pinned" in lines[3]["text"]


def test_low_level_pins_suggested_and_checked_offline(mcp_venv: McpVenv, tmp_path: Path) -> None:
    # `policy suggest` pins what the low-level server listed; `check` catches a
    # later run whose listing changed.
    server, tool, args = low_level_server(mcp_venv)
    listed_call = [["tools/list", {}], [tool, args]]
    if mcp_venv.line == "mcp1":
        changed_calls, changed_env = listed_call, {"FIXTURE_DESCRIPTION": "Now different."}
    else:
        changed_calls, changed_env = listed_call * 2, {}
    empty = write_policy(tmp_path, {"version": 1, "mode": "observe", "rules": []})
    clean, changed = tmp_path / "clean", tmp_path / "changed"
    clean.mkdir()
    changed.mkdir()
    calls(mcp_venv, clean, server, listed_call, policy=empty)
    calls(mcp_venv, changed, server, changed_calls, policy=empty, extra_env=changed_env)
    bp = mcp_venv.bluepython
    suggest = [bp, "policy", "suggest", str(clean / "spool")]
    suggested = subprocess.run(suggest, capture_output=True, text=True, timeout=TIMEOUT, check=True).stdout
    assert list(json.loads(suggested)["tool_pins"]["pins"]) == [tool], suggested
    (tmp_path / "suggested.json").write_text(suggested)
    check = [bp, "check", "--policy", str(tmp_path / "suggested.json")]
    ok = subprocess.run([*check, str(clean / "spool")], capture_output=True, text=True, timeout=TIMEOUT)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = subprocess.run([*check, str(changed / "spool")], capture_output=True, text=True, timeout=TIMEOUT)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"tool {tool} changed since it was pinned" in bad.stdout


# ---------------------------------------------------------------------------
# Real servers from PyPI (in the mcp1 venv): each really does what its policy
# refuses.


class Page:
    """A loopback HTTP server answering every GET with a small page."""

    def __init__(self) -> None:
        import http.server

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = b"<html><body><p>policy test page</p></body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def real_server(kind: str, root: Path) -> tuple[list[str], list, dict[str, Any], str, Any]:
    """(server argv, calls, policy, rule id, cleanup) for a real server."""
    if kind == "git":
        repo = root / "repo"
        repo.mkdir()
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        return (
            ["-m", "mcp_server_git", "--repository", str(repo)],
            [["git_status", {"repo_path": str(repo)}]],
            {
                "id": "status-runs-nothing",
                "scope": {"tool": "git_status"},
                "process": {"allow": {"spawn": []}},
            },
            "status-runs-nothing",
            None,
        )
    if kind == "time":
        return (
            ["-m", "mcp_server_time", "--local-timezone", "UTC"],
            [["get_current_time", {"timezone": "Europe/Paris"}]],
            {
                "id": "time-reads-nothing",
                "scope": {"tool": "get_current_time"},
                "files": {"allow": {"read": []}},
            },
            "time-reads-nothing",
            None,
        )
    page = Page()
    return (
        ["-m", "mcp_server_fetch", "--ignore-robots-txt", "--allow-private-ips"],
        [["fetch", {"url": f"http://127.0.0.1:{page.port}/"}]],
        {
            "id": "fetch-only-example",
            "scope": {"tool": "fetch"},
            "network": {"allow": {"connect": ["api.example.com:443"]}},
        },
        "fetch-only-example",
        page,
    )


@pytest.mark.parametrize("mode", ["observe", "enforce", "kill"])
@pytest.mark.parametrize("kind", ["git", "time", "fetch"])
def test_real_servers_from_pypi(mcp1: McpVenv, tmp_path: Path, kind: str, mode: str) -> None:
    argv, tool_calls, rule, rule_id, cleanup = real_server(kind, tmp_path)
    try:
        policy = write_policy(tmp_path, {"version": 1, "mode": mode, "rules": [rule]})
        lines, proc = calls(mcp1, tmp_path, argv, [*tool_calls, tool_calls[0]], policy=policy)
    finally:
        if cleanup is not None:
            cleanup.close()
    found = violations(read_spool(tmp_path / "spool"))
    assert found, proc.stderr.decode()[-3000:]
    assert {attrs(ev)["rule"] for ev in found} == {rule_id}
    action = {"observe": "recorded", "enforce": "denied", "kill": "killed"}[mode]
    assert {attrs(ev)["action"] for ev in found} == {action}
    assert all(ev["event"]["context"]["mcp"]["target"] == tool_calls[0][0] for ev in found)
    if mode == "observe":
        assert [line["error"] for line in lines] == [False, False], lines
    elif mode == "enforce":
        # Refused each time, and the server went on answering.
        assert [line["error"] for line in lines] == [True, True], lines
        if kind != "fetch":  # fetch words its own error (httpx wraps the PermissionError)
            assert all("bluepython policy" in line["text"] for line in lines), lines
    else:
        assert len(found) == 1
        assert all(line["error"] for line in lines), lines
