// SPDX-License-Identifier: Apache-2.0
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string>

// The MCP call in effect: a ContextVar owned by the native code, set by the
// hooks through _bluepython.enter_call / enter_mcp_call and read by every
// producer (emit, the audit hook, the MCP observer), so an event carries the
// call of the thread or task that raised it. Its value is a tuple
// (JSON text of the call, dict of the call). All functions need the GIL.
namespace bluepython::call_context {

// Creates the variable (once). False with a Python error set on failure.
bool init() noexcept;
// The variable (borrowed), or nullptr before init().
PyObject* variable() noexcept;
// The call in effect as the context member `"mcp":{...}` in `out`; false
// when no call is current. Never raises.
bool current_json(std::string& out) noexcept;
// The call in effect without the `"mcp":` key (the JSON object alone), for
// handing it to a child process; false when none. Never raises.
bool current_call_object(std::string& out) noexcept;
// The call in effect as its dict (a new reference: session_id, method,
// target, server_name, ...), or nullptr when none. Never raises.
PyObject* current_fields() noexcept;

}  // namespace bluepython::call_context

namespace bluepython {
// Reports (and clears) the pending Python error as python_internal_exception,
// naming `where`. Never raises.
void report_python_error(const char* where) noexcept;
}  // namespace bluepython
