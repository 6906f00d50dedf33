// SPDX-License-Identifier: Apache-2.0
#include "pyapi/call_context.hpp"

#include <string_view>

#include "pyapi/py_json.hpp"
#include "pyapi/py_ref.hpp"
#include "runtime/sensor.hpp"

namespace bluepython::call_context {
namespace {

PyObject* g_variable = nullptr;  // strong, for the process's life
constexpr std::string_view kMemberPrefix = "\"mcp\":";

}  // namespace

bool init() noexcept {
  if (g_variable == nullptr) g_variable = PyContextVar_New("bluepython_mcp_call", nullptr);
  return g_variable != nullptr;
}

PyObject* variable() noexcept { return g_variable; }

bool current_json(std::string& out) noexcept {
  if (g_variable == nullptr) return false;
  PyObject* raw = nullptr;
  if (PyContextVar_Get(g_variable, nullptr, &raw) < 0) {
    PyErr_Clear();
    return false;
  }
  const py_ref value(raw);
  if (!value || !PyTuple_Check(value.get()) || PyTuple_GET_SIZE(value.get()) != 2) return false;
  Py_ssize_t size = 0;
  const char* text = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(value.get(), 0), &size);
  if (text == nullptr) {
    PyErr_Clear();
    return false;
  }
  try {
    out.assign(kMemberPrefix);
    out.append(text, static_cast<std::size_t>(size));
    return true;
  } catch (...) {
    return false;
  }
}

bool current_call_object(std::string& out) noexcept {
  if (!current_json(out) || !std::string_view(out).starts_with(kMemberPrefix)) return false;
  out.erase(0, kMemberPrefix.size());
  return true;
}

PyObject* current_fields() noexcept {
  if (g_variable == nullptr) return nullptr;
  PyObject* raw = nullptr;
  if (PyContextVar_Get(g_variable, nullptr, &raw) < 0) {
    PyErr_Clear();
    return nullptr;
  }
  const py_ref value(raw);
  if (!value || !PyTuple_Check(value.get()) || PyTuple_GET_SIZE(value.get()) != 2) return nullptr;
  PyObject* fields = PyTuple_GET_ITEM(value.get(), 1);
  if (!PyDict_Check(fields)) return nullptr;
  return Py_NewRef(fields);
}

}  // namespace bluepython::call_context

namespace bluepython {

void report_python_error(const char* where) noexcept {
  PyObject *type = nullptr, *value = nullptr, *tb = nullptr;
  PyErr_Fetch(&type, &value, &tb);
  const py_ref owned_type(type);
  const py_ref owned_value(value);
  const py_ref owned_tb(tb);
  try {
    std::string message = "unknown error";
    if (value != nullptr || type != nullptr) {
      const py_ref text(PyObject_Repr(value != nullptr ? value : type));
      if (text) {
        std::string storage;
        message = std::string(python_str_view(text.get(), storage));
      }
    }
    PyErr_Clear();
    sensor::report_internal(where, message);
  } catch (...) {
    PyErr_Clear();
  }
}

}  // namespace bluepython
