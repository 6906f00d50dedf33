// SPDX-License-Identifier: Apache-2.0
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

namespace bluepython::mcp_observer {

// The type `_bluepython.McpObserver`: the per-message path of the MCP hooks,
// in C. One per session (mcp 1.x) or dispatcher (mcp 2.x). The Python hooks
// keep what they know about the session in its fields (session id, client,
// server name, transport, protocol version) and set `fast` once those are
// settled; observe(item, received) then reports an ordinary message itself:
// request latency bookkeeping in the shared `inbound`/`outbound` dicts and
// one python_mcp_event encoded straight from the message's attributes. It
// answers False, having changed nothing, for what needs the hooks' Python
// path: the handshake (initialize), tools/list results, errors, 2026-07-28
// envelopes, anything unexpected.
extern PyTypeObject type;

// How many unanswered requests a direction keeps (the oldest are forgotten
// beyond this; the Python path does the forgetting).
inline constexpr Py_ssize_t kPendingLimit = 4096;

}  // namespace bluepython::mcp_observer
