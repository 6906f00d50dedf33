# SPDX-License-Identifier: Apache-2.0
"""OTLP export, checked against the real thing: a loopback HTTP receiver decodes every
request bluepython sends with the official OpenTelemetry protobuf definitions
(PyPI ``opentelemetry-proto``), and the tests compare what arrived with the spool."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, TIMEOUT, Sandbox, attrs, attrs_of, named, wait_for, warning_lines
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

_MESSAGES = {"/v1/logs": ExportLogsServiceRequest, "/v1/traces": ExportTraceServiceRequest,
             "/v1/metrics": ExportMetricsServiceRequest}


class Receiver:
    """A minimal OTLP/HTTP collector: decodes, keeps, answers 200 (or what `status` says)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Any, dict[str, str]]] = []
        self.status = 200
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                message = _MESSAGES[self.path]()
                message.ParseFromString(body)  # raises on anything but valid protobuf
                with receiver.lock:
                    receiver.requests.append((self.path, message, dict(self.headers)))
                    status = receiver.status
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def of(self, path: str) -> list[Any]:
        with self.lock:
            return [m for p, m, _ in self.requests if p == path]

    def log_records(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(resource attributes, log record as a dict) for every record received."""
        out = []
        for req in self.of("/v1/logs"):
            for rl in req.resource_logs:
                resource = kv(rl.resource.attributes)
                for sl in rl.scope_logs:
                    assert sl.scope.name == "bluepython"
                    out += [(resource, MessageToDict(r)) for r in sl.log_records]
        return out

    def spans(self) -> list[Any]:
        return [s for req in self.of("/v1/traces") for rs in req.resource_spans
                for ss in rs.scope_spans for s in ss.spans]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def any_value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "kvlist_value":
        return {x.key: any_value(x.value) for x in v.kvlist_value.values}
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def kv(attributes: Any) -> dict[str, Any]:
    return {a.key: any_value(a.value) for a in attributes}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def export_env(sandbox: Sandbox, endpoint: str, **extra: str) -> dict[str, str]:
    return {**sandbox.env, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_SERVICE_NAME": "otlp-test",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=ci,team=sec%2Cops", **extra}


def test_every_event_is_a_log_record_with_the_process_as_resource(sandbox: Sandbox,
                                                                   receiver: Receiver) -> None:
    res = sandbox.run([sandbox.bluepython, "-c", "open('out.txt', 'w').close(); print('hi')"],
                      env=export_env(sandbox, receiver.endpoint))
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout == b"hi\n"
    assert warning_lines(res.stderr) == []
    events = sandbox.events()
    records = receiver.log_records()
    # Every spool line arrived, as it is, in order; all but sensor_shutdown, written after
    # the last export with the export's own final counters.
    assert [json.loads(r["body"]["stringValue"]) for _, r in records] == events[:-1]
    assert [r["eventName"] for _, r in records] == [e["event"]["meta"]["name"] for e in events[:-1]]
    final = attrs(events[-1])
    assert final["export"] == {"requests_sent": len(receiver.requests), "requests_failed": 0, "dropped": 0}
    resource = records[0][0]
    pid = events[0]["event"]["context"]["process"]["pid"]
    assert resource["service.name"] == "otlp-test"
    assert resource["process.pid"] == pid
    assert resource["service.instance.id"] == events[0]["event"]["meta"]["uuid"]
    assert resource["deployment.environment"] == "ci" and resource["team"] == "sec,ops"
    assert resource["process.runtime.name"] == "cpython"
    assert resource["telemetry.sdk.name"] == "bluepython"
    assert resource["host.name"] == socket.gethostname()
    opened = [r for _, r in records if r["eventName"] == "python_file_open"]
    assert opened and all(int(r["timeUnixNano"]) > 0 for r in opened)
    # outside any call: no trace
    assert all("traceId" not in r for r in opened)
    assert {h.get("Content-Type") for _, _, h in receiver.requests} == {"application/x-protobuf"}


def test_headers_from_the_environment_reach_the_collector(sandbox: Sandbox, receiver: Receiver) -> None:
    headers = "x-api-key=s3cr%3Dt, x-team = blue"
    env = export_env(sandbox, receiver.endpoint, OTEL_EXPORTER_OTLP_HEADERS=headers)
    res = sandbox.run([sandbox.bluepython, "-c", "pass"], env=env)
    assert res.returncode == 0, res.stderr.decode()
    headers = [h for _, _, h in receiver.requests]
    assert headers and all(h.get("x-api-key") == "s3cr=t" and h.get("x-team") == "blue" for h in headers)
    # Header values are credentials: never in the spool.
    assert "s3cr" not in "".join(json.dumps(e) for e in sandbox.events())


def test_a_dead_collector_changes_nothing_for_the_app(sandbox: Sandbox) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, never listening: refused
    res = sandbox.run([sandbox.bluepython, "-c", "import sys; print('out'); sys.exit(3)"],
                      env=export_env(sandbox, dead))
    assert res.returncode == 3 and res.stdout == b"out\n"
    warnings = warning_lines(res.stderr)
    assert len(warnings) == 1 and "OTLP export failing" in warnings[0], res.stderr.decode()
    events = sandbox.events()
    assert events[-1]["event"]["meta"]["name"] == "sensor_shutdown"
    faults = attrs_of(events, "python_internal_exception")
    assert faults and faults[0]["where"] == "otlp_export"


# docs/configuration.md: otlp.shutdown_timeout_ms, 1000 by default, is the most the last
# export may delay exit. The margin is for start-up and the interpreter's own teardown.
_SHUTDOWN_TIMEOUT_S = 1.0
_START_UP_MARGIN_S = 3.0


@pytest.mark.parametrize(("request_timeout_ms", "program_s"), [
    (None, 0.0),      # exits before the first batch delay: only the final export
    ("3000", 1.3),    # a request of the first round is in flight at exit
    (None, 1.3),      # the same with the default 10 s request timeout
])
def test_a_collector_that_never_answers_delays_exit_by_the_shutdown_timeout_at_most(
        sandbox: Sandbox, request_timeout_ms: str | None, program_s: float) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts connections (the kernel does), never reads or answers
    try:
        extra = {} if request_timeout_ms is None else {"OTEL_EXPORTER_OTLP_TIMEOUT": request_timeout_ms}
        env = export_env(sandbox, f"http://127.0.0.1:{silent.getsockname()[1]}", **extra)
        start = time.monotonic()
        res = sandbox.run([sandbox.bluepython, "-c", f"import time; time.sleep({program_s}); print('done')"],
                          env=env)
        elapsed = time.monotonic() - start
    finally:
        silent.close()
    assert res.returncode == 0 and res.stdout == b"done\n"
    last = sandbox.events()[-1]["event"]
    assert last["meta"]["name"] == "sensor_shutdown"
    # The sensor's own uptime tells a slow shutdown from time lost outside it (start-up,
    # the interpreter's teardown, the machine).
    assert elapsed < program_s + _SHUTDOWN_TIMEOUT_S + _START_UP_MARGIN_S, (elapsed, last["uptime_ms"])


def test_unsupported_protocol_turns_export_off_with_one_warning(sandbox: Sandbox, receiver: Receiver) -> None:
    env = export_env(sandbox, receiver.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL="grpc")
    res = sandbox.run([sandbox.bluepython, "-c", "print(1)"], env=env)
    assert res.returncode == 0 and res.stdout == b"1\n"
    warnings = warning_lines(res.stderr)
    assert len(warnings) == 1 and "OTEL_EXPORTER_OTLP_PROTOCOL=grpc" in warnings[0]
    assert receiver.requests == []


def test_sdk_disabled_or_no_endpoint_means_no_export(sandbox: Sandbox, receiver: Receiver) -> None:
    res = sandbox.run([sandbox.bluepython, "-c", "pass"],
                      env=export_env(sandbox, receiver.endpoint, OTEL_SDK_DISABLED="true"))
    assert res.returncode == 0 and warning_lines(res.stderr) == []
    res = sandbox.run([sandbox.bluepython, "-c", "pass"], env=sandbox.env)
    assert res.returncode == 0
    assert receiver.requests == []


def test_bad_otlp_config_is_a_one_line_error(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = tmp_path / "bad.json"
    cfg.write_text(json.dumps({"otlp": {"timeout_ms": "soon"}}))
    res = sandbox.run([sandbox.bluepython, "run", "--config", str(cfg), "--", "-c", "print('never')"])
    assert res.returncode == 2 and res.stdout == b""
    lines = res.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "otlp.timeout_ms" in lines[0], lines


def test_config_file_endpoint_and_signal_switches(sandbox: Sandbox, receiver: Receiver,
                                                  tmp_path: Path) -> None:
    cfg = tmp_path / "export.json"
    otlp = {"endpoint": receiver.endpoint + "/", "traces": False, "metrics": False,
            "service_name": "from-file", "headers": {"authorization": "Bearer t"}}
    cfg.write_text(json.dumps({"otlp": otlp}))
    res = sandbox.run([sandbox.bluepython, "run", "--config", str(cfg), "--", "-c", "pass"])
    assert res.returncode == 0, res.stderr.decode()
    assert {p for p, _, _ in receiver.requests} == {"/v1/logs"}
    assert receiver.log_records()[0][0]["service.name"] == "from-file"
    assert all(h.get("authorization") == "Bearer t" for _, _, h in receiver.requests)


_FORK = r"""
import os
pid = os.fork()
if pid == 0:
    open("child.txt", "w").close()
    os._exit(0)
os.waitpid(pid, 0)
"""


def test_a_forked_child_exports_as_its_own_process(sandbox: Sandbox, receiver: Receiver) -> None:
    sandbox.write("fork.py", _FORK)
    res = sandbox.run([sandbox.bluepython, "fork.py"], env=export_env(sandbox, receiver.endpoint))
    assert res.returncode == 0, res.stderr.decode()
    by_pid: dict[int, set[str]] = {}
    for resource, record in receiver.log_records():
        by_pid.setdefault(resource["process.pid"], set()).add(record["eventName"])
    procs = sandbox.processes()
    assert len(by_pid) == 2 == len(procs), by_pid
    child = next(pid for pid, names in by_pid.items() if "python_file_open" in names)
    assert "sensor_startup" in by_pid[child]


def test_export_happens_while_the_app_runs(sandbox: Sandbox, receiver: Receiver) -> None:
    """Batches go out every batch delay, not only at exit."""
    proc = subprocess.Popen([sandbox.bluepython, "-c", "import sys, time; open('a.txt','w').close(); "
                                                      "sys.stdin.read()"],
                            env=export_env(sandbox, receiver.endpoint), cwd=sandbox.cwd,
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: any(r["eventName"] == "python_file_open" for _, r in receiver.log_records()),
                 "python_file_open at the receiver")
    finally:
        proc.communicate(b"", timeout=TIMEOUT)
    assert proc.returncode == 0


_MCP_SERVER = r"""
import sys
if sys.argv[1] == "mcp1":
    from mcp.server.fastmcp import FastMCP as Server
else:
    from mcp.server.mcpserver import MCPServer as Server
server = Server("otlp")

@server.tool()
async def touch(path: str) -> str:
    with open(path, "w") as f:
        f.write("x")
    return "touched"

@server.tool()
def boom() -> str:
    raise RuntimeError("tool failed")

@server.prompt()
def greet(name: str) -> str:
    return f"hello {name}"

server.run("stdio")
"""

_CALL_TOOLS = str(FIXTURES / "call_tools.py")
_CALLS = json.dumps([["touch", {"path": "t1.txt"}], ["touch", {"path": "t2.txt"}], ["boom", {}],
                     ["greet", {"name": "otel"}, "prompt"], ["no_such_tool", {}]])


@pytest.mark.parametrize("line", ["mcp1", "mcp2"])
def test_mcp_server_spans_side_effect_events_and_histograms(sandbox: Sandbox, receiver: Receiver, line: str,
                                                           request: pytest.FixtureRequest) -> None:
    venv = request.getfixturevalue(line)
    sandbox.write("server.py", _MCP_SERVER)
    # The client runs under plain python: only the server exports.
    env = export_env(sandbox, receiver.endpoint)
    server = json.dumps(["server.py", line])
    res = sandbox.run([venv.python, _CALL_TOOLS, venv.bluepython, server, _CALLS], env=env)
    assert res.returncode == 0, res.stderr.decode()
    spans = receiver.spans()
    by_name = {}
    for s in spans:
        by_name.setdefault(s.name, []).append(s)
    assert len(by_name["tools/call touch"]) == 2, sorted(by_name)
    assert "tools/call boom" in by_name and "prompts/get greet" in by_name and "initialize" in by_name
    events = sandbox.events()
    opens = {attrs(e)["path"]: e for e in named(events, "python_file_open")
             if attrs(e)["path"] in ("t1.txt", "t2.txt")}
    for s in by_name["tools/call touch"]:
        a = kv(s.attributes)
        assert s.kind == 2  # SERVER
        assert a["mcp.method.name"] == "tools/call" and a["gen_ai.tool.name"] == "touch"
        assert a["gen_ai.operation.name"] == "execute_tool"
        assert a["network.transport"] == "pipe" and a["mcp.protocol.version"]
        assert a["jsonrpc.request.id"] and a["mcp.session.id"]
        assert s.end_time_unix_nano >= s.start_time_unix_nano > 0
        assert s.status.code == 0  # unset
        # The tool's file write is an event of its span, and its log record points at the span.
        file_events = [e for e in s.events if e.name == "python_file_open"]
        assert len(file_events) == 1
        path = kv(file_events[0].attributes)["path"]
        call = opens[path]["event"]["context"]["mcp"]
        assert str(call["request_id"]) == a["jsonrpc.request.id"]
        logged = [r for _, r in receiver.log_records()
                  if r["eventName"] == "python_file_open" and path in r["body"]["stringValue"]]
        assert len(logged) == 1
        assert logged[0]["spanId"] == _b64(s.span_id) and logged[0]["traceId"] == _b64(s.trace_id)
    # The two calls are two traces (no traceparent came in).
    assert len({s.trace_id for s in by_name["tools/call touch"]}) == 2
    boom = kv(by_name["tools/call boom"][0].attributes)
    assert boom["error.type"] == "tool_error"
    assert by_name["tools/call boom"][0].status.code == 2  # ERROR
    missing = by_name.get("tools/call no_such_tool", [])
    for s in missing:  # a JSON-RPC error (or a tool error, depending on the SDK line)
        assert "error.type" in kv(s.attributes)
    prompt = kv(by_name["prompts/get greet"][0].attributes)
    assert prompt["gen_ai.prompt.name"] == "greet" and "gen_ai.tool.name" not in prompt
    # Tool arguments and results are opt-in.
    assert all("gen_ai.tool.call.arguments" not in kv(s.attributes) for s in spans)

    metrics = {}
    for req in receiver.of("/v1/metrics"):
        for rm in req.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    metrics.setdefault(m.name, []).append(m)
    op = metrics["mcp.server.operation.duration"][-1]
    assert op.unit == "s" and op.histogram.aggregation_temporality == 2
    points = {kv(p.attributes).get("gen_ai.tool.name"): p for p in op.histogram.data_points
              if kv(p.attributes)["mcp.method.name"] == "tools/call"}
    assert points["touch"].count == 2 and sum(points["touch"].bucket_counts) == 2
    assert list(points["touch"].explicit_bounds) == _BUCKETS
    assert kv(points["boom"].attributes)["error.type"] == "tool_error"
    assert "mcp.server.session.duration" in metrics
    assert "mcp.client.operation.duration" not in metrics  # the client is plain python


# The MCP conventions' histogram buckets, in seconds.
_BUCKETS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300]


def _b64(raw: bytes) -> str:
    import base64
    return base64.b64encode(raw).decode()


def test_a_client_under_bluepython_exports_client_spans(sandbox: Sandbox, receiver: Receiver,
                                                        mcp1: Any) -> None:
    sandbox.write("server.py", _MCP_SERVER)
    env = export_env(sandbox, receiver.endpoint)
    res = sandbox.run([mcp1.bluepython, _CALL_TOOLS, mcp1.python, '["server.py", "mcp1"]', _CALLS], env=env)
    assert res.returncode == 0, res.stderr.decode()
    spans = receiver.spans()
    assert spans and all(s.kind == 3 for s in spans)  # CLIENT only: the server runs under python
    names = sorted(s.name for s in spans)
    assert names.count("tools/call touch") == 2 and "prompts/get greet" in names
    boom = next(s for s in spans if s.name == "tools/call boom")
    assert kv(boom.attributes)["error.type"] == "tool_error" and boom.status.code == 2
    metrics = {m.name for req in receiver.of("/v1/metrics") for rm in req.resource_metrics
               for sm in rm.scope_metrics for m in sm.metrics}
    assert {"mcp.client.operation.duration", "mcp.client.session.duration"} <= metrics


_CHAIN_SERVER = r"""
import subprocess, sys
if sys.argv[1] == "mcp1":
    from mcp.server.fastmcp import FastMCP as Server
else:
    from mcp.server.mcpserver import MCPServer as Server
server = Server("chain")

@server.tool()
async def spawn(path: str) -> str:
    # a child process, in the call: its sensor_startup names the call
    subprocess.run([sys.executable, "-c", f"open({path!r}, 'w').close()"], check=True)
    with open("server-side.txt", "w") as f:
        f.write("x")
    return "spawned"

server.run("stdio")
"""



@pytest.mark.parametrize("line", ["mcp1", "mcp2"])
def test_one_trace_from_client_through_server_to_the_tools_child(
        sandbox: Sandbox, receiver: Receiver, line: str, request: pytest.FixtureRequest) -> None:
    """client under bluepython -> server under bluepython -> a child the tool starts: the client
    injects traceparent, the server continues it, the child's records join the same trace."""
    venv = request.getfixturevalue(line)
    sandbox.write("server.py", _CHAIN_SERVER)
    calls = '[["spawn", {"path": "child.txt"}]]'
    res = sandbox.run([venv.bluepython, _CALL_TOOLS, venv.bluepython, json.dumps(["server.py", line]), calls],
                      env=export_env(sandbox, receiver.endpoint))
    assert res.returncode == 0, res.stderr.decode()
    spans = [s for s in receiver.spans() if s.name == "tools/call spawn"]
    client = next(s for s in spans if s.kind == 3)
    server = next(s for s in spans if s.kind == 2)
    assert server.trace_id == client.trace_id
    assert server.parent_span_id == client.span_id
    assert client.parent_span_id == b""  # the client was not inside a call itself
    # The request on the wire carried it (and the spool shows it).
    sent = [attrs(e) for e in sandbox.events() if name_of(e) == "python_mcp_event"
            and attrs(e)["event"] == "client_send_request" and attrs(e).get("method") == "tools/call"]
    meta = sent[0]["message"]["params"]["_meta"]
    assert meta["traceparent"] == f"00-{client.trace_id.hex()}-{client.span_id.hex()}-01"
    assert meta["tracestate"] == "bluepython=1"
    records = receiver.log_records()
    server_write = next(r for _, r in records if r["eventName"] == "python_file_open"
                        and "server-side.txt" in r["body"]["stringValue"])
    assert server_write["traceId"] == _b64(client.trace_id) and server_write["spanId"] == _b64(server.span_id)
    def started_by_spawn(record: dict[str, Any]) -> bool:
        parent = json.loads(record["body"]["stringValue"])["event"]["parent"] or {}
        return (parent.get("call") or {}).get("target") == "spawn"

    child_start = [r for _, r in records if r["eventName"] == "sensor_startup" and started_by_spawn(r)]
    assert len(child_start) == 1
    assert child_start[0]["traceId"] == _b64(client.trace_id)
    assert child_start[0]["spanId"] == _b64(server.span_id)


def name_of(ev: dict[str, Any]) -> str:
    return ev["event"]["meta"]["name"]


_SELF_TRACED_SERVER = r"""
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
trace.set_tracer_provider(TracerProvider())  # the app's own OpenTelemetry SDK
from mcp.server.mcpserver import MCPServer
server = MCPServer("self-traced")

@server.tool()
async def touch(path: str) -> str:
    with open(path, "w") as f:
        f.write("x")
    return "touched"

server.run("stdio")
"""


def test_server_spans_step_aside_when_the_app_traces_mcp_itself(sandbox: Sandbox, receiver: Receiver,
                                                                 mcp2: Any) -> None:
    """mcp 2.x makes its own MCP server spans once the app configures an OpenTelemetry SDK:
    bluepython then exports none of its own (no duplicates), and keeps logs and metrics."""
    sandbox.write("server.py", _SELF_TRACED_SERVER)
    env = export_env(sandbox, receiver.endpoint)
    calls = '[["touch", {"path": "t1.txt"}], ["touch", {"path": "t2.txt"}]]'
    res = sandbox.run([mcp2.python, _CALL_TOOLS, mcp2.bluepython, '["server.py"]', calls], env=env)
    assert res.returncode == 0, res.stderr.decode()
    assert [s.name for s in receiver.spans() if s.kind == 2] == []
    names = {r["eventName"] for _, r in receiver.log_records()}
    assert {"python_mcp_event", "python_file_open"} <= names
    metrics = {m.name for req in receiver.of("/v1/metrics") for rm in req.resource_metrics
               for sm in rm.scope_metrics for m in sm.metrics}
    assert "mcp.server.operation.duration" in metrics


class _ChatApi(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat completions endpoint on loopback."""

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        body = json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
                           "model": f"{request.get('model')}-0613", "usage": {"prompt_tokens": 11,
                           "completion_tokens": 3, "total_tokens": 14},
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": "hi"}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_an_llm_call_is_a_genai_client_span_under_its_tool_span(sandbox: Sandbox, receiver: Receiver,
                                                                request: pytest.FixtureRequest) -> None:
    venv = request.getfixturevalue("mcp1")  # the openai SDK is in the mcp 1.x venv
    api = ThreadingHTTPServer(("127.0.0.1", 0), _ChatApi)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    try:
        server = json.dumps([str(FIXTURES / "llm" / "server.py"), f"http://127.0.0.1:{api.server_address[1]}"])
        calls = '[["chat", {"model": "gpt-test"}]]'
        res = sandbox.run([venv.python, _CALL_TOOLS, venv.bluepython, server, calls],
                          env=export_env(sandbox, receiver.endpoint))
    finally:
        api.shutdown()
    assert res.returncode == 0, res.stderr.decode()
    spans = {s.name: s for s in receiver.spans()}
    tool, chat = spans["tools/call chat"], spans["chat gpt-test"]
    assert chat.kind == 3  # CLIENT
    assert chat.trace_id == tool.trace_id and chat.parent_span_id == tool.span_id
    a = kv(chat.attributes)
    assert (a["gen_ai.operation.name"], a["gen_ai.provider.name"]) == ("chat", "openai")
    assert (a["gen_ai.request.model"], a["gen_ai.response.model"]) == ("gpt-test", "gpt-test-0613")
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (11, 3)
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == api.server_address[1]
    assert tool.start_time_unix_nano <= chat.start_time_unix_nano <= chat.end_time_unix_nano
