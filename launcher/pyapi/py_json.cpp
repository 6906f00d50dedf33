// SPDX-License-Identifier: Apache-2.0
#include "pyapi/py_json.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "pyapi/py_ref.hpp"

namespace bluepython {
namespace {

void encode(json_writer& w, PyObject* v, std::size_t depth, bool binary_summary);

void encode_str_of(json_writer& w, PyObject* v) {
  const py_ref s(PyObject_Str(v));
  if (!s) {
    PyErr_Clear();
    w.string(fmt::format("<unrepresentable {}>", Py_TYPE(v)->tp_name));
    return;
  }
  std::string storage;
  w.string(python_str_view(s.get(), storage));
}

// A list is encoded from a copy of its first items (strong references):
// str() of an item runs app code, which may shrink the list or drop the
// last reference to an item still to come. Tuples cannot change.
void encode_sequence(json_writer& w, PyObject* v, std::size_t depth, bool binary_summary) {
  const auto limit = static_cast<Py_ssize_t>(w.limits().max_items);
  const Py_ssize_t n = PyList_Check(v) ? PyList_GET_SIZE(v) : PyTuple_GET_SIZE(v);
  const py_ref items(PyList_Check(v) ? PyList_GetSlice(v, 0, std::min(n, limit)) : Py_NewRef(v));
  if (!items) {
    PyErr_Clear();
    w.null();
    return;
  }
  const Py_ssize_t kept = std::min(PySequence_Fast_GET_SIZE(items.get()), limit);
  w.begin_array();
  for (Py_ssize_t i = 0; i < kept; ++i) encode(w, PySequence_Fast_GET_ITEM(items.get(), i), depth + 1, binary_summary);
  if (n > limit) w.string(fmt::format("...[{} more items cut by bluepython]", n - limit));
  w.end_array();
}

// MCP content carries binary data as base64: `data` of image/audio content
// and `blob` of resource contents. Summarized, not copied.
bool is_binary_member(PyObject* dict, PyObject* key, PyObject* item) {
  // Both names have 4 characters: most keys are ruled out by their length.
  if (!PyUnicode_Check(key) || PyUnicode_GET_LENGTH(key) != 4 || !PyUnicode_Check(item)) return false;
  if (PyUnicode_CompareWithASCIIString(key, "blob") == 0) return true;
  if (PyUnicode_CompareWithASCIIString(key, "data") != 0) return false;
  PyObject* type = PyDict_GetItemString(dict, "type");  // borrowed
  return type != nullptr && PyUnicode_Check(type) &&
         (PyUnicode_CompareWithASCIIString(type, "image") == 0 || PyUnicode_CompareWithASCIIString(type, "audio") == 0);
}

void encode_binary_summary(json_writer& w, PyObject* text) {
  const Py_ssize_t chars = PyUnicode_GET_LENGTH(text);
  Py_ssize_t padding = 0;
  for (Py_ssize_t i = chars - 1; i >= 0 && i >= chars - 2 && PyUnicode_READ_CHAR(text, i) == '='; --i) ++padding;
  w.begin_object();
  w.key("bluepython_omitted");
  w.string("base64");
  w.key("base64_chars");
  w.integer(static_cast<std::int64_t>(chars));
  w.key("bytes");
  w.integer(static_cast<std::int64_t>(chars / 4 * 3 - padding));
  w.end_object();
}

// Each key and value is held strongly while it is encoded: str() of a key or
// of a value runs app code, which may change the dict (PyDict_Next then goes
// on from its position in the current table, never past its end).
void encode_dict(json_writer& w, PyObject* v, std::size_t depth, bool binary_summary) {
  Py_ssize_t pos = 0;
  PyObject* borrowed_key = nullptr;
  PyObject* borrowed_item = nullptr;
  std::size_t count = 0;
  w.begin_object();
  while (PyDict_Next(v, &pos, &borrowed_key, &borrowed_item)) {
    const py_ref key = py_ref::borrow(borrowed_key);
    const py_ref item = py_ref::borrow(borrowed_item);
    if (count++ >= w.limits().max_items) {
      w.key("...");
      w.string(fmt::format("[{} more keys cut by bluepython]",
                           PyDict_GET_SIZE(v) - static_cast<Py_ssize_t>(w.limits().max_items)));
      break;
    }
    std::string storage;
    if (PyUnicode_Check(key.get())) {
      w.key(python_str_view(key.get(), storage));
    } else if (const py_ref s(PyObject_Str(key.get())); s) {
      w.key(python_str_view(s.get(), storage));
    } else {
      PyErr_Clear();
      w.key("<key>");
    }
    if (binary_summary && is_binary_member(v, key.get(), item.get())) {
      encode_binary_summary(w, item.get());
    } else {
      encode(w, item.get(), depth + 1, binary_summary);
    }
  }
  w.end_object();
}

void encode(json_writer& w, PyObject* v, std::size_t depth, bool binary_summary) {
  if (depth >= w.limits().max_depth) {
    w.string("...[nesting cut by bluepython]");
    return;
  }
  if (v == Py_None) {
    w.null();
  } else if (v == Py_True || v == Py_False) {
    w.boolean(v == Py_True);
  } else if (PyUnicode_Check(v)) {
    std::string storage;
    w.string(python_str_view(v, storage));
  } else if (PyLong_Check(v)) {
    int overflow = 0;
    const long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow == 0 && !(x == -1 && PyErr_Occurred())) {
      w.integer(x);
    } else {
      PyErr_Clear();
      encode_str_of(w, v);  // big ints keep every digit, as a string
    }
  } else if (PyFloat_Check(v)) {
    w.number(PyFloat_AS_DOUBLE(v));
  } else if (PyBytes_Check(v)) {
    w.string(std::string_view(PyBytes_AS_STRING(v), static_cast<std::size_t>(PyBytes_GET_SIZE(v))));
  } else if (PyByteArray_Check(v)) {
    w.string(std::string_view(PyByteArray_AS_STRING(v), static_cast<std::size_t>(PyByteArray_GET_SIZE(v))));
  } else if (PyDict_Check(v)) {
    encode_dict(w, v, depth, binary_summary);
  } else if (PyList_Check(v) || PyTuple_Check(v)) {
    encode_sequence(w, v, depth, binary_summary);
  } else if (PyAnySet_Check(v)) {
    PyObject* list = PySequence_List(v);
    if (list == nullptr) {
      PyErr_Clear();
      w.null();
    } else {
      encode_sequence(w, list, depth, binary_summary);
      Py_DECREF(list);
    }
  } else {
    encode_str_of(w, v);
  }
}

}  // namespace

std::string_view python_str_view(PyObject* str, std::string& storage) {
  Py_ssize_t size = 0;
  const char* utf8 = PyUnicode_AsUTF8AndSize(str, &size);
  if (utf8 != nullptr) return {utf8, static_cast<std::size_t>(size)};
  PyErr_Clear();
  // Lone surrogates: encode them through; the JSON writer replaces the
  // resulting invalid sequences with U+FFFD.
  PyObject* bytes = PyUnicode_AsEncodedString(str, "utf-8", "surrogatepass");
  if (bytes == nullptr) {
    PyErr_Clear();
    storage = "<undecodable>";
    return storage;
  }
  storage.assign(PyBytes_AS_STRING(bytes), static_cast<std::size_t>(PyBytes_GET_SIZE(bytes)));
  Py_DECREF(bytes);
  return storage;
}

void encode_python_value(json_writer& w, PyObject* value, bool binary_summary) {
  if (PyErr_Occurred() == nullptr) {
    // Nothing to keep (the usual case): only our own error, if any, is cleared.
    struct clear_on_exit {
      clear_on_exit() = default;
      clear_on_exit(const clear_on_exit&) = delete;
      clear_on_exit& operator=(const clear_on_exit&) = delete;
      ~clear_on_exit() {
        if (PyErr_Occurred() != nullptr) PyErr_Clear();
      }
    } clear;
    encode(w, value, w.depth(), binary_summary);
    return;
  }
  const saved_exception saved;
  // std::bad_alloc propagates: callers discard the whole event.
  encode(w, value, w.depth(), binary_summary);
}

}  // namespace bluepython
