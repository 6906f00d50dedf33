// SPDX-License-Identifier: Apache-2.0
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <utility>

// The one RAII idiom of the native code for the Python C API: an owned
// reference (py_ref) and an exception that was pending before our code ran
// (saved_exception). Both need the GIL for their whole life.
namespace bluepython {

// Owns one strong reference (or none). Move-only; the destructor releases it.
class py_ref {
 public:
  py_ref() noexcept = default;
  // Takes over a new reference (what most C-API calls return); nullptr is fine.
  explicit py_ref(PyObject* owned) noexcept : p_(owned) {}
  // A new strong reference to a borrowed object.
  static py_ref borrow(PyObject* borrowed) noexcept { return py_ref(Py_XNewRef(borrowed)); }
  py_ref(const py_ref&) = delete;
  py_ref& operator=(const py_ref&) = delete;
  py_ref(py_ref&& other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
  py_ref& operator=(py_ref&& other) noexcept {
    if (this != &other) reset(std::exchange(other.p_, nullptr));
    return *this;
  }
  ~py_ref() { Py_XDECREF(p_); }

  [[nodiscard]] PyObject* get() const noexcept { return p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  // Gives the reference to the caller (for C-API calls that steal one).
  [[nodiscard]] PyObject* release() noexcept { return std::exchange(p_, nullptr); }
  void reset(PyObject* owned = nullptr) noexcept {
    PyObject* old = std::exchange(p_, owned);
    Py_XDECREF(old);  // after the swap: the old object's finalizer may look at us
  }

 private:
  PyObject* p_ = nullptr;
};

// Saves the exception pending when constructed and puts it back when
// destroyed, clearing whatever our code raised in between: observation code
// never loses, changes or leaks an exception of the app's.
class saved_exception {
 public:
  saved_exception() noexcept { PyErr_Fetch(&type_, &value_, &traceback_); }
  saved_exception(const saved_exception&) = delete;
  saved_exception& operator=(const saved_exception&) = delete;
  ~saved_exception() {
    PyErr_Clear();
    PyErr_Restore(type_, value_, traceback_);
  }

 private:
  PyObject* type_ = nullptr;
  PyObject* value_ = nullptr;
  PyObject* traceback_ = nullptr;
};

// An interned str for a fixed dict key, made once (immortal for the process).
inline PyObject* key_object(const char* text) noexcept {
  PyObject* key = PyUnicode_InternFromString(text);
  if (key == nullptr) PyErr_Clear();
  return key;
}

// dict[key] (a strong reference: str() of anything may run app code that
// changes the dict) or none; never raises.
inline py_ref dict_item(PyObject* dict, PyObject* key) noexcept {
  if (key == nullptr) return {};
  PyObject* item = PyDict_GetItemWithError(dict, key);
  if (item == nullptr) PyErr_Clear();
  return py_ref::borrow(item);
}

}  // namespace bluepython
