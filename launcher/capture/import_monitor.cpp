// SPDX-License-Identifier: Apache-2.0
#include "capture/import_monitor.hpp"
#include "capture/policy_gate.hpp"

#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "capture/hooks_loader.hpp"
#include "pipeline/json_writer.hpp"
#include "pyapi/py_json.hpp"
#include "pyapi/py_ref.hpp"
#include "runtime/sensor.hpp"

namespace bluepython::import_monitor {
namespace {

bool g_installed = false;
std::vector<std::string>* g_startup_names = nullptr;  // GIL-protected
PyObject* g_stdlib_names = nullptr;                    // sys.stdlib_module_names
bool g_skip_stdlib = false;

struct monitor_object {
  PyObject_HEAD
};

const char* classify(PyObject* loader, std::string_view origin, bool has_origin) {
  if (loader == nullptr || loader == Py_None) return has_origin ? "other" : "namespace";
  const char* name = PyType_Check(loader) ? reinterpret_cast<PyTypeObject*>(loader)->tp_name
                                          : Py_TYPE(loader)->tp_name;
  const std::string_view n(name);
  auto ends = [&](std::string_view suffix) { return n.ends_with(suffix); };
  if (ends("SourceFileLoader")) return "source";
  if (ends("SourcelessFileLoader")) return "bytecode";
  if (ends("ExtensionFileLoader")) return "extension";
  if (ends("BuiltinImporter")) return "builtin";
  if (ends("FrozenImporter")) return "frozen";
  if (ends("NamespaceLoader")) return "namespace";
  if (ends("zipimporter")) return "zip";
  if (origin == "built-in") return "builtin";
  if (origin == "frozen") return "frozen";
  return "other";
}

bool is_stdlib(std::string_view fullname) {
  if (g_stdlib_names == nullptr) return false;
  const std::string top(fullname.substr(0, fullname.find('.')));
  PyObject* key = PyUnicode_FromStringAndSize(top.data(), static_cast<Py_ssize_t>(top.size()));
  if (key == nullptr) {
    PyErr_Clear();
    return false;
  }
  const int found = PySet_Contains(g_stdlib_names, key);
  Py_DECREF(key);
  if (found < 0) PyErr_Clear();
  return found == 1;
}

// What a spec says of its module's file: its kind (classify()) and, when it
// was loaded from a file on disk, that file's path.
struct spec_file {
  const char* kind = "";
  bool on_disk = false;
  std::string path;
};

spec_file file_of(PyObject* spec) {
  const py_ref origin(PyObject_GetAttrString(spec, "origin"));
  const py_ref loader(PyObject_GetAttrString(spec, "loader"));
  PyErr_Clear();
  std::string origin_storage;
  std::string_view origin_text;
  const bool has_origin = origin && PyUnicode_Check(origin.get());
  if (has_origin) origin_text = python_str_view(origin.get(), origin_storage);
  spec_file out;
  out.kind = classify(loader.get(), origin_text, has_origin);
  const std::string_view k(out.kind);
  out.on_disk = (k == "source" || k == "bytecode" || k == "extension" || k == "other") && has_origin &&
                !origin_text.empty() && origin_text.front() == '/';
  if (out.on_disk) out.path = std::string(origin_text);
  return out;
}

// Emits python_import for a spec. Never raises; preserves a pending error.
void report_spec(PyObject* fullname, PyObject* spec, const char* phase) noexcept {
  const saved_exception saved;
  try {
    std::string name_storage;
    const std::string_view name = python_str_view(fullname, name_storage);
    // bluepython's own modules (built in) are not the app's imports.
    if (name == "_bluepython" || name == "_bluepython_importer" || name.starts_with("bluepython_hooks") ||
        (g_skip_stdlib && is_stdlib(name))) {
      return;
    }
    const spec_file f = file_of(spec);
    const char* kind = f.kind;
    const bool on_disk = f.on_disk;
    const std::string_view origin_text = f.path;

    std::string attrs;
    json_writer w(attrs, sensor::settings().limits);
    w.key("fullname");
    w.string(name);
    w.key("kind");
    w.string(kind);
    w.key("file");
    if (on_disk) w.string(origin_text); else w.null();
    if (phase != nullptr) {
      w.key("phase");
      w.string(phase);
    }
    sensor::emit_import(attrs, on_disk ? origin_text : std::string_view());
  } catch (...) {
  }
}

// The import lock of the policy: -1 (ImportError raised) when `spec` may
// not be imported.
int check_lock(PyObject* fullname, PyObject* spec) noexcept {
  const auto* compiled = capture::policy_gate::active();
  if (compiled == nullptr || !compiled->has_import_lock()) return 0;
  try {
    std::string name_storage;
    const std::string name(python_str_view(fullname, name_storage));
    if (name == "_bluepython" || name == "_bluepython_importer" || name.starts_with("bluepython_hooks")) return 0;
    std::string file;
    {
      const saved_exception saved;
      const spec_file f = file_of(spec);
      if (std::string_view(f.kind) == "namespace") return 0;  // a folder: nothing runs
      if (f.on_disk) file = f.path;
    }
    if (capture::policy_gate::check_import(name, file) < 0) return -1;
    return 0;
  } catch (...) {
    return 0;
  }
}

PyObject* monitor_find_spec(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* fullname = nargs > 0 ? args[0] : nullptr;
  PyObject* path = nargs > 1 ? args[1] : Py_None;
  PyObject* target = nargs > 2 ? args[2] : Py_None;
  if (kwnames != nullptr) {
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); ++i) {
      const char* k = PyUnicode_AsUTF8(PyTuple_GET_ITEM(kwnames, i));
      if (k == nullptr) return nullptr;
      PyObject* value = args[nargs + i];
      if (std::string_view(k) == "fullname") fullname = value;
      else if (std::string_view(k) == "path") path = value;
      else if (std::string_view(k) == "target") target = value;
    }
  }
  if (fullname == nullptr || !PyUnicode_Check(fullname)) {
    PyErr_SetString(PyExc_TypeError, "find_spec() requires a module name");
    return nullptr;
  }
  hooks_loader::on_find_spec(fullname);
  PyObject* meta_path = PySys_GetObject("meta_path");  // borrowed
  if (meta_path == nullptr || !PyList_Check(meta_path)) Py_RETURN_NONE;
  // Snapshot: a finder may mutate sys.meta_path while we iterate.
  PyObject* finders = PyList_GetSlice(meta_path, 0, PyList_GET_SIZE(meta_path));
  if (finders == nullptr) return nullptr;
  const Py_ssize_t n = PyList_GET_SIZE(finders);
  Py_ssize_t start = 0;
  for (Py_ssize_t i = 0; i < n; ++i) {
    if (PyList_GET_ITEM(finders, i) == self) {
      start = i + 1;
      break;
    }
  }
  PyObject* result = Py_None;
  Py_INCREF(result);
  for (Py_ssize_t i = start; i < n; ++i) {
    PyObject* finder = PyList_GET_ITEM(finders, i);
    if (finder == self || Py_TYPE(finder) == &type) continue;
    PyObject* method = PyObject_GetAttrString(finder, "find_spec");
    if (method == nullptr) {
      if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
        Py_DECREF(result);
        Py_DECREF(finders);
        return nullptr;
      }
      PyErr_Clear();
      continue;  // legacy finder: importlib itself will ask it after us
    }
    PyObject* call_args[] = {fullname, path, target};
    PyObject* spec = PyObject_Vectorcall(method, call_args, 3, nullptr);
    Py_DECREF(method);
    if (spec == nullptr) {  // the finder's own exception, unchanged
      Py_DECREF(result);
      Py_DECREF(finders);
      return nullptr;
    }
    if (spec != Py_None) {
      Py_DECREF(result);
      result = spec;
      if (sensor::settings().enabled(category::imports)) report_spec(fullname, spec, nullptr);
      if (check_lock(fullname, spec) < 0) {
        Py_DECREF(result);
        Py_DECREF(finders);
        return nullptr;
      }
      break;
    }
    Py_DECREF(spec);
  }
  Py_DECREF(finders);
  return result;
}

PyObject* monitor_repr(PyObject*) { return PyUnicode_FromString("<bluepython import monitor>"); }

PyMethodDef monitor_methods[] = {
    {"find_spec", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&monitor_find_spec)),
     METH_FASTCALL | METH_KEYWORDS, "Delegate to the following finders and report the spec found."},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

// The lambda only assigns fields; it cannot throw.
PyTypeObject type = []() noexcept {  // NOLINT(cert-err58-cpp)
  PyTypeObject t{PyVarObject_HEAD_INIT(nullptr, 0)};  // NOLINT
  t.tp_name = "_bluepython.ImportMonitor";
  t.tp_basicsize = sizeof(monitor_object);
  t.tp_flags = Py_TPFLAGS_DEFAULT;
  t.tp_doc = "bluepython's import monitor (reports imports; never changes how they resolve)";
  t.tp_methods = monitor_methods;
  t.tp_repr = monitor_repr;
  t.tp_new = PyType_GenericNew;
  return t;
}();

void note_startup_import(PyObject* name) noexcept {
  if (g_installed || name == nullptr || !PyUnicode_Check(name)) return;
  try {
    if (g_startup_names == nullptr) g_startup_names = new std::vector<std::string>();
    std::string storage;
    g_startup_names->emplace_back(python_str_view(name, storage));
  } catch (...) {
  }
}

bool installed() noexcept { return g_installed; }

bool install(PyObject* /*module*/) {
  const config& cfg = sensor::settings();
  g_skip_stdlib = !cfg.imports.stdlib;
  if (g_skip_stdlib) {
    g_stdlib_names = PySys_GetObject("stdlib_module_names");  // borrowed, immortal for our purpose
    Py_XINCREF(g_stdlib_names);
  }
  PyObject* meta_path = PySys_GetObject("meta_path");
  if (meta_path == nullptr || !PyList_Check(meta_path)) {
    PyErr_SetString(PyExc_RuntimeError, "sys.meta_path is not a list");
    return false;
  }
  PyObject* monitor = PyObject_CallNoArgs(reinterpret_cast<PyObject*>(&type));
  if (monitor == nullptr) return false;
  const int rc = PyList_Insert(meta_path, 0, monitor);
  Py_DECREF(monitor);
  if (rc != 0) return false;
  g_installed = true;

  if (!cfg.enabled(category::imports)) return true;
  // Report what was imported before the monitor existed, in import order
  // where the audit hook saw it, then anything else already loaded.
  PyObject* modules = PySys_GetObject("modules");
  if (modules == nullptr || !PyDict_Check(modules)) return true;
  std::unordered_set<std::string> seen;
  auto report_module = [&](PyObject* name, PyObject* mod) {
    std::string storage;
    const std::string key(python_str_view(name, storage));
    if (!seen.insert(key).second || key == "__main__") return;
    PyObject* spec = PyObject_GetAttrString(mod, "__spec__");
    if (spec == nullptr) {
      PyErr_Clear();
      return;
    }
    if (spec != Py_None) report_spec(name, spec, "startup");
    Py_DECREF(spec);
  };
  if (g_startup_names != nullptr) {
    for (const auto& n : *g_startup_names) {
      PyObject* name = PyUnicode_FromStringAndSize(n.data(), static_cast<Py_ssize_t>(n.size()));
      if (name == nullptr) {
        PyErr_Clear();
        continue;
      }
      // Held: the module's __getattr__ (PEP 562) may remove it from sys.modules.
      const py_ref mod = py_ref::borrow(PyDict_GetItemWithError(modules, name));
      if (mod) report_module(name, mod.get());
      PyErr_Clear();
      Py_DECREF(name);
    }
    delete g_startup_names;
    g_startup_names = nullptr;
  }
  PyObject* items = PyDict_Items(modules);
  if (items == nullptr) {
    PyErr_Clear();
    return true;
  }
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items); ++i) {
    PyObject* pair = PyList_GET_ITEM(items, i);
    PyObject* name = PyTuple_GET_ITEM(pair, 0);
    if (PyUnicode_Check(name)) report_module(name, PyTuple_GET_ITEM(pair, 1));
  }
  Py_DECREF(items);
  return true;
}

}  // namespace bluepython::import_monitor
