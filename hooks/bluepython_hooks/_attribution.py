# SPDX-License-Identifier: Apache-2.0
"""Attribution: the MCP call in effect. While a request handler runs, the
call is current for its task or thread (a contextvar the native side reads:
every event emitted meanwhile carries it under ``context.mcp``)."""

from __future__ import annotations

from typing import Any

import _bluepython

from ._emit import internal_error


class refined_call:
    """Makes ``attrs`` the call in effect: for a hook that refines the call an
    outer hook entered (same call id, another target or server). Entering
    never raises; leaving restores the previous call."""

    __slots__ = ("_attrs", "_token")

    def __init__(self, attrs: dict[str, Any]) -> None:
        self._attrs = attrs
        self._token = None

    def __enter__(self) -> Any:
        try:
            self._token = _bluepython.enter_call(self._attrs)
        except Exception as exc:
            internal_error("hooks: attribution", exc)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._token is not None:
            try:
                _bluepython.exit_call(self._token)
            except Exception as exc:
                internal_error("hooks: attribution", exc)
            self._token = None


async def run_in(coro: Any, call: Any) -> Any:
    """Awaits ``coro`` with ``call`` (a refined_call/call_context) in effect."""
    with call:
        return await coro


class call_context(refined_call):
    """While a request handler runs, makes the call current for this task or
    thread (a contextvar the native side reads: every event emitted meanwhile
    carries it under ``context.mcp``, with a fresh ``call_id``). Use as
    ``with call_context(...):``; entering never raises, leaving restores the
    previous call."""

    __slots__ = ("_fields",)

    def __init__(
        self,
        *,
        session_id: str | None,
        request_id: Any,
        method: str | None,
        target: str | None = None,
        transport: str | None = None,
        server_name: str | None = None,
    ) -> None:
        self._fields = (session_id, request_id, method, target, transport, server_name)
        self._token = None

    def __enter__(self) -> Any:
        try:
            self._token = _bluepython.enter_mcp_call(*self._fields)
        except Exception as exc:
            internal_error("hooks: attribution", exc)
        return self


def attributed(enter: Any, where: str, refusal: Any = None, defer: Any = None) -> Any:
    """A ``Patcher.replace`` maker for a request handler method (a coroutine
    function): ``enter(self, args, kwargs)`` makes the request's call current
    and returns the token; the call is left when the handler ends, unless
    ``defer(self, args, kwargs, token)`` (given for a dispatcher that writes
    the response after the handler returns, in the same task) takes the token
    to leave the call once the response is written. A fault in ``enter`` is
    reported under ``where`` and the handler runs unattributed.

    ``refusal(self, args, kwargs)``, given when the policy checks tools/call
    (``_bluepython.policy_checks_calls()``), returns None to let the request
    run, or a coroutine that answers it with an error result in place of the
    handler (the policy refused the call; the violation is reported by then)."""

    if refusal is not None and not _bluepython.policy_checks_calls():
        refusal = None

    def make(original: Any) -> Any:
        async def handler(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                token = enter(self, args, kwargs)
            except Exception as exc:
                internal_error(where, exc)
                return await original(self, *args, **kwargs)
            try:
                if refusal is not None:
                    answer = None
                    try:
                        answer = refusal(self, args, kwargs)
                    except Exception as exc:
                        internal_error("hooks: policy", exc)
                    if answer is not None:
                        return await answer
                return await original(self, *args, **kwargs)
            finally:
                try:  # restores the call in effect before; never raises into the handler
                    if defer is None or not defer(self, args, kwargs, token):
                        _bluepython.exit_call(token)
                except Exception as exc:
                    internal_error("hooks: attribution", exc)

        return handler

    return make


def current_call() -> dict[str, Any] | None:
    """The MCP call in effect in this task/thread, or None."""
    return _bluepython.current_call()
