# SPDX-License-Identifier: Apache-2.0
"""bluepython is a drop-in python: same argv tail, env, cwd and stdin give the
same stdout, stderr and exit status as the reference CPython it embeds."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import pytest
from conftest import Sandbox, attrs, check_stream, named

# Prints what CPython decided from its command line and environment.
PROBE = """\
import json, sys, warnings
def f():
    "docstring"
print(json.dumps({
    "argv": sys.argv,
    "orig_argv": sys.orig_argv[1:],
    "flags": tuple(sys.flags),
    "path": sys.path,
    "prefix": sys.prefix,
    "base_prefix": sys.base_prefix,
    "exec_prefix": sys.exec_prefix,
    "warnoptions": sys.warnoptions,
    "xoptions": sys._xoptions,
    "filters": [repr(x) for x in warnings.filters],
    "stdio": [(s.encoding, s.errors, s.line_buffering, s.write_through) for s in (sys.stdout, sys.stderr)],
    "stdin": [sys.stdin.encoding, sys.stdin.errors],
    "debug": __debug__,
    "doc": f.__doc__,
    "dont_write_bytecode": sys.dont_write_bytecode,
    "site": "site" in sys.modules,
    "name": __name__,
    "file": globals().get("__file__"),
    "package": __package__,
    "spec": getattr(__spec__, "name", None),
    "encoding": sys.getfilesystemencoding(),
    "recursion": sys.getrecursionlimit(),
    "int_max_str_digits": sys.get_int_max_str_digits(),
}, sort_keys=True))
"""

# The descriptor numbers the app's first opens get: the lowest free ones, so
# any descriptor of bluepython's sitting low would shift them (issue 14).
# bluepython's writer thread opens each imported module's file for a moment to hash it (and
# a journal or two when it sweeps): an app that opens a descriptor at that very instant gets
# the next number (docs/ARCHITECTURE.md). The probe waits until the writer is idle, so that
# what it compares is the descriptors bluepython keeps.
FD_PROBE = """\
import os, socket
def fds():
    try:
        import _bluepython
    except ImportError:
        pass
    else:
        _bluepython.flush(5.0)
    files = [os.open("/dev/null", os.O_RDONLY) for _ in range(4)]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    r, w = os.pipe()
    return files + [sock.fileno(), r, w]
"""
FD_PROBE_MAIN = FD_PROBE + "print(fds())\n"
FD_PROBE_FORK = FD_PROBE + (
    "pid = os.fork()\n"
    "if pid == 0:\n"
    "    print('child', fds(), flush=True)\n"
    "    os._exit(0)\n"
    "os.waitpid(pid, 0)\n"
    "print('parent', fds())\n"
)
FD_PROBE_EXEC = (
    "import subprocess, sys\n"
    f"kid = subprocess.run([sys.executable, '-c', {FD_PROBE_MAIN!r}], capture_output=True, text=True)\n"
    "print('exec', kid.stdout, kid.stderr, kid.returncode)\n"
)

# CPython 3.12+ warns when os.fork()/os.forkpty() runs in a process the kernel
# counts more than one thread in; bluepython's own threads must not count.
# Prints the warnings the fork gave (pid replaced) and whether the app's
# warning filters came out of it unchanged. argv[1]: fork or forkpty;
# argv[2] == "thread": the app runs a thread of its own meanwhile.
FORK_WARNINGS = """\
import os, sys, threading, warnings
done = threading.Event()
if sys.argv[2:] == ["thread"]:
    threading.Thread(target=done.wait).start()
before = list(warnings.filters)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    inner = list(warnings.filters)
    pid = os.fork() if sys.argv[1] == "fork" else os.forkpty()[0]
    if pid == 0:
        os._exit(0 if warnings.filters == inner else 1)
    unchanged = warnings.filters == inner
    _, status = os.waitpid(pid, 0)
done.set()
print([str(w.message).replace(str(os.getpid()), "PID") for w in caught])
print(unchanged, warnings.filters == before, os.waitstatus_to_exitcode(status))
"""
FORK_FROM_MAIN = "import os\npid = os.fork()\nif pid == 0:\n    os._exit(0)\nos.waitpid(pid, 0)\n"


@dataclass
class Case:
    args: list[str]
    stdin: bytes = b""
    files: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    cwd: str = ""  # relative to the sandbox's work dir
    stdout_only: bool = False


def case(case_id: str, *args: str, **kw: object) -> object:
    return pytest.param(Case(list(args), **kw), id=case_id)  # type: ignore[arg-type]


PKG_FILES = {
    "probemod.py": PROBE,
    "probepkg/__init__.py": "",
    "probepkg/__main__.py": PROBE,
    "probedir/__main__.py": PROBE,
    "script.py": PROBE,
}

CASES = [
    # How the program is named.
    case("command", "-c", PROBE, "a", "-b", "--c"),
    case("script", "script.py", "a", "-b", "--c", files=PKG_FILES),
    case("script-abs-cwd-elsewhere", "../work/script.py", "x", files=PKG_FILES, cwd="sub"),
    case("module", "-m", "probemod", "x", "-y", files=PKG_FILES),
    case("module-package", "-m", "probepkg", "x", files=PKG_FILES),
    case("directory", "probedir", "x", files=PKG_FILES),
    case("stdin-dash", "-", "a", "b", stdin=PROBE.encode()),
    case("stdin-no-args", stdin=PROBE.encode()),
    case(
        "stdin-read-by-program", "-c", "import sys; print(sys.stdin.read().upper())", stdin=b"hello\nworld\n"
    ),
    # Options.
    case("u", "-u", "-c", PROBE),
    case("X-dev", "-X", "dev", "-c", PROBE),
    case("X-utf8", "-X", "utf8", "-c", PROBE),
    case("X-utf8-0", "-X", "utf8=0", "-c", PROBE),
    case("X-frozen-modules-off", "-X", "frozen_modules=off", "-c", PROBE),
    case("X-int-max-str-digits", "-X", "int_max_str_digits=640", "-c", PROBE),
    case("W-error", "-W", "error", "-c", PROBE),
    case("W-error-warning-raised", "-W", "error", "-c", "import warnings; warnings.warn('boom')"),
    case("Wignore", "-Wignore", "-c", PROBE),
    case("I", "-I", "-c", PROBE),
    case("E", "-E", "-c", PROBE),
    case("s", "-s", "-c", PROBE),
    case("S", "-S", "-c", PROBE),
    case("O", "-O", "-c", PROBE),
    case("OO", "-OO", "-c", PROBE),
    case("B", "-B", "-c", PROBE),
    case("P", "-P", "-c", PROBE),
    case("P-script", "-P", "script.py", files=PKG_FILES),
    case("q", "-q", "-c", PROBE),
    case("b", "-bb", "-c", "print(b'x' == 'x')"),
    case("bundled-uEc", "-uEc", PROBE, "arg"),
    case("bundled-IsSB", "-IsSB", "-c", PROBE),
    case("c-then-option-like-args", "-c", "import sys;print(sys.argv)", "--spool-dir", "x", "-m", "y"),
    case("c-then-bluepython-subcommand-words", "-c", "import sys;print(sys.argv)", "run", "version", "help"),
    case("i-with-stdin", "-i", "-c", "x = 41", stdin=b"print(x + 1)\n"),
    case("env-PYTHONWARNINGS", "-c", PROBE, env={"PYTHONWARNINGS": "error::DeprecationWarning"}),
    case("env-PYTHONSAFEPATH", "-c", PROBE, env={"PYTHONSAFEPATH": "1"}),
    case("env-PYTHONIOENCODING", "-c", PROBE, env={"PYTHONIOENCODING": "latin-1:replace"}),
    case("env-PYTHONOPTIMIZE", "-c", PROBE, env={"PYTHONOPTIMIZE": "2"}),
    case("env-PYTHONPATH", "-c", PROBE, env={"PYTHONPATH": "/nonexistent-a:/nonexistent-b"}),
    case("env-PYTHONMALLOC-debug", "-c", PROBE, env={"PYTHONMALLOC": "debug"}),
    case("env-PYTHONMALLOC-malloc", "-c", PROBE, env={"PYTHONMALLOC": "malloc"}),
    case("X-tracemalloc-faulthandler", "-X", "tracemalloc", "-X", "faulthandler", "-c", PROBE),
    case(
        "env-PYTHONNOUSERSITE-unbuffered-off",
        "-c",
        PROBE,
        env={"PYTHONNOUSERSITE": "1", "PYTHONUNBUFFERED": ""},
    ),
    # Informational options.
    case("version", "--version", stdout_only=True),
    case("V", "-V"),
    case("VV", "-VV"),
    case("h", "-h", stdout_only=True),
    case("help", "--help"),
    case("help-env", "--help-env"),
    case("help-xoptions", "--help-xoptions"),
    case("invalid-option", "-Z"),
    case("invalid-long-option", "--bogus"),
    case("X-invalid", "-X", "int_max_str_digits=1"),
    case("c-missing-argument", "-c"),
    case("m-missing-argument", "-m"),
    # How the program ends.
    case("sys-exit-3", "-c", "import sys; print('out'); sys.exit(3)"),
    case("sys-exit-msg", "-c", "import sys; sys.exit('msg')"),
    case("sys-exit-none", "-c", "raise SystemExit(None)"),
    case("uncaught-exception", "-c", "def f():\n    raise ValueError('bad')\nprint('before')\nf()"),
    case(
        "chained-exception",
        "script.py",
        files={
            "script.py": ("try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    raise KeyError('k') from e\n")
        },
    ),
    case("exception-group", "-c", "raise ExceptionGroup('g', [ValueError(1), TypeError(2)])"),
    case("syntax-error", "-c", "def (:"),
    case("syntax-error-script", "script.py", files={"script.py": "x = (\n"}),
    case("keyboard-interrupt", "-c", "print('before', flush=True); raise KeyboardInterrupt"),
    case("os-exit-7", "-c", "import os; print('out', flush=True); os._exit(7)"),
    case(
        "os-exit-unflushed",
        "-c",
        "import os, sys; sys.stdout.write('lost?'); os._exit(0)",
        env={"PYTHONUNBUFFERED": ""},
    ),
    case("missing-script", "nope.py"),
    case("missing-module", "-m", "no_such_module_xyz"),
    case("atexit-output", "-c", "import atexit; atexit.register(print, 'bye'); print('hi')"),
    case("warning-to-stderr", "-c", "import warnings; warnings.warn('careful')"),
    case(
        "big-output",
        "-c",
        "import sys; sys.stdout.write('x' * 3_000_000); print(); print('y' * 10, file=sys.stderr)",
    ),
    case("binary-output", "-c", "import sys; sys.stdout.buffer.write(bytes(range(256)))"),
    case(
        "unicode-output",
        "-c",
        "print('\\u00e9\\u4e2d\\U0001F600')\nprint('\\udcff', end='')",
        env={"PYTHONIOENCODING": "utf-8:surrogateescape"},
    ),
    case(
        "non-daemon-thread-at-exit",
        "-c",
        # No join: the interpreter itself waits for the thread at exit.
        "import threading\ne = threading.Event()\n"
        "threading.Thread(target=lambda: (e.wait(), print('thread'))).start()\nprint('main')\ne.set()",
    ),
    case(
        "getsignal-defaults",
        "-c",
        "import signal as s\n"
        "sigs = (s.SIGTERM, s.SIGHUP, s.SIGINT, s.SIGPIPE, s.SIGUSR1, s.SIGCHLD)\n"
        "print([str(s.getsignal(n)) for n in sigs])",
    ),
    # Descriptor numbers: bluepython's own stay out of the app's range.
    case("first-fds", "-c", FD_PROBE_MAIN),
    case("first-fds-script", "script.py", files={"script.py": FD_PROBE_MAIN}),
    case("first-fds-after-fork", "-c", FD_PROBE_FORK),
    case("first-fds-after-exec", "-c", FD_PROBE_EXEC),
    # Forks: no DeprecationWarning because of bluepython's threads (3.12+).
    case("fork-warnings", "-c", FORK_WARNINGS, "fork"),
    case("forkpty-warnings", "-c", FORK_WARNINGS, "forkpty"),
    case("fork-warnings-app-thread", "-c", FORK_WARNINGS, "fork", "thread"),
    case("fork-from-main", "-c", FORK_FROM_MAIN),
    case("fork-from-main-X-dev", "-X", "dev", "-c", FORK_FROM_MAIN),
    case("fork-from-main-W-error", "-W", "error", "-c", FORK_FROM_MAIN),
    case(
        "sigpipe-broken-stdout",
        "-c",
        "import os, sys\nr, w = os.pipe()\nos.close(r)\n"
        "try:\n    os.write(w, b'x')\nexcept BrokenPipeError:\n    print('EPIPE')",
    ),
]


def _normalise(data: bytes, exe: str) -> bytes:
    return data.replace(exe.encode(), b"{EXE}")


def _run_both(sandbox: Sandbox, c: Case):
    for rel, text in c.files.items():
        sandbox.write(rel, text)
    cwd = sandbox.cwd / c.cwd
    cwd.mkdir(parents=True, exist_ok=True)
    env = dict(sandbox.env)
    env.update(c.env)
    py = sandbox.py(*c.args, env=env, cwd=cwd, input=c.stdin)
    bp = sandbox.bp(*c.args, env=env, cwd=cwd, input=c.stdin)
    return py, bp


@pytest.mark.parametrize("c", CASES)
def test_parity(sandbox: Sandbox, c: Case) -> None:
    py, bp = _run_both(sandbox, c)
    assert bp.returncode == py.returncode, (bp.returncode, py.returncode, bp.stderr[-2000:])
    # bluepython adds nothing to stdout, ever.
    assert _normalise(bp.stdout, sandbox.bluepython) == _normalise(py.stdout, sandbox.ref_python)
    if not c.stdout_only:
        assert _normalise(bp.stderr, sandbox.bluepython).decode(errors="replace") == _normalise(
            py.stderr, sandbox.ref_python
        ).decode(errors="replace")


@pytest.mark.parametrize("app_thread", [False, True], ids=["single", "app-thread"])
def test_fork_warning_by_version(sandbox: Sandbox, ref_minor: tuple[int, int], app_thread: bool) -> None:
    """The version branch behind the fork cases: 3.12+ warns for the app's own thread (and
    bluepython lets it), never for bluepython's; before 3.12 nothing warns."""
    res = sandbox.bp("-c", FORK_WARNINGS, "fork", *(["thread"] if app_thread else []))
    assert res.returncode == 0, res.stderr
    warned, rest = res.stdout.decode().splitlines()
    expected = (
        ["This process (pid=PID) is multi-threaded, use of fork() may lead to deadlocks in the child."]
        if app_thread and ref_minor >= (3, 12)
        else []
    )
    assert json.loads(warned.replace("'", '"')) == expected
    assert rest == "True True 0"


def test_probe_is_meaningful(sandbox: Sandbox) -> None:
    """Guards the table: the probe really reports what the options change."""
    base = json.loads(sandbox.py("-c", PROBE).stdout)
    oo = json.loads(sandbox.py("-OO", "-c", PROBE).stdout)
    isolated = json.loads(sandbox.py("-I", "-c", PROBE).stdout)
    assert base["doc"] == "docstring" and oo["doc"] is None
    assert base["path"][0] == "" and isolated["path"][0] != ""
    assert base["argv"] == ["-c"]


@pytest.mark.parametrize("flag", ["", "-S", "-I", "-E", "-X frozen_modules=off"])
def test_no_extra_modules_loaded(sandbox: Sandbox, flag: str) -> None:
    """The app sees the same sys.modules as under python (plus bluepython's own _bluepython)."""
    prog = "import sys, json; print(json.dumps(sorted(sys.modules)))"
    args = [*flag.split(), "-c", prog]
    py = json.loads(sandbox.py(*args).stdout)
    bp = json.loads(sandbox.bp(*args).stdout)
    assert set(bp) - set(py) <= {"_bluepython"}, sorted(set(bp) - set(py))
    assert set(py) - set(bp) == set()


def test_sys_executable_is_bluepython_and_children_are_bluepython(sandbox: Sandbox) -> None:
    prog = (
        "import json, os, subprocess, sys\n"
        "kid = 'import os, sys; print(sys.executable); print(os.getpid())'\n"
        "r = subprocess.run([sys.executable, '-c', kid], capture_output=True, text=True)\n"
        "print(json.dumps({'exe': sys.executable, 'pid': os.getpid(), 'child': r.stdout.split(),"
        " 'rc': r.returncode, 'err': r.stderr}))\n"
    )
    py = json.loads(sandbox.py("-c", prog).stdout)
    assert py["exe"] == sandbox.ref_python and py["child"][0] == sandbox.ref_python

    res = sandbox.bp("-c", prog)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["exe"] == sandbox.bluepython
    assert out["rc"] == 0 and out["err"] == ""
    assert out["child"][0] == sandbox.bluepython
    child_pid = int(out["child"][1])

    procs = sandbox.processes()
    assert len(procs) == 2
    by_pid = {evs[0]["event"]["context"]["process"]["pid"]: evs for evs in procs.values()}
    assert set(by_pid) == {out["pid"], child_pid}
    parent_events, child_events = by_pid[out["pid"]], by_pid[child_pid]
    for evs in procs.values():
        check_stream(evs)
    assert attrs(parent_events[0])["parent"] is None
    link = attrs(child_events[0])["parent"]
    assert link["pid"] == out["pid"]
    assert link["via"] == "exec"
    assert link["uuid"] == parent_events[0]["event"]["meta"]["uuid"]
    assert link["direct"] is True
    assert attrs(child_events[0])["executable"] == os.path.realpath(sandbox.bluepython)
    runs = named(child_events, "python_run")
    assert [attrs(r)["mode"] for r in runs] == ["command"]


CLOSED_FD_PROG = (
    "import sys\n"
    "out = sys.stdout or sys.stderr\n"
    "print(repr([sys.stdin is None, sys.stdout is None, sys.stderr is None]), file=out)\n"
    "print('plain print')\n"
    "sys.stderr and sys.stderr.write('to stderr\\n')\n"
    "if sys.stdin is not None:\n"
    "    print(repr(sys.stdin.read()), file=out)\n"
    "raise SystemExit(1 / 0 if len(sys.argv) > 1 else 0)\n"
)


@pytest.mark.parametrize("fd", [0, 1, 2])
@pytest.mark.parametrize("fail", [False, True], ids=["ok", "traceback"])
def test_parity_with_a_closed_standard_fd(sandbox: Sandbox, fd: int, fail: bool) -> None:
    """python with a closed stdin/stdout/stderr sets that stream to None; bluepython's
    own descriptors must never take the free slot and pose as the app's stream."""
    redirect = f"{fd}<&-" if fd == 0 else f"{fd}>&-"
    wrapper = ["sh", "-c", f'exec "$0" "$@" {redirect}']
    args = ["-c", CLOSED_FD_PROG, *(["fail"] if fail else [])]
    py = sandbox.run([*wrapper, sandbox.ref_python, *args])
    bp = sandbox.run([*wrapper, sandbox.bluepython, *args])
    assert (bp.returncode, bp.stdout, bp.stderr) == (py.returncode, py.stdout, py.stderr)
