# SPDX-License-Identifier: Apache-2.0
"""The aarch64 cross build, run under qemu-user against Debian's arm64 python3.11.

Takes build/aarch64/ as packaging/build-aarch64.sh leaves it (this test builds and
installs nothing): the arm64 bluepython and its core, and Debian's arm64
python3.11 unpacked beside them as the reference. Both run under qemu-user; the
arm64 libpython3.11, standard library and lib-dynload are Debian's, installed
through multiarch (/usr/lib/aarch64-linux-gnu, /usr/lib/python3.11), so the
arm64 dynamic loader finds everything at / and no QEMU_LD_PREFIX is needed.

    bash packaging/build-aarch64.sh
    build/test-venv/bin/python -m pytest test/packaging/test_aarch64.py

Without binfmt_misc, the kernel cannot run an aarch64 file itself: a child
started as `sys.executable` would fail with "Exec format error", so the child
that is a bluepython is started through qemu explicitly (its parent linkage is
bluepython's own, through the environment, and survives that).
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build" / "aarch64"
BLUEPYTHON = BUILD / "bluepython"
CORE = BUILD / "libbluepython-core.so"
REF_PYTHON = BUILD / "python3.11-arm64" / "usr" / "bin" / "python3.11"
LIBPYTHON = "/usr/lib/aarch64-linux-gnu/libpython3.11.so.1.0"
DECIMAL = "/usr/lib/python3.11/lib-dynload/_decimal.cpython-311-aarch64-linux-gnu.so"
TIMEOUT = 120

# What a program sees of its interpreter and platform; the same under both.
PROBE = """
import hashlib, json, os, platform, ssl, struct, sys, sysconfig
import _decimal
print(json.dumps({
    "argv": sys.argv,
    "prefix": sys.prefix,
    "base_prefix": sys.base_prefix,
    "exec_prefix": sys.exec_prefix,
    "path": sys.path,
    "version": sys.version,
    "flags": str(sys.flags),
    "cwd": os.getcwd(),
    "machine": platform.machine(),
    "byteorder": sys.byteorder,
    "pointer": struct.calcsize("P"),
    "multiarch": sysconfig.get_config_var("MULTIARCH"),
    "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX"),
    "decimal": _decimal.__file__,
    "openssl": ssl.OPENSSL_VERSION,
    "sha256": hashlib.sha256(b"bluepython").hexdigest(),
}))
print("to stderr", file=sys.stderr)
sys.exit(7)
"""


def qemu() -> str:
    found = shutil.which("qemu-aarch64-static") or shutil.which("qemu-aarch64")
    if not found:
        pytest.fail("no qemu-aarch64-static on PATH: run `bash packaging/build-aarch64.sh` (it installs it)")
    return found


@pytest.fixture(scope="module", autouse=True)
def built() -> None:
    for path in (BLUEPYTHON, CORE, REF_PYTHON):
        if not path.is_file():
            pytest.fail(f"{path} is missing: build it first with `bash packaging/build-aarch64.sh`")
    if not Path(LIBPYTHON).is_file():
        pytest.fail(f"{LIBPYTHON} is missing: apt-get install libpython3.11:arm64 (build-aarch64.sh does)")


def clean_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The machine's environment without anything that configures python or bluepython."""
    dropped = ("VIRTUAL_ENV", "PYTEST_CURRENT_TEST")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BLUEPYTHON_", "PYTHON", "OTEL_", "QEMU_")) and k not in dropped
    }
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    env.update(HOME=str(home), BLUEPYTHON_SPOOL_DIR=str(tmp / "spool"), PATH="/usr/bin:/bin")
    env.update(extra)
    return env


def run(
    argv: list[str], tmp: Path, *, input: bytes = b"", **extra: str
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [qemu(), *argv],
        cwd=tmp,
        env=clean_env(tmp, **extra),
        input=input,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )


def read_events(spool: Path) -> dict[int, list[dict[str, Any]]]:
    """Each process's events (by pid), every line a JSON object of {"ts", "event"}."""
    files = sorted(spool.glob("python-*.ndjson"))
    assert files, f"no spool file in {spool}"
    out: dict[int, list[dict[str, Any]]] = {}
    for f in files:
        data = f.read_bytes()
        assert data.endswith(b"\n"), f"{f} does not end with a newline"
        for line in data.decode("utf-8").splitlines():
            ev = json.loads(line)
            assert set(ev) == {"ts", "event"}, ev
            out.setdefault(ev["event"]["context"]["process"]["pid"], []).append(ev)
    return out


def name(ev: dict[str, Any]) -> str:
    return ev["event"]["meta"]["name"]


def named(events: list[dict[str, Any]], event_name: str) -> list[dict[str, Any]]:
    return [ev["event"] for ev in events if name(ev) == event_name]


def check_stream(events: list[dict[str, Any]], reason: str) -> None:
    assert name(events[0]) == "sensor_startup"
    assert name(events[-1]) == "sensor_shutdown"
    ids = [ev["event"]["meta"]["source_event_id"] for ev in events]
    assert ids == list(range(1, len(events) + 1))
    shutdown = events[-1]["event"]
    assert shutdown["reason"] == reason, shutdown
    assert shutdown["written"] == len(events) - 1 and shutdown["dropped"] == 0, shutdown


def sha256_of(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---------------------------------------------------------------------------


def test_binaries_are_aarch64_and_need_only_libc() -> None:
    allowed = {"libc.so.6", "libm.so.6", "ld-linux-aarch64.so.1"}
    for path in (BLUEPYTHON, CORE):
        header = subprocess.run(["readelf", "-h", str(path)], capture_output=True, text=True, check=True)
        assert "AArch64" in header.stdout, header.stdout
        dynamic = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=True)
        needed = {
            line.split("[", 1)[1].rstrip("]") for line in dynamic.stdout.splitlines() if "(NEEDED)" in line
        }
        assert needed and needed <= allowed, (path.name, needed)
    segments = subprocess.run(["readelf", "-l", str(BLUEPYTHON)], capture_output=True, text=True, check=True)
    assert "[Requesting program interpreter: /lib/ld-linux-aarch64.so.1]" in segments.stdout


def test_version_names_the_arm64_libpython(tmp_path: Path) -> None:
    res = run([str(BLUEPYTHON), "version"], tmp_path)
    assert res.returncode == 0, res.stderr.decode()
    lines = res.stdout.decode().splitlines()
    assert lines[1].startswith("embedded Python 3.11."), lines
    assert lines[2].startswith(f"libpython {LIBPYTHON} "), lines
    # The same library when the executable is told where it is (no build path used).
    res = run([str(BLUEPYTHON), "version"], tmp_path, BLUEPYTHON_LIBPYTHON=LIBPYTHON)
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout.decode().splitlines()[2].startswith(f"libpython {LIBPYTHON} ")


@pytest.mark.parametrize(
    ("code", "stdin"),
    [
        pytest.param(PROBE, b"", id="probe"),
        pytest.param("1/0", b"", id="traceback"),
        pytest.param("import sys; print(sys.stdin.read().upper(), end='')", b"from stdin\n", id="stdin"),
        pytest.param("raise SystemExit('bye')", b"", id="systemexit"),
    ],
)
def test_runs_as_python_does(tmp_path: Path, code: str, stdin: bytes) -> None:
    py = run([str(REF_PYTHON), "-c", code], tmp_path, input=stdin)
    assert not (tmp_path / "spool").exists(), "the reference python wrote to the spool"
    bp = run([str(BLUEPYTHON), "-c", code], tmp_path, input=stdin)
    assert (bp.returncode, bp.stdout, bp.stderr) == (py.returncode, py.stdout, py.stderr)
    if code == PROBE:
        assert py.returncode == 7 and py.stderr == b"to stderr\n"
        seen = json.loads(py.stdout)
        assert seen["machine"] == "aarch64" and seen["multiarch"] == "aarch64-linux-gnu", seen
        assert seen["prefix"] == "/usr" and seen["pointer"] == 8, seen
        assert seen["decimal"] == DECIMAL


def test_spool_has_startup_imports_with_sha256_and_shutdown(tmp_path: Path) -> None:
    res = run([str(BLUEPYTHON), "-c", "import json, _decimal; print(json.dumps([1]))"], tmp_path)
    assert res.returncode == 0 and res.stdout == b"[1]\n", res.stderr.decode()
    (events,) = read_events(tmp_path / "spool").values()
    check_stream(events, "exit")
    startup = events[0]["event"]
    assert startup["python"]["version"].startswith("3.11."), startup
    assert startup["executable"] == str(BLUEPYTHON) and startup["parent"] is None
    imports = {ev["fullname"]: ev for ev in named(events, "python_import")}
    for module, kind, file in (
        ("json", "source", "/usr/lib/python3.11/json/__init__.py"),
        ("_decimal", "extension", DECIMAL),
    ):
        ev = imports[module]
        assert (ev["kind"], ev["file"]) == (kind, file), ev
        assert ev["sha256"] == sha256_of(file) and ev["size"] == Path(file).stat().st_size, ev


def test_children_are_recorded(tmp_path: Path) -> None:
    """A program started (python_process_spawn), and a bluepython child linked to its parent."""
    code = (
        "import subprocess, sys\n"
        "subprocess.run(['true'], check=True)\n"
        f"subprocess.run([{qemu()!r}, sys.executable, '-c', 'print(\"child\")'], check=True)\n"
    )
    res = run([str(BLUEPYTHON), "-c", code], tmp_path)
    assert res.returncode == 0 and res.stdout == b"child\n", res.stderr.decode()
    by_pid = read_events(tmp_path / "spool")
    assert len(by_pid) == 2, list(by_pid)
    parent, child = sorted(by_pid.values(), key=lambda evs: evs[0]["event"]["parent"] is not None)
    check_stream(parent, "exit")
    check_stream(child, "exit")
    spawned = [ev["argv"] for ev in named(parent, "python_process_spawn")]
    assert spawned == [["true"], [qemu(), str(BLUEPYTHON), "-c", 'print("child")']], spawned
    linked = child[0]["event"]["parent"]
    assert linked["uuid"] == parent[0]["event"]["meta"]["uuid"], linked
    assert linked["pid"] == parent[0]["event"]["context"]["process"]["pid"], linked


def _terminated(tmp: Path, exe: Path) -> subprocess.CompletedProcess[bytes]:
    """Runs `exe` until it says it is ready, sends SIGTERM, and waits for it."""
    code = "import json, time\nprint('ready', flush=True)\ntime.sleep(120)\nprint('not reached')\n"
    proc = subprocess.Popen(
        [qemu(), str(exe), "-c", code],
        cwd=tmp,
        env=clean_env(tmp),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL),
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], TIMEOUT)
        assert ready, f"{exe.name} never said it was ready"
        first = proc.stdout.readline()
        assert first == b"ready\n", first
        time.sleep(0.2)  # into the sleep
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, first + out, err)


def test_sigterm_ends_it_as_python_and_keeps_the_events(tmp_path: Path) -> None:
    py = _terminated(tmp_path, REF_PYTHON)
    assert py.returncode == -signal.SIGTERM and py.stdout == b"ready\n", py
    bp = _terminated(tmp_path, BLUEPYTHON)
    assert (bp.returncode, bp.stdout, bp.stderr) == (py.returncode, py.stdout, py.stderr)
    (events,) = read_events(tmp_path / "spool").values()
    check_stream(events, "SIGTERM")
    assert events[-1]["event"]["signal"] == signal.SIGTERM
    json_import = next(ev for ev in named(events, "python_import") if ev["fullname"] == "json")
    assert json_import["sha256"] == sha256_of("/usr/lib/python3.11/json/__init__.py")
