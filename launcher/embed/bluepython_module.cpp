// SPDX-License-Identifier: Apache-2.0
#include "embed/bluepython_module.hpp"


#include <atomic>
#include <chrono>
#include <csignal>
#include <string>

#include <fmt/format.h>

#include "capture/db_events.hpp"
#include "capture/library_events.hpp"
#include "capture/url_safety.hpp"
#include "capture/policy_gate.hpp"
#include "capture/embedded_modules.hpp"
#include "embed/trace_methods.hpp"
#include "capture/import_monitor.hpp"
#include "pipeline/json_writer.hpp"
#include "capture/mcp_message.hpp"
#include "capture/mcp_observer.hpp"
#include "pyapi/py_json.hpp"
#include "pyapi/py_ref.hpp"
#include "runtime/sensor.hpp"
#include "pipeline/sha256.hpp"
#include "pyapi/call_context.hpp"
#include "capture/folding.hpp"
#include "capture/spawn_wrappers.hpp"
#include "version.hpp"

namespace bluepython::module {
namespace {

PyObject* py_emit(PyObject*, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"name", "attributes", "actionable", "summarize_binary", nullptr};
  PyObject* name = nullptr;
  PyObject* attributes = Py_None;
  int actionable = 1;
  int summarize_binary = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "U|O$pp:emit", const_cast<char**>(keywords), &name, &attributes,
                                   &actionable, &summarize_binary)) {
    return nullptr;
  }
  if (attributes != Py_None && !PyDict_Check(attributes)) {
    PyErr_SetString(PyExc_TypeError, "emit(): attributes must be a dict or None");
    return nullptr;
  }
  // Event names are identifiers: letters, digits, '_', '.', ':' and '-'.
  Py_ssize_t name_len = 0;
  const char* name_utf8 = PyUnicode_AsUTF8AndSize(name, &name_len);
  if (name_utf8 == nullptr) PyErr_Clear();  // lone surrogates: invalid below
  bool name_ok = name_utf8 != nullptr && name_len > 0 && name_len <= 128;
  for (Py_ssize_t i = 0; name_ok && i < name_len; ++i) {
    const char c = name_utf8[i];
    name_ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == ':' || c == '-';
  }
  if (!name_ok) {
    PyErr_Format(PyExc_ValueError, "emit(): invalid event name %R (1-128 of [A-Za-z0-9_.:-])", name);
    return nullptr;
  }
  // The envelope's own members cannot be set (or forged) by attributes.
  if (attributes != Py_None) {
    static PyObject* const k_meta = key_object("meta");
    static PyObject* const k_context = key_object("context");
    for (PyObject* key : {k_meta, k_context}) {
      const char* reserved = key == k_meta ? "meta" : "context";
      const int has = key != nullptr ? PyDict_Contains(attributes, key) : 0;
      if (has != 0) {
        if (has > 0) PyErr_Format(PyExc_ValueError, "emit(): attribute name '%s' is reserved", reserved);
        return nullptr;
      }
    }
  }
  bool ok = false;
  try {
    std::string storage;
    const std::string_view event_name = python_str_view(name, storage);
    std::string attrs;
    if (attributes != Py_None && PyDict_GET_SIZE(attributes) > 0) {
      // Encode the dict's members without the surrounding braces.
      json_writer w(attrs, sensor::settings().limits);
      encode_python_value(w, attributes, summarize_binary != 0);
      if (attrs.size() >= 2) attrs = attrs.substr(1, attrs.size() - 2);
    }
    std::string context;
    if (!call_context::current_json(context)) context.clear();
    ok = sensor::emit(event_name, attrs, context, actionable != 0);
  } catch (...) {
    ok = false;
  }
  return PyBool_FromLong(ok ? 1 : 0);
}


// redacted_json(value) -> str: `value` as JSON, as an event would hold it
// (secrets replaced, limits applied): for what the hooks keep on disk outside
// events (the tool-definition baseline).
PyObject* py_redacted_json(PyObject*, PyObject* value) {
  std::string text;
  try {
    json_writer w(text, sensor::settings().limits);
    encode_python_value(w, value);
  } catch (...) {
    return PyErr_NoMemory();
  }
  return PyUnicode_FromStringAndSize(text.data(), static_cast<Py_ssize_t>(text.size()));
}

PyObject* py_flush(PyObject*, PyObject* args) {
  double timeout = 1.0;
  if (!PyArg_ParseTuple(args, "|d:flush", &timeout)) return nullptr;
  auto* p = sensor::pipeline();
  bool ok = false;
  if (p != nullptr) {
    Py_BEGIN_ALLOW_THREADS
    ok = p->flush(std::chrono::milliseconds(static_cast<long>(timeout * 1000)));
    Py_END_ALLOW_THREADS
  }
  return PyBool_FromLong(ok ? 1 : 0);
}

PyObject* py_enabled(PyObject*, PyObject* arg) {
  if (!PyUnicode_Check(arg)) {
    PyErr_SetString(PyExc_TypeError, "enabled(): category must be a str");
    return nullptr;
  }
  const char* name = PyUnicode_AsUTF8(arg);
  if (name == nullptr) return nullptr;
  const auto c = category_from_name(name);
  if (!c) {
    PyErr_Format(PyExc_ValueError, "unknown category %R", arg);
    return nullptr;
  }
  return PyBool_FromLong(sensor::settings().enabled(*c) ? 1 : 0);
}

PyObject* py_config_json(PyObject*, PyObject*) {
  try {
    const std::string text = sensor::settings().to_json().dump();
    return PyUnicode_FromStringAndSize(text.data(), static_cast<Py_ssize_t>(text.size()));
  } catch (...) {
    return PyErr_NoMemory();
  }
}

PyObject* py_spool_location(PyObject*, PyObject*) {
  auto* p = sensor::pipeline();
  if (p == nullptr) Py_RETURN_NONE;
  const std::string where = p->sink_location();
  return PyUnicode_DecodeFSDefaultAndSize(where.data(), static_cast<Py_ssize_t>(where.size()));
}

PyObject* py_state_location(PyObject*, PyObject*) {
  const std::string& where = sensor::settings().spool.state_dir;
  if (where.empty()) Py_RETURN_NONE;
  return PyUnicode_DecodeFSDefaultAndSize(where.data(), static_cast<Py_ssize_t>(where.size()));
}

PyObject* py_sensor_uuid(PyObject*, PyObject*) {
  const std::string id = sensor::uuid();
  return PyUnicode_FromStringAndSize(id.data(), static_cast<Py_ssize_t>(id.size()));
}

// enter_call(attributes) -> token: makes an MCP call current in this task or
// thread. The attributes are encoded once here; every event emitted while it
// is current carries them as context.mcp.
PyObject* py_enter_call(PyObject*, PyObject* attributes) {
  if (!PyDict_Check(attributes)) {
    PyErr_SetString(PyExc_TypeError, "enter_call(): attributes must be a dict");
    return nullptr;
  }
  if (call_context::variable() == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "enter_call(): _bluepython is not initialized");
    return nullptr;
  }
  std::string text;
  try {
    json_writer w(text, sensor::settings().limits);
    encode_python_value(w, attributes);
  } catch (...) {
    return PyErr_NoMemory();
  }
  PyObject* copy = PyDict_Copy(attributes);
  if (copy == nullptr) return nullptr;
  PyObject* value = Py_BuildValue("(s#N)", text.data(), static_cast<Py_ssize_t>(text.size()), copy);
  if (value == nullptr) return nullptr;
  PyObject* token = PyContextVar_Set(call_context::variable(), value);
  Py_DECREF(value);
  return token;
}

// enter_mcp_call(session_id, request_id, method, target, transport,
//                server_name[, traceparent]) -> token: enter_call for a fresh call, built
// here: call_id is "<sensor uuid>:<n>" (n counts from 1 in the process);
// target, transport and server_name are left out when None. The per-request
// path of the hooks: no attribute dict is built in Python.
// A W3C traceparent (version 00 layout) with valid ids: its trace id and
// parent span id as lower-case hex, else empty views.
std::pair<std::string_view, std::string_view> trace_of(PyObject* traceparent) noexcept {
  if (traceparent == nullptr || !PyUnicode_Check(traceparent)) return {};
  Py_ssize_t size = 0;
  const char* text = PyUnicode_AsUTF8AndSize(traceparent, &size);
  if (text == nullptr) {
    PyErr_Clear();
    return {};
  }
  const std::string_view tp(text, static_cast<std::size_t>(size));
  if (tp.size() < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-' || tp.starts_with("ff")) return {};
  auto hex_id = [](std::string_view id) {
    bool nonzero = false;
    for (const char c : id) {
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
      nonzero = nonzero || c != '0';
    }
    return nonzero;
  };
  const std::string_view trace = tp.substr(3, 32);
  const std::string_view parent = tp.substr(36, 16);
  if (!hex_id(trace) || !hex_id(parent)) return {};
  return {trace, parent};
}

PyObject* py_enter_mcp_call(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 6 && nargs != 7) {
    PyErr_Format(PyExc_TypeError, "enter_mcp_call() takes 6 or 7 positional arguments (%zd given)", nargs);
    return nullptr;
  }
  if (call_context::variable() == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "enter_mcp_call(): _bluepython is not initialized");
    return nullptr;
  }
  static std::atomic<std::uint64_t> counter{0};
  static PyObject* const keys[] = {key_object("session_id"), key_object("request_id"), key_object("method"),
                                   key_object("target"),     key_object("transport"),  key_object("server_name")};
  static const char* const names[] = {"session_id", "request_id", "method", "target", "transport", "server_name"};
  static PyObject* const k_call_id = key_object("call_id");
  PyObject* attrs = nullptr;
  PyObject* value = nullptr;
  try {
    std::string text;
    text.reserve(256);
    json_writer w(text, sensor::settings().limits);
    w.begin_object();
    w.key("call_id");
    const std::size_t id_start = text.size() + 1;  // after the opening quote
    w.string(fmt::format("{}:{}", sensor::uuid(), counter.fetch_add(1) + 1));
    const std::string_view call_id(text.data() + id_start, text.size() - id_start - 1);
    PyObject* id = PyUnicode_FromStringAndSize(call_id.data(), static_cast<Py_ssize_t>(call_id.size()));
    attrs = PyDict_New();
    bool ok = id != nullptr && attrs != nullptr && k_call_id != nullptr && PyDict_SetItem(attrs, k_call_id, id) == 0;
    Py_XDECREF(id);
    for (Py_ssize_t i = 0; ok && i < 6; ++i) {
      if (i >= 3 && args[i] == Py_None) continue;  // optional members
      ok = keys[i] != nullptr && PyDict_SetItem(attrs, keys[i], args[i]) == 0;
      w.key(names[i]);
      encode_python_value(w, args[i]);
    }
    // The W3C trace context the request came with (params._meta.traceparent):
    // every event of the call, and children through parent.call, carry it.
    if (const auto [trace, parent] = trace_of(nargs == 7 ? args[6] : nullptr); ok && !trace.empty()) {
      static PyObject* const k_trace = key_object("trace_id");
      static PyObject* const k_parent = key_object("parent_span_id");
      PyObject* t = PyUnicode_FromStringAndSize(trace.data(), static_cast<Py_ssize_t>(trace.size()));
      PyObject* p = PyUnicode_FromStringAndSize(parent.data(), static_cast<Py_ssize_t>(parent.size()));
      ok = t != nullptr && p != nullptr && PyDict_SetItem(attrs, k_trace, t) == 0 && PyDict_SetItem(attrs, k_parent, p) == 0;
      Py_XDECREF(t);
      Py_XDECREF(p);
      w.key("trace_id");
      w.string(trace);
      w.key("parent_span_id");
      w.string(parent);
    }
    w.end_object();
    if (ok) value = Py_BuildValue("(s#O)", text.data(), static_cast<Py_ssize_t>(text.size()), attrs);
  } catch (...) {
    if (!PyErr_Occurred()) PyErr_NoMemory();
  }
  Py_XDECREF(attrs);
  if (value == nullptr) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_RuntimeError, "enter_mcp_call(): out of memory");
    return nullptr;
  }
  PyObject* token = PyContextVar_Set(call_context::variable(), value);
  Py_DECREF(value);
  return token;
}

PyObject* py_exit_call(PyObject*, PyObject* token) {
  if (call_context::variable() == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "exit_call(): _bluepython is not initialized");
    return nullptr;
  }
  if (capture::folds_open()) {
    std::string call;
    if (call_context::current_json(call)) capture::call_ends(call);
  }
  if (PyContextVar_Reset(call_context::variable(), token) < 0) return nullptr;
  Py_RETURN_NONE;
}

// current_call() -> dict | None: a copy of the call in effect.
PyObject* py_current_call(PyObject*, PyObject*) {
  if (call_context::variable() == nullptr) Py_RETURN_NONE;
  PyObject* value = nullptr;
  if (PyContextVar_Get(call_context::variable(), nullptr, &value) < 0) return nullptr;
  PyObject* result = nullptr;
  if (value != nullptr && PyTuple_Check(value) && PyTuple_GET_SIZE(value) == 2) {
    result = PyDict_Copy(PyTuple_GET_ITEM(value, 1));
  } else {
    result = Py_NewRef(Py_None);
  }
  Py_XDECREF(value);
  return result;
}

// Whether the call in effect already names `target` on `server_name`: the
// hot path of the fastmcp attribution, asked without copying the call.
PyObject* py_call_names(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "call_names(target, server_name)");
    return nullptr;
  }
  if (call_context::variable() == nullptr) Py_RETURN_FALSE;
  PyObject* value = nullptr;
  if (PyContextVar_Get(call_context::variable(), nullptr, &value) < 0) return nullptr;
  const py_ref held(value);
  if (value == nullptr || !PyTuple_Check(value) || PyTuple_GET_SIZE(value) != 2) Py_RETURN_FALSE;
  PyObject* fields = PyTuple_GET_ITEM(value, 1);
  if (!PyDict_Check(fields)) Py_RETURN_FALSE;
  for (const auto& [key, want] : {std::pair{"target", args[0]}, std::pair{"server_name", args[1]}}) {
    PyObject* have = PyDict_GetItemString(fields, key);  // borrowed
    if (have == nullptr) have = Py_None;
    const int same = have == want ? 1 : PyObject_RichCompareBool(have, want, Py_EQ);
    if (same < 0) return nullptr;
    if (same == 0) Py_RETURN_FALSE;
  }
  Py_RETURN_TRUE;
}

PyObject* py_mark_serving(PyObject*, PyObject*) {
  capture::mark_serving();
  Py_RETURN_NONE;
}

PyObject* py_wrap_fork_exec(PyObject*, PyObject* original) { return capture::wrap_fork_exec(original); }

PyObject* py_report_internal(PyObject*, PyObject* args) {
  const char* where = nullptr;
  const char* message = nullptr;
  if (!PyArg_ParseTuple(args, "ss:report_internal", &where, &message)) return nullptr;
  sensor::report_internal(where, message);
  Py_RETURN_NONE;
}

PyObject* py_embedded(PyObject*, PyObject* arg) {
  if (!PyUnicode_Check(arg)) {
    PyErr_SetString(PyExc_TypeError, "_embedded(): name must be a str");
    return nullptr;
  }
  const char* name = PyUnicode_AsUTF8(arg);
  if (name == nullptr) return nullptr;
  const embedded_module* m = find_embedded_module(name);
  if (m == nullptr) Py_RETURN_NONE;
  return Py_BuildValue("(Ny#)", PyBool_FromLong(m->is_package ? 1 : 0), reinterpret_cast<const char*>(m->code),
                       static_cast<Py_ssize_t>(m->size));
}

PyObject* py_after_fork_child(PyObject*, PyObject*) {
  sensor::start_child_writer();
  Py_RETURN_NONE;
}

PyMethodDef methods[] = {
    {"emit", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&py_emit)), METH_VARARGS | METH_KEYWORDS,
     "emit(name, attributes=None, *, actionable=True, summarize_binary=False) -> bool\n\n"
     "Queue one event; False if it was dropped. summarize_binary: MCP base64 payloads are summarized."},
    {"mcp_message", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&mcp_observer::py_mcp_message)), METH_FASTCALL,
     "mcp_message(event, body, source, request_id, session_id, client_id, server_name, duration_ms, transport, "
     "protocol_version, request_method, client_version, oauth_client_id, /) -> bool\n\n"
     "Queue one python_mcp_event from its parts (the MCP hooks' per-message path)."},
    {"flush", &py_flush, METH_VARARGS, "flush(timeout=1.0) -> bool\n\nWait until queued events are written."},
    {"enabled", &py_enabled, METH_O, "enabled(category) -> bool"},
    {"config_json", &py_config_json, METH_NOARGS, "The effective configuration as JSON."},
    {"spool_location", &py_spool_location, METH_NOARGS, "The spool file (or directory) events go to."},
    {"state_location", &py_state_location, METH_NOARGS,
     "The state directory beside the spool (journals, baselines), or None."},
    {"sensor_uuid", &py_sensor_uuid, METH_NOARGS, "This process's sensor uuid."},
    {"enter_call", &py_enter_call, METH_O,
     "enter_call(attributes: dict) -> Token\n\nMake an MCP call current (context.mcp of events emitted meanwhile)."},
    {"enter_mcp_call", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&py_enter_mcp_call)),
     METH_FASTCALL,
     "enter_mcp_call(session_id, request_id, method, target, transport, server_name, /) -> Token\n\n"
     "Make a fresh MCP call current; its call_id is '<sensor uuid>:<n>'."},
    {"exit_call", &py_exit_call, METH_O, "exit_call(token)\n\nRestore the call in effect before enter_call."},
    {"policy_check_call",
     reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&capture::policy_gate::py_check_call)), METH_FASTCALL,
     "policy_check_call(name, arguments) -> str | None\n\nThe policy's checks of a tools/call in the call in effect: "
     "a message when it must be refused."},
    {"policy_checks_calls", &capture::policy_gate::py_checks_calls, METH_NOARGS,
     "policy_checks_calls() -> bool\n\nWhether a policy checks tools/call."},
    {"note_tool_definition",
     reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&capture::policy_gate::py_note_tool_definition)),
     METH_FASTCALL,
     "note_tool_definition(name, description, input_schema, listed=False)\n\nA tool's definition, for its pin "
     "(listed: from a tools/list answer, used only for tools never registered)."},
    {"side_effect", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&capture::py_side_effect)), METH_FASTCALL,
     "side_effect(name, category, attributes, subject) -> bool\n\nReport a side effect a library hook saw."},
    {"urllib_hooked", &capture::py_urllib_hooked, METH_NOARGS,
     "urllib_hooked()\n\nThe hooks report urllib's requests from now on (internal)."},
    {"redacted_json", &py_redacted_json, METH_O,
     "redacted_json(value) -> str\n\nvalue as JSON with secrets redacted, as events hold it (docs/redaction.md)."},
    {"safe_url", &capture::py_safe_url, METH_O,
     "safe_url(url) -> str\n\nThe URL without its password and credential-like query values."},
    {"wrap_sqlite_connect", &capture::py_wrap_sqlite_connect, METH_O,
     "wrap_sqlite_connect(connect) -> connect\n\nsqlite3.connect that reports the database's writes (internal)."},
    {"current_call", &py_current_call, METH_NOARGS, "current_call() -> dict | None\n\nThe MCP call in effect."},
    {"call_names", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&py_call_names)), METH_FASTCALL,
     "call_names(target, server_name) -> bool\n\nWhether the MCP call in effect names this target on this server."},
    {"client_traceparent", &py_client_traceparent, METH_NOARGS,
     "client_traceparent() -> str\n\nA W3C traceparent for an MCP request this client sends."},
    {"step_aside_server_spans", &py_step_aside_server_spans, METH_NOARGS,
     "step_aside_server_spans()\n\nThe app's own instrumentation makes MCP server spans: export none of ours."},
    {"propagates_traces", &py_propagates_traces, METH_NOARGS,
     "propagates_traces() -> bool\n\nWhether MCP client requests carry a traceparent (OTLP traces on)."},
    {"mark_serving", &py_mark_serving, METH_NOARGS,
     "mark_serving()\n\nAn MCP session opened: side effects outside a call are now scope 'background'."},
    {"wrap_fork_exec", &py_wrap_fork_exec, METH_O,
     "wrap_fork_exec(original) -> callable\n\nThe observed replacement for _posixsubprocess.fork_exec."},
    {"report_internal", &py_report_internal, METH_VARARGS,
     "report_internal(where, message)\n\nRecord a fault of bluepython's hooks (python_internal_exception)."},
    {"_embedded", &py_embedded, METH_O, "_embedded(name) -> (is_package, code) | None (internal)."},
    {"_after_fork_child", &py_after_fork_child, METH_NOARGS, "os.register_at_fork hook (internal)."},
    {nullptr, nullptr, 0, nullptr},
};

PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_bluepython", "bluepython's native bridge (built into the bluepython executable).",
    -1, methods, nullptr, nullptr, nullptr, nullptr,
};


}  // namespace

namespace {

// MCP_EVENT_NAMES: the python_mcp_event names in the observer's order, so
// the hooks and the native path share one table.
bool add_event_names(PyObject* mod) noexcept {
  py_ref names(PyTuple_New(static_cast<Py_ssize_t>(mcp_observer::kEventNames.size())));
  if (!names) return false;
  for (std::size_t i = 0; i < mcp_observer::kEventNames.size(); ++i) {
    PyObject* name = PyUnicode_InternFromString(mcp_observer::kEventNames[i]);
    if (name == nullptr) return false;
    PyTuple_SET_ITEM(names.get(), static_cast<Py_ssize_t>(i), name);
  }
  return PyModule_AddObjectRef(mod, "MCP_EVENT_NAMES", names.get()) == 0;
}

}  // namespace

PyObject* init() {
  PyObject* mod = PyModule_Create(&module_def);
  if (mod == nullptr) return nullptr;
  if (PyType_Ready(&import_monitor::type) < 0) {
    Py_DECREF(mod);
    return nullptr;
  }
  Py_INCREF(&import_monitor::type);
  if (PyType_Ready(&mcp_observer::type) < 0) {
    Py_DECREF(mod);
    return nullptr;
  }
  Py_INCREF(&mcp_observer::type);
  if (!call_context::init()) {
    Py_DECREF(mod);
    return nullptr;
  }
  if (PyModule_AddObject(mod, "ImportMonitor", reinterpret_cast<PyObject*>(&import_monitor::type)) < 0 ||
      PyModule_AddObject(mod, "McpObserver", reinterpret_cast<PyObject*>(&mcp_observer::type)) < 0 ||
      PyModule_AddIntConstant(mod, "MCP_PENDING_LIMIT", mcp_observer::kPendingLimit) < 0 ||
      PyModule_AddStringConstant(mod, "__version__", kVersion) < 0 || !add_event_names(mod)) {
    Py_DECREF(mod);
    return nullptr;
  }
  return mod;
}

}  // namespace bluepython::module
