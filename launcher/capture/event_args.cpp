// SPDX-License-Identifier: Apache-2.0
#include "capture/event_args.hpp"

#include "pyapi/py_json.hpp"
#include "runtime/sensor.hpp"

namespace bluepython::capture {

event_attrs::event_attrs(std::string_view via) : w(text, sensor::settings().limits) {
  text.reserve(kAttrsReserve);
  w.key("via");
  w.string(via);
}

py_ref first_of(PyObject* v) noexcept {
  if (v != nullptr && (PyList_Check(v) || PyTuple_Check(v))) {
    return py_ref::borrow(PySequence_Fast_GET_SIZE(v) > 0 ? PySequence_Fast_GET_ITEM(v, 0) : nullptr);
  }
  return py_ref::borrow(v);
}

PyObject* host_of(PyObject* address) noexcept {
  if (address != nullptr && PyTuple_Check(address) && PyTuple_GET_SIZE(address) >= 1) {
    return PyTuple_GET_ITEM(address, 0);
  }
  return address;
}

void value_or_null(json_writer& w, PyObject* v) {
  if (v == nullptr) {
    w.null();
  } else {
    encode_python_value(w, v);
  }
}

void text_or_null(std::string& out, const json_limits& limits, PyObject* v) {
  if (v != nullptr && PyUnicode_CheckExact(v) && PyUnicode_IS_COMPACT_ASCII(v) &&
      static_cast<std::size_t>(PyUnicode_GET_LENGTH(v)) <= limits.max_string_bytes) {
    const std::string_view text(static_cast<const char*>(PyUnicode_DATA(v)),
                                static_cast<std::size_t>(PyUnicode_GET_LENGTH(v)));
    out += '"';
    json_writer::append_escaped(out, text, text.size());
    out += '"';
    return;
  }
  json_writer w(out, limits);
  value_or_null(w, v);
}

std::string_view plain_ascii(PyObject* v, std::size_t max) noexcept {
  if (v == nullptr || !PyUnicode_CheckExact(v) || !PyUnicode_IS_COMPACT_ASCII(v)) return {};
  const std::string_view text(static_cast<const char*>(PyUnicode_DATA(v)), static_cast<std::size_t>(PyUnicode_GET_LENGTH(v)));
  return text.size() <= max && json_writer::is_plain(text) ? text : std::string_view{};
}

void argv_array(json_writer& w, PyObject* v) {
  if (v == nullptr || v == Py_None) {
    w.null();
  } else if (PyList_Check(v) || PyTuple_Check(v)) {
    encode_python_value(w, v);
  } else {
    w.begin_array();
    encode_python_value(w, v);
    w.end_array();
  }
}

void env_names(json_writer& w, PyObject* env) {
  if (env == nullptr || env == Py_None) {
    w.null();
    return;
  }
  const py_ref keys(PyMapping_Keys(env));
  if (!keys) {
    PyErr_Clear();
    w.null();
    return;
  }
  encode_python_value(w, keys.get());
}

std::string text_of(PyObject* v) {
  std::string storage;
  if (v == nullptr || PyLong_Check(v)) return storage;
  if (PyUnicode_Check(v)) return std::string(python_str_view(v, storage));
  if (PyBytes_Check(v)) return {PyBytes_AS_STRING(v), static_cast<std::size_t>(PyBytes_GET_SIZE(v))};
  const py_ref path(PyOS_FSPath(v));
  if (!path) {
    PyErr_Clear();
    return storage;
  }
  return text_of(path.get());
}

}  // namespace bluepython::capture
