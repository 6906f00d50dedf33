# SPDX-License-Identifier: Apache-2.0
"""Configuration: a bad config stops bluepython before the program runs (exit
2, one line naming the file and the key); layers are file < env < flags."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import Sandbox, attrs, check_stream, clean_env, named, read_spool

# The program a bad config must never let run.
MARKER_PROG = "open('marker', 'w').write('ran')"

BAD_DOCS = {
    "unknown-key": ('{"bogus": 1}', "bogus"),
    "unknown-nested-key": ('{"imports": {"bogus": true}}', "imports.bogus"),
    "unknown-spool-key": ('{"spool": {"maxfile": 1}}', "spool.maxfile"),
    "wrong-type-string-for-int": ('{"spool": {"max_file_bytes": "big"}}', "spool.max_file_bytes"),
    "wrong-type-float-for-int": ('{"spool": {"max_file_bytes": 5000.5}}', "spool.max_file_bytes"),
    "negative-int": ('{"spool": {"max_total_bytes": -5}}', "spool.max_total_bytes"),
    "int-below-minimum": ('{"spool": {"max_file_bytes": 10}}', "spool.max_file_bytes"),
    "wrong-type-bool": ('{"enable": "yes"}', "enable"),
    "wrong-type-category": ('{"mcp": "on"}', "mcp"),
    "wrong-type-category-enable": ('{"mcp": {"enable": 1}}', "mcp.enable"),
    "spool-not-object": ('{"spool": []}', "spool"),
    "empty-spool-dir": ('{"spool": {"dir": ""}}', "spool.dir"),
    "top-level-array": ("[]", None),
    "invalid-json": ('{"enable": tru', None),
    "trailing-garbage": ('{"enable": true} x', None),
    "empty-file": ("", None),
}


def _assert_rejected(sb: Sandbox, res, path: Path | str, key: str | None) -> None:
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert res.stdout == b""
    err = res.stderr.decode()
    assert err.endswith("\n") and err.count("\n") == 1, f"not exactly one line: {err!r}"
    assert str(path) in err, err
    if key is not None:
        assert f'"{key}"' in err or key in err, err
    assert not (sb.cwd / "marker").exists(), "the program ran despite the bad config"
    assert not sb.spool.exists() or not list(sb.spool.glob("*.ndjson")), "events were written"


@pytest.mark.parametrize("label", sorted(BAD_DOCS))
@pytest.mark.parametrize("how", ["flag", "env", "home"])
def test_bad_config_document(sandbox: Sandbox, label: str, how: str) -> None:
    text, key = BAD_DOCS[label]
    if how == "home":
        path = sandbox.home / ".bluepython" / "config.json"
        path.parent.mkdir(parents=True)
    else:
        path = sandbox.root / "bad.json"
    path.write_text(text)
    if how == "flag":
        res = sandbox.bp("run", "--config", str(path), "--", "-c", MARKER_PROG)
    elif how == "env":
        res = sandbox.bp("-c", MARKER_PROG, env=dict(sandbox.env, BLUEPYTHON_CONFIG=str(path)))
    else:
        res = sandbox.bp("-c", MARKER_PROG)
    _assert_rejected(sandbox, res, path, key)


def _unusable(sb: Sandbox, kind: str) -> Path:
    if kind == "missing":
        return sb.root / "does-not-exist.json"
    if kind == "directory":
        d = sb.root / "conf.d"
        d.mkdir()
        return d
    if kind == "dangling-symlink":
        link = sb.root / "link.json"
        link.symlink_to(sb.root / "gone.json")
        return link
    if kind == "fifo":
        fifo = sb.root / "fifo.json"
        os.mkfifo(fifo)
        return fifo
    if kind == "huge":
        big = sb.root / "huge.json"
        big.write_text('{"debug": false' + " " * (1 << 20) + "}")
        return big
    if kind == "under-a-file":
        f = sb.root / "plain"
        f.write_text("")
        return f / "config.json"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["missing", "directory", "dangling-symlink", "fifo", "huge", "under-a-file"])
@pytest.mark.parametrize("how", ["flag", "env"])
def test_unusable_config_file(sandbox: Sandbox, kind: str, how: str) -> None:
    path = _unusable(sandbox, kind)
    if how == "flag":
        res = sandbox.bp("run", "--config", str(path), "--", "-c", MARKER_PROG)
    else:
        res = sandbox.bp("-c", MARKER_PROG, env=dict(sandbox.env, BLUEPYTHON_CONFIG=str(path)))
    _assert_rejected(sandbox, res, path, None)


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("BLUEPYTHON_ENABLE", "bogus"),
        ("BLUEPYTHON_DISABLE", "imports,nope"),
        ("BLUEPYTHON_EVENTS_TO_STDERR", "maybe"),
        ("BLUEPYTHON_DEBUG", "2"),
        ("BLUEPYTHON_FLUSH_INTERVAL_MS", "abc"),
        ("BLUEPYTHON_FLUSH_INTERVAL_MS", "0"),
    ],
)
def test_bad_environment_variable(sandbox: Sandbox, var: str, value: str) -> None:
    res = sandbox.bp("-c", MARKER_PROG, env=dict(sandbox.env, **{var: value}))
    _assert_rejected(sandbox, res, var, None)


def test_bad_flags_are_rejected_before_running(sandbox: Sandbox) -> None:
    res = sandbox.bp("run", "--enable", "nope", "--", "-c", MARKER_PROG)
    _assert_rejected(sandbox, res, "nope", None)


def _events_in(spool: Path) -> list[dict]:
    return read_spool(spool)


def test_precedence_file_env_flag(sandbox: Sandbox) -> None:
    a, b, c = (sandbox.root / n for n in ("spool-a", "spool-b", "spool-c"))
    cfg = sandbox.root / "cfg.json"
    cfg.write_text(json.dumps({"spool": {"dir": str(a)}}))
    env = clean_env(sandbox.env)
    env["HOME"] = str(sandbox.home)
    prog = "print('ok')"

    res = sandbox.bp("run", "--config", str(cfg), "--", "-c", prog, env=env)
    assert res.returncode == 0, res.stderr
    assert _events_in(a) and not b.exists() and not c.exists()

    res = sandbox.bp(
        "run", "--config", str(cfg), "--", "-c", prog, env=dict(env, BLUEPYTHON_SPOOL_DIR=str(b))
    )
    assert res.returncode == 0, res.stderr
    assert len(_events_in(a)) == len(_events_in(b)) and not c.exists()

    before_a, before_b = len(_events_in(a)), len(_events_in(b))
    res = sandbox.bp(
        "run",
        "--config",
        str(cfg),
        "--spool-dir",
        str(c),
        "--",
        "-c",
        prog,
        env=dict(env, BLUEPYTHON_SPOOL_DIR=str(b)),
    )
    assert res.returncode == 0, res.stderr
    assert len(_events_in(a)) == before_a and len(_events_in(b)) == before_b
    events = _events_in(c)
    check_stream(events)
    assert attrs(events[0])["spool_dir"] == str(c)
    assert attrs(events[0])["config_file"] == str(cfg)


def test_precedence_categories(sandbox: Sandbox) -> None:
    cfg = sandbox.root / "cfg.json"
    cfg.write_text(json.dumps({"imports": False, "network": False}))
    env = dict(sandbox.env, BLUEPYTHON_CONFIG=str(cfg), BLUEPYTHON_ENABLE="imports")
    res = sandbox.bp("run", "--disable", "mcp", "--", "-c", "pass", env=env)
    assert res.returncode == 0, res.stderr
    events = sandbox.events()
    assert attrs(events[0])["categories"] == ["imports", "process", "files", "code"]
    assert named(events, "python_import")


def test_bluerock_compatible_keys(sandbox: Sandbox) -> None:
    cfg = sandbox.root / "bluerock.json"
    cfg.write_text(
        json.dumps(
            {
                "enable": True,
                "mcp": {"enable": True},
                "imports": {"enable": True, "fileslist": True},
                "debug": False,
            }
        )
    )
    res = sandbox.bp("-c", "print('ok')", env=dict(sandbox.env, BLUEPYTHON_CONFIG=str(cfg)))
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"ok\n" and res.stderr == b""
    events = sandbox.events()
    check_stream(events)
    start = attrs(events[0])
    assert "mcp" in start["categories"] and "imports" in start["categories"]
    assert start["config_file"] == str(cfg)
    assert named(events, "python_import")


def test_master_switch_off(sandbox: Sandbox) -> None:
    cfg = sandbox.root / "off.json"
    cfg.write_text(json.dumps({"enable": False}))
    res = sandbox.bp("-c", "import json; print('ok')", env=dict(sandbox.env, BLUEPYTHON_CONFIG=str(cfg)))
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"ok\n"
    events = sandbox.events()
    check_stream(events)
    assert attrs(events[0])["categories"] == []
    assert named(events, "python_import") == []


def test_disable_imports_flag(sandbox: Sandbox) -> None:
    res = sandbox.bp("run", "--disable", "imports", "--", "-c", "import json, csv")
    assert res.returncode == 0, res.stderr
    events = sandbox.events()
    check_stream(events)
    assert "imports" not in attrs(events[0])["categories"]
    assert named(events, "python_import") == []


def test_home_config_is_used(sandbox: Sandbox) -> None:
    spool = sandbox.root / "from-home"
    cfg = sandbox.home / ".bluepython" / "config.json"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(json.dumps({"spool": {"dir": str(spool)}, "imports": False}))
    env = dict(sandbox.env)
    del env["BLUEPYTHON_SPOOL_DIR"]
    res = sandbox.bp("-c", "print('ok')", env=env)
    assert res.returncode == 0, res.stderr
    events = _events_in(spool)
    check_stream(events)
    assert attrs(events[0])["config_file"] == str(cfg)
    assert attrs(events[0])["categories"] == ["mcp", "process", "files", "network", "code"]
    assert not sandbox.spool.exists()


def test_default_spool_is_under_home(sandbox: Sandbox) -> None:
    env = dict(sandbox.env)
    del env["BLUEPYTHON_SPOOL_DIR"]
    res = sandbox.bp("-c", "pass", env=env)
    assert res.returncode == 0, res.stderr
    events = _events_in(sandbox.home / ".bluepython" / "spool")
    check_stream(events)
    assert attrs(events[0])["config_file"] is None


def test_config_digest_tracks_settings(sandbox: Sandbox) -> None:
    def digest(*args: str) -> str:
        res = sandbox.bp(*args, "--", "-c", "pass")
        assert res.returncode == 0, res.stderr
        d = attrs(sandbox.events()[0])["config_digest"]
        for f in sandbox.files():
            f.path.unlink()
        return d

    base = digest("run")
    assert digest("run") == base
    assert digest("run", "--disable", "network") != base


CHILD = (
    "import json, subprocess, sys\n"
    "r = subprocess.run([sys.executable, '-c', 'import _bluepython, json; print(_bluepython.config_json())'],"
    " capture_output=True, text=True, check=True)\n"
    "print(r.stdout, end='')\n"
)


def test_children_inherit_run_flags(sandbox: Sandbox) -> None:
    c = sandbox.root / "spool-c"
    cfg = sandbox.root / "cfg.json"
    cfg.write_text(json.dumps({"limits": {"max_depth": 7}}))
    res = sandbox.bp(
        "run", "--spool-dir", str(c), "--config", str(cfg), "--disable", "network", "--", "-c", CHILD
    )
    assert res.returncode == 0, res.stderr
    child_cfg = json.loads(res.stdout)
    assert child_cfg["spool"]["dir"] == str(c)
    assert child_cfg["limits"]["max_depth"] == 7
    files = sandbox.files(c)
    assert len({f.pid for f in files}) == 2, "the child's file lands in the run --spool-dir too"
    assert not sandbox.spool.exists()
    for evs in sandbox.processes(c).values():
        check_stream(evs)
        assert "network" not in attrs(evs[0])["categories"]


# Spawns on both of subprocess's paths (fork_exec; posix_spawn with
# close_fds=False) and one the patterns keep.
_SPAWNS = (
    "import subprocess\n"
    "subprocess.run(['/bin/true'], check=True)\n"
    "subprocess.run(['/bin/true', 'posix-spawn-path'], close_fds=False, check=True)\n"
    "subprocess.run(['/bin/echo', 'kept'], check=True, capture_output=True)\n"
)


def _spawned_programs(events: list[dict]) -> list[str]:
    spawns = [attrs(e) for e in named(events, "python_process_spawn")]
    return [str(a.get("executable")) for a in spawns] + [str((a.get("argv") or [None])[0]) for a in spawns]


@pytest.mark.parametrize("how", ["flag", "env"])
@pytest.mark.parametrize(
    "patterns", [{"exclude": ["/bin/true"]}, {"include": ["*/echo"]}], ids=["exclude", "include"]
)
def test_process_patterns_filter_every_spawn_path(sandbox: Sandbox, patterns: dict, how: str) -> None:
    # Issue 14, defect 3: a spawn the patterns left out of subprocess.Popen's
    # event was reported anyway by the fork_exec wrapper (unfiltered).
    cfg = sandbox.root / "cfg.json"
    cfg.write_text(json.dumps({"process": patterns}))
    sandbox.write("spawns.py", _SPAWNS)
    if how == "flag":
        res = sandbox.bp("run", "--config", str(cfg), "--", "spawns.py")
    else:
        res = sandbox.bp("spawns.py", env=dict(sandbox.env, BLUEPYTHON_CONFIG=str(cfg)))
    assert res.returncode == 0, res.stderr.decode()
    programs = _spawned_programs(sandbox.events())
    assert "/bin/echo" in programs
    assert "/bin/true" not in programs, programs


# A child with a scrubbed environment (what MCP stdio clients do) finds its
# parent's settings through the handoff file, which the parent publishes only
# once it is about to start a child; on every way of starting one.
_SCRUBBED_CHILD = (
    "import json, os, subprocess, sys\n"
    "handoff = f'/tmp/bluepython-{os.getuid()}/handoff-{os.getpid()}.json'\n"
    "before = os.path.exists(handoff)\n"
    "code = 'import _bluepython; print(_bluepython.config_json())'\n"
    "argv = [sys.executable, '-c', code]\n"
    "env = {'PATH': os.environ['PATH'], 'HOME': os.environ['HOME']}\n"
    "how = sys.argv[1]\n"
    "if how.startswith('popen'):\n"
    "    close = how == 'popen'  # close_fds=False: subprocess's posix_spawn path\n"
    "    r = subprocess.run(argv, env=env, capture_output=True, text=True, check=True, close_fds=close)\n"
    "    out = r.stdout\n"
    "else:\n"
    "    r, w = os.pipe()\n"
    "    if how == 'posix_spawn':\n"
    "        pid = os.posix_spawn(sys.executable, argv, env, file_actions=[(os.POSIX_SPAWN_DUP2, w, 1)])\n"
    "    else:\n"
    "        pid = os.fork()\n"
    "        if pid == 0:\n"
    "            os.dup2(w, 1)\n"
    "            os.execve(sys.executable, argv, env)\n"
    "    os.close(w)\n"
    "    with os.fdopen(r) as f:\n"
    "        out = f.read()\n"
    "    os.waitpid(pid, 0)\n"
    "print(json.dumps({'before': before, 'child': json.loads(out)}))\n"
)


@pytest.mark.parametrize("how", ["popen", "popen-posix-spawn", "posix_spawn", "fork-exec"])
def test_scrubbed_children_find_the_handoff(sandbox: Sandbox, how: str) -> None:
    c = sandbox.root / "spool-c"
    sandbox.write("scrubbed.py", _SCRUBBED_CHILD)
    # Only `run` flags give these settings: a scrubbed child has them only from the handoff.
    res = sandbox.bp(
        "run",
        "--spool-dir",
        str(c),
        "--disable",
        "files,network,code",
        "--",
        "scrubbed.py",
        how,
    )
    assert res.returncode == 0, res.stderr.decode()
    out = json.loads(res.stdout)
    assert out["before"] is False, "no handoff file before the first child"
    assert out["child"]["spool"]["dir"] == str(c)
    assert out["child"]["process"]["enable"] is True
    assert out["child"]["files"]["enable"] is False
    # The child's stream lands in the run --spool-dir too (after os.fork, the
    # forked process has one of its own before it execs).
    procs = sandbox.processes(c)
    assert len(procs) == (3 if how == "fork-exec" else 2)
    roots = [evs[0] for evs in procs.values() if attrs(evs[0])["parent"] is None]
    assert len(roots) == 1
    parent_pid = roots[0]["event"]["context"]["process"]["pid"]
    children = [attrs(evs[0]) for evs in procs.values() if attrs(evs[0])["parent"] is not None]
    assert all(a["parent"]["pid"] == parent_pid for a in children)
    uid = os.getuid()
    assert not Path(f"/tmp/bluepython-{uid}/handoff-{parent_pid}.json").exists(), "retracted at exit"
