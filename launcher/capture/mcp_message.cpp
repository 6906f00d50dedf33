// SPDX-License-Identifier: Apache-2.0
#include "capture/mcp_message.hpp"

#include <string>

#include "capture/mcp_observer.hpp"
#include "pipeline/json_writer.hpp"
#include "pyapi/call_context.hpp"
#include "pyapi/py_json.hpp"
#include "pyapi/py_ref.hpp"
#include "runtime/sensor.hpp"

namespace bluepython::mcp_observer {
namespace {

// mcp_message(event, body, source, request_id, session_id, client_id,
//             server_name, duration_ms, transport, protocol_version,
//             request_method, client_version, oauth_client_id) -> bool
//
// One python_mcp_event, encoded here straight from its parts: the MCP hooks
// call it twice per request on each side, so no attribute dict is built in
// Python. `body` is the JSON-RPC message as JSON data (a dict); `method` and
// `error` are derived from it. None members after server_name are left out.
// Positional only, all thirteen.
void mcp_member(json_writer& w, const char* key, PyObject* value) {
  if (value == Py_None) return;
  w.key(key);
  encode_python_value(w, value);
}

void mcp_error_of(json_writer& w, PyObject* body) {
  static PyObject* const k_error = key_object("error");
  static PyObject* const k_code = key_object("code");
  static PyObject* const k_message = key_object("message");
  static PyObject* const k_result = key_object("result");
  static PyObject* const k_is_error = key_object("isError");
  const py_ref error = dict_item(body, k_error);
  if (error) {
    if (!PyDict_Check(error.get())) return;
    w.key("error");
    w.begin_object();
    w.key("type");
    const py_ref code = dict_item(error.get(), k_code);
    if (!code) {
      w.string("None");  // what str(None) gives, as the Python path did
    } else if (PyUnicode_Check(code.get())) {
      encode_python_value(w, code.get());
    } else {
      const py_ref text(PyObject_Str(code.get()));
      if (text) {
        encode_python_value(w, text.get());
      } else {
        PyErr_Clear();
        w.null();
      }
    }
    w.key("message");
    const py_ref message = dict_item(error.get(), k_message);
    encode_python_value(w, message ? message.get() : Py_None);
    w.end_object();
    return;
  }
  const py_ref result = dict_item(body, k_result);
  if (result && PyDict_Check(result.get()) && dict_item(result.get(), k_is_error).get() == Py_True) {
    w.key("error");
    w.begin_object();
    w.key("type");
    w.string("tool_error");
    w.end_object();
  }
}

}  // namespace

PyObject* py_mcp_message(PyObject* /*self*/, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 13) {
    PyErr_Format(PyExc_TypeError, "mcp_message() takes 13 positional arguments (%zd given)", nargs);
    return nullptr;
  }
  PyObject* const event = args[0];
  PyObject* const body = args[1];
  if (!PyUnicode_Check(event)) {
    PyErr_SetString(PyExc_TypeError, "mcp_message(): event must be a str");
    return nullptr;
  }
  bool ok = false;
  try {
    std::string attrs;
    attrs.reserve(512);
    json_writer w(attrs, sensor::settings().limits);
    w.key("event");
    encode_python_value(w, event);
    w.key("id");
    encode_python_value(w, args[3]);
    w.key("message");
    field_paths fields;
    if (mcp_observer::message_fields(body, args[6], args[10], fields)) w.field_scope(&fields);
    encode_python_value(w, body, true);
    w.key("session_id");
    encode_python_value(w, args[4]);
    w.key("client_id");
    encode_python_value(w, args[5]);
    w.key("source");
    encode_python_value(w, args[2]);
    w.key("server_name");
    encode_python_value(w, args[6]);
    if (PyDict_Check(body)) {
      static PyObject* const k_method = key_object("method");
      const py_ref method = dict_item(body, k_method);
      if (method) {
        if (PyUnicode_Check(method.get())) {
          w.key("method");
          encode_python_value(w, method.get());
        }
      } else {
        mcp_error_of(w, body);  // only responses carry errors
      }
    }
    mcp_member(w, "duration_ms", args[7]);
    mcp_member(w, "transport", args[8]);
    mcp_member(w, "protocol_version", args[9]);
    mcp_member(w, "request_method", args[10]);
    mcp_member(w, "client_name", args[5]);
    mcp_member(w, "client_version", args[11]);
    mcp_member(w, "oauth_client_id", args[12]);
    std::string context;
    if (!call_context::current_json(context)) context.clear();
    ok = sensor::emit("python_mcp_event", attrs, context, true);
  } catch (...) {
    ok = false;
  }
  if (PyErr_Occurred() != nullptr) PyErr_Clear();
  return PyBool_FromLong(ok ? 1 : 0);
}

}  // namespace bluepython::mcp_observer
