// SPDX-License-Identifier: Apache-2.0
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <array>
#include <string_view>

#include "pipeline/redaction.hpp"

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

// The python_mcp_event sub-types (docs/events.md), at side * 8 + received * 4
// + kind (side: 0 server, 1 client; kind: request, notification, response,
// error: errors are responses). The one table of these names: the Python hooks
// read it as _bluepython.MCP_EVENT_NAMES.
inline constexpr std::array<const char*, 16> kEventNames = {
    "server_send_request",     "server_send_notification",     "server_send_response",     "server_send_response",
    "server_received_request", "server_received_notification", "server_received_response", "server_received_response",
    "client_send_request",     "client_send_notification",     "client_send_response",     "client_send_response",
    "client_received_request", "client_received_notification", "client_received_response", "client_received_response",
};

// How many unanswered requests a direction keeps (the oldest are forgotten
// beyond this; the Python path does the forgetting).
inline constexpr Py_ssize_t kPendingLimit = 4096;

// The per-tool field rules (redaction.fields, docs/redaction.md) for one
// tools/call message on `server_name`'s server: for its params (`result`
// false; the tool is params["name"]) or its result (the tool is the call in
// effect's target). `prefix` is the key the encoded root adds above them
// ("params", "result" for a whole message; empty when params or the result
// is the root). False when none apply. Under the GIL; never raises.
bool tool_call_fields(PyObject* server_name, PyObject* params, bool result, std::string_view prefix,
                      field_paths& out) noexcept;
// The same for a whole JSON-RPC message `body` (a dict: the hooks' Python
// path): a tools/call request, or a response whose `request_method` is one.
bool message_fields(PyObject* body, PyObject* server_name, PyObject* request_method, field_paths& out) noexcept;

}  // namespace bluepython::mcp_observer
