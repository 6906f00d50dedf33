# SPDX-License-Identifier: Apache-2.0
"""From bluepython to a log store and a dashboard, with real parts only: an MCP server runs
under bluepython; its events reach one VictoriaLogs through a Collector's otlp receiver (the
push path) and another through the shipped spool configuration (the tail path,
packaging/otelcol/spool-filelog.yaml, unchanged). Every query of the Grafana dashboard
(packaging/grafana/bluepython-mcp.json) then runs against both stores; the answers must be
the same on both and agree with the spool."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, REPO, Sandbox, attrs, named, warning_lines
from otel_stack import SPOOL_FILELOG, Collector, VictoriaLogs, require_stack, wait_until_stable
from test_otlp import _MCP_SERVER

DASHBOARD = REPO / "packaging" / "grafana" / "bluepython-mcp.json"
_CALL_TOOLS = str(FIXTURES / "call_tools.py")
_CALLS = json.dumps([["touch", {"path": "t1.txt"}], ["touch", {"path": "t2.txt"}], ["boom", {}],
                     ["touch", {"path": "t3.txt"}], ["greet", {"name": "otel"}, "prompt"]])
_POLICY = {"version": 1, "mode": "observe",
           "rules": [{"id": "no-boom", "tools": {"deny": {"call": ["boom"]}}}]}
_PUSH = """
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    logs: {receivers: [otlp], exporters: [otlphttp/logs]}
receivers:
  otlp:
    protocols:
      http: {endpoint: "127.0.0.1:${env:BLUEPYTHON_TEST_OTLP_PORT}"}
exporters:
  otlphttp/logs: {logs_endpoint: "${env:BLUEPYTHON_LOGS_ENDPOINT}"}
"""
_QUIET = "service:\n  telemetry: {metrics: {level: none}}\n"


Answer = dict[tuple[tuple[str, str], ...], float]


def panels() -> list[dict[str, Any]]:
    return json.loads(DASHBOARD.read_text())["panels"]


def answer(store: VictoriaLogs, target: dict[str, Any]) -> Answer:
    """A panel query's answer as {labels: value}; a range query's values are summed."""
    if target["queryType"] == "statsRange":
        now = int(time.time())
        raw = store.stats_range(target["expr"], start=str(now - 3600), end=str(now + 60), step="60s")
        return {tuple(sorted(r["metric"].items())): sum(float(v) for _, v in r["values"])
                for r in raw["data"]["result"]}
    assert target["queryType"] == "stats", target
    raw = store.stats(target["expr"], time=str(int(time.time()) + 60))
    return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in raw["data"]["result"]}


def by(answer_: Answer, *names: str, metric: str | None = None) -> dict[Any, float]:
    out = {}
    for labels, value in answer_.items():
        d = dict(labels)
        if metric is not None and d.get("__name__") != metric:
            continue
        out[tuple(d.get(n) for n in names)] = value
    return out


def target(event: dict[str, Any]) -> str | None:
    return (event["event"]["context"].get("mcp") or {}).get("target")


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[VictoriaLogs, VictoriaLogs]]:
    require_stack()
    pushed = VictoriaLogs(tmp_path / "pushed")
    try:
        tailed = VictoriaLogs(tmp_path / "tailed")
        try:
            yield pushed, tailed
        finally:
            tailed.close()
    finally:
        pushed.close()


def test_every_dashboard_query_answers_the_same_on_both_paths_and_matches_the_spool(
        sandbox: Sandbox, tmp_path: Path, mcp2: Any, stores: tuple[VictoriaLogs, VictoriaLogs]) -> None:
    pushed, tailed = stores
    push_config = tmp_path / "push.yaml"
    push_config.write_text(_PUSH)
    quiet = tmp_path / "quiet.yaml"
    quiet.write_text(_QUIET)
    push = Collector(tmp_path / "push", [push_config], {"BLUEPYTHON_LOGS_ENDPOINT": pushed.otlp_logs_url})
    tail = Collector(tmp_path / "tail", [SPOOL_FILELOG, quiet],
                     {"BLUEPYTHON_LOGS_ENDPOINT": tailed.otlp_logs_url,
                      "BLUEPYTHON_SPOOL_DIR": str(sandbox.spool),
                      "BLUEPYTHON_COLLECTOR_STATE": str(tmp_path / "tail-state")})
    try:
        push.start()
        tail.start(wait_port=False)
        # Logs only: the store takes no spans or metrics (test_collector.py checks those).
        env = {**sandbox.env, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": f"{push.endpoint}/v1/logs",
               "OTEL_SERVICE_NAME": "notes-mcp"}
        # A module that changes between two runs: its second import is a changed import.
        sandbox.write("helper.py", "VALUE = 1\n")
        assert sandbox.bp("-c", "import helper", env=env).returncode == 0
        sandbox.write("helper.py", "VALUE = 2\n")
        assert sandbox.bp("-c", "import helper", env=env).returncode == 0
        (sandbox.cwd / "policy.json").write_text(json.dumps(_POLICY))
        sandbox.write("server.py", _MCP_SERVER)
        server = json.dumps(["server.py", "mcp2"])
        res = sandbox.run([mcp2.python, _CALL_TOOLS, mcp2.bluepython, server, _CALLS],
                          env={**env, "BLUEPYTHON_POLICY": str(sandbox.cwd / "policy.json")})
        assert res.returncode == 0, res.stderr.decode()
        assert warning_lines(res.stderr) == []
        events = sandbox.events()
        # The push path carries every event but each process's sensor_shutdown.
        shutdowns = len(named(events, "sensor_shutdown"))
        wait_until_stable(pushed.count, len(events) - shutdowns, "events in the pushed store")
        wait_until_stable(tailed.count, len(events), "events in the tailed store")
    finally:
        for c in (push, tail):
            if c.proc is not None:
                assert c.stop() == 0, c.output()

    # What the spool says, computed here from the events themselves.
    mcp = named(events, "python_mcp_event")
    responses = [e for e in mcp if attrs(e)["event"] == "server_send_response"
                 and attrs(e).get("request_method") == "tools/call"]
    calls = Counter(target(e) for e in responses)
    failed = Counter((target(e), attrs(e)["error"]["type"])
                     for e in responses if attrs(e).get("error"))
    effects = Counter((target(e), e["event"]["meta"]["name"]) for e in events
                      if e["event"]["context"].get("scope") == "call"
                      and not e["event"]["meta"]["name"].startswith("python_mcp_")
                      and e["event"]["meta"]["name"] != "python_import")
    violations = Counter((attrs(e)["rule"], attrs(e)["action"])
                         for e in named(events, "python_policy_violation"))
    changed = Counter(attrs(e)["fullname"] for e in named(events, "python_import")
                      if attrs(e)["hash_changed"])
    assert calls == {"touch": 3, "boom": 1}
    assert failed == {("boom", "tool_error"): 1}
    assert effects[("touch", "python_file_open")] == 3
    assert violations == {("no-boom", "recorded"): 1}
    assert changed == {"helper": 1}

    titles = set()
    for panel in panels():
        titles.add(panel["title"])
        assert panel["datasource"]["type"] == "victoriametrics-logs-datasource"
        (query,) = panel["targets"]
        on_push, on_tail = answer(pushed, query), answer(tailed, query)
        assert on_push == on_tail, panel["title"]
        got = on_push
        target_key = "event.context.mcp.target"
        if panel["title"] == "Tool calls per tool":
            assert {k[0]: int(v) for k, v in by(got, target_key).items()} == dict(calls)
        elif panel["title"] == "Failed tool calls":
            assert {k: int(v) for k, v in by(got, target_key, "event.error.type").items()} == dict(failed)
        elif panel["title"].startswith("Tool call latency"):
            counts = by(got, target_key, metric="calls")
            assert {k[0]: int(v) for k, v in counts.items()} == {t: n for t, n in calls.items()}
            durations = sorted(attrs(e)["duration_ms"] for e in responses
                               if target(e) == "touch")
            p95 = by(got, target_key, metric="p95")[("touch",)]
            assert durations[0] <= p95 <= durations[-1]
        elif panel["title"] == "Side effects per tool":
            assert {k: int(v) for k, v in by(got, target_key, "event_name").items()} == dict(effects)
        elif panel["title"] == "Policy violations":
            assert {k: int(v) for k, v in by(got, "event.rule", "event.action").items()} == dict(violations)
        elif panel["title"] == "Internal faults":
            assert sum(got.values()) == len(named(events, "python_internal_exception")) == 0
        elif panel["title"] == "Changed imports":
            assert {k[0]: int(v) for k, v in by(got, "event.fullname").items()} == dict(changed)
        else:
            pytest.fail(f"a dashboard panel this test does not check: {panel['title']}")
    assert len(titles) == 7
