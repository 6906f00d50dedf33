// SPDX-License-Identifier: Apache-2.0
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

// The trace-propagation methods of _bluepython (W3C trace context for MCP
// client requests while OTLP trace export is on). Need the GIL.
namespace bluepython::module {

// client_traceparent() -> str: "00-<trace>-<span>-01" for a request this process sends as an MCP
// client: the trace of the call in effect (its incoming trace, or the one the exporter derives from
// its call_id) or a new one, and a new span id (the client span's).
PyObject* py_client_traceparent(PyObject* self, PyObject* unused);
// step_aside_server_spans(): the app's own OpenTelemetry instrumentation makes the MCP server spans.
PyObject* py_step_aside_server_spans(PyObject* self, PyObject* unused);
// propagates_traces() -> bool: this process exports traces, so MCP client requests carry a traceparent.
PyObject* py_propagates_traces(PyObject* self, PyObject* unused);

}  // namespace bluepython::module
