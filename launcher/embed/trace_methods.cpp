// SPDX-License-Identifier: Apache-2.0
#include "embed/trace_methods.hpp"

#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <string>

#include "pipeline/sha256.hpp"
#include "pyapi/call_context.hpp"
#include "runtime/sensor.hpp"

namespace bluepython::module {

// client_traceparent() -> str: the W3C traceparent for a request this
// process sends as an MCP client (OTLP trace export on): the trace of the
// call in effect (its incoming trace, or the one derived from its call_id,
// as the exporter derives it) or a new one, and a new span id: the client
// span's. "00-<trace>-<span>-01".
PyObject* py_client_traceparent(PyObject*, PyObject*) {
  std::array<std::uint8_t, 24> random{};
  std::size_t got = 0;
  while (got < random.size()) {
    const ssize_t n = ::getrandom(random.data() + got, random.size() - got, 0);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  std::string trace;
  PyObject* value = nullptr;
  if (call_context::variable() != nullptr && PyContextVar_Get(call_context::variable(), nullptr, &value) == 0 && value != nullptr &&
      PyTuple_Check(value) && PyTuple_GET_SIZE(value) == 2 && PyDict_Check(PyTuple_GET_ITEM(value, 1))) {
    PyObject* call = PyTuple_GET_ITEM(value, 1);
    PyObject* incoming = PyDict_GetItemString(call, "trace_id");  // borrowed
    PyObject* call_id = PyDict_GetItemString(call, "call_id");
    const char* text = nullptr;
    if (incoming != nullptr && PyUnicode_Check(incoming) && (text = PyUnicode_AsUTF8(incoming)) != nullptr) {
      trace = text;
    } else if (call_id != nullptr && PyUnicode_Check(call_id) && (text = PyUnicode_AsUTF8(call_id)) != nullptr) {
      trace = to_hex(sha256_bytes(std::string("trace/") + text)).substr(0, 32);
    }
  }
  Py_XDECREF(value);
  PyErr_Clear();
  static constexpr char kHex[] = "0123456789abcdef";
  auto hex = [](const std::uint8_t* bytes, std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) {
      out += kHex[bytes[i] >> 4U];
      out += kHex[bytes[i] & 0xFU];
    }
    return out;
  };
  if (trace.size() != 32) trace = hex(random.data(), 16);
  std::string span = hex(random.data() + 16, 8);
  if (span == "0000000000000000") span[15] = '1';
  const std::string tp = "00-" + trace + "-" + span + "-01";
  return PyUnicode_FromStringAndSize(tp.data(), static_cast<Py_ssize_t>(tp.size()));
}

// step_aside_server_spans(): the app's own OpenTelemetry instrumentation
// makes the MCP server spans; OTLP export sends none of ours from now on.
PyObject* py_step_aside_server_spans(PyObject*, PyObject*) {
  sensor::step_aside_server_spans();
  Py_RETURN_NONE;
}

// propagates_traces() -> bool: this process exports traces (OTLP), so MCP
// client requests carry a traceparent.
PyObject* py_propagates_traces(PyObject*, PyObject*) { return PyBool_FromLong(sensor::exports_traces() ? 1 : 0); }

}  // namespace bluepython::module
