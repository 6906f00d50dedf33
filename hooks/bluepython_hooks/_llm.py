# SPDX-License-Identifier: Apache-2.0
"""LLM API calls a tool makes through the openai and anthropic SDKs. Both
SDKs send every API call through ``SyncAPIClient.request`` /
``AsyncAPIClient.request`` of their ``_base_client`` module. The options name
the method, the path and the JSON body (with the model), and the result
carries the model that answered and the token usage. One
``python_llm_request`` event per API call: provider, server, operation
(GenAI semantic conventions: ``chat``, ``text_completion``, ``embeddings``;
other API paths as they are), request and response model, input and output
tokens, whether it streamed, duration, error. The event is reported in the
call in effect, under the network category's switch and filters (matched on
the server's URL). The export turns it into an OpenTelemetry GenAI client span.
Prompts and completions are never recorded."""

from __future__ import annotations

import time
from typing import Any

import _bluepython

from ._emit import internal_error
from ._wrapt import wrapt

_side_effect = _bluepython.side_effect
_safe_url = _bluepython.safe_url
_EVENT = "python_llm_request"

# API path (after the version prefix) -> GenAI operation name.
_OPERATIONS = {
    "chat/completions": "chat",
    "responses": "chat",
    "messages": "chat",
    "completions": "text_completion",
    "complete": "text_completion",
    "embeddings": "embeddings",
}


def _operation(path: str) -> str:
    trimmed = path.strip("/")
    for prefix in ("v1/", "openai/v1/"):
        if trimmed.startswith(prefix):
            trimmed = trimmed[len(prefix):]
    return _OPERATIONS.get(trimmed, trimmed)


def _usage(result: Any) -> tuple[Any, Any]:
    """(input tokens, output tokens) of a result: openai chat/completions
    (prompt_tokens, completion_tokens), openai responses and anthropic
    (input_tokens, output_tokens); (None, None) without usage."""
    usage = getattr(result, "usage", None)
    if usage is None:
        return None, None
    inputs = getattr(usage, "input_tokens", None)
    outputs = getattr(usage, "output_tokens", None)
    if inputs is None:
        inputs = getattr(usage, "prompt_tokens", None)
    if outputs is None:
        outputs = getattr(usage, "completion_tokens", None)
    return inputs, outputs


def _report(provider: str, client: Any, options: Any, stream: bool, started: float, result: Any = None,
            error: BaseException | None = None) -> None:
    try:
        body = getattr(options, "json_data", None)
        model = body.get("model") if isinstance(body, dict) else None
        base = str(getattr(client, "base_url", "") or "")
        attrs: dict[str, Any] = {
            "provider": provider,
            "server": _safe_url(base),
            "operation": _operation(str(getattr(options, "url", ""))),
            "method": str(getattr(options, "method", "")).upper(),
            "request_model": model,
        }
        if result is not None and not stream:
            attrs["response_model"] = getattr(result, "model", None)
            attrs["input_tokens"], attrs["output_tokens"] = _usage(result)
        attrs["stream"] = bool(stream)
        attrs["duration_ms"] = round((time.perf_counter() - started) * 1000.0, 3)
        if error is not None:
            attrs["error"] = f"{type(error).__name__}: {error}"[:500]
            status = getattr(error, "status_code", None)
            if isinstance(status, int):
                attrs["status"] = status
        _side_effect(_EVENT, "network", attrs, attrs["server"] or None)
    except Exception as exc:
        internal_error(f"hooks: llm: {provider}", exc)


def _arguments(args: Any, kwargs: Any) -> tuple[Any, bool]:
    options = args[1] if len(args) > 1 else kwargs.get("options")
    return options, bool(kwargs.get("stream", False))


def _wrappers(provider: str) -> tuple[Any, Any]:
    def request(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        started = time.perf_counter()
        options, stream = _arguments(args, kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except Exception as exc:
            _report(provider, instance, options, stream, started, error=exc)
            raise
        _report(provider, instance, options, stream, started, result)
        return result

    async def request_async(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        started = time.perf_counter()
        options, stream = _arguments(args, kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except Exception as exc:
            _report(provider, instance, options, stream, started, error=exc)
            raise
        _report(provider, instance, options, stream, started, result)
        return result

    return request, request_async


def _patcher(provider: str) -> Any:
    def patch(module: Any) -> None:
        try:
            request, request_async = _wrappers(provider)
            wrapt.wrap_function_wrapper(module, "SyncAPIClient.request", request)
            wrapt.wrap_function_wrapper(module, "AsyncAPIClient.request", request_async)
        except Exception as exc:
            internal_error(f"hooks: llm: {provider}", exc)

    return patch


def install() -> None:
    if not _bluepython.enabled("network"):
        return
    for provider in ("openai", "anthropic"):
        wrapt.register_post_import_hook(_patcher(provider), f"{provider}._base_client")
