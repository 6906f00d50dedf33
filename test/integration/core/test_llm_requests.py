# SPDX-License-Identifier: Apache-2.0
"""LLM API calls a tool makes through the real openai and anthropic SDKs,
pointed at a loopback server that answers as the providers' APIs do: one
python_llm_request per call (provider, operation, models, tokens, error), in
the tool call that made it, with no prompt or key recorded; report shows it."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from conftest import FIXTURES, McpVenv, attrs, named, read_spool

_SERVER = FIXTURES / "llm" / "server.py"


def _answer(path: str, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    model = request.get("model")
    if model == "broken":
        if path == "/v1/messages":
            refusal = {"type": "invalid_request_error", "message": "no such model"}
            return 400, {"type": "error", "error": refusal}
        return 400, {"error": {"message": "no such model", "type": "invalid_request_error", "code": None}}
    if path == "/v1/chat/completions":
        return 200, {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": f"{model}-0613",
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi there"},
                                  "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}}
    if path == "/v1/embeddings":
        return 200, {"object": "list", "model": model, "usage": {"prompt_tokens": 5, "total_tokens": 5},
                     "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}]}
    if path == "/v1/messages":
        return 200, {"id": "msg_1", "type": "message", "role": "assistant", "model": model,
                     "content": [{"type": "text", "text": "hello back"}], "stop_reason": "end_turn",
                     "stop_sequence": None, "usage": {"input_tokens": 13, "output_tokens": 4}}
    return 404, {"error": {"message": "not found"}}


class _Provider(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        status, body = _answer(self.path, request)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def ran(mcp1: McpVenv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Provider)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    root = tmp_path_factory.mktemp("llm")
    spool = root / "spool"
    calls = [["chat", {"model": "gpt-test"}], ["embed", {"model": "embed-test"}],
             ["message", {"model": "claude-test"}], ["chat", {"model": "broken"}]]
    try:
        res = subprocess.run([mcp1.python, str(FIXTURES / "call_tools.py"), mcp1.bluepython,
                              json.dumps([str(_SERVER), base]), json.dumps(calls)],
                             env=mcp1.env(root, BLUEPYTHON_SPOOL_DIR=str(spool)), capture_output=True,
                             timeout=300, check=False)
    finally:
        httpd.shutdown()
    assert res.returncode == 0, res.stderr.decode()
    yield {"base": base, "spool": spool, "events": read_spool(spool)}


def _llm(ran: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(ev["event"]["context"]["mcp"]["target"], attrs(ev))
            for ev in named(ran["events"], "python_llm_request")]


def test_each_api_call_with_its_provider_models_and_tokens(ran: dict[str, Any]) -> None:
    calls = _llm(ran)
    by_tool = {(tool, a["request_model"]): a for tool, a in calls}
    assert len(calls) == 4, calls
    chat = by_tool[("chat", "gpt-test")]
    assert (chat["provider"], chat["operation"]) == ("openai", "chat")
    assert chat["response_model"] == "gpt-test-0613"
    assert (chat["input_tokens"], chat["output_tokens"], chat["stream"]) == (11, 3, False)
    assert chat["server"] == f"{ran['base']}/v1/" and chat["duration_ms"] >= 0 and "error" not in chat
    embed = by_tool[("embed", "embed-test")]
    assert (embed["provider"], embed["operation"], embed["input_tokens"]) == ("openai", "embeddings", 5)
    message = by_tool[("message", "claude-test")]
    assert (message["provider"], message["operation"]) == ("anthropic", "chat")
    assert message["response_model"] == "claude-test"
    assert (message["input_tokens"], message["output_tokens"]) == (13, 4)


def test_a_refused_call_is_reported_with_its_error(ran: dict[str, Any]) -> None:
    [broken] = [a for tool, a in _llm(ran) if a["request_model"] == "broken"]
    assert broken["status"] == 400 and broken["error"].startswith("BadRequestError")
    assert broken.get("input_tokens") is None


def test_the_http_requests_underneath_are_reported_too(ran: dict[str, Any]) -> None:
    urls = {(ev["event"]["context"]["mcp"]["target"], attrs(ev)["url"], attrs(ev)["status"])
            for ev in named(ran["events"], "python_net_request")}
    assert ("chat", f"{ran['base']}/v1/chat/completions", 200) in urls
    assert ("message", f"{ran['base']}/v1/messages", 200) in urls


def test_no_key_or_prompt_is_recorded_outside_the_mcp_messages(ran: dict[str, Any]) -> None:
    for ev in ran["events"]:
        if ev["event"]["meta"]["name"] in ("python_llm_request", "python_net_request"):
            line = json.dumps(ev)
            assert "sk-test-not-a-real-key" not in line and "hello" not in line


def test_report_shows_the_calls(ran: dict[str, Any], bluepython: str) -> None:
    out = subprocess.run([bluepython, "report", str(ran["spool"])], capture_output=True, check=True,
                         timeout=60).stdout.decode()
    assert "python_llm_request chat gpt-test (openai) 11 in / 3 out tokens" in out
    assert "python_llm_request chat broken (openai) failed (BadRequestError)" in out
