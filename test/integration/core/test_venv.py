# SPDX-License-Identifier: Apache-2.0
"""Virtual environments: a bluepython in a venv's bin/ (symlink or copy), or
outside it with $VIRTUAL_ENV, sees exactly what the venv's python sees."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import Sandbox, attrs, clean_env, make_venv, run, venv_site_packages

PROBE = (
    "import json, os, site, sys\n"
    "print(json.dumps({'prefix': sys.prefix, 'base_prefix': sys.base_prefix, 'exec_prefix': sys.exec_prefix,"
    " 'base_exec_prefix': sys.base_exec_prefix, 'path': sys.path, 'site': site.getsitepackages(),"
    " 'user_site': site.ENABLE_USER_SITE, 'executable': sys.executable,"
    " 'pythonpath': os.environ.get('PYTHONPATH'), 'pythonhome': os.environ.get('PYTHONHOME')}))\n"
)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, ref_python: str, bluepython: str) -> Path:
    where = make_venv(ref_python, tmp_path_factory.mktemp("venv") / "env")
    (where / "bin" / "bluepython-link").symlink_to(bluepython)
    shutil.copy2(bluepython, where / "bin" / "bluepython-copy")
    core = Path(bluepython).parent / "libbluepython-core.so"
    if not core.is_file():
        # An installed bluepython (a wheel's, test/packaging/smoke.sh) is two files: a copy
        # takes its core along, to where the wheel puts it.
        installed = next(Path(bluepython).parent.parent.glob("lib/python3*/site-packages/bluepython_core"))
        shutil.copytree(installed, venv_site_packages(where) / "bluepython_core")
    # A marker distribution so the venv's site-packages is visibly in use.
    (venv_site_packages(where) / "venv_marker.py").write_text("WHERE = 'venv'\n")
    return where


@pytest.fixture
def outside(bluepython: str, tmp_path: Path) -> str:
    """A bluepython outside any venv: the one under test, or, when that one is installed in
    a venv (the wheel smoke run), a symlink to it from a plain folder."""
    exe = Path(bluepython)
    if not any((d / "pyvenv.cfg").is_file() for d in (exe.parent, exe.parent.parent)):
        return bluepython
    link = tmp_path / "outside" / "bluepython"
    link.parent.mkdir()
    link.symlink_to(exe)
    return str(link)


def _probe(argv: list[str], env: dict[str, str], cwd: Path) -> dict:
    res = run([*argv, "-c", PROBE], env=env, cwd=cwd)
    assert res.returncode == 0, res.stderr
    assert res.stderr == b""
    return json.loads(res.stdout)


def _same_view(bp: dict, py: dict) -> None:
    for key in ("prefix", "base_prefix", "exec_prefix", "base_exec_prefix", "path", "site", "user_site"):
        assert bp[key] == py[key], key
    assert bp["pythonpath"] is None and bp["pythonhome"] is None, (
        "bluepython must not set PYTHONPATH/PYTHONHOME"
    )


@pytest.mark.parametrize("name", ["bluepython-link", "bluepython-copy"])
def test_bluepython_inside_venv_bin(sandbox: Sandbox, venv: Path, name: str) -> None:
    py = _probe([str(venv / "bin" / "python")], sandbox.env, sandbox.cwd)
    assert py["prefix"] == str(venv)
    exe = venv / "bin" / name
    bp = _probe([str(exe)], sandbox.env, sandbox.cwd)
    _same_view(bp, py)
    assert bp["executable"] == str(exe)
    events = sandbox.events()
    assert attrs(events[0])["python_argv"][0] == str(exe)


@pytest.mark.parametrize("name", ["bluepython-link", "bluepython-copy"])
def test_bluepython_inside_venv_found_on_path(sandbox: Sandbox, venv: Path, name: str) -> None:
    env = dict(sandbox.env, PATH=f"{venv / 'bin'}{os.pathsep}{sandbox.env.get('PATH', '')}")
    py = _probe(["python"], env, sandbox.cwd)
    bp = _probe([name], env, sandbox.cwd)
    _same_view(bp, py)
    assert bp["executable"] == str(venv / "bin" / name)


def test_bluepython_inside_venv_imports_venv_packages(sandbox: Sandbox, venv: Path) -> None:
    exe = venv / "bin" / "bluepython-link"
    res = sandbox.run([str(exe), "-c", "import venv_marker; print(venv_marker.WHERE, venv_marker.__file__)"])
    assert res.returncode == 0, res.stderr
    where, path = res.stdout.decode().split()
    assert where == "venv" and path.startswith(str(venv))


def test_virtual_env_variable_with_outside_bluepython(sandbox: Sandbox, venv: Path, outside: str) -> None:
    env = dict(sandbox.env, VIRTUAL_ENV=str(venv))
    py = _probe([str(venv / "bin" / "python")], env, sandbox.cwd)
    bp = _probe([outside], env, sandbox.cwd)
    _same_view(bp, py)
    assert bp["executable"] == outside
    env_trailing = dict(sandbox.env, VIRTUAL_ENV=str(venv) + "/")
    assert _probe([outside], env_trailing, sandbox.cwd)["path"] == py["path"]


def test_virtual_env_children_stay_in_the_venv(sandbox: Sandbox, venv: Path, outside: str) -> None:
    env = dict(sandbox.env, VIRTUAL_ENV=str(venv))
    prog = (
        "import subprocess, sys\n"
        "r = subprocess.run([sys.executable, '-c', 'import sys, venv_marker; print(sys.prefix)'],"
        " capture_output=True, text=True)\n"
        "print(sys.executable, r.stdout.strip(), r.returncode)\n"
    )
    res = run([outside, "-c", prog], env=env, cwd=sandbox.cwd)
    assert res.returncode == 0, res.stderr
    exe, child_prefix, rc = res.stdout.decode().split()
    assert exe == outside
    assert child_prefix == str(venv) and rc == "0"


def test_virtual_env_pointing_nowhere_is_ignored(sandbox: Sandbox, ref_python: str) -> None:
    env_plain = clean_env(sandbox.env)
    py = _probe([ref_python], env_plain, sandbox.cwd)
    for bogus in (str(sandbox.root / "no-venv"), str(sandbox.root), ""):
        bp = _probe([sandbox.bluepython], dict(env_plain, VIRTUAL_ENV=bogus), sandbox.cwd)
        _same_view(bp, py)


def test_virtual_env_ignored_by_a_bluepython_inside_another_venv(
    sandbox: Sandbox, venv: Path, ref_python: str, tmp_path: Path
) -> None:
    other = make_venv(ref_python, tmp_path / "other")
    env = dict(sandbox.env, VIRTUAL_ENV=str(other))
    py = _probe([str(venv / "bin" / "python")], env, sandbox.cwd)
    bp = _probe([str(venv / "bin" / "bluepython-link")], env, sandbox.cwd)
    _same_view(bp, py)
    assert bp["prefix"] == str(venv)
