# SPDX-License-Identifier: Apache-2.0
"""Secrets never leave the process (docs/redaction.md): every fake secret of the
corpus (test/fixtures/secrets_corpus.json), put into the tool arguments,
results, child argv, URLs, headers and error messages of a real server driven by
a real client, is absent from the raw bytes of the spool, the OTLP requests,
`report --json`, the HTML page and `tail`; what goes over the wire is unchanged."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from conftest import FIXTURES, McpVenv, Sandbox, attrs, named, read_spool

_CORPUS: list[dict[str, str]] = json.loads((FIXTURES / "secrets_corpus.json").read_text())
_SERVER = FIXTURES / "redaction" / "server.py"


class _Sink(BaseHTTPRequestHandler):
    """Loopback HTTP: keeps every request's raw bytes (OTLP bodies, the tools' GETs)."""

    seen: ClassVar[list[bytes]] = []
    lock = threading.Lock()

    def _keep(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.lock:
            type(self).seen.append(self.requestline.encode() + b"\n" + bytes(self.headers) + body)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _keep

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def sink() -> Iterator[tuple[str, type[_Sink]]]:
    handler = type("Sink", (_Sink,), {"seen": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()


def _calls(base: str) -> list[Any]:
    calls: list[Any] = []
    for entry in _CORPUS:
        text, secret = entry["text"], entry["secret"]
        calls += [
            ["echo", {"data": {"note": f"deploying with {text} now", "api_key": secret,
                               "nested": [{"auth": text}]}}],
            ["run", {"argv": ["true", "--password", secret, f"--config=x; {text}", text]}],
            ["fetch", {"url": f"{base}/hook?q=1&access_token={secret}",
                       "headers": {"Authorization": f"Bearer {secret}"}}],
            ["fail", {"message": f"upstream rejected the request: {text}"}],
        ]
    return [*calls, ["tools/list", {}]]


@pytest.fixture(scope="module", params=["mcp1", "mcp2"])
def ran(request: pytest.FixtureRequest, sink: tuple[str, type[_Sink]],
        tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    venv: McpVenv = request.getfixturevalue(request.param)
    base, recorder = sink
    root = tmp_path_factory.mktemp("redaction")
    spool = root / "spool"
    env = venv.env(root, BLUEPYTHON_SPOOL_DIR=str(spool), OTEL_EXPORTER_OTLP_ENDPOINT=f"{base}/otlp",
                   OTEL_EXPORTER_OTLP_TIMEOUT="5000")
    recorder.seen.clear()
    res = subprocess.run([venv.bluepython, str(FIXTURES / "call_tools.py"), venv.bluepython,
                          json.dumps([str(_SERVER)]), json.dumps(_calls(base))],
                         env=env, capture_output=True, timeout=600, check=False)
    assert res.returncode == 0, res.stderr.decode()
    seen = list(recorder.seen)
    page = root / "report.html"
    outputs = {
        "spool": b"".join(p.read_bytes() for p in sorted(spool.glob("*.ndjson"))),
        "otlp": b"".join(r for r in seen if r.startswith(b"POST /otlp")),
        "report": subprocess.run([venv.bluepython, "report", "--json", "--spool-dir", str(spool)],
                                 capture_output=True, check=True, timeout=120).stdout,
        "report_text": subprocess.run([venv.bluepython, "report", "--spool-dir", str(spool)],
                                      capture_output=True, check=True, timeout=120).stdout,
        "tail": subprocess.run([venv.bluepython, "tail", "-n", "100000", "--spool-dir", str(spool)],
                               capture_output=True, check=True, timeout=120).stdout,
    }
    subprocess.run([venv.bluepython, "report", "--html", str(page), "--spool-dir", str(spool)],
                   capture_output=True, check=True, timeout=120)
    outputs["html"] = page.read_bytes()
    outputs["tool_baseline"] = Path(f"{spool}.state", "mcp-tools.json").read_bytes()
    return {"outputs": outputs, "wire": [r for r in seen if r.startswith(b"GET /hook")],
            "events": read_spool(spool)}


@pytest.mark.parametrize("entry", _CORPUS, ids=[f"{e['rule']}-{i}" for i, e in enumerate(_CORPUS)])
def test_no_secret_of_the_corpus_in_any_output(ran: dict[str, Any], entry: dict[str, str]) -> None:
    secret = entry["secret"].encode()
    for name, data in ran["outputs"].items():
        assert data, f"{name} is empty: nothing was checked"
        assert secret not in data, f"{entry['rule']} secret found in {name}"


def test_the_tool_baseline_keeps_definitions_redacted(ran: dict[str, Any]) -> None:
    baseline = json.loads(ran["outputs"]["tool_baseline"])
    documented = baseline["server"]["secrets"]["documented"]["definition"]
    assert "[REDACTED:github_token:40]" in documented["description"]
    assert b"ghp_UhrwyL398zPKPMvXkgMzr53w1fNtTQAVZOxu" not in ran["outputs"]["spool"]


def test_every_rule_of_the_corpus_left_its_marker(ran: dict[str, Any]) -> None:
    spool = ran["outputs"]["spool"].decode()
    for rule in {e["rule"] for e in _CORPUS}:
        assert f"[REDACTED:{rule}:" in spool, rule
    shutdowns = [attrs(ev) for ev in named(ran["events"], "sensor_shutdown") if attrs(ev).get("redacted")]
    total: dict[str, int] = {}
    for a in shutdowns:
        for rule, n in a["redacted"].items():
            total[rule] = total.get(rule, 0) + n
    assert set(total) >= {e["rule"] for e in _CORPUS}, total
    # The exports carried the redacted events (uncompressed protobuf: the scan above means something).
    assert b"[REDACTED:github_token:40]" in ran["outputs"]["otlp"]
    assert b"[REDACTED:" in ran["outputs"]["tail"]
    report = json.loads(ran["outputs"]["report"])
    assert report["totals"]["redacted"] == total
    assert f"secrets redacted: {sum(total.values())} (" in ran["outputs"]["report_text"].decode()


def test_the_calls_ran_and_the_wire_is_unchanged(ran: dict[str, Any]) -> None:
    # Each fetch sent the real secret: redaction changes what is recorded, never what is sent.
    assert len(ran["wire"]) == len(_CORPUS)
    for request, entry in zip(ran["wire"], _CORPUS, strict=True):
        assert entry["secret"].encode() in request
    calls = [ev for ev in named(ran["events"], "python_process_spawn") if ev["event"]["context"].get("mcp")]
    assert len(calls) == len(_CORPUS)
    assert all(attrs(ev)["argv"][1] == "--password" for ev in calls)
    assert all(attrs(ev)["argv"][2].startswith("[REDACTED:") for ev in calls)


def test_redaction_off_records_values_and_says_so(sandbox: Sandbox) -> None:
    secret = "ghp_UhrwyL398zPKPMvXkgMzr53w1fNtTQAVZOxu"  # noqa: S105 (fake, from the corpus)
    code = f"import _bluepython; _bluepython.emit('probe', {{'token': '{secret}'}})"
    res = sandbox.run([sandbox.bluepython, "-c", code], env={**sandbox.env, "BLUEPYTHON_REDACTION": "0"})
    assert res.returncode == 0 and res.stdout == b""
    lines = res.stderr.decode().splitlines()
    assert len(lines) == 1 and "redaction is off" in lines[0], lines
    probe = attrs(named(sandbox.events(), "probe")[0])
    assert probe["token"] == secret
    res = sandbox.run([sandbox.bluepython, "-c", code])
    assert res.returncode == 0 and res.stderr == b""
    marker = "[REDACTED:github_token:40]"
    assert attrs(named(sandbox.events(), "probe")[-1])["token"] == marker


def test_fingerprints_correlate_across_runs_under_one_key(sandbox: Sandbox, tmp_path: Path) -> None:
    key_file = tmp_path / "state" / "fp.key"
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"redaction": {"fingerprint": True, "fingerprint_key_file": str(key_file)}}))
    code = ("import _bluepython; _bluepython.emit('probe', "
            "{'a': 'token=ghp_UhrwyL398zPKPMvXkgMzr53w1fNtTQAVZOxu', "
            "'b': 'token=ghp_UhrwyL398zPKPMvXkgMzr53w1fNtTQAVZOxv'})")
    marks = []
    for _ in range(2):
        res = sandbox.run([sandbox.bluepython, "run", "--config", str(cfg), "--", "-c", code])
        assert res.returncode == 0 and res.stderr == b"", res.stderr
        marks.append(attrs(named(sandbox.events(), "probe")[-1]))
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.parent != Path(sandbox.env["BLUEPYTHON_SPOOL_DIR"])
    assert marks[0] == marks[1]  # the same secret, the same mark, run after run
    assert marks[0]["a"] != marks[0]["b"]  # another secret, another mark
    mark = marks[0]["a"]
    assert mark.startswith("token=[REDACTED:github_token:40:")
    assert len(mark) == len("token=[REDACTED:github_token:40:]") + 16


def test_a_bad_rule_name_is_a_one_line_error(sandbox: Sandbox, tmp_path: Path) -> None:
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"redaction": {"disable": ["jwt", "no_such_rule"]}}))
    res = sandbox.run([sandbox.bluepython, "run", "--config", str(cfg), "--", "-c", "print('never')"])
    assert res.returncode == 2 and res.stdout == b""
    lines = res.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "redaction.disable" in lines[0] and "no_such_rule" in lines[0], lines


@pytest.mark.parametrize("line", ["mcp1", "mcp2"])
def test_per_tool_field_rules_redact_and_keep(request: pytest.FixtureRequest, line: str,
                                              tmp_path: Path) -> None:
    venv: McpVenv = request.getfixturevalue(line)
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"redaction": {"fields": [
        {"server": "secrets", "tool": "echo",
         "redact": ["/arguments/data/customer", "/result/content/*/text"],
         "keep": ["/arguments/data/password"]},
        {"tool": "run", "redact": ["/arguments/argv/1"]},
    ]}}))
    spool = tmp_path / "spool"
    env = venv.env(tmp_path, BLUEPYTHON_SPOOL_DIR=str(spool), BLUEPYTHON_CONFIG=str(cfg))
    data = {"customer": {"name": "Ann Example", "id": 7}, "password": "kept-on-purpose", "note": "plain"}
    calls = [["echo", {"data": data}], ["run", {"argv": ["true", "internal-host-name"]}]]
    res = subprocess.run([venv.python, str(FIXTURES / "call_tools.py"), venv.bluepython,
                          json.dumps([str(_SERVER)]), json.dumps(calls)],
                         env=env, capture_output=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr.decode()
    events = read_spool(spool)
    mcp = [attrs(ev) for ev in named(events, "python_mcp_event")]
    def arguments(tool: str) -> dict[str, Any]:
        return next(a["message"]["params"]["arguments"] for a in mcp
                    if a["event"] == "server_received_request"
                    and a["message"].get("params", {}).get("name") == tool)

    echo = arguments("echo")
    assert echo["data"]["customer"] == {"name": "[REDACTED:field:11]", "id": "[REDACTED:field:1]"}
    assert echo["data"]["password"] == data["password"]
    assert echo["data"]["note"] == "plain"
    answers = [a["message"]["result"] for a in mcp if a["event"] == "server_send_response"
               and "content" in a["message"].get("result", {})]
    assert answers and all(c["text"].startswith("[REDACTED:field:") for c in answers[0]["content"])
    run = arguments("run")
    assert run["argv"] == ["true", "[REDACTED:field:18]"]
    fields = sum(attrs(ev).get("redacted", {}).get("field", 0) for ev in named(events, "sensor_shutdown"))
    assert fields >= 4


def test_a_field_pointer_outside_arguments_and_result_is_a_one_line_error(sandbox: Sandbox,
                                                                          tmp_path: Path) -> None:
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"redaction": {"fields": [{"tool": "x", "redact": ["/params/secret"]}]}}))
    res = sandbox.run([sandbox.bluepython, "run", "--config", str(cfg), "--", "-c", "print('never')"])
    assert res.returncode == 2 and res.stdout == b""
    lines = res.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert "redaction.fields[0].redact" in lines[0] and "/params/secret" in lines[0], lines
