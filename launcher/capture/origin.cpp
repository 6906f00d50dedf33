// SPDX-License-Identifier: Apache-2.0
#include "capture/origin.hpp"

#include <fcntl.h>

#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "pyapi/py_ref.hpp"

#if PY_VERSION_HEX < 0x030B0000
// 3.10: PyFrame_GetBack is declared in frameobject.h, which Python.h does not
// include (3.11 moved it to cpython/pyframe.h, which it does).
#include <frameobject.h>
#endif

namespace bluepython::capture {
namespace {

// The main program's path (cpython.run_file): the interpreter reading it is
// not a side effect.
std::string g_main_file;  // guarded by the GIL

bool has(std::string_view name, std::string_view part) noexcept { return name.find(part) != std::string_view::npos; }

origin classify_file(std::string_view name) noexcept {
  // runpy runs files and modules by path or name (-m, multiprocessing's
  // re-import of the main script): loading code, like the import system.
  if (name.starts_with("<frozen importlib.") || name == "<frozen zipimport>" || name == "<frozen getpath>" ||
      name.ends_with("/runpy.py") || name == "<frozen runpy>" ||
      name.starts_with("<bluepython>/") || has(name, "/importlib/metadata/") || has(name, "/importlib/resources/")) {
    return origin::import_system;
  }
  if (name.ends_with("/shutil.py")) return origin::self_reporting;
  if (name.ends_with("/tempfile.py")) return origin::temp_files;
  // Formatting a traceback or a warning reads source lines (linecache) and,
  // from 3.11, parses them for the error's position (ast.parse in traceback).
  if (name.ends_with("/traceback.py") || name.ends_with("/linecache.py") || name.ends_with("/warnings.py")) {
    return origin::diagnostics;
  }
  if (name.ends_with("/collections/__init__.py") || name.ends_with("/dataclasses.py") || name.ends_with("/typing.py") ||
      name.ends_with("/inspect.py") ||  // signatures of builtins, parsed from their text form
      name.ends_with("/attr/_make.py") || name.ends_with("/typing_inspection/typing_objects.py")) {
    return origin::code_generator;
  }
  return origin::app;
}

// What a code object's file name says, remembered per file name object: the
// same few files raise nearly every event, and classifying a name is a dozen
// string searches. Direct-mapped by the str's address; each entry holds a
// reference so that the address cannot be reused while cached. GIL-guarded.
struct file_class {
  origin kind = origin::app;
  bool helper = false;  // pathlib / zipfile: look at who called them
};
struct file_class_slot {
  PyObject* file = nullptr;  // strong reference
  file_class value;
};
std::array<file_class_slot, 128> g_file_classes;

bool file_class_of(PyObject* file, file_class& out) noexcept {
  auto& slot = g_file_classes[(reinterpret_cast<std::uintptr_t>(file) >> 4U) % g_file_classes.size()];
  if (slot.file == file) {
    out = slot.value;
    return true;
  }
  Py_ssize_t size = 0;
  const char* text = PyUnicode_Check(file) ? PyUnicode_AsUTF8AndSize(file, &size) : nullptr;
  if (text == nullptr) {
    PyErr_Clear();
    return false;
  }
  const std::string_view name(text, static_cast<std::size_t>(size));
  out.kind = classify_file(name);
  // Helpers: what matters is who called them (ast.parse for inspect, say).
  out.helper = name.ends_with("/pathlib.py") || name.ends_with("/zipfile.py") || name.ends_with("/ast.py") ||
               name.ends_with("/tokenize.py");  // tokenize.open: linecache's reads
  Py_INCREF(file);
  Py_XSETREF(slot.file, file);
  slot.value = out;
  return true;
}

}  // namespace

origin origin_of_caller(int skip) noexcept {
  PyFrameObject* frame = PyEval_GetFrame();  // borrowed
  if (frame == nullptr) return origin::interpreter;
  Py_INCREF(frame);
  origin result = origin::app;
  for (int depth = 0; frame != nullptr && depth < skip + 4; ++depth) {
    PyCodeObject* code = PyFrame_GetCode(frame);
    file_class found;
    const bool known = code != nullptr && file_class_of(code->co_filename, found);
    Py_XDECREF(code);
    if (!known) break;
    if (depth >= skip) {
      result = found.kind;
      if (result != origin::app || !found.helper) break;
    }
    PyFrameObject* back = PyFrame_GetBack(frame);  // new reference
    Py_DECREF(frame);
    frame = back;
  }
  Py_XDECREF(frame);
  return result;
}

bool innermost_function_is(const char* name) noexcept {
  PyFrameObject* frame = PyEval_GetFrame();  // borrowed
  if (frame == nullptr) return false;
  PyCodeObject* code = PyFrame_GetCode(frame);  // new reference
  if (code == nullptr) return false;
  const bool same = PyUnicode_Check(code->co_name) && PyUnicode_CompareWithASCIIString(code->co_name, name) == 0;
  Py_DECREF(code);
  return same;
}

namespace {

// The Python installation: sys.prefix, sys.base_prefix and their exec
// variants, each as "<prefix>/". Reading files there (the standard library,
// installed packages and their data) is the program using its own
// installation, not reported; writing there is.
std::vector<std::string> g_installation;  // guarded by the GIL
bool g_installation_known = false;

const std::vector<std::string>& installation() {
  if (!g_installation_known) {
    g_installation_known = true;
    for (const char* name : {"prefix", "base_prefix", "exec_prefix", "base_exec_prefix"}) {
      PyObject* value = PySys_GetObject(name);  // borrowed
      if (value == nullptr || !PyUnicode_Check(value)) continue;
      Py_ssize_t size = 0;
      const char* text = PyUnicode_AsUTF8AndSize(value, &size);
      if (text == nullptr) {
        PyErr_Clear();
        continue;
      }
      std::string prefix(text, static_cast<std::size_t>(size));
      if (prefix.empty() || prefix == "/") continue;
      if (prefix.back() != '/') prefix += '/';
      if (std::find(g_installation.begin(), g_installation.end(), prefix) == g_installation.end()) {
        g_installation.push_back(std::move(prefix));
      }
    }
    if (g_installation.empty()) g_installation_known = false;  // sys not ready yet: ask again later
  }
  return g_installation;
}

}  // namespace

bool in_installation(PyObject* path) {
  if (path == nullptr || !PyUnicode_Check(path)) return false;
  Py_ssize_t size = 0;
  const char* text = PyUnicode_AsUTF8AndSize(path, &size);
  if (text == nullptr) {
    PyErr_Clear();
    return false;
  }
  const std::string_view name(text, static_cast<std::size_t>(size));
  // The prefix test first: most paths outside the installation fail it at once.
  return std::any_of(installation().begin(), installation().end(),
                     [&](const std::string& prefix) { return name.starts_with(prefix); }) &&
         name.find("/../") == std::string_view::npos;
}

bool read_only(PyObject* flags) noexcept {
  if (flags == nullptr || !PyLong_Check(flags)) return false;
  const long value = PyLong_AsLong(flags);
  if (value == -1 && PyErr_Occurred() != nullptr) {
    PyErr_Clear();
    return false;
  }
  return (value & O_ACCMODE) == O_RDONLY && (value & (O_CREAT | O_TRUNC | O_APPEND)) == 0;
}

bool is_main_file(PyObject* path) noexcept {
  if (g_main_file.empty() || path == nullptr || !PyUnicode_Check(path)) return false;
  Py_ssize_t size = 0;
  const char* text = PyUnicode_AsUTF8AndSize(path, &size);
  if (text == nullptr) {
    PyErr_Clear();
    return false;
  }
  return std::string_view(text, static_cast<std::size_t>(size)) == g_main_file;
}

origin classify_file_name(const char* name, std::size_t size) noexcept { return classify_file(std::string_view(name, size)); }

void note_main_file(PyObject* path) noexcept {
  if (path == nullptr || !PyUnicode_Check(path)) return;
  Py_ssize_t size = 0;
  const char* text = PyUnicode_AsUTF8AndSize(path, &size);
  if (text == nullptr) {
    PyErr_Clear();
    return;
  }
  try {
    g_main_file.assign(text, static_cast<std::size_t>(size));
  } catch (...) {
  }
}

void forget_installation() noexcept {
  g_installation_known = false;
  g_installation.clear();
}

}  // namespace bluepython::capture
