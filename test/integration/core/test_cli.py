# SPDX-License-Identifier: Apache-2.0
"""bluepython's own subcommands: version, run, help."""

from __future__ import annotations

import json

import pytest
from conftest import Sandbox, attrs, check_stream, named, read_spool

ARGV_PROG = "import json, sys; print(json.dumps(sys.argv))\n"


def test_version_text(sandbox: Sandbox, ref_version: dict) -> None:
    res = sandbox.bp("version")
    assert res.returncode == 0, res.stderr
    assert res.stderr == b""
    out = res.stdout.decode()
    lines = out.splitlines()
    assert lines[0].startswith("bluepython ")
    assert any(ref_version["version"] in line for line in lines), out
    (enabled,) = [line for line in lines if line.startswith("enabled categories:")]
    for category in ("imports", "mcp", "process", "files", "network", "code"):
        assert category in enabled
    assert not sandbox.spool.exists(), "version must not start a sensor"


def test_version_json(sandbox: Sandbox, ref_version: dict) -> None:
    res = sandbox.bp("version", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["python"] == ref_version["version"]
    assert doc["enabled"] == ["imports", "mcp", "process", "files", "network", "code"]
    assert doc["disabled"] == []
    assert doc["spool_dir"] == str(sandbox.spool)
    assert doc["config_file"] is None
    assert isinstance(doc["bluepython"], str) and doc["bluepython"]
    assert len(doc["config_digest"]) == 64

    res = sandbox.bp("version", "--json", "--disable", "network,code")
    doc = json.loads(res.stdout)
    assert doc["disabled"] == ["network", "code"]


def test_version_matches_sensor_startup(sandbox: Sandbox) -> None:
    doc = json.loads(sandbox.bp("version", "--json").stdout)
    assert sandbox.bp("-c", "pass").returncode == 0
    start = attrs(sandbox.events()[0])
    assert start["bluepython_version"] == doc["bluepython"]
    assert start["config_digest"] == doc["config_digest"]
    assert start["python"]["version"] == doc["python"]


def test_run_with_separator(sandbox: Sandbox) -> None:
    sandbox.write("script.py", ARGV_PROG)
    d = sandbox.root / "D"
    res = sandbox.bp("run", "--spool-dir", str(d), "--", "script.py", "args")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == ["script.py", "args"]
    events = read_spool(d)
    check_stream(events)
    assert attrs(events[0])["python_argv"] == [sandbox.bluepython, "script.py", "args"]
    assert attrs(events[0])["argv"] == [
        sandbox.bluepython,
        "run",
        "--spool-dir",
        str(d),
        "--",
        "script.py",
        "args",
    ]
    assert not sandbox.spool.exists()


def test_run_without_separator(sandbox: Sandbox) -> None:
    sandbox.write("script.py", ARGV_PROG)
    d = sandbox.root / "D"
    res = sandbox.bp("run", "--spool-dir", str(d), "script.py", "--port", "8000")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == ["script.py", "--port", "8000"]
    assert read_spool(d)


def test_run_options_after_the_script_belong_to_the_script(sandbox: Sandbox) -> None:
    sandbox.write("script.py", ARGV_PROG)
    d = sandbox.root / "D"
    res = sandbox.bp("run", "--spool-dir", str(d), "script.py", "--spool-dir", "elsewhere", "--", "x")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == ["script.py", "--spool-dir", "elsewhere", "--", "x"]
    assert read_spool(d)
    assert not (sandbox.cwd / "elsewhere").exists()


def test_run_python_options_after_separator(sandbox: Sandbox) -> None:
    res = sandbox.bp("run", "--", "-c", "import sys; print(sys.argv)", "--spool-dir", "x", "-m", "y")
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"['-c', '--spool-dir', 'x', '-m', 'y']\n"


def test_run_module_and_flags(sandbox: Sandbox) -> None:
    sandbox.write("mod.py", ARGV_PROG)
    res = sandbox.bp("run", "--disable", "imports", "--", "-I", "-m", "mod", "a")
    # -I drops the cwd from sys.path: like python, the module is not found.
    py = sandbox.py("-I", "-m", "mod", "a")
    assert res.returncode == py.returncode == 1
    res = sandbox.bp("run", "--disable", "imports", "--", "-m", "mod", "a")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)[1:] == ["a"]
    events = sandbox.events()
    assert named(events, "python_import") == []


def test_run_without_python_args_reads_stdin(sandbox: Sandbox) -> None:
    res = sandbox.bp("run", "--", input=b"print(6 * 7)\n")
    assert res.returncode == 0, res.stderr
    assert res.stdout == b"42\n"


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--bogus"],
        ["run", "--bogus", "--", "-c", "pass"],
        ["run", "--spool-dir"],
        ["version", "--bogus"],
    ],
    ids=["run-bogus", "run-bogus-with-program", "run-missing-value", "version-bogus"],
)
def test_bad_subcommand_options(sandbox: Sandbox, args: list[str]) -> None:
    res = sandbox.bp(*args, "--", "-c", "open('marker', 'w')") if "--" not in args else sandbox.bp(*args)
    assert res.returncode == 2, (res.returncode, res.stderr)
    err = res.stderr.decode()
    assert err.count("\n") == 1 and err.endswith("\n"), f"not one line: {err!r}"
    assert err.startswith("bluepython"), err
    assert res.stdout == b""
    assert not (sandbox.cwd / "marker").exists()


def test_run_unknown_category(sandbox: Sandbox) -> None:
    res = sandbox.bp("run", "--enable", "nope", "--", "-c", "pass")
    assert res.returncode == 2
    err = res.stderr.decode()
    assert err.count("\n") == 1 and "nope" in err


def test_help(sandbox: Sandbox) -> None:
    res = sandbox.bp("help")
    assert res.returncode == 0, res.stderr
    out = res.stdout.decode()
    assert "run" in out and "version" in out
    assert "bluepython run" in out or "run [options]" in out or "Subcommands" in out, out
    assert not sandbox.spool.exists()


def test_run_help(sandbox: Sandbox) -> None:
    res = sandbox.bp("run", "--help")
    assert res.returncode == 0
    out = res.stdout.decode()
    for flag in ("--config", "--spool-dir", "--enable", "--disable", "--events-to-stderr"):
        assert flag in out


def test_script_named_like_a_subcommand_after_separator(sandbox: Sandbox) -> None:
    sandbox.write("version", ARGV_PROG)
    res = sandbox.bp("run", "--", "version", "x")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == ["version", "x"]
