# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures and helpers for bluepython's integration tests.

Every test runs real processes: the bluepython executable and, for parity, the
reference CPython it embeds. Each test gets its own HOME and spool directory,
and no BLUEPYTHON_* variable of the machine leaks into the children.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "test" / "fixtures"
BUILD = REPO / "build"

# A hang detector, not a timing assertion: no child should ever come close.
TIMEOUT = 60

SPOOL_NAME = re.compile(r"^python-bluepython-(\d+)-(\d+)-(\d+)\.ndjson$")
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
WARNING_PREFIX = "bluepython: warning:"

# Variables that make bluepython differ from python on purpose.
_DROPPED_ENV = ("VIRTUAL_ENV", "__PYVENV_LAUNCHER__", "PYTEST_CURRENT_TEST")


def _default_signals() -> None:
    """In the child before exec: the default disposition of the signals the tests send. A test
    run started under nohup, or as a background job of a script, inherits SIGHUP or SIGINT
    ignored, and ignored dispositions survive exec: the program under test would never see them."""
    for signo in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
        signal.signal(signo, signal.SIG_DFL)


# ---------------------------------------------------------------------------
# Executables


def _python_from_cmake_cache() -> str | None:
    cache = BUILD / "CMakeCache.txt"
    if not cache.is_file():
        return None
    for line in cache.read_text(errors="replace").splitlines():
        if line.startswith("Python3_EXECUTABLE:"):
            return line.split("=", 1)[1].strip()
    return None


@pytest.fixture(scope="session")
def ref_python() -> str:
    """The CPython that bluepython embeds (parity reference)."""
    path = os.environ.get("BLUEPYTHON_REF_PYTHON") or _python_from_cmake_cache()
    if not path or not os.access(path, os.X_OK):
        pytest.fail(
            "reference python not found: set BLUEPYTHON_REF_PYTHON or build with CMake "
            f"(looked for Python3_EXECUTABLE in {BUILD / 'CMakeCache.txt'})"
        )
    return path


@pytest.fixture(scope="session")
def bluepython() -> str:
    path = os.environ.get("BLUEPYTHON_BIN") or str(BUILD / "bluepython")
    if not os.access(path, os.X_OK):
        pytest.fail(f"bluepython binary not found at {path}: build it or set BLUEPYTHON_BIN")
    return path


@pytest.fixture(scope="session")
def ref_version(ref_python: str) -> dict[str, Any]:
    out = subprocess.run(
        [
            ref_python,
            "-c",
            "import json, sys, platform; print(json.dumps([sys.version, platform.python_version()]))",
        ],
        capture_output=True,
        check=True,
        timeout=TIMEOUT,
    ).stdout
    version, short = json.loads(out)
    return {"version": version, "short": short}


@pytest.fixture(scope="session")
def ref_minor(ref_version: dict[str, Any]) -> tuple[int, int]:
    """(3, 12) for the CPython under test: for the tests whose expectation differs by version."""
    major, minor = ref_version["short"].split(".")[:2]
    return int(major), int(minor)


# CPython 3.12+: os.fork()/os.forkpty() in a process with threads of the app's own
# (python gives it too; never for bluepython's threads), the warning and its source line.
FORK_WARNING = re.compile(
    rb"[^\n]*: DeprecationWarning: This process \(pid=\d+\) is multi-threaded, use of fork(pty)?\(\) "
    rb"may lead to deadlocks in the child\.\n(  [^\n]*\n)?"
)


# ---------------------------------------------------------------------------
# Strict NDJSON reading


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r} in one JSON object")
        seen.add(key)
    return dict(pairs)


def _check_unicode(value: Any) -> None:
    """Rejects lone surrogates smuggled in through \\uXXXX escapes."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            v.encode("utf-8", errors="strict")
        elif isinstance(v, dict):
            for k, item in v.items():
                k.encode("utf-8", errors="strict")
                stack.append(item)
        elif isinstance(v, list):
            stack.extend(v)


def parse_line(raw: bytes) -> dict[str, Any]:
    """One spool line as strict JSON: UTF-8, no NaN/Infinity, unique keys."""
    text = raw.decode("utf-8", errors="strict")
    doc = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    _check_unicode(doc)
    assert isinstance(doc, dict), f"spool line is not an object: {text[:200]}"
    return doc


def parse_ndjson(data: bytes, where: str = "") -> list[dict[str, Any]]:
    if not data:
        return []
    assert data.endswith(b"\n"), f"{where}: does not end with a newline"
    events = []
    for number, raw in enumerate(data.split(b"\n")[:-1], start=1):
        try:
            events.append(parse_line(raw))
        except (ValueError, UnicodeError) as exc:
            raise AssertionError(f"{where}:{number}: not strict JSON: {exc}: {raw[:300]!r}") from exc
    return events


@dataclass
class SpoolFile:
    path: Path
    pid: int
    start_ms: int
    seq: int
    events: list[dict[str, Any]] = field(default_factory=list)


def spool_files(spool: Path) -> list[SpoolFile]:
    """Every spool file of `spool`, parsed strictly, ordered by (pid, start, seq)."""
    spool = Path(spool)
    if not spool.is_dir():
        return []
    files = []
    for entry in spool.iterdir():
        if entry.suffix == ".ndjson":
            m = SPOOL_NAME.match(entry.name)
            assert m, f"unexpected file name in spool: {entry.name}"
            sf = SpoolFile(entry, int(m.group(1)), int(m.group(2)), int(m.group(3)))
            sf.events = parse_ndjson(entry.read_bytes(), str(entry))
            files.append(sf)
    files.sort(key=lambda f: (f.pid, f.start_ms, f.seq))
    return files


def read_spool(spool: Path) -> list[dict[str, Any]]:
    """All events of all spool files in `spool` (each line checked as strict JSON)."""
    return [ev for f in spool_files(spool) for ev in f.events]


def name(ev: dict[str, Any]) -> str:
    return ev["event"]["meta"]["name"]


def attrs(ev: dict[str, Any]) -> dict[str, Any]:
    """The event's own members (everything but the envelope's meta and context)."""
    return {k: v for k, v in ev["event"].items() if k not in ("meta", "context")}


def named(events: list[dict[str, Any]], event_name: str) -> list[dict[str, Any]]:
    return [ev for ev in events if name(ev) == event_name]


def attrs_of(events: list[dict[str, Any]], event_name: str) -> list[dict[str, Any]]:
    """The own members (attrs) of each `event_name` event, in order."""
    return [attrs(ev) for ev in named(events, event_name)]


def processes(spool: Path) -> dict[str, list[dict[str, Any]]]:
    """Events grouped by sensor instance (meta.uuid), files in (pid, start, seq) order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for f in spool_files(spool):
        for ev in f.events:
            out.setdefault(ev["event"]["meta"]["uuid"], []).append(ev)
    return out


def by_program(spool: Path, args: int = 0) -> dict[str, list[list[dict[str, Any]]]]:
    """Each process's events, grouped by the script it ran and its first `args`
    arguments (``client_sdk.py``; with args=1 ``server.py stdio``)."""
    out: dict[str, list[list[dict[str, Any]]]] = {}
    for events in processes(spool).values():
        argv = attrs(events[0])["python_argv"]
        key = " ".join([os.path.basename(argv[1]), *argv[2 : 2 + args]])
        out.setdefault(key, []).append(events)
    return out


def one_process(programs: dict[str, list[list[dict[str, Any]]]], key: str) -> list[dict[str, Any]]:
    """The events of the one process `key` of by_program() (fails if there are none or several)."""
    runs = programs.get(key, [])
    assert len(runs) == 1, f"{key}: {len(runs)} processes"
    return runs[0]


def check_envelope(ev: dict[str, Any]) -> None:
    assert set(ev) == {"ts", "event"}, ev
    assert RFC3339_UTC.match(ev["ts"]), ev["ts"]
    meta = ev["event"]["meta"]
    assert list(meta) == ["name", "type", "origin", "sensor_id", "source_event_id", "component_id", "uuid"], \
        meta
    assert isinstance(meta["name"], str) and meta["name"]
    if meta["name"] in ("sensor_startup", "sensor_shutdown"):
        assert meta["type"] == "sensor_lifecycle", meta
    else:
        assert meta["type"] in ("event", "nonactionable"), meta
    assert isinstance(meta["component_id"], str) and meta["component_id"], meta
    assert meta["origin"] == "bluepython"
    assert isinstance(meta["sensor_id"], int)
    assert isinstance(meta["source_event_id"], int) and meta["source_event_id"] >= 1
    assert UUID.match(meta["uuid"]), meta["uuid"]
    process = ev["event"]["context"]["process"]
    assert isinstance(process["pid"], int) and process["pid"] > 0


def check_stream(events: list[dict[str, Any]], *, shutdown: bool = True) -> None:
    """Invariants of one process's events: startup first, ids 1..n, shutdown last."""
    assert events, "no events"
    for ev in events:
        check_envelope(ev)
    assert name(events[0]) == "sensor_startup", name(events[0])
    ids = [ev["event"]["meta"]["source_event_id"] for ev in events]
    assert ids == list(range(1, len(events) + 1)), f"source_event_id not 1..n without gaps: {ids[:20]}..."
    assert len({ev["event"]["meta"]["uuid"] for ev in events}) == 1
    assert len({ev["event"]["context"]["process"]["pid"] for ev in events}) == 1
    if shutdown:
        assert name(events[-1]) == "sensor_shutdown", f"last event is {name(events[-1])}"
        assert [name(ev) for ev in events].count("sensor_shutdown") == 1
        s = attrs(events[-1])
        if s["reason"] == "killed":
            # Written by the sweep that recovered a killed process's journal
            # (docs/reliability.md): what it appended, not the process's counters.
            assert isinstance(s["recovered"], int) and 0 <= s["recovered"] < len(events), s
            return
        assert s["written"] == len(events) - 1, s
        assert s["dropped"] == 0, s
        assert s["emitted"] == s["written"] + s["dropped"] + s["filtered"], s


# ---------------------------------------------------------------------------
# Processes


def chromium(*args: str, size: str = "1200,900") -> subprocess.CompletedProcess[bytes]:
    """Headless Chromium with `args` in a window of `size` (test/run_all.sh installs it)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe, "chromium is needed (test/run_all.sh installs it)"
    argv = [exe, "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={size}", *args]
    return subprocess.run(argv, capture_output=True, timeout=120)


def clean_env(base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    for key in list(env):
        if key.startswith("BLUEPYTHON_") or key in _DROPPED_ENV:
            del env[key]
    return env


def private_env(root: Path, **extra: str) -> dict[str, str]:
    """A child environment with its own HOME (made) and spool under `root`, no
    inherited BLUEPYTHON_*, and `extra` on top."""
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = clean_env()
    env["HOME"] = str(home)
    env["BLUEPYTHON_SPOOL_DIR"] = str(root / "spool")
    env.update(extra)
    return env


@pytest.fixture
def child_env(tmp_path: Path) -> dict[str, str]:
    """The environment for children: private HOME and spool, no inherited BLUEPYTHON_*."""
    return private_env(tmp_path)


def run(
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: Path | str | None = None,
    input: bytes = b"",
    timeout: float = TIMEOUT,
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, env=env, cwd=cwd, input=input, capture_output=True, timeout=timeout)


class Sandbox:
    """A test's private world: HOME, spool dir, work dir, and both interpreters."""

    def __init__(self, root: Path, env: dict[str, str], bluepython: str, ref_python: str) -> None:
        self.root = root
        self.env = env
        self.home = Path(env["HOME"])
        self.spool = Path(env["BLUEPYTHON_SPOOL_DIR"])
        self.cwd = root / "work"
        self.cwd.mkdir(exist_ok=True)
        self.bluepython = bluepython
        self.ref_python = ref_python

    def write(self, relative: str, text: str) -> Path:
        path = self.cwd / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def run(
        self, argv: list[str], *, env: dict[str, str] | None = None, **kw: Any
    ) -> subprocess.CompletedProcess[bytes]:
        kw.setdefault("cwd", self.cwd)
        return run(argv, env=self.env if env is None else env, **kw)

    def bp(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[bytes]:
        return self.run([self.bluepython, *args], **kw)

    def py(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[bytes]:
        return self.run([self.ref_python, *args], **kw)

    def popen(self, argv: list[str], *, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv,
            env=self.env if env is None else env,
            cwd=self.cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=_default_signals,
        )

    def files(self, spool: Path | None = None) -> list[SpoolFile]:
        return spool_files(self.spool if spool is None else spool)

    def events(self, spool: Path | None = None) -> list[dict[str, Any]]:
        return read_spool(self.spool if spool is None else spool)

    def processes(self, spool: Path | None = None) -> dict[str, list[dict[str, Any]]]:
        return processes(self.spool if spool is None else spool)


@pytest.fixture
def sandbox(tmp_path: Path, child_env: dict[str, str], bluepython: str, ref_python: str) -> Sandbox:
    return Sandbox(tmp_path, child_env, bluepython, ref_python)


def sandbox_at(root: Path, bluepython: str, ref_python: str) -> Sandbox:
    """A sandbox under `root` (for module-scoped fixtures: `sandbox` is per test)."""
    return Sandbox(root, private_env(root), bluepython, ref_python)


def warning_lines(stderr: bytes) -> list[str]:
    return [line for line in stderr.decode(errors="replace").splitlines() if line.startswith(WARNING_PREFIX)]


def without_warnings(stderr: bytes) -> str:
    return "".join(
        line
        for line in stderr.decode(errors="replace").splitlines(keepends=True)
        if not line.startswith(WARNING_PREFIX)
    )


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_for(
    condition: Callable[[], Any], what: str | Callable[[], str], timeout: float = TIMEOUT, every: float = 0.05
) -> Any:
    """Polls `condition` until it returns something true, and returns that; fails
    after `timeout` seconds, saying `what` was waited for (a string, or a function
    that tells it then). The one way the tests wait for something to happen."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            told = what if isinstance(what, str) else what()
            raise AssertionError(f"timed out after {timeout}s waiting for {told}")
        time.sleep(every)


def wait_gone(pids: list[int], timeout: float = TIMEOUT) -> None:
    """Waits for processes we do not own (grandchildren) to finish. A hang detector."""
    wait_for(
        lambda: not any(pid_alive(p) for p in pids),
        lambda: f"processes to end; still running: {[p for p in pids if pid_alive(p)]}",
        timeout,
    )


@pytest.fixture(scope="session")
def test_venv() -> Path:
    """build/test-venv: made with the reference python, has pytest and mcp."""
    path = Path(os.environ.get("BLUEPYTHON_TEST_VENV") or BUILD / "test-venv")
    if not (path / "pyvenv.cfg").is_file():
        pytest.skip(
            f"no test virtualenv at {path}; create it with "
            "`<ref python> -m venv build/test-venv && build/test-venv/bin/pip install pytest mcp`"
        )
    return path


def make_venv(ref_python: str, where: Path) -> Path:
    subprocess.run(
        [ref_python, "-m", "venv", "--without-pip", str(where)],
        check=True,
        timeout=TIMEOUT,
        env=clean_env(),
        capture_output=True,
    )
    return where


def venv_site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    assert found, f"no site-packages in {venv}"
    return found[0]


# ---------------------------------------------------------------------------
# MCP virtualenvs: one per SDK line, made by test/run_all.sh from
# test/requirements-mcp1.txt and test/requirements-mcp2.txt.


@dataclass
class McpVenv:
    """A virtualenv holding one MCP SDK line, with bluepython linked into its bin/."""

    line: str  # "mcp1" or "mcp2"
    root: Path
    python: str  # the venv's own python (the reference for parity)
    bluepython: str  # <venv>/bin/bluepython (a symlink, or installed there): behaves as this venv's python

    def versions(self) -> dict[str, str]:
        out = subprocess.run(
            [
                self.python,
                "-c",
                "import json, importlib.metadata as m\n"
                "print(json.dumps({d: m.version(d) for d in ('mcp', 'fastmcp')}))",
            ],
            capture_output=True,
            check=True,
            timeout=TIMEOUT,
        ).stdout
        return json.loads(out)

    def env(self, root: Path, **extra: str) -> dict[str, str]:
        """private_env(root) for this venv's fixture servers and clients: fastmcp
        prints no banner and logs only what is critical."""
        return private_env(root, FASTMCP_SHOW_SERVER_BANNER="false", FASTMCP_LOG_LEVEL="CRITICAL", **extra)


def _mcp_venv(line: str, bluepython: str) -> McpVenv:
    root = Path(os.environ.get(f"BLUEPYTHON_TEST_VENV_{line.upper()}") or BUILD / f"test-venv-{line}")
    if not (root / "pyvenv.cfg").is_file():
        pytest.fail(
            f"no {line} virtualenv at {root}: run test/run_all.sh, or create it with "
            f"`<ref python> -m venv {root} && {root}/bin/pip install -r test/requirements-{line}.txt`"
        )
    link = root / "bin" / "bluepython"
    if link.is_file() and not link.is_symlink():
        # Installed into the venv by pip (the wheel smoke run, test/packaging/smoke.sh):
        # that installation is the one under test.
        return McpVenv(line, root, str(root / "bin" / "python"), str(link))
    target = os.path.abspath(bluepython)
    if not link.is_symlink() or os.readlink(link) != target:
        tmp = link.with_name(f".bluepython-{os.getpid()}")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        tmp.replace(link)
    return McpVenv(line, root, str(root / "bin" / "python"), str(link))


@pytest.fixture(scope="session")
def mcp1(bluepython: str) -> McpVenv:
    """mcp 1.x + fastmcp 3.x (+ the app's own wrapt)."""
    return _mcp_venv("mcp1", bluepython)


@pytest.fixture(scope="session")
def mcp2(bluepython: str) -> McpVenv:
    """mcp 2.x + fastmcp 4.x (no wrapt: bluepython's bundled copy is used)."""
    return _mcp_venv("mcp2", bluepython)


@pytest.fixture(scope="session", params=["mcp1", "mcp2"])
def mcp_venv(request: pytest.FixtureRequest) -> McpVenv:
    """Each MCP SDK line in turn."""
    return request.getfixturevalue(request.param)


def run_json(argv: list[str], env: dict[str, str], cwd: Path) -> Any:
    """Runs a fixture that prints one JSON document; fails the test on a non-zero exit."""
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    return json.loads(done.stdout)


# ---------------------------------------------------------------------------
# Servers on loopback ports


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_port(proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float = TIMEOUT) -> None:
    """Waits until something accepts on 127.0.0.1:port; fails early if `proc` dies
    (showing the end of `log`, where the server's output goes)."""

    def up() -> bool:
        if proc.poll() is not None:
            output = log.read_text(errors="replace")[-3000:]
            raise AssertionError(f"server exited with {proc.returncode} before listening:\n{output}")
        return _listening(port)

    wait_for(up, lambda: f"a server on port {port}:\n{log.read_text(errors='replace')[-3000:]}", timeout)


def stop_server(proc: subprocess.Popen[bytes], timeout: float = 20) -> int:
    """SIGINT (a clean shutdown, so bluepython flushes its spool), then SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=TIMEOUT)
    return proc.returncode


@dataclass
class Served:
    """A server process listening on `port`; `returncode` is set once stopped."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    returncode: int | None = None

    @property
    def url(self) -> str:
        return self.at("/mcp")

    def at(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"


@contextlib.contextmanager
def serve(
    argv_for: Callable[[int], list[str]], env: dict[str, str], cwd: Path, log: Path
) -> Iterator[Served]:
    """Runs the server `argv_for(port)` on a free loopback port, once it listens,
    until the block ends; its stdout and stderr go to `log`. Stopped (stop_server)
    in any case."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv_for(port), env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    served = Served(proc, port, log)
    try:
        wait_port(proc, port, log)
        yield served
    finally:
        served.returncode = stop_server(proc)
