// SPDX-License-Identifier: Apache-2.0
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

namespace bluepython::mcp_observer {

// _bluepython.mcp_message(event, body, source, request_id, session_id,
// client_id, server_name, duration_ms, transport, protocol_version,
// request_method, client_version, oauth_client_id) -> bool: one
// python_mcp_event of the hooks' Python path (mcp_message.cpp says more).
PyObject* py_mcp_message(PyObject* self, PyObject* const* args, Py_ssize_t nargs);

}  // namespace bluepython::mcp_observer
