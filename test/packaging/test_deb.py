# SPDX-License-Identifier: Apache-2.0
"""The Debian package, installed for real.

Takes dist/bluepython_<version>-1_amd64.deb (built by packaging/build-deb.sh; this
test builds nothing), installs it with apt-get, checks the installed bluepython
against Debian's /usr/bin/python3.11, and removes it again. Needs root.

    bash packaging/build-deb.sh
    build/test-venv/bin/python -m pytest test/packaging/test_deb.py
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DIST = REPO / "dist"
PYTHON = "/usr/bin/python3.11"
BLUEPYTHON = "/usr/bin/bluepython"
LIBPYTHON = "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"
TIMEOUT = 300

# Everything the package installs (dpkg -L), directories included.
EXPECTED_PATHS = {
    "/.",
    "/usr",
    "/usr/bin",
    "/usr/bin/bluepython",
    "/usr/lib",
    "/usr/lib/bluepython",
    "/usr/lib/bluepython/libbluepython-core.so",
    "/usr/share",
    "/usr/share/doc",
    "/usr/share/doc/bluepython",
    "/usr/share/doc/bluepython/changelog.Debian.gz",
    "/usr/share/doc/bluepython/copyright",
    "/usr/share/lintian",
    "/usr/share/lintian/overrides",
    "/usr/share/lintian/overrides/bluepython",
    "/usr/share/man",
    "/usr/share/man/man1",
    "/usr/share/man/man1/bluepython.1.gz",
}

# What a program sees of its interpreter; must be the same under both.
PROBE = """
import json, os, sys
print(json.dumps({
    "argv": sys.argv,
    "prefix": sys.prefix,
    "base_prefix": sys.base_prefix,
    "exec_prefix": sys.exec_prefix,
    "path": sys.path,
    "version": sys.version,
    "flags": str(sys.flags),
    "cwd": os.getcwd(),
}))
print("to stderr", file=sys.stderr)
sys.exit(7)
"""


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("timeout", TIMEOUT)
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)


APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


def apt_get(*args: str) -> subprocess.CompletedProcess[str]:
    result = run(["apt-get", *args], cwd=REPO, env=APT_ENV)
    assert result.returncode == 0, f"apt-get {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def status(package: str) -> str:
    """dpkg's status of `package`: "installed", "not-installed", "config-files", ..."""
    out = run(["dpkg-query", "-W", "-f=${db:Status-Status}", package])
    return out.stdout.strip() if out.returncode == 0 else "not-installed"


def clean_env(home: Path, spool: Path) -> dict[str, str]:
    """The machine's environment without anything that configures python or bluepython."""
    dropped = ("VIRTUAL_ENV", "PYTEST_CURRENT_TEST")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BLUEPYTHON_", "PYTHON", "OTEL_")) and k not in dropped
    }
    env.update(HOME=str(home), BLUEPYTHON_SPOOL_DIR=str(spool), PATH="/usr/bin:/bin")
    return env


def read_events(spool: Path) -> list[dict[str, Any]]:
    files = sorted(spool.glob("python-*.ndjson"))
    assert files, f"no spool file in {spool}"
    return [json.loads(line) for f in files for line in f.read_text(encoding="utf-8").splitlines()]


def event_name(ev: dict[str, Any]) -> str:
    return ev["event"]["meta"]["name"]


@pytest.fixture(scope="module")
def deb() -> Path:
    found = sorted(DIST.glob("bluepython_*_amd64.deb"))
    if len(found) != 1:
        pytest.fail(
            f"expected one bluepython_<version>-1_amd64.deb in {DIST}, found {[p.name for p in found]}: "
            "build it first with `bash packaging/build-deb.sh`"
        )
    return found[0]


@pytest.fixture(scope="module")
def installed(deb: Path) -> Iterator[list[str]]:
    """Installs the package; yields `dpkg -L bluepython`. Removes it at the end whatever happened."""
    if os.geteuid() != 0:
        pytest.fail("installing the package needs root (apt-get install)")
    if status("bluepython") != "not-installed":
        pytest.fail(f"bluepython is already installed ({status('bluepython')}); remove it first")
    apt_get("install", "-y", f"./{deb.relative_to(REPO)}")
    try:
        listed = run(["dpkg", "-L", "bluepython"]).stdout.splitlines()
        yield listed
    finally:
        if status("bluepython") != "not-installed":
            run(["apt-get", "remove", "-y", "bluepython"], env=APT_ENV)


def test_installs_what_it_should(installed: list[str], deb: Path) -> None:
    assert status("bluepython") == "installed"
    assert set(installed) == EXPECTED_PATHS
    fields = run(["dpkg-query", "-W", "-f=${Version}\n${Depends}\n${Recommends}", "bluepython"]).stdout
    version, depends, recommends = fields.split("\n")
    assert deb.name == f"bluepython_{version}_amd64.deb"
    names = {dep.split()[0] for dep in depends.split(", ")}
    assert names == {"libc6", "libpython3.11", "python3.11"}, depends
    assert recommends.startswith("libcurl4 "), recommends
    core = Path("/usr/lib/bluepython/libbluepython-core.so")
    assert os.access(BLUEPYTHON, os.X_OK)
    assert core.stat().st_mode & 0o777 == 0o644


def test_runs_code_as_python_does(installed: list[str], tmp_path: Path) -> None:
    env = clean_env(tmp_path, tmp_path / "spool")
    args = ["-c", PROBE, "one", "two words"]
    ref = run([PYTHON, *args], env=env, cwd=tmp_path)
    got = run([BLUEPYTHON, *args], env=env, cwd=tmp_path)
    assert ref.returncode == 7
    assert (got.returncode, got.stdout, got.stderr) == (ref.returncode, ref.stdout, ref.stderr)
    seen = json.loads(got.stdout)
    assert seen["prefix"] == "/usr"
    assert "/usr/lib/python3.11" in seen["path"]


def test_version_names_the_interpreter(installed: list[str], tmp_path: Path) -> None:
    env = clean_env(tmp_path, tmp_path / "spool")
    out = run([BLUEPYTHON, "version"], env=env)
    assert out.returncode == 0, out.stderr
    assert "embedded Python 3.11." in out.stdout
    assert f"libpython {LIBPYTHON} (prefix /usr)" in out.stdout
    doc = json.loads(run([BLUEPYTHON, "version", "--json"], env=env).stdout)
    assert doc["python"].startswith("3.11.")
    assert doc["libpython"] == LIBPYTHON
    assert doc["libpython_found_by"] == "prefix /usr"


def test_events_land_in_the_spool(installed: list[str], tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    out = run([BLUEPYTHON, "-c", "import colorsys; print(colorsys.__file__)"], env=clean_env(tmp_path, spool))
    assert out.returncode == 0, out.stderr
    module_file = out.stdout.strip()
    assert module_file == "/usr/lib/python3.11/colorsys.py"
    events = read_events(spool)
    startup = [ev["event"] for ev in events if event_name(ev) == "sensor_startup"]
    assert len(startup) == 1
    assert startup[0]["python"]["version"].startswith("3.11.")
    assert startup[0]["spool_dir"] == str(spool)
    imports = [ev["event"] for ev in events if event_name(ev) == "python_import"]
    colorsys = [ev for ev in imports if ev["fullname"] == "colorsys"]
    assert len(colorsys) == 1, [ev["fullname"] for ev in imports]
    assert colorsys[0]["file"] == module_file
    assert colorsys[0]["sha256"] == hashlib.sha256(Path(module_file).read_bytes()).hexdigest()
    assert event_name(events[-1]) == "sensor_shutdown"


def test_serves_a_venv(installed: list[str], tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    made = run([PYTHON, "-m", "venv", "--without-pip", str(venv)])
    assert made.returncode == 0, made.stderr
    (venv / "bin" / "bluepython").symlink_to(BLUEPYTHON)
    env = clean_env(tmp_path, tmp_path / "spool")
    ref = run([str(venv / "bin" / "python"), "-c", PROBE], env=env, cwd=tmp_path)
    got = run([str(venv / "bin" / "bluepython"), "-c", PROBE], env=env, cwd=tmp_path)
    assert (got.returncode, got.stdout, got.stderr) == (ref.returncode, ref.stdout, ref.stderr)
    seen = json.loads(got.stdout)
    assert seen["prefix"] == str(venv)
    assert seen["base_prefix"] == "/usr"
    assert str(venv / "lib" / "python3.11" / "site-packages") in seen["path"]
    doc = json.loads(run([str(venv / "bin" / "bluepython"), "version", "--json"], env=env).stdout)
    assert doc["libpython"] == LIBPYTHON
    assert doc["libpython_found_by"] == f"venv {venv}, home /usr/bin"


def test_remove_leaves_nothing(installed: list[str]) -> None:
    apt_get("remove", "-y", "bluepython")
    assert status("bluepython") == "not-installed"
    # Directories the package shares with others (/usr, /usr/share/doc) stay; its own go.
    ours = [p for p in installed if not Path(p).is_dir() or "bluepython" in p]
    assert [p for p in ours if os.path.lexists(p)] == []
