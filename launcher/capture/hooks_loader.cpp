// SPDX-License-Identifier: Apache-2.0
#include "capture/hooks_loader.hpp"

#include <cstdlib>
#include <cstring>
#include <string_view>

#include "pyapi/call_context.hpp"
#include "pyapi/py_ref.hpp"
#include "capture/embedded_modules.hpp"
#include "runtime/sensor.hpp"

namespace bluepython::hooks_loader {
namespace {

bool g_pending = false;  // GIL-protected

bool is_trigger(std::string_view name) noexcept {
  for (std::string_view top : {std::string_view("mcp"), std::string_view("fastmcp")}) {
    if (name.starts_with(top) && (name.size() == top.size() || name[top.size()] == '.')) return true;
  }
  return false;
}

// The embedded code objects were compiled by the CPython this binary links;
// a different bytecode magic would mean a swapped libpython.
bool magic_matches() noexcept {
  PyObject* external = PyImport_ImportModule("_frozen_importlib_external");
  PyObject* magic = external != nullptr ? PyObject_GetAttrString(external, "MAGIC_NUMBER") : nullptr;
  bool same = false;
  if (magic != nullptr && PyBytes_Check(magic)) {
    const auto expected = embedded_magic();
    same = static_cast<std::size_t>(PyBytes_GET_SIZE(magic)) == expected.size() &&
           std::memcmp(PyBytes_AS_STRING(magic), expected.data(), expected.size()) == 0;
  }
  Py_XDECREF(magic);
  Py_XDECREF(external);
  PyErr_Clear();
  return same;
}

// Runs the embedded importer module, then bluepython_hooks.activate().
void activate() noexcept {
  const saved_exception saved;
  const embedded_module* importer = find_embedded_module("_bluepython_importer");
  PyObject* result = nullptr;
  if (importer == nullptr) {
    sensor::report_internal("hooks", "the embedded importer is missing from this build");
  } else if (!magic_matches()) {
    sensor::report_internal("hooks", "the built-in MCP hooks were compiled for another CPython; MCP is not observed");
  } else {
    PyObject* marshal = PyImport_ImportModule("marshal");
    PyObject* code = marshal != nullptr ? PyObject_CallMethod(marshal, "loads", "y#",
                                                              reinterpret_cast<const char*>(importer->code),
                                                              static_cast<Py_ssize_t>(importer->size))
                                        : nullptr;
    PyObject* mod = code != nullptr ? PyImport_ExecCodeModuleWithPathnames("_bluepython_importer", code,
                                                                           "<bluepython>/_bluepython_importer.py",
                                                                           nullptr)
                                    : nullptr;
    // BLUEPYTHON_HOOKS_PATH: load bluepython_hooks from a source tree instead
    // (development of the hooks; documented in docs/configuration.md).
    const char* dev_path = std::getenv("BLUEPYTHON_HOOKS_PATH");
    if (mod != nullptr) {
      result = PyObject_CallMethod(mod, "activate", "z", dev_path != nullptr && *dev_path != '\0' ? dev_path : nullptr);
    }
    Py_XDECREF(mod);
    Py_XDECREF(code);
    Py_XDECREF(marshal);
    if (result == nullptr) report_python_error("hooks: activate");
    Py_XDECREF(result);
  }
}

}  // namespace

void arm() noexcept {
  g_pending = true;
  PyObject* modules = PySys_GetObject("modules");  // borrowed
  if (modules == nullptr || !PyDict_Check(modules)) return;
  for (const char* name : {"mcp", "fastmcp"}) {
    if (PyDict_GetItemString(modules, name) != nullptr) {
      g_pending = false;
      activate();
      return;
    }
  }
}

void on_find_spec(PyObject* fullname) noexcept {
  if (!g_pending) return;
  Py_ssize_t size = 0;
  const char* text = PyUnicode_AsUTF8AndSize(fullname, &size);
  if (text == nullptr) {
    PyErr_Clear();
    return;
  }
  if (!is_trigger(std::string_view(text, static_cast<std::size_t>(size)))) return;
  g_pending = false;
  activate();
}

}  // namespace bluepython::hooks_loader
