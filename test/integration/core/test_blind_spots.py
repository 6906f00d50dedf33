# SPDX-License-Identifier: Apache-2.0
"""What real servers do that used to be invisible or misreported: SQLite
databases, temporary files, operations that fail, source reads of traceback
formatting; and how report and tail say it (rename direction, repeat counts,
request ids). The server runs on both SDK lines, driven by the SDK's client."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, McpVenv, attrs, named, read_spool

_SERVER = FIXTURES / "blind_spots" / "server.py"
_CALLS = [["db", {"tag": "a"}], ["temps", {}], ["dirs", {}], ["noisy", {}], ["start_helper", {}],
          ["stop_helpers", {}]]


@pytest.fixture(scope="module", params=["mcp1", "mcp2"])
def ran(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    venv: McpVenv = request.getfixturevalue(request.param)
    root = tmp_path_factory.mktemp(f"blind-{request.param}")
    work = root / "work"
    (work / "exists").mkdir(parents=True)
    (work / "main.lock").write_text("m")
    spool = root / "spool"
    env = venv.env(root, BLUEPYTHON_SPOOL_DIR=str(spool), TMPDIR=str(work))
    res = subprocess.run(
        [venv.python, str(FIXTURES / "call_tools.py"), venv.bluepython, json.dumps([str(_SERVER), str(work)]),
         json.dumps(_CALLS)],
        env=env, capture_output=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr.decode()
    events = read_spool(spool)
    by_tool: dict[str, list[dict[str, Any]]] = {}
    for ev in events:
        target = ev["event"].get("context", {}).get("mcp", {}).get("target")
        if target and not ev["event"]["meta"]["name"].startswith("python_mcp"):
            by_tool.setdefault(target, []).append(ev)
    return {"venv": venv, "work": work, "spool": spool, "events": events, "by_tool": by_tool, "env": env}


def effects(ran: dict[str, Any], tool: str, event: str) -> list[dict[str, Any]]:
    return [attrs(ev) for ev in named(ran["by_tool"].get(tool, []), event)]


def test_sqlite_connects_and_writes_are_the_calls_file_effects(ran: dict[str, Any]) -> None:
    db = str(ran["work"] / "app.db")
    opens = [a for a in effects(ran, "db", "python_file_open") if a["via"] == "sqlite3.connect/handle"]
    rw = [a for a in opens if a["access"] == "read_write"]
    ro = [a for a in opens if a["access"] == "read"]
    assert [a["path"] for a in rw] == [db] and rw[0]["create"] is True and rw[0]["uri"] is False
    assert [a["path"] for a in ro] == [db] and ro[0]["uri"] is True and ro[0]["mode"] == "ro"
    assert len(opens) == 2  # ":memory:" touches no file
    writes = [a for a in effects(ran, "db", "python_file_change") if a["via"] == "sqlite3"]
    assert {(a["op"], a["path"], a["statement"]) for a in writes} == {
        ("write", db, "create table notes"), ("write", db, "insert into notes")}


def test_temp_files_and_their_clean_up(ran: dict[str, Any]) -> None:
    changes = effects(ran, "temps", "python_file_change")
    ops = [(a["op"], Path(a["path"]).name.split("-")[0]) for a in changes]
    assert ("mkstemp", "mk") in ops and ("remove", "mk") in ops
    assert ("mkstemp", "named") in ops and ("remove", "named") in ops
    assert ("mkdtemp", "dir") in ops and ("rmtree", "dir") in ops
    assert all(Path(a["path"]).parent == ran["work"] for a in changes), changes  # not gettempdir()'s probe
    assert len(changes) == 6, changes
    assert any(a["path"].endswith("/inside.txt") for a in effects(ran, "temps", "python_file_open"))


def test_only_what_took_effect_is_reported(ran: dict[str, Any]) -> None:
    changes = effects(ran, "dirs", "python_file_change")
    assert [(a["op"], Path(a["path"]).name) for a in changes] == [("mkdir", "fresh"), ("rename", "main.lock")]
    assert changes[1]["target"] == str(ran["work"] / "main")


def test_traceback_and_warning_source_reads_are_not_the_tools(ran: dict[str, Any]) -> None:
    assert effects(ran, "noisy", "python_code_dynamic") == []
    assert effects(ran, "noisy", "python_file_open") == []


def test_report_reads_renames_forwards_and_counts_repeats_once(ran: dict[str, Any], bluepython: str) -> None:
    spool = str(ran["spool"])
    out = subprocess.run([bluepython, "report", spool], capture_output=True, check=True,
                         timeout=60).stdout.decode()
    work = ran["work"]
    assert f"python_file_change rename {work}/main.lock -> {work}/main\n" in out
    assert f"python_file_open read {work}/main x2\n" in out
    assert f"python_file_change write {work}/app.db (insert into notes)" in out
    report = json.loads(subprocess.run([bluepython, "report", "--json", spool], capture_output=True,
                                       check=True, timeout=60).stdout)
    calls = [c for p in report["processes"] for s in p["sessions"] for c in s["calls"]
             if c["target"] == "dirs"]
    [reads] = [fx for fx in calls[0]["side_effects"] if fx["summary"] == f"read {work}/main"]
    assert reads["count"] == 2
    # Side effects are structured in --json, and summed up per tool across sessions first.
    [rename] = [fx for fx in calls[0]["side_effects"] if fx["attributes"].get("op") == "rename"]
    assert rename["attributes"]["path"] == f"{work}/main.lock"
    assert rename["attributes"]["target"] == f"{work}/main"
    targets = {t["target"]: t for t in report["targets"]}
    assert set(targets) == {tool for tool, _ in _CALLS}
    assert targets["dirs"]["calls"] == 1 and targets["dirs"]["side_effects"]["python_file_change"] == 2
    assert out.index("tool, prompt or resource (all sessions)") < out.index("\nprocess ")


def test_tail_takes_a_directory_and_shows_repeats_with_their_count(ran: dict[str, Any],
                                                                   bluepython: str) -> None:
    res = subprocess.run([bluepython, "tail", "-n", "1000", "--filter", "tool=dirs", str(ran["spool"])],
                         capture_output=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr.decode()
    lines = res.stdout.decode().splitlines()
    work = ran["work"]
    reads = [line for line in lines if f"read {work}/main" in line]
    assert len(reads) == 2 and reads[1].endswith("(repeated 1 more time in this call)"), lines
    # The call is named by its JSON-RPC request id, as report names it.
    [request_id] = {ev["event"]["context"]["mcp"]["request_id"] for ev in ran["by_tool"]["dirs"]}
    assert all(f"[dirs#{request_id}]" in line for line in reads)
    # Imports: hidden unless asked for.
    everything = subprocess.run([bluepython, "tail", "-n", "100000", str(ran["spool"])], capture_output=True,
                                timeout=60, check=True).stdout.decode()
    assert " python_import " not in everything
    shown = subprocess.run([bluepython, "tail", "-n", "100000", "--imports", str(ran["spool"])],
                           capture_output=True, timeout=60, check=True).stdout.decode()
    assert " python_import " in shown


def test_a_response_is_reported_in_its_call_and_the_session_names_its_client(ran: dict[str, Any]) -> None:
    responses = [ev for ev in named(ran["events"], "python_mcp_event")
                 if attrs(ev)["event"] == "server_send_response"
                 and attrs(ev).get("request_method") == "tools/call"]
    assert len(responses) == len(_CALLS)
    targets = sorted(ev["event"]["context"]["mcp"]["target"] for ev in responses)
    assert targets == sorted(tool for tool, _ in _CALLS)
    for ev in responses:
        assert ev["event"]["context"]["mcp"]["request_id"] == attrs(ev)["id"]
    [ended] = [attrs(ev) for ev in named(ran["events"], "python_mcp_session_terminated")
               if attrs(ev)["source"] == 0]
    assert ended["client_name"] == "mcp" and ended["protocol_version"]


def test_tail_shows_a_tools_result_under_its_tool(ran: dict[str, Any], bluepython: str) -> None:
    res = subprocess.run([bluepython, "tail", "-n", "1000", "--filter", "tool=noisy", str(ran["spool"])],
                         capture_output=True, timeout=60, check=True)
    lines = res.stdout.decode().splitlines()
    assert any("server_received_request tools/call noisy" in line for line in lines), lines
    assert any("[noisy#" in line and "server_send_response" in line for line in lines), lines


def test_a_spawn_names_its_child_and_a_signal_the_call_that_started_it(ran: dict[str, Any],
                                                                       bluepython: str) -> None:
    [spawned] = effects(ran, "start_helper", "python_process_spawn")
    assert spawned["argv"] == ["sleep", "60"] and spawned["pid"] > 0
    start_call = ran["by_tool"]["start_helper"][0]["event"]["context"]["mcp"]["call_id"]
    [signal] = effects(ran, "stop_helpers", "python_process_signal")
    assert signal["pid"] == spawned["pid"] and signal["signal"] == 15
    assert signal["target"] == {"program": "sleep", "spawned_in": start_call}
    # In the report the clean-up's signal is under the call that started the child.
    report = json.loads(subprocess.run([bluepython, "report", "--json", str(ran["spool"])],
                                       capture_output=True, check=True, timeout=60).stdout)
    calls = {c["target"]: c for p in report["processes"] for s in p["sessions"] for c in s["calls"]}
    summaries = [fx["summary"] for fx in calls["start_helper"]["side_effects"]]
    assert f"pid {spawned['pid']} (sleep) signal 15 (sent during tools/call stop_helpers)" in summaries
    assert not any(fx["event"] == "python_process_signal" for fx in calls["stop_helpers"]["side_effects"])
