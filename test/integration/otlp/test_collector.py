# SPDX-License-Identifier: Apache-2.0
"""bluepython into a real OpenTelemetry Collector (build/otel/bin/otelcol-bluepython, the
official components at one release), both ways a fleet ships events (docs/export.md):

- push: bluepython's own OTLP export -> the Collector's otlp receiver -> file exporter;
- tail: the spool directory -> the Collector's filelog receiver, with the configuration
  shipped in packaging/otelcol/spool-filelog.yaml, across restarts -> OTLP/HTTP -> a second
  Collector's file exporter.

What the file exporter wrote is decoded and compared with the spool, line for line."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, TIMEOUT, Sandbox, attrs, named, spool_files, wait_for, warning_lines
from otel_stack import (
    SPOOL_FILELOG,
    Collector,
    file_exporter_lines,
    file_exporter_records,
    otlp_attrs,
    require_stack,
    wait_until_stable,
)
from test_otlp import _MCP_SERVER

_CALL_TOOLS = str(FIXTURES / "call_tools.py")
_CALLS = json.dumps([["touch", {"path": "t1.txt"}], ["touch", {"path": "t2.txt"}], ["boom", {}],
                     ["greet", {"name": "otel"}, "prompt"]])
# Observe mode: a call of `boom` is recorded as a violation (severity WARN), not refused.
_POLICY = {"version": 1, "mode": "observe",
           "rules": [{"id": "no-boom", "tools": {"deny": {"call": ["boom"]}}}]}

# The Collector's own telemetry is off: tests run side by side, and its metrics port is fixed.
_QUIET = """
service:
  telemetry:
    metrics:
      level: none
"""

_PUSH = _QUIET + """
  pipelines:
    logs: {receivers: [otlp], processors: [batch], exporters: [file/logs]}
    traces: {receivers: [otlp], processors: [batch], exporters: [file/traces]}
    metrics: {receivers: [otlp], processors: [batch], exporters: [file/metrics]}
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${env:BLUEPYTHON_TEST_OTLP_PORT}
processors:
  batch:
    timeout: 100ms
exporters:
  file/logs: {path: "${env:OUT}/logs.json", flush_interval: 100ms}
  file/traces: {path: "${env:OUT}/traces.json", flush_interval: 100ms}
  file/metrics: {path: "${env:OUT}/metrics.json", flush_interval: 100ms}
"""

# The backend of the tail test: a second Collector, never killed, that receives OTLP/HTTP
# logs and writes them to a file. The Collector under test runs the shipped filelog
# configuration as it is (its exporter's queue on disk); only a backend that is stopped
# cleanly is sure to have written what it accepted (the file exporter buffers its writes).
_BACKEND = _QUIET + """
  pipelines:
    logs: {receivers: [otlp], exporters: [file]}
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${env:BLUEPYTHON_TEST_OTLP_PORT}
exporters:
  file: {path: "${env:OUT}", flush_interval: 100ms}
"""


@pytest.fixture(scope="module", autouse=True)
def _stack() -> None:
    require_stack()


def _mcp_run(sandbox: Sandbox, venv: Any, env: dict[str, str]) -> None:
    sandbox.write("server.py", _MCP_SERVER)
    server = json.dumps(["server.py", venv.line])
    res = sandbox.run([venv.python, _CALL_TOOLS, venv.bluepython, server, _CALLS], env=env)
    assert res.returncode == 0, res.stderr.decode()
    assert warning_lines(res.stderr) == []


def _spool_lines(spool: Path) -> list[str]:
    return [line for f in spool_files(spool) for line in f.path.read_text().splitlines()]


@pytest.mark.parametrize("line", ["mcp1", "mcp2"])
def test_push_every_event_span_and_histogram_arrives_through_a_real_collector(
        sandbox: Sandbox, tmp_path: Path, line: str, request: pytest.FixtureRequest) -> None:
    venv = request.getfixturevalue(line)
    out = tmp_path / "out"
    out.mkdir()
    config = tmp_path / "push.yaml"
    config.write_text(_PUSH)
    collector = Collector(tmp_path, [config], {"OUT": str(out)})
    collector.start()
    try:
        (sandbox.cwd / "policy.json").write_text(json.dumps(_POLICY))
        env = {**sandbox.env, "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
               "OTEL_SERVICE_NAME": "notes-mcp", "BLUEPYTHON_POLICY": str(sandbox.cwd / "policy.json")}
        _mcp_run(sandbox, venv, env)
        events = sandbox.events()
        # Every spool event but sensor_shutdown (written after the last export) is a log record.
        exported = [e for e in events if e["event"]["meta"]["name"] != "sensor_shutdown"]
        logs = out / "logs.json"
        wait_until_stable(lambda: sum(1 for _ in file_exporter_records(logs)), len(exported), "log records")
    finally:
        assert collector.stop() == 0, collector.output()
    records = list(file_exporter_records(logs))
    assert [json.loads(r["body"]["stringValue"]) for _, r in records] == exported
    assert [r["eventName"] for _, r in records] == [e["event"]["meta"]["name"] for e in exported]
    resource = records[0][0]
    assert resource["service.name"] == "notes-mcp"
    assert resource["process.pid"] == events[0]["event"]["context"]["process"]["pid"]
    for (_, record), event in zip(records, exported, strict=True):
        ts = datetime.fromisoformat(event["ts"].replace("Z", "+00:00"))
        assert abs(int(record["timeUnixNano"]) / 1e9 - ts.timestamp()) < 1e-5
    violations = [r for _, r in records if r["eventName"] == "python_policy_violation"]
    assert violations and all(r["severityText"] == "WARN" for r in violations)
    calls = [r for _, r in records if r["eventName"] == "python_file_open"
             and otlp_attrs(r.get("attributes", [])).get("mcp.method.name") == "tools/call"]
    assert len(calls) == 2 and all(r.get("traceId") and r.get("spanId") for r in calls)

    spans = [s for req in file_exporter_lines(out / "traces.json") for rs in req["resourceSpans"]
             for ss in rs["scopeSpans"] for s in ss["spans"]]
    touch = [s for s in spans if s["name"] == "tools/call touch"]
    assert len(touch) == 2
    # The tool's file write is an event of its span, and its log record points at that span.
    for s in touch:
        assert s["kind"] == 2 and otlp_attrs(s["attributes"])["gen_ai.tool.name"] == "touch"
        assert [e["name"] for e in s.get("events", [])].count("python_file_open") == 1
    assert {(r["traceId"], r["spanId"]) for r in calls} == {(s["traceId"], s["spanId"]) for s in touch}
    boom = [s for s in spans if s["name"] == "tools/call boom"]
    assert len(boom) == 1 and boom[0]["status"]["code"] == 2

    histograms = {}
    for req in file_exporter_lines(out / "metrics.json"):
        for rm in req["resourceMetrics"]:
            for sm in rm["scopeMetrics"]:
                for m in sm["metrics"]:
                    histograms[m["name"]] = m
    op = histograms["mcp.server.operation.duration"]["histogram"]
    touch_points = [p for p in op["dataPoints"]
                    if otlp_attrs(p["attributes"]).get("gen_ai.tool.name") == "touch"]
    assert touch_points and int(touch_points[-1]["count"]) == 2
    assert "mcp.server.session.duration" in histograms


_WRITER = """
import sys, time
for i in range(int(sys.argv[1])):
    open(f"f{i}.txt", "w").close()
    time.sleep(0.002)
"""


def test_tail_every_spool_line_arrives_once_across_collector_restarts(
        sandbox: Sandbox, tmp_path: Path, mcp2: Any) -> None:
    state = tmp_path / "collector-state"
    quiet = tmp_path / "quiet.yaml"
    quiet.write_text(_QUIET)
    (tmp_path / "backend.yaml").write_text(_BACKEND)
    out = tmp_path / "records.json"
    backend = Collector(tmp_path / "backend", [tmp_path / "backend.yaml"], {"OUT": str(out)})
    env = {"BLUEPYTHON_SPOOL_DIR": str(sandbox.spool), "BLUEPYTHON_COLLECTOR_STATE": str(state),
           "BLUEPYTHON_LOGS_ENDPOINT": f"{backend.endpoint}/v1/logs"}
    collector = Collector(tmp_path, [SPOOL_FILELOG, quiet], env)

    def arrived() -> list[dict[str, Any]]:
        return [r for _, r in file_exporter_records(out)]

    (sandbox.cwd / "policy.json").write_text(json.dumps(_POLICY))
    _mcp_run(sandbox, mcp2, {**sandbox.env, "BLUEPYTHON_POLICY": str(sandbox.cwd / "policy.json")})
    backend.start()
    try:
        collector.start(wait_port=False)
        wait_until_stable(lambda: len(arrived()), len(_spool_lines(sandbox.spool)),
                          "records before the restarts")
        # A writer runs while the Collector is stopped twice: once cleanly, once killed.
        sandbox.write("writer.py", _WRITER)
        sandbox.write("small-files.json", '{"spool": {"max_file_bytes": 65536}}')
        small = {**sandbox.env, "BLUEPYTHON_CONFIG": str(sandbox.cwd / "small-files.json")}
        writer = sandbox.popen([sandbox.bluepython, "writer.py", "3000"], env=small)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            time.sleep(0.5)
            collector.stop(sig)
            time.sleep(0.3)
            collector.start(wait_port=False)
        _, err = writer.communicate(timeout=TIMEOUT)
        assert writer.returncode == 0, err.decode()
        lines = _spool_lines(sandbox.spool)
        wait_for(lambda: Counter(r["body"]["stringValue"] for r in arrived()).keys() >= set(lines),
                 lambda: f"{len(arrived())} records of {len(lines)} lines", TIMEOUT)
        assert collector.stop() == 0, collector.output()
    finally:
        collector.stop(signal.SIGKILL)
        assert backend.stop() == 0, backend.output()
    records = arrived()
    bodies = Counter(r["body"]["stringValue"] for r in records)
    assert set(bodies) == set(lines)  # nothing lost, nothing that is not a spool line
    # At least once: the SIGKILL may resend what was read but not yet confirmed; the clean
    # stop and everything else arrive exactly once.
    twice = [b for b, n in bodies.items() if n > 1]
    assert len(twice) <= len(lines) // 10, f"{len(twice)} lines arrived more than once"
    assert len(spool_files(sandbox.spool)) > 3  # rotation happened while the Collector was down

    by_body = {r["body"]["stringValue"]: r for r in records}
    events = [json.loads(line) for line in lines]
    for line, event in zip(lines, events, strict=True):
        record = by_body[line]
        a = otlp_attrs(record["attributes"])
        assert a["event_name"] == event["event"]["meta"]["name"]
        assert a["log.file.name"].startswith("python-bluepython-") and a["log.file.name"].endswith(".ndjson")
        ts = datetime.fromisoformat(event["ts"].replace("Z", "+00:00"))
        assert abs(int(record["timeUnixNano"]) / 1e9 - ts.timestamp()) < 1e-5
        warn = event["event"]["meta"]["name"] in ("python_internal_exception", "python_policy_violation")
        assert record["severityText"] == ("WARN" if warn else "INFO")
        context = event["event"]["context"]
        assert a.get("bluepython.scope") == context.get("scope")
        mcp = context.get("mcp") or {}
        assert a.get("mcp.method.name") == mcp.get("method")
        assert a.get("mcp.session.id") == mcp.get("session_id")
        assert a.get("bluepython.call_id") == mcp.get("call_id")
        assert "bp" not in a and "bp_severity" not in a
    assert named(events, "python_policy_violation"), "the policy produced no violation to check"
    touched = [e for e in named(events, "python_file_open") if attrs(e)["path"] in ("t1.txt", "t2.txt")]
    assert len(touched) == 2 and all(by_body_attr(by_body, lines, e)["mcp.method.name"] == "tools/call"
                                     for e in touched)


def by_body_attr(by_body: dict[str, Any], lines: list[str], event: dict[str, Any]) -> dict[str, Any]:
    line = next(x for x in lines if json.loads(x) == event)
    return otlp_attrs(by_body[line]["attributes"])


_FLEET = _QUIET + """
  pipelines:
    logs: {receivers: [otlp], exporters: [file]}
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${env:BLUEPYTHON_TEST_OTLP_PORT}
exporters:
  file:
    path: "${env:OUT}"
    rotation: {max_megabytes: 1000}
"""
_FLEET_CLIENT = str(FIXTURES / "fleet" / "client.py")
_FLEET_SERVER = str(FIXTURES / "fleet" / "server.py")


def test_fifty_servers_export_to_one_collector_restarted_midway(
        sandbox: Sandbox, tmp_path: Path, mcp1: Any) -> None:
    servers, calls = 50, 20
    config = tmp_path / "fleet.yaml"
    config.write_text(_FLEET)
    collector = Collector(tmp_path, [config])
    outs: list[Path] = []

    def start() -> None:
        outs.append(tmp_path / f"records-{len(outs)}.json")
        collector.env["OUT"] = str(outs[-1])
        collector.start()

    def records() -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return [rr for out in outs for rr in file_exporter_records(out)]

    mark = sandbox.cwd / "halfway"
    env = {**sandbox.env, "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": f"{collector.endpoint}/v1/logs",
           "OTEL_SERVICE_NAME": "fleet"}
    start()
    try:
        # The servers' stderr (a log line per request) goes to a file, not a pipe nobody reads.
        with (tmp_path / "fleet.log").open("wb") as log:
            argv = [mcp1.python, _FLEET_CLIENT, mcp1.bluepython, _FLEET_SERVER,
                    str(servers), str(calls), str(mark)]
            client = subprocess.Popen(argv, env=env, cwd=sandbox.cwd,
                                      stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        wait_for(lambda: mark.exists() or client.poll() is not None, "every server halfway", TIMEOUT * 5)
        # The Collector goes away while 50 exporters are sending, and comes back a second later;
        # the calls go on meanwhile.
        collector.stop(signal.SIGTERM)
        mark.with_suffix(".go").touch()
        time.sleep(1.0)
        start()
        client.wait(timeout=TIMEOUT * 5)
        assert client.returncode == 0, (tmp_path / "fleet.log").read_text(errors="replace")[-3000:]
        by_pid: dict[int, list[dict[str, Any]]] = {}
        for event in sandbox.events():
            by_pid.setdefault(event["event"]["context"]["process"]["pid"], []).append(event)
        assert len(by_pid) == servers
        dropped = 0
        for events in by_pid.values():
            (shutdown,) = named(events, "sensor_shutdown")
            dropped += attrs(shutdown)["export"]["dropped"]
        expected = sum(len(events) - 1 for events in by_pid.values())
        wait_until_stable(lambda: len(records()), expected - dropped, "records from the fleet")
    finally:
        assert collector.stop() == 0, collector.output()
    # The restart was shorter than the exporters' retry window: nothing was dropped, nothing
    # arrived twice, and every process's records are its spool's.
    assert dropped == 0
    arrived: dict[int, list[str]] = {}
    for resource, record in records():
        arrived.setdefault(resource["process.pid"], []).append(record["body"]["stringValue"])
    for pid, events in by_pid.items():
        ids = sorted(json.loads(x)["event"]["meta"]["source_event_id"] for x in arrived.get(pid, []))
        assert ids == [e["event"]["meta"]["source_event_id"] for e in events[:-1]], pid
    touched = sum(1 for events in by_pid.values() for e in named(events, "python_file_open")
                  if str(attrs(e)["path"]).startswith("s"))
    assert touched == servers * calls
