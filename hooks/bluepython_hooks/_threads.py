# SPDX-License-Identifier: Apache-2.0
"""Carrying the MCP call in effect into the threads a request handler starts.

``asyncio.to_thread`` and ``anyio.to_thread`` copy the caller's context, so the
call in effect (a ``ContextVar`` of ``_bluepython``) follows them. A plain
``threading.Thread`` and ``concurrent.futures.ThreadPoolExecutor.submit`` start
with the thread's own (empty) context on Python 3.10-3.13 (and on 3.14 unless
``-X thread_inherit_context`` is on), so what a tool does
there would look like background work. While a call is current, these two run
the new work in a copy of the caller's context, as ``asyncio.to_thread`` does;
outside a call nothing changes. (Children started through
``_posixsubprocess.fork_exec`` get the call in their environment: bluepython
wraps it natively, see launcher/capture/spawn_wrappers.cpp.) Installed when the MCP
hooks are activated.
"""

from __future__ import annotations

import concurrent.futures.thread
import contextvars
import functools
import threading
from typing import Any

import _bluepython

from ._emit import internal_error

_current_call = _bluepython.current_call
_originals: dict[str, Any] = {}


def _start(self: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        if _current_call() is not None:
            context = contextvars.copy_context()
            run = self.run  # the bound method (a subclass's override included)
            self.run = functools.partial(context.run, run)  # this thread object only
    except Exception as exc:
        internal_error("hooks: threads: Thread.start", exc)
    return _originals["start"](self, *args, **kwargs)


def _submit(self: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
    try:
        if _current_call() is not None:
            fn = functools.partial(contextvars.copy_context().run, fn)
    except Exception as exc:
        internal_error("hooks: threads: ThreadPoolExecutor.submit", exc)
    return _originals["submit"](self, fn, *args, **kwargs)


def install() -> None:
    if _originals:
        return
    _originals["start"] = threading.Thread.start
    _originals["submit"] = concurrent.futures.thread.ThreadPoolExecutor.submit
    functools.update_wrapper(_start, _originals["start"])
    functools.update_wrapper(_submit, _originals["submit"])
    threading.Thread.start = _start  # type: ignore[method-assign]
    concurrent.futures.thread.ThreadPoolExecutor.submit = _submit  # type: ignore[method-assign]


def uninstall() -> None:
    if not _originals:
        return
    threading.Thread.start = _originals.pop("start")  # type: ignore[method-assign]
    concurrent.futures.thread.ThreadPoolExecutor.submit = _originals.pop("submit")  # type: ignore[method-assign]
