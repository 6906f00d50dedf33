# SPDX-License-Identifier: Apache-2.0
"""`bluepython report`: per process and session, from spools real processes wrote."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from conftest import FIXTURES, Sandbox, chromium

_CALL_TOOLS = FIXTURES / "call_tools.py"
_SERVER = json.dumps([str(FIXTURES / "tools_server.py"), "report"])
_CALLS = json.dumps([["touch", {"path": f"t{i}.txt"}] for i in range(3)]
                    + [["spawn", {"path": "from-child.txt"}], ["boom", {}]])


def report(sandbox: Sandbox, *args: str) -> Any:
    spool = sandbox.env["BLUEPYTHON_SPOOL_DIR"]
    res = sandbox.run([sandbox.bluepython, "report", "--json", "--spool-dir", spool, *args])
    assert res.returncode == 0, res.stderr.decode()
    return json.loads(res.stdout)


def test_tool_calls_latency_errors_and_side_effects_per_session(sandbox: Sandbox, mcp1: Any) -> None:
    res = sandbox.run([mcp1.python, str(_CALL_TOOLS), mcp1.bluepython, _SERVER, _CALLS])
    assert res.returncode == 0, res.stderr.decode()
    r = report(sandbox)
    server = next(p for p in r["processes"] if p["servers"] == ["report"])
    child = next(p for p in r["processes"] if (p["parent"] or {}).get("call"))
    [session] = [s for s in server["sessions"] if s["side"] == "server"]
    ops = {(o["method"], o["target"]): o for o in session["operations"]}
    touch = ops[("tools/call", "touch")]
    assert touch["calls"] == 3 and touch["errors"] == 0
    durations = sorted(c["duration_ms"] for c in session["calls"] if c["target"] == "touch")
    assert touch["p50_ms"] == round(durations[1], 3) and touch["p95_ms"] == round(durations[2], 3)
    assert ops[("tools/call", "boom")]["errors"] == 1
    calls = {c["target"]: c for c in session["calls"] if c["method"] == "tools/call"}
    assert calls["boom"]["error"]["type"] == "tool_error"
    touched = [fx for c in session["calls"] if c["target"] == "touch" for fx in c["side_effects"]]
    assert sorted(fx["summary"] for fx in touched if fx["event"] == "python_file_open") == \
        ["write t0.txt", "write t1.txt", "write t2.txt"]
    spawned = calls["spawn"]["side_effects"]
    # the spawn itself, and the child's own write, attributed to the call that started it
    assert any(fx["event"] == "python_process_spawn" and fx["pid"] == server["pid"] for fx in spawned)
    assert any(fx["summary"] == "write from-child.txt" and fx["pid"] == child["pid"] for fx in spawned)
    assert r["totals"]["tool_calls"] == 5 and r["totals"]["tool_errors"] == 1
    # The terminal rendering says the same.
    text = sandbox.run([sandbox.bluepython, "report", "--spool-dir", sandbox.env["BLUEPYTHON_SPOOL_DIR"]])
    out = text.stdout.decode()
    assert "5 tool calls (1 failed)" in out
    assert any(line.split()[:4] == ["tools/call", "touch", "3", "0"] for line in out.splitlines())
    assert "python_file_open write from-child.txt (pid" in out


def test_changed_imports_and_internal_exceptions_are_listed(sandbox: Sandbox) -> None:
    sandbox.write("mymod.py", "X = 1\n")
    sandbox.write("main.py", "import mymod, _bluepython\n_bluepython.report_internal('test', 'a fault')\n")
    assert sandbox.bp("main.py").returncode == 0
    first = report(sandbox)
    assert [m["fullname"] for p in first["processes"] for m in p["imports"]["hash_changed"]] == []
    sandbox.write("mymod.py", "X = 2\n")
    assert sandbox.bp("main.py").returncode == 0
    second = report(sandbox)
    changed = [m["fullname"] for p in second["processes"] for m in p["imports"]["hash_changed"]]
    assert changed == ["mymod"]
    faults = [f for p in second["processes"] for f in p["internal_exceptions"]]
    assert {(f["where"], f["message"]) for f in faults} == {("test", "a fault")}


def test_files_directories_and_errors(sandbox: Sandbox, tmp_path: Path) -> None:
    assert sandbox.bp("-c", "pass").returncode == 0
    spool = Path(sandbox.env["BLUEPYTHON_SPOOL_DIR"])
    [one] = sorted(spool.glob("python-*.ndjson"))
    by_file = report(sandbox, str(one))
    assert len(by_file["processes"]) == 1 and by_file["totals"]["events"] > 0
    res = sandbox.run([sandbox.bluepython, "report", str(tmp_path / "nothing")])
    assert res.returncode == 2 and res.stdout == b""
    assert len(res.stderr.decode().strip().splitlines()) == 1


def test_html_page_shows_timelines_and_filters_by_tool(sandbox: Sandbox, mcp1: Any, tmp_path: Path) -> None:
    client = sandbox.run([mcp1.python, str(_CALL_TOOLS), mcp1.bluepython, _SERVER, _CALLS])
    assert client.returncode == 0, client.stderr.decode()
    page = tmp_path / "report.html"
    res = sandbox.run([sandbox.bluepython, "report", "--html", str(page), "--spool-dir",
                       sandbox.env["BLUEPYTHON_SPOOL_DIR"]])
    assert res.returncode == 0 and res.stdout == b"", res.stderr.decode()
    html = page.read_text()
    assert "http://" not in html and "https://" not in html  # self-contained: nothing to fetch
    # The DOM after the page's script ran, filtered by the URL, narrow and wide.
    for size in ("800,900", "1400,900"):
        dom = chromium("--dump-dom", page.as_uri() + "#tool=touch", size=size).stdout.decode()
        assert 'data-ready="1"' in dom
        # what a person sees: no sideways scrolling, every mark inside its track
        assert 'data-scrolls-sideways="false"' in dom and 'data-marks-outside="0"' in dom, size
        row_pattern = r'<div class="(row[^"]*)" data-tool="([^"]*)"><div class="label"[^>]*>([^<]*)</div>'
        rows = re.findall(row_pattern, dom)
        assert sorted(tool for cls, tool, _ in rows if "hidden" not in cls) == ["touch"] * 3
        assert {tool for cls, tool, _ in rows if "hidden" in cls} >= {"spawn", "boom"}
        assert any("failed" in cls and label.endswith("(failed)")
                   for cls, tool, label in rows if tool == "boom")
        effects = re.findall(r'<li class="effect-row[^"]*" data-tool="touch">([^<]*)</li>', dom)
        expected = [f"python_file_open write t{i}.txt" for i in range(3)]
        assert sorted(e.split(": ", 1)[1] for e in effects) == expected
        assert re.search(r'<option value="touch">touch</option>', dom)
        # The child process the spawn call started has nothing of "touch": hidden with its sessions.
        sections = re.findall(r'<section class="(process[^"]*)"><h2>process (\d+) ', dom)
        assert len(sections) == 2 and sum("hidden" in cls for cls, _ in sections) == 1
    # Unfiltered: the failure's reason is on the page, and the counts outside calls.
    dom = chromium("--dump-dom", page.as_uri()).stdout.decode()
    assert re.search(r'<li class="failure-row" data-tool="boom">boom #\d+: failed: tool_error', dom)
    assert "side effects outside calls:" in dom
    assert '<table class="targets">' in dom
    # And it renders: a screenshot of the whole page at both widths.
    for size in ("800,900", "1400,900"):
        shot = tmp_path / f"report-{size.split(',')[0]}.png"
        chromium(f"--screenshot={shot}", page.as_uri(), size=size)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
