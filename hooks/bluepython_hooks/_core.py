# SPDX-License-Identifier: Apache-2.0
"""The former home of the shared machinery, now split by concern (``_emit``,
``_patcher``, ``_connect``, ``_sessions``, ``_attribution``, ``_baseline``).
Kept only for code outside the hooks that still imports it from here (the
integration tests import ``is_ours``; the C++ unit test of the embedded
module table names this module); the hooks themselves never import it.
"""

from __future__ import annotations

from ._attribution import attributed, call_context, current_call, refined_call, run_in
from ._baseline import tools_listed
from ._connect import client_connect, redact_url
from ._emit import (
    CLIENT,
    SERVER,
    component_added,
    dump,
    emit,
    internal_error,
    library_version,
    message_event,
    server_add,
    server_init,
)
from ._patcher import Patcher, guarded, is_ours
from ._sessions import (
    PENDING_LIMIT,
    PROPAGATES_TRACES,
    forget_oldest,
    inject_traceparent,
    session_created,
    session_id_for,
    session_terminated,
    traceparent_of,
)

__all__ = [
    "CLIENT",
    "PENDING_LIMIT",
    "PROPAGATES_TRACES",
    "SERVER",
    "Patcher",
    "attributed",
    "call_context",
    "client_connect",
    "component_added",
    "current_call",
    "dump",
    "emit",
    "forget_oldest",
    "guarded",
    "inject_traceparent",
    "internal_error",
    "is_ours",
    "library_version",
    "message_event",
    "redact_url",
    "refined_call",
    "run_in",
    "server_add",
    "server_init",
    "session_created",
    "session_id_for",
    "session_terminated",
    "tools_listed",
    "traceparent_of",
]
