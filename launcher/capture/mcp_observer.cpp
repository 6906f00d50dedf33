// SPDX-License-Identifier: Apache-2.0
#include "capture/mcp_observer.hpp"

#include <structmember.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <memory>
#include <string>

#include "pyapi/call_context.hpp"
#include "pipeline/clock.hpp"
#include "pipeline/json_writer.hpp"
#include "pyapi/py_json.hpp"
#include "pyapi/py_ref.hpp"
#include "runtime/sensor.hpp"

namespace bluepython::mcp_observer {
namespace {

enum kind : int { request = 0, notification = 1, response = 2, error = 3 };

// The session's own members of a message event, encoded once: they stay the
// same from message to message. Valid while the observer's fields are the
// very objects it was made from (held here, so no other object can take
// their address); made only from str and None, which cannot change.
struct session_fragments {
  std::array<py_ref, 7> made_from;  // session_id, client_name, client_version, server_name, transport,
                                    // protocol_version, oauth_client_id
  std::string head;                 // "session_id":…,"client_id":…
  std::string server;               // "server_name":…
  std::string connection;           // "transport":…,"protocol_version":…
  std::string client;               // "client_name":…,"client_version":…,"oauth_client_id":…
};

struct observer_object {
  PyObject_HEAD
  PyObject* kinds;     // dict: message class -> kind
  PyObject* inbound;   // dict: id -> (perf_counter, method) of requests the peer sent
  PyObject* outbound;  // the same for requests this side sent
  PyObject* meta_key;  // a request whose params._meta holds this key goes to Python
  PyObject* session_id;
  PyObject* client_name;
  PyObject* client_version;
  PyObject* server_name;
  PyObject* transport;
  PyObject* protocol_version;
  PyObject* oauth_client_id;
  int side;     // 0 server, 1 client
  char unwrap;  // items are SessionMessage (1.x): the message is item.message.root
  char fast;    // the fields are settled: observe() may report messages
  session_fragments* fragments;  // nullptr until the first message; owned
};

constexpr const auto& kEvents = kEventNames;

PyObject* interned(const char* text) noexcept {
  PyObject* s = PyUnicode_InternFromString(text);
  if (s == nullptr) PyErr_Clear();
  return s;
}

// Attribute or nullptr (error cleared). New reference. The messages are
// pydantic models, whose class defines __getattr__: every lookup then takes
// the slow slot path that first calls object.__getattribute__ the Python
// way. When the class keeps object's __getattribute__, calling it directly
// is the same lookup (__getattr__ only runs when it fails, and so here).
PyObject* attr(PyObject* obj, PyObject* name) noexcept {
  static PyObject* const k_getattribute = interned("__getattribute__");
  static PyObject* const object_getattribute =
      k_getattribute != nullptr ? _PyType_Lookup(&PyBaseObject_Type, k_getattribute) : nullptr;
  if (name == nullptr) return nullptr;
  if (object_getattribute != nullptr && Py_TYPE(obj)->tp_getattro != PyObject_GenericGetAttr &&
      _PyType_Lookup(Py_TYPE(obj), k_getattribute) == object_getattribute) {
    PyObject* value = PyObject_GenericGetAttr(obj, name);
    if (value != nullptr) return value;
    PyErr_Clear();
  }
  PyObject* value = PyObject_GetAttr(obj, name);
  if (value == nullptr) PyErr_Clear();
  return value;
}

bool str_equals(PyObject* s, const char* ascii) noexcept {
  return PyUnicode_Check(s) && PyUnicode_CompareWithASCIIString(s, ascii) == 0;
}

// `value` is a field of the observer: held while encoded, since str() of a
// field (or of an earlier one) runs app code that may set a new one.
void member(json_writer& w, const char* key, PyObject* value, bool omit_none) {
  if (value == nullptr) value = Py_None;  // a field the hooks deleted
  if (omit_none && value == Py_None) return;
  w.key(key);
  const py_ref held = py_ref::borrow(value);
  encode_python_value(w, held.get());
}

// What observe() read from one message; the references are held, since
// reading further runs app code (properties, __eq__ and __hash__ of ids).
struct message_parts {
  long kind = request;
  py_ref outer;  // item.message.root (mcp 1.x)
  PyObject* msg = nullptr;
  py_ref jsonrpc, id, method, params, result;
  PyObject* pending = nullptr;  // the dict of unanswered requests this message touches
  py_ref entry;                 // a response's (time, method) from `pending`
};

// A request or notification: false for what the Python path must take.
bool read_request(observer_object* self, bool received, message_parts& m) {
  static PyObject* const k_method = interned("method");
  static PyObject* const k_params = interned("params");
  static PyObject* const k_meta = interned("_meta");
  m.method.reset(attr(m.msg, k_method));
  m.params.reset(attr(m.msg, k_params));
  if (!m.method || !m.params || !PyUnicode_Check(m.method.get())) return false;
  PyObject* params = m.params.get();
  if (params != Py_None && !PyDict_Check(params)) return false;
  if (m.kind == request && str_equals(m.method.get(), "initialize")) return false;
  if (self->meta_key != Py_None && params != Py_None) {
    // Held: the lookup in it compares app keys, which may empty `params`.
    const py_ref meta = py_ref::borrow(PyDict_GetItemWithError(params, k_meta));
    if (!meta && PyErr_Occurred() != nullptr) return false;
    if (meta && PyDict_Check(meta.get()) && PyDict_Contains(meta.get(), self->meta_key) != 0) return false;
  }
  if (m.kind == request) {
    m.pending = received ? self->inbound : self->outbound;
    if (PyDict_GET_SIZE(m.pending) >= kPendingLimit) return false;
  }
  return true;
}

// A response: false for what the Python path must take (handshake and
// tools/list results, an unknown str id that may echo an int one).
bool read_response(observer_object* self, bool received, message_parts& m) {
  static PyObject* const k_result = interned("result");
  m.result.reset(attr(m.msg, k_result));
  if (!m.result || !PyDict_Check(m.result.get())) return false;
  m.pending = received ? self->outbound : self->inbound;
  m.entry = py_ref::borrow(PyDict_GetItemWithError(m.pending, m.id.get()));
  if (!m.entry) return PyErr_Occurred() == nullptr && !PyUnicode_Check(m.id.get());
  if (!PyTuple_Check(m.entry.get()) || PyTuple_GET_SIZE(m.entry.get()) != 2) return false;
  PyObject* asked = PyTuple_GET_ITEM(m.entry.get(), 1);
  return !str_equals(asked, "initialize") && !str_equals(asked, "tools/list");
}

// Reads everything observe() reports, changing nothing; false: decline.
bool read_message(observer_object* self, PyObject* item, bool received, message_parts& m) {
  static PyObject* const k_message = interned("message");
  static PyObject* const k_root = interned("root");
  static PyObject* const k_id = interned("id");
  static PyObject* const k_jsonrpc = interned("jsonrpc");
  m.msg = item;
  if (self->unwrap != 0) {
    const py_ref message(attr(item, k_message));
    if (!message) return false;
    m.outer.reset(attr(message.get(), k_root));
    if (!m.outer) return false;
    m.msg = m.outer.get();
  }
  PyObject* kind_obj = PyDict_GetItemWithError(self->kinds, reinterpret_cast<PyObject*>(Py_TYPE(m.msg)));
  if (kind_obj == nullptr || !PyLong_Check(kind_obj)) return false;
  m.kind = PyLong_AsLong(kind_obj);
  if (m.kind < request || m.kind > response) return false;  // errors: the Python path dumps the ErrorData model
  m.jsonrpc.reset(attr(m.msg, k_jsonrpc));
  if (!m.jsonrpc) return false;
  m.id.reset(m.kind == notification ? Py_NewRef(Py_None) : attr(m.msg, k_id));
  if (!m.id) return false;
  return m.kind != response ? read_request(self, received, m) : read_response(self, received, m);
}

// The request clock: a request is remembered with its time and method; a
// response ends its request. Returns the latency in µs (-1 without a
// request) and, for a response, the method asked.
long long settle_clock(message_parts& m, py_ref& asked) {
  const double now = static_cast<double>(monotonic_ns()) / 1e9;
  if (m.kind == request) {
    const py_ref started(PyFloat_FromDouble(now));
    const py_ref value(started ? PyTuple_Pack(2, started.get(), m.method.get()) : nullptr);
    if (!value || PyDict_SetItem(m.pending, m.id.get(), value.get()) < 0) PyErr_Clear();
    return -1;
  }
  if (!m.entry) return -1;
  PyObject* const time = PyTuple_GET_ITEM(m.entry.get(), 0);
  const double started = PyFloat_Check(time) ? PyFloat_AS_DOUBLE(time) : now;
  asked = py_ref::borrow(PyTuple_GET_ITEM(m.entry.get(), 1));
  if (PyDict_DelItem(m.pending, m.id.get()) < 0) PyErr_Clear();
  return std::max(0LL, std::llround((now - started) * 1e6));
}

// Milliseconds with up to 3 decimals, as Python's repr(round(ms, 3)).
void write_duration(json_writer& w, long long duration_us) {
  std::array<char, 32> digits{};
  auto* end = std::to_chars(digits.data(), digits.data() + digits.size(), duration_us / 1000).ptr;
  *end++ = '.';
  if (const long long part = duration_us % 1000; part != 0) {
    long long scale = 100;
    for (long long rest = part; rest != 0; scale /= 10) {
      *end++ = static_cast<char>('0' + rest / scale);
      rest %= scale;
    }
  } else {
    *end++ = '0';
  }
  w.raw(std::string_view(digits.data(), static_cast<std::size_t>(end - digits.data())));
}

std::string utf8_of(PyObject* v) {
  if (v == nullptr || !PyUnicode_Check(v)) return {};
  Py_ssize_t size = 0;
  const char* text = PyUnicode_AsUTF8AndSize(v, &size);
  if (text == nullptr) {
    PyErr_Clear();
    return {};
  }
  return {text, static_cast<std::size_t>(size)};
}

// The JSON-RPC message as sent: jsonrpc, id, then method and params or result.
void write_body(json_writer& w, const message_parts& m, PyObject* server_name, PyObject* asked) {
  field_paths fields;
  w.key("message");
  w.begin_object();
  w.key("jsonrpc");
  encode_python_value(w, m.jsonrpc.get());
  if (m.kind != notification) {
    w.key("id");
    encode_python_value(w, m.id.get());
  }
  if (m.kind == response) {
    w.key("result");
    if (asked != nullptr && str_equals(asked, "tools/call") &&
        tool_call_fields(server_name, nullptr, true, {}, fields)) {
      w.field_scope(&fields);
    }
    encode_python_value(w, m.result.get(), true);
  } else {
    w.key("method");
    encode_python_value(w, m.method.get());
    if (m.params.get() != Py_None) {
      w.key("params");
      if (m.kind == request && str_equals(m.method.get(), "tools/call") &&
          tool_call_fields(server_name, m.params.get(), false, {}, fields)) {
        w.field_scope(&fields);
      }
      encode_python_value(w, m.params.get(), true);
    }
  }
  w.end_object();
}

// One python_mcp_event, members in the order of the Python path's.
std::array<PyObject*, 7> session_fields(const observer_object* self) noexcept {
  return {self->session_id,     self->client_name,      self->client_version, self->server_name,
          self->transport,      self->protocol_version, self->oauth_client_id};
}

// The fragments for the fields as they are now, or nullptr (a field is not a
// str or None: encoded member by member instead).
const session_fragments* fragments_of(observer_object* self) {
  const auto fields = session_fields(self);
  if (session_fragments* f = self->fragments; f != nullptr) {
    bool same = true;
    for (std::size_t i = 0; i < fields.size(); ++i) same = same && f->made_from[i].get() == fields[i];
    if (same) return f;
  }
  for (PyObject* v : fields) {
    if (v != nullptr && v != Py_None && !PyUnicode_CheckExact(v)) return nullptr;
  }
  auto fresh = std::make_unique<session_fragments>();
  for (std::size_t i = 0; i < fields.size(); ++i) fresh->made_from[i] = py_ref::borrow(fields[i]);
  const json_limits& limits = sensor::settings().limits;
  auto write = [&](std::string& out, std::initializer_list<std::pair<const char*, PyObject*>> members, bool omit_none) {
    json_writer w(out, limits);
    for (const auto& [key, value] : members) member(w, key, value, omit_none);
  };
  write(fresh->head, {{"session_id", self->session_id}, {"client_id", self->client_name}}, false);
  write(fresh->server, {{"server_name", self->server_name}}, false);
  write(fresh->connection, {{"transport", self->transport}, {"protocol_version", self->protocol_version}}, true);
  write(fresh->client,
        {{"client_name", self->client_name},
         {"client_version", self->client_version},
         {"oauth_client_id", self->oauth_client_id}},
        true);
  delete self->fragments;
  self->fragments = fresh.release();
  return self->fragments;
}

// Members of an object under way, pre-encoded (no leading comma; may be empty).
void append_members(json_writer& w, const std::string& members) {
  if (members.empty()) return;
  w.buffer() += ',';
  w.buffer() += members;
}

void report_message(observer_object* self, bool received, const message_parts& m, long long duration_us,
                    PyObject* asked) {
  static PyObject* const k_is_error = interned("isError");
  std::string attrs;
  attrs.reserve(768);
  json_writer w(attrs, sensor::settings().limits);
  w.key("event");
  w.string(kEvents[static_cast<std::size_t>((self->side != 0 ? 8 : 0) + (received ? 4 : 0) + m.kind)]);
  w.key("id");
  encode_python_value(w, m.id.get());
  write_body(w, m, self->server_name, asked);
  const session_fragments* f = fragments_of(self);
  if (f != nullptr) {
    append_members(w, f->head);
  } else {
    member(w, "session_id", self->session_id, false);
    member(w, "client_id", self->client_name, false);
  }
  w.key("source");
  w.integer(received ? 1 - self->side : self->side);
  if (f != nullptr) {
    append_members(w, f->server);
  } else {
    member(w, "server_name", self->server_name, false);
  }
  if (m.kind != response) {
    member(w, "method", m.method.get(), false);
  } else if (PyDict_GetItemWithError(m.result.get(), k_is_error) == Py_True) {
    w.key("error");
    w.begin_object();
    w.key("type");
    w.string("tool_error");
    w.end_object();
  }
  if (duration_us >= 0) {
    w.key("duration_ms");
    write_duration(w, duration_us);
  }
  if (f != nullptr) {
    append_members(w, f->connection);
    member(w, "request_method", asked != nullptr ? asked : Py_None, true);
    append_members(w, f->client);
  } else {
    member(w, "transport", self->transport, true);
    member(w, "protocol_version", self->protocol_version, true);
    member(w, "request_method", asked != nullptr ? asked : Py_None, true);
    member(w, "client_name", self->client_name, true);
    member(w, "client_version", self->client_version, true);
    member(w, "oauth_client_id", self->oauth_client_id, true);
  }
  std::string context;
  if (!call_context::current_json(context)) context.clear();
  sensor::emit("python_mcp_event", attrs, context, true);
}

// The observation proper; false when the Python path must take the message.
// Nothing is changed before every reason to decline has been ruled out.
bool observe(observer_object* self, PyObject* item, bool received) {
  message_parts m;
  if (!read_message(self, item, received, m)) return false;
  // Settled: this message is reported here.
  py_ref asked;
  const long long duration_us = settle_clock(m, asked);
  try {
    report_message(self, received, m, duration_us, asked.get());
  } catch (...) {
    // Out of memory: the event is lost; the app goes on.
  }
  if (PyErr_Occurred() != nullptr) PyErr_Clear();
  return true;
}

PyObject* observer_observe(PyObject* self_obj, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 2) {
    PyErr_Format(PyExc_TypeError, "observe() takes 2 positional arguments (%zd given)", nargs);
    return nullptr;
  }
  auto* self = reinterpret_cast<observer_object*>(self_obj);
  if (self->fast == 0) Py_RETURN_FALSE;
  bool done = false;
  {
    const saved_exception saved;  // normally none; kept if there is
    done = observe(self, args[0], PyObject_IsTrue(args[1]) == 1);
  }
  return PyBool_FromLong(done ? 1 : 0);
}

int observer_init(PyObject* self_obj, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"side", "kinds", "unwrap", "meta_key", nullptr};
  int side = 0;
  PyObject* kinds = nullptr;
  int unwrap = 0;
  PyObject* meta_key = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "iO!|pO:McpObserver", const_cast<char**>(keywords), &side,
                                   &PyDict_Type, &kinds, &unwrap, &meta_key)) {
    return -1;
  }
  if (side != 0 && side != 1) {
    PyErr_SetString(PyExc_ValueError, "McpObserver: side must be 0 (server) or 1 (client)");
    return -1;
  }
  if (meta_key != Py_None && !PyUnicode_Check(meta_key)) {
    PyErr_SetString(PyExc_TypeError, "McpObserver: meta_key must be a str or None");
    return -1;
  }
  auto* self = reinterpret_cast<observer_object*>(self_obj);
  self->side = side;
  self->unwrap = unwrap != 0 ? 1 : 0;
  Py_XSETREF(self->kinds, Py_NewRef(kinds));
  Py_XSETREF(self->meta_key, Py_NewRef(meta_key));
  return 0;
}

PyObject* observer_new(PyTypeObject* type, PyObject*, PyObject*) {
  auto* self = reinterpret_cast<observer_object*>(type->tp_alloc(type, 0));
  if (self == nullptr) return nullptr;
  self->inbound = PyDict_New();
  self->outbound = PyDict_New();
  self->kinds = PyDict_New();
  if (self->inbound == nullptr || self->outbound == nullptr || self->kinds == nullptr) {
    Py_DECREF(self);
    return nullptr;
  }
  for (PyObject** field : {&self->meta_key, &self->session_id, &self->client_name, &self->client_version,
                           &self->server_name, &self->transport, &self->protocol_version, &self->oauth_client_id}) {
    *field = Py_NewRef(Py_None);
  }
  return reinterpret_cast<PyObject*>(self);
}

int observer_traverse(PyObject* self_obj, visitproc visit, void* arg) {
  auto* self = reinterpret_cast<observer_object*>(self_obj);
  Py_VISIT(self->kinds);
  Py_VISIT(self->inbound);
  Py_VISIT(self->outbound);
  Py_VISIT(self->meta_key);
  Py_VISIT(self->session_id);
  Py_VISIT(self->client_name);
  Py_VISIT(self->client_version);
  Py_VISIT(self->server_name);
  Py_VISIT(self->transport);
  Py_VISIT(self->protocol_version);
  Py_VISIT(self->oauth_client_id);
  return 0;
}

int observer_clear(PyObject* self_obj) {
  auto* self = reinterpret_cast<observer_object*>(self_obj);
  Py_CLEAR(self->kinds);
  Py_CLEAR(self->inbound);
  Py_CLEAR(self->outbound);
  Py_CLEAR(self->meta_key);
  Py_CLEAR(self->session_id);
  Py_CLEAR(self->client_name);
  Py_CLEAR(self->client_version);
  Py_CLEAR(self->server_name);
  Py_CLEAR(self->transport);
  Py_CLEAR(self->protocol_version);
  Py_CLEAR(self->oauth_client_id);
  delete self->fragments;  // its references are of str and None: no cycle runs through them
  self->fragments = nullptr;
  return 0;
}

void observer_dealloc(PyObject* self_obj) {
  PyObject_GC_UnTrack(self_obj);
  observer_clear(self_obj);
  Py_TYPE(self_obj)->tp_free(self_obj);
}

PyMethodDef observer_methods[] = {
    {"observe", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&observer_observe)), METH_FASTCALL,
     "observe(item, received, /) -> bool\n\nReport one message; False if the Python path must (nothing changed)."},
    {nullptr, nullptr, 0, nullptr},
};

// Fields the hooks set (None when unknown); inbound/outbound are shared with
// the Python path.
PyMemberDef observer_members[] = {
    {"inbound", T_OBJECT_EX, offsetof(observer_object, inbound), READONLY, "requests the peer sent, by id"},
    {"outbound", T_OBJECT_EX, offsetof(observer_object, outbound), READONLY, "requests this side sent, by id"},
    {"side", T_INT, offsetof(observer_object, side), READONLY, "0 server, 1 client"},
    {"session_id", T_OBJECT, offsetof(observer_object, session_id), 0, nullptr},
    {"client_name", T_OBJECT, offsetof(observer_object, client_name), 0, nullptr},
    {"client_version", T_OBJECT, offsetof(observer_object, client_version), 0, nullptr},
    {"server_name", T_OBJECT, offsetof(observer_object, server_name), 0, nullptr},
    {"transport", T_OBJECT, offsetof(observer_object, transport), 0, nullptr},
    {"protocol_version", T_OBJECT, offsetof(observer_object, protocol_version), 0, nullptr},
    {"oauth_client_id", T_OBJECT, offsetof(observer_object, oauth_client_id), 0, nullptr},
    {"fast", T_BOOL, offsetof(observer_object, fast), 0, "observe() may report messages"},
    {nullptr, 0, 0, 0, nullptr},
};

}  // namespace

PyTypeObject type = []() noexcept {  // NOLINT(cert-err58-cpp)
  PyTypeObject t{PyVarObject_HEAD_INIT(nullptr, 0)};
  t.tp_name = "_bluepython.McpObserver";
  t.tp_basicsize = sizeof(observer_object);
  t.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC;
  t.tp_doc =
      "McpObserver(side, kinds, unwrap=False, meta_key=None)\n\n"
      "The MCP hooks' per-message path for one session or dispatcher (see observe()).";
  t.tp_methods = observer_methods;
  t.tp_members = observer_members;
  t.tp_new = observer_new;
  t.tp_init = observer_init;
  t.tp_traverse = observer_traverse;
  t.tp_clear = observer_clear;
  t.tp_dealloc = observer_dealloc;
  return t;
}();

bool tool_call_fields(PyObject* server_name, PyObject* params, bool result, std::string_view prefix,
                      field_paths& out) noexcept {
  const redactor* r = sensor::settings().limits.redact;
  if (r == nullptr || !r->has_fields()) return false;
  try {
    std::string tool;
    if (!result) {
      if (params != nullptr && PyDict_Check(params)) tool = utf8_of(PyDict_GetItemString(params, "name"));
    } else if (const py_ref call(call_context::current_fields()); call && PyDict_Check(call.get())) {
      tool = utf8_of(PyDict_GetItemString(call.get(), "target"));
    }
    r->fields_for(utf8_of(server_name), tool, result, prefix, out);
  } catch (...) {
    return false;
  }
  if (PyErr_Occurred() != nullptr) PyErr_Clear();
  return !out.empty();
}

bool message_fields(PyObject* body, PyObject* server_name, PyObject* request_method, field_paths& out) noexcept {
  if (!PyDict_Check(body)) return false;
  PyObject* method = PyDict_GetItemString(body, "method");  // borrowed
  if (method != nullptr) {
    return str_equals(method, "tools/call") &&
           tool_call_fields(server_name, PyDict_GetItemString(body, "params"), false, "params", out);
  }
  return str_equals(request_method, "tools/call") && tool_call_fields(server_name, nullptr, true, "result", out);
}

}  // namespace bluepython::mcp_observer
