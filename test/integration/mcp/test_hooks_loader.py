# SPDX-License-Identifier: Apache-2.0
"""How the built-in MCP hooks are loaded: lazily on the first mcp/fastmcp
import, with the app's wrapt or the private copy, failing open on SDK versions
and layouts they do not know; and the call context the hooks set."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from conftest import (
    McpVenv,
    Sandbox,
    attrs,
    check_stream,
    make_venv,
    named,
    venv_site_packages,
    warning_lines,
)

OURS = (
    "import json, sys\nprint(json.dumps(sorted(m for m in sys.modules if 'bluepython' in m or 'wrapt' in m)))"
)


def _stdout_json(proc) -> object:
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return json.loads(proc.stdout)


def test_an_app_that_never_imports_mcp_loads_nothing_of_ours(sandbox: Sandbox, mcp2: McpVenv) -> None:
    proc = sandbox.run([mcp2.bluepython, "-c", "import json, asyncio\n" + OURS])
    assert _stdout_json(proc) == ["_bluepython"]


@pytest.mark.parametrize("trigger", ["import mcp", "import mcp.types", "from fastmcp import FastMCP"])
def test_the_first_mcp_or_fastmcp_import_activates_the_hooks(
    sandbox: Sandbox, mcp2: McpVenv, trigger: str
) -> None:
    proc = sandbox.run([mcp2.bluepython, "-c", f"{trigger}\n{OURS}"])
    loaded = _stdout_json(proc)
    assert "bluepython_hooks" in loaded
    assert "bluepython_hooks._vendor.wrapt" in loaded
    assert "wrapt" not in loaded
    events = sandbox.events()
    check_stream(events)
    # Our own modules are not reported as the app's imports.
    assert not [e for e in named(events, "python_import") if "bluepython" in attrs(e)["fullname"]]


def test_without_wrapt_in_the_app_the_private_copy_never_shadows(sandbox: Sandbox, mcp2: McpVenv) -> None:
    script = textwrap.dedent(
        """
        import json, sys
        import mcp
        import bluepython_hooks._wrapt as w
        try:
            import wrapt
            app = wrapt.__file__
        except ModuleNotFoundError as exc:
            app = f"ModuleNotFoundError: {exc.name}"
        print(json.dumps({"source": w.source, "name": w.wrapt.__name__, "app": app}))
        """
    )
    out = _stdout_json(sandbox.run([mcp2.bluepython, "-c", script]))
    assert out == {
        "source": "bundled",
        "name": "bluepython_hooks._vendor.wrapt",
        "app": "ModuleNotFoundError: wrapt",
    }


def test_the_apps_own_wrapt_is_used_when_it_has_one(sandbox: Sandbox, mcp1: McpVenv) -> None:
    script = textwrap.dedent(
        """
        import json, sys
        import mcp
        import bluepython_hooks._wrapt as w
        print(json.dumps({"source": w.source, "same": w.wrapt is sys.modules["wrapt"],
                          "file": w.wrapt.__file__}))
        """
    )
    out = _stdout_json(sandbox.run([mcp1.bluepython, "-c", script]))
    assert out["source"] == "app"
    assert out["same"] is True
    assert out["file"].startswith(str(mcp1.root))


def test_with_the_mcp_category_off_nothing_is_activated(sandbox: Sandbox, mcp2: McpVenv) -> None:
    env = {**sandbox.env, "BLUEPYTHON_DISABLE": "mcp"}
    proc = sandbox.run([mcp2.bluepython, "-c", "import mcp\n" + OURS], env=env)
    assert _stdout_json(proc) == ["_bluepython"]


def _fake_sdk(sandbox: Sandbox, ref_python: str, bluepython: str, version: str, files: dict[str, str]) -> str:
    """A virtualenv whose `mcp` distribution is one the hooks do not know."""
    venv = make_venv(ref_python, sandbox.root / "venv")
    site = venv_site_packages(venv)
    dist = site / f"mcp-{version}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: mcp\nVersion: {version}\n")
    for rel, text in files.items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    link = venv / "bin" / "bluepython"
    link.symlink_to(bluepython)
    return str(link)


def test_an_unsupported_sdk_version_is_reported_and_the_app_runs_on(sandbox: Sandbox) -> None:
    files = {"mcp/__init__.py": "VALUE = 42\n"}
    exe = _fake_sdk(sandbox, sandbox.ref_python, sandbox.bluepython, "9.0.0", files)
    proc = sandbox.run([exe, "-c", "import mcp; print(mcp.VALUE)"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"42\n"
    faults = [attrs(e) for e in named(sandbox.events(), "python_internal_exception")]
    assert any("mcp 9.0.0 is not supported" in f["message"] for f in faults), faults
    assert len(warning_lines(proc.stderr)) <= 1


def test_a_missing_hook_target_is_named_and_the_app_runs_on(sandbox: Sandbox) -> None:
    # An mcp "1.99" whose ServerSession lacks every method the 1.x hooks wrap.
    exe = _fake_sdk(
        sandbox,
        sandbox.ref_python,
        sandbox.bluepython,
        "1.99.0",
        {
            "mcp/__init__.py": "from .server.session import ServerSession\n",
            "mcp/server/__init__.py": "",
            "mcp/server/session.py": "class ServerSession:\n    def ok(self):\n        return 'fine'\n",
        },
    )
    proc = sandbox.run([exe, "-c", "import mcp; print(mcp.ServerSession().ok())"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"fine\n"
    messages = [attrs(e)["message"] for e in named(sandbox.events(), "python_internal_exception")]
    prefix = "hook target not found: mcp.server.session:ServerSession."
    missing = [m for m in messages if m.startswith(prefix)]
    assert missing, messages
    assert all("(mcp 1.99.0)" in m for m in missing), missing
    assert len(warning_lines(proc.stderr)) <= 1


CONTEXT_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, threading
    import _bluepython

    seen = {}

    async def handler(n):
        token = _bluepython.enter_call({"call_id": f"c{n}", "method": "tools/call", "target": f"t{n}"})
        try:
            await asyncio.sleep(0.01 * (3 - n))
            seen[f"task{n}"] = _bluepython.current_call()
            _bluepython.emit("test_probe", {"n": n})
            # A worker thread started the way anyio does it: with a copy of the context.
            import contextvars
            ctx = contextvars.copy_context()
            copied = lambda: seen.__setitem__(f"thread{n}", ctx.run(_bluepython.current_call))
            t = threading.Thread(target=copied)
            t.start(); t.join()
            # A plain thread starts with an empty context: no call.
            t = threading.Thread(target=lambda: seen.__setitem__(f"plain{n}", _bluepython.current_call()))
            t.start(); t.join()
        finally:
            _bluepython.exit_call(token)

    async def main():
        await asyncio.gather(*(handler(n) for n in range(3)))
        seen["after"] = _bluepython.current_call()
        _bluepython.emit("test_probe", {"n": None})

    asyncio.run(main())
    print(json.dumps(seen, sort_keys=True))
    """
)


def test_the_call_context_is_per_task_and_stamped_on_events(sandbox: Sandbox) -> None:
    proc = sandbox.bp("-c", CONTEXT_SCRIPT)
    seen = _stdout_json(proc)
    for n in range(3):
        expected = {"call_id": f"c{n}", "method": "tools/call", "target": f"t{n}"}
        assert seen[f"task{n}"] == expected
        assert seen[f"thread{n}"] == expected
        assert seen[f"plain{n}"] is None
    assert seen["after"] is None
    probes = {attrs(e)["n"]: e["event"]["context"] for e in named(sandbox.events(), "test_probe")}
    for n in range(3):
        assert probes[n]["mcp"] == {"call_id": f"c{n}", "method": "tools/call", "target": f"t{n}"}
    assert "mcp" not in probes[None]


def test_call_context_api_errors(sandbox: Sandbox) -> None:
    script = textwrap.dedent(
        """
        import _bluepython
        for bad in ([1], "x", None):
            try:
                _bluepython.enter_call(bad)
            except TypeError as exc:
                print("TypeError", exc)
        try:
            _bluepython.exit_call("not a token")
        except TypeError:
            print("TypeError token")
        print(_bluepython.current_call())
        """
    )
    proc = sandbox.bp("-c", script)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    assert lines[:3] == ["TypeError enter_call(): attributes must be a dict"] * 3
    assert lines[3:] == ["TypeError token", "None"]


def test_hooks_can_be_loaded_from_a_source_tree_for_development(sandbox: Sandbox, mcp2: McpVenv) -> None:
    repo_hooks = Path(__file__).resolve().parents[3] / "hooks"
    env = {**sandbox.env, "BLUEPYTHON_HOOKS_PATH": str(repo_hooks)}
    script = "import mcp, bluepython_hooks, bluepython_hooks._wrapt as w\n"
    script += "print(bluepython_hooks.__file__, w.source)"
    proc = sandbox.run([mcp2.bluepython, "-c", script], env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().split() == [str(repo_hooks / "bluepython_hooks" / "__init__.py"), "bundled"]


CONNECT_SCRIPT = textwrap.dedent(
    """
    import asyncio
    try:
        from mcp.client.streamable_http import streamable_http_client as connect
    except ImportError:
        from mcp.client.streamable_http import streamablehttp_client as connect

    async def main():
        try:
            async with connect("http://user:s3cret@127.0.0.1:9/mcp?token=abc123&x=1"):
                pass
        except BaseException as exc:  # nothing listens on port 9
            print("failed", type(exc).__name__)
        else:
            print("entered")

    asyncio.run(main())
    """
)


def test_client_connect_urls_carry_no_credentials(sandbox: Sandbox, mcp_venv: McpVenv) -> None:
    proc = sandbox.run([mcp_venv.bluepython, "-c", CONNECT_SCRIPT])
    # Connecting is lazy: entering succeeds or fails on port 9; the event comes first either way.
    assert proc.returncode == 0, proc.stderr
    (connect,) = named(sandbox.events(), "python_mcp_client_connect")
    assert attrs(connect)["server"]["type"] == "streamable-http"
    assert attrs(connect)["server"]["url"] == "http://127.0.0.1:9/mcp?token=REDACTED&x=REDACTED"
    # (The script itself, with the URL, is in sensor_startup's argv; MCP events must not add it.)
    mcp_text = json.dumps(
        [e for e in sandbox.events() if e["event"]["meta"]["name"].startswith("python_mcp")]
    )
    assert "s3cret" not in mcp_text and "abc123" not in mcp_text


PATCH_SCRIPT = textwrap.dedent(
    """
    import json
    import mcp, mcp.client.session, mcp.server.lowlevel
    try:
        import mcp.server.fastmcp
    except ImportError:
        import mcp.server.mcpserver
    import fastmcp
    import bluepython_hooks
    from bluepython_hooks import fastmcp as fm_hooks, mcp as mcp_hooks
    from bluepython_hooks._patcher import is_ours

    def current(owner, attribute):
        return owner.__dict__[attribute]

    applied = [p for f in (mcp_hooks, fm_hooks) for p in f.framework.patcher.applied]
    out = {
        "applied": len(applied),
        "all_marked": all(is_ours(current(o, a)) for o, a, _ in applied),
        "originals_unmarked": not any(is_ours(orig) for _, _, orig in applied),
        "none_original": all(current(o, a) is not orig for o, a, orig in applied),
    }
    # Patching again (as a second activation would) wraps nothing twice.
    for f in (mcp_hooks, fm_hooks):
        f.framework.patched = False
        f.patch()
    out["applied_again"] = sum(len(f.framework.patcher.applied) for f in (mcp_hooks, fm_hooks))
    bluepython_hooks.deactivate()
    out["restored"] = all(current(o, a) is orig for o, a, orig in applied)
    out["left"] = sum(len(f.framework.patcher.applied) for f in (mcp_hooks, fm_hooks))
    # And they can be applied again after removal.
    for f in (mcp_hooks, fm_hooks):
        f.framework.patched = False
        f.patch()
    out["reapplied"] = sum(len(f.framework.patcher.applied) for f in (mcp_hooks, fm_hooks))
    print(json.dumps(out))
    """
)


def test_hooks_are_applied_once_and_can_be_removed(sandbox: Sandbox, mcp_venv: McpVenv) -> None:
    out = _stdout_json(sandbox.run([mcp_venv.bluepython, "-c", PATCH_SCRIPT]))
    assert out["applied"] >= 10, out
    assert out["all_marked"] and out["none_original"] and out["originals_unmarked"], out
    assert out["applied_again"] == out["applied"], out
    assert out["restored"] and out["left"] == 0, out
    assert out["reapplied"] == out["applied"], out
    assert not named(sandbox.events(), "python_internal_exception")
