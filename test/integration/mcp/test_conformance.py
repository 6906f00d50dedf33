# SPDX-License-Identifier: Apache-2.0
"""Protocol transparency against the official MCP conformance suite.

The suite (`@modelcontextprotocol/conformance`, a TypeScript-SDK client, run
with the pinned Node 22 of build/npm) drives a fixture server over Streamable
HTTP: test/fixtures/conformance_server.py (mcp 2.x MCPServer) at spec versions
2025-11-25 and 2026-07-28, conformance_server_v1.py (mcp 1.x FastMCP) at
2025-11-25; each under the venv's plain python and under bluepython. Every
scenario and every check must come out the same. And bluepython's spool must
hold the MCP traffic that actually crossed the wire: the fixture records each
JSON-RPC message in and out of its HTTP endpoint (test/fixtures/http_recorder.py),
so the expectation is exact rather than a guess.

Needs build/npm: `bash test/setup_npm.sh`.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    FIXTURES,
    McpVenv,
    Sandbox,
    check_stream,
    clean_env,
    named,
    processes,
    read_spool,
    sandbox_at,
    serve,
)
from mcp_traffic import describe, mcp_messages
from node_tools import CONFORMANCE, NODE, require_npm

SERVERS = {"mcp1": FIXTURES / "conformance_server_v1.py", "mcp2": FIXTURES / "conformance_server.py"}
# 2025-11-25: the stateful wire (initialize, sessions, server-to-client
# requests). 2026-07-28: the stateless one (per-request _meta, server/discover,
# InputRequiredResult); mcp 1.x does not speak it. Extension scenarios (tasks-*,
# sep-2640-skills-*) are not run: the SDKs do not implement the tasks extension.
CASES = [("mcp2", "2025-11-25"), ("mcp2", "2026-07-28"), ("mcp1", "2025-11-25")]
CASE_IDS = [f"{line}-{spec}" for line, spec in CASES]
SUITE_TIMEOUT = 180

# What the suite must at least have exchanged with the server, per wire: the
# brief's minimum, checked against the recording (it keeps the fixture honest).
CORE_METHODS = {
    "2025-11-25": {"initialize", "tools/list", "tools/call", "resources/list", "prompts/list"},
    "2026-07-28": {"server/discover", "tools/list", "tools/call", "resources/list", "prompts/list"},
}

KINDS = ("request", "notification", "response")
_RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$")
_SUMMARY_LINE = re.compile(r"^[✓✗] (?P<scenario>\S+): (?P<passed>\d+) passed, (?P<failed>\d+) failed$")


@dataclass
class SuiteRun:
    interpreter: str  # "python" or "bluepython"
    spec: str
    exit_code: int
    output: str
    scenarios: dict[str, list[dict[str, Any]]]  # scenario -> its checks (checks.json)
    recorded: list[dict[str, Any]]  # what crossed the fixture's HTTP endpoint (http_recorder.py)
    spool: Path
    server_log: Path
    server_alive_after_suite: bool
    server_exit: int | None
    summary: dict[str, tuple[int, int]] = field(default_factory=dict)

    def status(self, scenario: str) -> str:
        statuses = [c["status"] for c in self.scenarios[scenario]]
        if "FAILURE" in statuses:
            return "fail"
        return "pass" if "SUCCESS" in statuses else "skip"

    def statuses(self) -> dict[str, str]:
        return {s: self.status(s) for s in self.scenarios}

    def passing(self) -> set[str]:
        return {s for s in self.scenarios if self.status(s) == "pass"}

    def verdicts(self) -> Counter[tuple[str, str, str]]:
        """(scenario, check id, status) of every scored check (INFO and the like left out)."""
        return Counter(
            (s, c["id"], c["status"])
            for s, checks in self.scenarios.items()
            for c in checks
            if c["status"] in ("SUCCESS", "FAILURE")
        )

    def failures(self) -> str:
        lines = []
        for s, checks in sorted(self.scenarios.items()):
            for c in checks:
                if c["status"] == "FAILURE":
                    lines.append(f"  {s}: {c['id']}: {c.get('errorMessage', '')}"[:300])
        return "\n".join(lines)


def _parse_results(out_dir: Path) -> dict[str, list[dict[str, Any]]]:
    scenarios: dict[str, list[dict[str, Any]]] = {}
    for entry in sorted(out_dir.iterdir()) if out_dir.is_dir() else []:
        m = _RESULT_DIR.match(entry.name)
        assert m, f"unexpected entry in the suite's output dir: {entry.name}"
        checks_file = entry / "checks.json"
        assert checks_file.is_file(), f"{entry} has no checks.json"
        checks = json.loads(checks_file.read_text())
        assert isinstance(checks, list), checks_file
        assert m["scenario"] not in scenarios, f"scenario {m['scenario']} ran twice"
        scenarios[m["scenario"]] = checks
    return scenarios


def _parse_summary(output: str) -> dict[str, tuple[int, int]]:
    text = output.split("=== SUMMARY ===", 1)[-1] if "=== SUMMARY ===" in output else ""
    found = {}
    for line in text.splitlines():
        m = _SUMMARY_LINE.match(line.strip())
        if m:
            found[m["scenario"]] = (int(m["passed"]), int(m["failed"]))
    return found


def _run_suite(world: Sandbox, venv: McpVenv, interpreter: str, spec: str) -> SuiteRun:
    tag = f"{venv.line}-{spec}-{interpreter}"
    exe = venv.python if interpreter == "python" else venv.bluepython
    spool = world.root / "spools" / tag
    env = dict(world.env, BLUEPYTHON_SPOOL_DIR=str(spool))
    record = world.root / f"{tag}.record.jsonl"
    out_dir = world.root / f"{tag}.results"
    log = world.root / f"{tag}.server.log"
    node_env = clean_env()
    node_env.update(HOME=str(world.home), NO_COLOR="1")
    with serve(
        lambda port: [exe, str(SERVERS[venv.line]), str(port), str(record)], env, world.cwd, log
    ) as served:
        suite = subprocess.run(
            [
                str(NODE),
                str(CONFORMANCE),
                "server",
                "--url",
                served.url,
                "--suite",
                "all",
                "--spec-version",
                spec,
                "--output-dir",
                str(out_dir),
            ],
            env=node_env,
            cwd=world.cwd,
            capture_output=True,
            timeout=SUITE_TIMEOUT,
        )
        alive = served.proc.poll() is None
    output = suite.stdout.decode(errors="replace") + suite.stderr.decode(errors="replace")
    recorded = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
    return SuiteRun(
        interpreter=interpreter,
        spec=spec,
        exit_code=suite.returncode,
        output=output,
        scenarios=_parse_results(out_dir),
        recorded=recorded,
        spool=spool,
        server_log=log,
        server_alive_after_suite=alive,
        server_exit=served.returncode,
        summary=_parse_summary(output),
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, bluepython: str, ref_python: str) -> Sandbox:
    """One sandbox (HOME, work dir) for the module: the suite runs once per
    (interpreter, spec version) and several tests read the results."""
    return sandbox_at(tmp_path_factory.mktemp("conformance"), bluepython, ref_python)


@pytest.fixture(scope="module")
def runs(world: Sandbox, mcp1: McpVenv, mcp2: McpVenv) -> dict[tuple[str, str, str], SuiteRun]:
    require_npm()
    venvs = {"mcp1": mcp1, "mcp2": mcp2}
    return {
        (line, spec, interpreter): _run_suite(world, venvs[line], interpreter, spec)
        for line, spec in CASES
        for interpreter in ("python", "bluepython")
    }


def _check_run(run: SuiteRun) -> None:
    """The run itself worked: results parsed, agreeing with the printed summary."""
    assert run.scenarios, (
        f"{run.interpreter} {run.spec}: the suite produced no results:\n{run.output[-3000:]}"
    )
    if run.summary:
        assert set(run.summary) == set(run.scenarios), set(run.summary) ^ set(run.scenarios)
        for scenario, (passed, failed) in run.summary.items():
            checks = run.scenarios[scenario]
            assert passed == sum(c["status"] == "SUCCESS" for c in checks), scenario
            assert failed == sum(c["status"] == "FAILURE" for c in checks), scenario


@pytest.mark.parametrize(("line", "spec"), CASES, ids=CASE_IDS)
def test_fixture_passes_the_suite(runs: dict[tuple[str, str, str], SuiteRun], line: str, spec: str) -> None:
    """Under plain python the fixture passes every scenario of the pinned suite
    (keeps the comparison below meaningful)."""
    run = runs[line, spec, "python"]
    _check_run(run)
    assert run.passing() == set(run.scenarios), f"failing under plain python:\n{run.failures()}"
    assert run.exit_code == 0, run.output[-3000:]
    assert run.server_alive_after_suite, run.server_log.read_text()[-3000:]


@pytest.mark.parametrize(("line", "spec"), CASES, ids=CASE_IDS)
def test_same_results_under_bluepython(
    runs: dict[tuple[str, str, str], SuiteRun], line: str, spec: str
) -> None:
    py, bp = runs[line, spec, "python"], runs[line, spec, "bluepython"]
    _check_run(py)
    _check_run(bp)
    assert py.passing(), "no scenario passed under plain python"
    assert bp.passing() == py.passing(), (
        f"passing under python only: {sorted(py.passing() - bp.passing())}; "
        f"under bluepython only: {sorted(bp.passing() - py.passing())}\nbluepython failures:\n{bp.failures()}"
    )
    assert bp.statuses() == py.statuses()
    differ = (bp.verdicts() - py.verdicts()) + (py.verdicts() - bp.verdicts())
    assert not differ, f"checks that differ: {describe(differ)}"
    assert bp.exit_code == py.exit_code, bp.output[-3000:]
    assert bp.server_alive_after_suite, bp.server_log.read_text()[-3000:]
    assert bp.server_exit == py.server_exit, (
        bp.server_exit,
        py.server_exit,
        bp.server_log.read_text()[-3000:],
    )


@pytest.mark.parametrize(("line", "spec"), CASES, ids=CASE_IDS)
def test_bluepython_spool_is_sound(runs: dict[tuple[str, str, str], SuiteRun], line: str, spec: str) -> None:
    """One server process, a complete stream, no sensor faults (a hook that
    failed to apply reports a python_internal_exception)."""
    bp = runs[line, spec, "bluepython"]
    streams = processes(bp.spool)
    assert len(streams) == 1, f"expected one process in the spool, got {len(streams)}"
    events = next(iter(streams.values()))
    check_stream(events)
    faults = [
        ev["event"].get("where", "") + ": " + ev["event"].get("message", "")
        for ev in named(events, "python_internal_exception")
    ]
    assert not faults, "sensor faults:\n" + "\n".join(faults)


@pytest.mark.parametrize(("line", "spec"), CASES, ids=CASE_IDS)
def test_spool_records_the_suite_traffic(
    runs: dict[tuple[str, str, str], SuiteRun], line: str, spec: str
) -> None:
    """The JSON-RPC traffic that crossed the server's HTTP boundary (recorded
    by the fixture) is in bluepython's spool as python_mcp_event, by kind,
    method and id: every request the SDK answered with HTTP 200, every accepted
    client notification and client response, as received; every response in
    a 200 reply, every notification and request the server wrote out, as sent;
    and nothing received that the client never sent. Requests the transport
    turned away (4xx: bad Host, unknown session, invalid envelope) and the
    error bodies of those replies may or may not be reported, depending on
    how far they got."""
    bp = runs[line, spec, "bluepython"]
    assert bp.recorded, "the fixture recorded no traffic"

    def rec(direction: str, kind: str, *statuses: int) -> list[dict[str, Any]]:
        return [
            r
            for r in bp.recorded
            if r["dir"] == direction and r["kind"] == kind and (not statuses or r["status"] in statuses)
        ]

    answered = Counter((r["method"], r["id"]) for r in rec("in", "request", 200))
    core = CORE_METHODS[spec] - {m for m, _ in answered}
    assert not core, f"the suite did not exercise {sorted(core)}: recorder or suite changed"

    msgs = mcp_messages(read_spool(bp.spool))
    if not msgs:
        pytest.fail(f"no python_mcp_event at all ({sum(answered.values())} requests answered by the server)")
    spool_in = {k: [m for m in msgs if m.direction == "in" and m.kind == k] for k in KINDS}
    spool_out = {k: [m for m in msgs if m.direction == "out" and m.kind == k] for k in KINDS}
    problems = []

    def lower_bound(what: str, want: Counter[Any], got: Counter[Any]) -> None:
        if missing := want - got:
            problems.append(f"{what} not in the spool: {describe(missing)}")

    def upper_bound(what: str, got: Counter[Any], sent: Counter[Any]) -> None:
        if phantom := got - sent:
            problems.append(f"{what} in the spool that never crossed the wire: {describe(phantom)}")

    got = Counter((m.method, m.id) for m in spool_in["request"])
    lower_bound("received requests (answered 200)", answered, got)
    upper_bound("received requests", got, Counter((r["method"], r["id"]) for r in rec("in", "request")))

    got = Counter(m.method for m in spool_in["notification"])
    lower_bound("received notifications", Counter(r["method"] for r in rec("in", "notification", 202)), got)
    upper_bound("received notifications", got, Counter(r["method"] for r in rec("in", "notification")))

    got = Counter(m.id for m in spool_in["response"])
    lower_bound("received client responses, ids", Counter(r["id"] for r in rec("in", "response", 202)), got)
    upper_bound("received client responses, ids", got, Counter(r["id"] for r in rec("in", "response")))

    lower_bound(
        "sent responses, ids",
        Counter(r["id"] for r in rec("out", "response", 200)),
        Counter(m.id for m in spool_out["response"]),
    )
    lower_bound(
        "sent notifications",
        Counter(r["method"] for r in rec("out", "notification")),
        Counter(m.method for m in spool_out["notification"]),
    )
    lower_bound(
        "sent requests",
        Counter((r["method"], r["id"]) for r in rec("out", "request")),
        Counter((m.method, m.id) for m in spool_out["request"]),
    )

    sessions = {r["session_id"] for r in rec("in", "request", 200) if r.get("session_id")}
    if missing_sessions := sessions - {m.session_id for m in msgs}:
        problems.append(
            f"{len(missing_sessions)} of {len(sessions)} Mcp-Session-Id values never appear as session_id"
        )
    assert not problems, f"{line} {spec}:\n" + "\n".join(problems)
