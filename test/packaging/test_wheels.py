# SPDX-License-Identifier: Apache-2.0
"""The wheels in dist/ (packaging/build-wheels.sh): one per supported interpreter, with
true tags, stripped binaries, and an executable that serves its own CPython version
and refuses, with one line and exit status 2, every interpreter it cannot serve.

Run from build/test-venv after the wheels are built:
    build/test-venv/bin/python -m pytest test/packaging/test_wheels.py
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DIST = REPO / "dist"
AUDITWHEEL = REPO / "build" / "packaging-venv" / "bin" / "auditwheel"
TIMEOUT = 120
CORE = "libbluepython-core.so"


def _pythons() -> list[str]:
    out = subprocess.run(["bash", str(REPO / "packaging" / "find-pythons.sh")], capture_output=True,
                         text=True, check=True, timeout=TIMEOUT).stdout
    return out.split()


PYTHONS = _pythons()


def _minor(python: str) -> str:
    return subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                          capture_output=True, text=True, check=True, timeout=TIMEOUT).stdout.strip()


def _tag(python: str) -> str:
    return "cp" + _minor(python).replace(".", "")


def _wheel(tag: str) -> Path:
    found = sorted(DIST.glob(f"bluepython-*-{tag}-{tag}-*.whl"))
    assert len(found) == 1, f"expected one {tag} wheel in {DIST} (packaging/build-wheels.sh): {found}"
    return found[0]


def venv_site(venv: Path) -> Path:
    return next(venv.glob("lib/python3*/site-packages"))


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BLUEPYTHON_", "PYTHON", "PIP_")) and k not in ("VIRTUAL_ENV",)}
    env.update(extra)
    return env


def _run(argv: list[str], **kw) -> subprocess.CompletedProcess[str]:
    kw.setdefault("env", _clean_env())
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, **kw)


def _venv(python: str, where: Path) -> Path:
    _run([python, "-m", "venv", "--without-pip", str(where)]).check_returncode()
    return where


def _install_files(wheel: Path, venv: Path, minor: str, core: bool = True) -> Path:
    """Puts the wheel's executable (and core) where pip would, without pip's tag check:
    what a user gets who copies files between environments."""
    exe = venv / "bin" / "bluepython"
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if name.endswith(".data/scripts/bluepython"):
                exe.write_bytes(z.read(name))
                exe.chmod(0o755)
            elif core and name == f"bluepython_core/{CORE}":
                dest = venv / "lib" / f"python{minor}" / "site-packages" / "bluepython_core" / CORE
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(z.read(name))
    return exe


def _refused(res: subprocess.CompletedProcess[str], *words: str) -> None:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bluepython: "), res.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.mark.parametrize("python", PYTHONS)
def test_one_wheel_per_interpreter_with_true_tags(python: str) -> None:
    tag = _tag(python)
    wheel = _wheel(tag)
    platform = wheel.name[:-len(".whl")].split("-")[-1]
    assert re.fullmatch(r"manylinux_2_\d+_x86_64", platform), wheel.name
    # The glibc baseline in the name is the one the binaries need, as auditwheel reads them.
    shown = _run([str(AUDITWHEEL), "show", str(wheel)])
    assert shown.returncode == 0, shown.stderr
    assert f'"{platform}"' in " ".join(shown.stdout.split()), shown.stdout
    assert platform == "manylinux_2_34_x86_64", "the baseline moved: update docs/deploying.md"
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert any(n.endswith(".data/scripts/bluepython") for n in names)
    assert f"bluepython_core/{CORE}" in names
    assert "Requires-Python: <3.14,>=3.10" in meta or "Requires-Python: >=3.10,<3.14" in meta


@pytest.mark.parametrize("python", PYTHONS)
def test_binaries_are_stripped_and_their_debug_info_kept(python: str, tmp_path: Path) -> None:
    tag = _tag(python)
    with zipfile.ZipFile(_wheel(tag)) as z:
        z.extractall(tmp_path)
    binaries = [*tmp_path.glob("*.data/scripts/bluepython"), tmp_path / "bluepython_core" / CORE]
    for binary in binaries:
        sections = _run(["readelf", "-S", "-W", str(binary)]).stdout
        assert ".debug_info" not in sections and ".symtab" not in sections, binary
        assert ".gnu_debuglink" in sections, binary
        debug = DIST / "debug" / tag / f"{binary.name}.debug"
        assert debug.is_file(), debug
        assert ".debug_info" in _run(["readelf", "-S", "-W", str(debug)]).stdout


@pytest.mark.parametrize("python", PYTHONS)
def test_pip_installs_and_the_executable_serves_the_environment(python: str, tmp_path: Path) -> None:
    minor = _minor(python)
    venv = tmp_path / "env"
    _run([python, "-m", "venv", str(venv)]).check_returncode()
    wheel = str(_wheel(_tag(python)))
    pip = _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index", wheel])
    assert pip.returncode == 0, pip.stderr
    exe = venv / "bin" / "bluepython"
    probe = "import sys; print(sys.executable, sys.prefix, '%d.%d' % sys.version_info[:2])"
    res = _run([str(exe), "-c", probe], env=_clean_env(BLUEPYTHON_SPOOL_DIR=str(tmp_path / "spool")))
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [str(exe), str(venv), minor]
    assert res.stderr == ""
    assert list((tmp_path / "spool").glob("python-*.ndjson"))

    version = _run([str(exe), "version"], env=_clean_env(BLUEPYTHON_SPOOL_DIR=str(tmp_path / "spool")))
    assert version.returncode == 0, version.stderr
    base = _run([python, "-c", "import sys; print(sys.base_prefix)"]).stdout.strip()
    assert f"embedded Python {minor}." in version.stdout
    found_by = rf"\(venv {re.escape(str(venv))}, home "
    library = rf"^libpython {re.escape(base)}/lib/libpython{minor}\.so\.1\.0 "
    assert re.search(library + found_by, version.stdout, re.MULTILINE), version.stdout

    # The package that holds the core names both files.
    show = "import bluepython_core as b; print(b.executable(), b.core())"
    paths = _run([str(venv / "bin" / "python"), "-c", show])
    assert paths.stdout.split() == [str(exe), str(venv_site(venv) / "bluepython_core" / CORE)]


@pytest.mark.parametrize("python", PYTHONS)
def test_pip_refuses_the_wheel_of_another_version(python: str, tmp_path: Path) -> None:
    other = next(p for p in PYTHONS if p != python)
    venv = tmp_path / "env"
    _run([python, "-m", "venv", str(venv)]).check_returncode()
    res = _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-index", str(_wheel(_tag(other)))])
    assert res.returncode != 0
    assert "is not a supported wheel on this platform" in res.stderr


@pytest.mark.parametrize("python", PYTHONS)
def test_the_executable_of_another_version_refuses_to_run(python: str, tmp_path: Path) -> None:
    other = next(p for p in PYTHONS if p != python)
    venv = _venv(python, tmp_path / "env")
    exe = _install_files(_wheel(_tag(other)), venv, _minor(other))
    _refused(_run([str(exe), "-c", "print('ran')"]), f"serves CPython {_minor(other)}",
             f"is CPython {_minor(python)}")


def _pyenv_versions(pattern: str) -> list[str]:
    root = _run(["bash", "-c", 'pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}"']).stdout.strip()
    return sorted(glob.glob(f"{root}/versions/{pattern}/bin/python3.*[0-9]"))


def test_an_interpreter_outside_the_range_finds_no_wheel(tmp_path: Path) -> None:
    older = _pyenv_versions("3.9.*")
    if not older:
        pytest.skip("no CPython 3.9 under pyenv here to try (3.10-3.13 are served)")
    venv = tmp_path / "env"
    _run([older[0], "-m", "venv", str(venv)]).check_returncode()
    res = _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-index", "--find-links", str(DIST),
                "bluepython"])
    assert res.returncode != 0
    assert "No matching distribution found for bluepython" in res.stderr, res.stderr
    # Its files copied in anyway: refused before anything runs.
    exe = _install_files(_wheel(_tag(PYTHONS[0])), venv, _minor(PYTHONS[0]))
    _refused(_run([str(exe), "-c", "print('ran')"]), "is CPython 3.9")


def test_a_build_without_a_shared_libpython_is_refused(tmp_path: Path) -> None:
    """The layout of CPython configured without --enable-shared: a standard library and
    lib/pythonX.Y/config-*/libpythonX.Y.a, but no libpythonX.Y.so."""
    python = PYTHONS[-1]
    minor = _minor(python)
    stdlib = _run([python, "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"]).stdout.strip()
    prefix = tmp_path / "static"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "lib").mkdir()
    (prefix / "lib" / f"python{minor}").symlink_to(stdlib)
    (prefix / "bin" / f"python{minor}").symlink_to(os.path.realpath(python))
    venv = tmp_path / "env"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(f"home = {prefix / 'bin'}\nversion = {minor}.0\n")
    exe = _install_files(_wheel(_tag(python)), venv, minor)
    _refused(_run([str(exe), "-c", "print('ran')"]), "without --enable-shared", f"libpython{minor}.so.1.0")


def test_a_free_threaded_environment_is_refused(tmp_path: Path) -> None:
    """A venv of a free-threaded build keeps its packages in lib/pythonX.Yt."""
    python = PYTHONS[-1]
    minor = _minor(python)
    venv = _venv(python, tmp_path / "env")
    (venv / "lib" / f"python{minor}").rename(venv / "lib" / f"python{minor}t")
    exe = _install_files(_wheel(_tag(python)), venv, minor, core=False)
    _refused(_run([str(exe), "-c", "print('ran')"]), "free-threaded", f"{minor}t")


def test_an_executable_without_its_core_says_so(tmp_path: Path) -> None:
    python = PYTHONS[0]
    venv = _venv(python, tmp_path / "env")
    exe = _install_files(_wheel(_tag(python)), venv, _minor(python), core=False)
    _refused(_run([str(exe), "-c", "print('ran')"]), "core", "reinstall bluepython")
