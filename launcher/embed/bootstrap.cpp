// SPDX-License-Identifier: Apache-2.0
// The bootstrap: what runs once the interpreter is up, before the app's first
// instruction. The import monitor and the MCP hooks loader (capture/), the
// fork hook, the os._exit and _signal.signal wrappers, and the signal and
// crash handlers, under faulthandler when it is on. Fails open: each failure
// becomes a python_internal_exception event and the program runs regardless.
#include <unistd.h>

#include <csignal>
#include <string>

#include <fmt/format.h>

#include "capture/hooks_loader.hpp"
#include "capture/import_monitor.hpp"
#include "embed/bluepython_module.hpp"
#include "pyapi/call_context.hpp"
#include "pyapi/py_ref.hpp"
#include "runtime/sensor.hpp"
#include "runtime/threads.hpp"

namespace bluepython::module {
namespace {

PyObject* g_original_exit = nullptr;    // posix._exit before we wrapped it
PyObject* g_original_signal = nullptr;  // _signal.signal before we wrapped it

// Stands in for posix._exit: os._exit skips every exit handler, so the
// events emitted so far are flushed first (bounded), then the real _exit.
PyObject* py_exit(PyObject*, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"status", nullptr};
  int status = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "i:_exit", const_cast<char**>(keywords), &status)) return nullptr;
  Py_BEGIN_ALLOW_THREADS
  sensor::stop("os._exit");
  Py_END_ALLOW_THREADS
  if (g_original_exit != nullptr) return PyObject_Call(g_original_exit, args, kwargs);
  ::_exit(status);
}

// Stands in for _signal.signal. A program that takes SIGTERM/SIGHUP and later
// gives it back to SIG_DFL (uvicorn restores the old handler and re-raises
// the signal to die by it) would otherwise die without our final flush:
// when the default comes back, so does our C handler, which flushes and then
// dies by the signal exactly as the default would. Python's own view
// (signal.getsignal) stays SIG_DFL.
PyObject* py_signal(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (g_original_signal == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "signal(): not initialized");
    return nullptr;
  }
  PyObject* result = PyObject_Vectorcall(g_original_signal, args, static_cast<size_t>(nargs), nullptr);
  if (result != nullptr && nargs == 2 && PyLong_Check(args[0]) && PyLong_Check(args[1])) {
    const long signo = PyLong_AsLong(args[0]);
    const long handler = PyLong_AsLong(args[1]);
    if (PyErr_Occurred() != nullptr) {
      PyErr_Clear();
    } else if ((signo == SIGTERM || signo == SIGHUP) && handler == 0 /* SIG_DFL */) {
      sensor::install_signal_handlers();
    }
  }
  return result;
}

PyMethodDef signal_def = {"signal", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&py_signal)),
                          METH_FASTCALL, "signal($module, signalnum, handler, /)\n--\n\nSet the action for the given signal."};

PyMethodDef exit_def = {"_exit", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&py_exit)),
                        METH_VARARGS | METH_KEYWORDS,
                        "Exit to the system with specified status, without normal exit processing."};

// A module the interpreter has already imported (posix, _signal: every
// start-up imports both), from sys.modules: a dict lookup, where
// PyImport_ImportModule goes through builtins.__import__. Imported when absent.
PyObject* loaded_module(const char* name) {
  PyObject* key = PyUnicode_InternFromString(name);
  if (key == nullptr) return nullptr;
  PyObject* mod = PyImport_GetModule(key);
  Py_DECREF(key);
  if (mod != nullptr || PyErr_Occurred() != nullptr) return mod;
  return PyImport_ImportModule(name);
}

// _bluepython, made and entered in sys.modules as the import system enters a
// built-in module (a spec from BuiltinImporter, origin "built-in"), without
// running importlib's finders: those took about 0.1 ms of every start.
// `import _bluepython` then finds it in sys.modules; the inittab entry stays
// for an import after it was removed from there.
PyObject* load_own_module() {
  PyObject* modules = PyImport_GetModuleDict();  // borrowed
  if (PyObject* existing = PyDict_GetItemString(modules, "_bluepython"); existing != nullptr) {
    return Py_NewRef(existing);
  }
  py_ref mod(init());
  if (!mod) return nullptr;
  PyObject* importlib = PyDict_GetItemString(modules, "_frozen_importlib");  // borrowed
  if (importlib == nullptr) return PyImport_ImportModule("_bluepython");
  const py_ref loader(PyObject_GetAttrString(importlib, "BuiltinImporter"));
  const py_ref spec_type(PyObject_GetAttrString(importlib, "ModuleSpec"));
  const py_ref args(loader ? Py_BuildValue("(sO)", "_bluepython", loader.get()) : nullptr);
  const py_ref kwargs(Py_BuildValue("{s:s}", "origin", "built-in"));
  const py_ref spec(spec_type && args && kwargs ? PyObject_Call(spec_type.get(), args.get(), kwargs.get()) : nullptr);
  const py_ref package(PyUnicode_FromString(""));
  if (!spec || !package || PyObject_SetAttrString(mod.get(), "__spec__", spec.get()) != 0 ||
      PyObject_SetAttrString(mod.get(), "__loader__", loader.get()) != 0 ||
      PyObject_SetAttrString(mod.get(), "__package__", package.get()) != 0 ||
      PyDict_SetItemString(modules, "_bluepython", mod.get()) != 0) {
    // Whatever failed, the import system's way still works (init() is idempotent).
    PyErr_Clear();
    return PyImport_ImportModule("_bluepython");
  }
  return mod.release();
}

// posix, not os: importing os would load modules `python -S` does not.
bool register_fork_hook(PyObject* mod) {
  PyObject* os = loaded_module("posix");
  if (os == nullptr) return false;
  PyObject* hook = PyObject_GetAttrString(mod, "_after_fork_child");
  PyObject* reg = PyObject_GetAttrString(os, "register_at_fork");
  bool ok = false;
  if (hook != nullptr && reg != nullptr) {
    PyObject* kwargs = Py_BuildValue("{s:O}", "after_in_child", hook);
    if (kwargs != nullptr) {
      PyObject* empty = PyTuple_New(0);
      PyObject* r = empty != nullptr ? PyObject_Call(reg, empty, kwargs) : nullptr;
      ok = r != nullptr;
      Py_XDECREF(r);
      Py_XDECREF(empty);
      Py_DECREF(kwargs);
    }
  }
  Py_XDECREF(hook);
  Py_XDECREF(reg);
  Py_DECREF(os);
  return ok;
}

bool wrap_os_exit() {
  PyObject* posix = loaded_module("posix");
  if (posix == nullptr) return false;
  g_original_exit = PyObject_GetAttrString(posix, "_exit");
  if (g_original_exit == nullptr) {
    Py_DECREF(posix);
    return false;
  }
  PyObject* module_name = PyUnicode_FromString("posix");
  PyObject* wrapper = module_name != nullptr ? PyCFunction_NewEx(&exit_def, nullptr, module_name) : nullptr;
  Py_XDECREF(module_name);
  bool ok = wrapper != nullptr && PyObject_SetAttrString(posix, "_exit", wrapper) == 0;
  // os copies _exit from posix when it is first imported; if it already was,
  // replace its copy too.
  PyObject* modules = PySys_GetObject("modules");
  PyObject* os = modules != nullptr ? PyDict_GetItemString(modules, "os") : nullptr;
  if (ok && os != nullptr) ok = PyObject_SetAttrString(os, "_exit", wrapper) == 0;
  Py_XDECREF(wrapper);
  Py_DECREF(posix);
  return ok;
}

#if PY_VERSION_HEX >= 0x030C0000
// CPython 3.12+ gives a DeprecationWarning from os.fork() and os.forkpty()
// when the kernel counts more than one thread in the process ("This process
// (pid=N) is multi-threaded, ..."). Our writer (and exporter) threads would
// make every fork of a single-threaded app warn, on stderr under -X dev or
// when __main__ forks. Where the only other threads are ours, the fork runs
// with a filter ignoring exactly that message, put first in the list the
// warnings machinery reads and taken out as soon as fork returns (3.12 warns
// before the after_in_parent hooks, 3.13 after them: only the wrapper sees
// both ends). An app with threads of its own still gets the warning.

// warnings.filters once warnings is imported (what _warnings then reads),
// else _warnings.filters.
py_ref warning_filters() {
  PyObject* modules = PyImport_GetModuleDict();  // borrowed
  PyObject* owner = PyDict_GetItemString(modules, "warnings");
  if (owner == nullptr) owner = PyDict_GetItemString(modules, "_warnings");
  py_ref filters(owner != nullptr ? PyObject_GetAttrString(owner, "filters") : nullptr);
  return filters && PyList_Check(filters.get()) ? std::move(filters) : py_ref();
}

// ("ignore", <the exact text>, DeprecationWarning, None, 0): a str message
// matches exactly, no regex (and no import of re) needed.
py_ref ignore_fork_warning(const char* name) {
  const std::string text = fmt::format(
      "This process (pid={}) is multi-threaded, use of {}() may lead to deadlocks in the child.", ::getpid(), name);
  return py_ref(Py_BuildValue("(ss#OOi)", "ignore", text.data(), static_cast<Py_ssize_t>(text.size()),
                              PyExc_DeprecationWarning, Py_None, 0));
}

void remove_filter(PyObject* filters, PyObject* filter) {
  for (Py_ssize_t i = PyList_GET_SIZE(filters) - 1; i >= 0; --i) {
    if (PyList_GET_ITEM(filters, i) == filter) {
      (void)PySequence_DelItem(filters, i);
      return;
    }
  }
}

PyObject* fork_quietly(PyObject* original, const char* name) {
  py_ref filters;
  py_ref filter;
  if (threads::single_but_for_ours(threads::count())) {
    const saved_exception saved;
    filters = warning_filters();
    filter = filters ? ignore_fork_warning(name) : py_ref();
    if (filter && PyList_Insert(filters.get(), 0, filter.get()) != 0) filter.reset();
  }
  PyObject* result = PyObject_CallNoArgs(original);  // in the child too: it inherits the list
  if (filter) {
    const saved_exception saved;  // fork's own error, if any, stays
    remove_filter(filters.get(), filter.get());
  }
  return result;
}

PyObject* py_fork(PyObject* original, PyObject*) { return fork_quietly(original, "fork"); }
PyObject* py_forkpty(PyObject* original, PyObject*) { return fork_quietly(original, "forkpty"); }

PyMethodDef fork_def = {"fork", &py_fork, METH_NOARGS,
                        "fork($module, /)\n--\n\nFork a child process.\n\n"
                        "Return 0 to child process and PID of child to parent process."};
PyMethodDef forkpty_def = {"forkpty", &py_forkpty, METH_NOARGS,
                           "forkpty($module, /)\n--\n\nFork a new process with a new pseudo-terminal as "
                           "controlling tty.\n\nReturns a tuple of (pid, master_fd)."};

// posix.<name> (and os's copy, if os is loaded) replaced by the wrapper,
// which keeps the original as its self.
bool wrap_fork_function(PyObject* posix, PyObject* os, PyMethodDef* def) {
  const py_ref original(PyObject_GetAttrString(posix, def->ml_name));
  if (!original) {
    PyErr_Clear();
    return true;  // not on this platform
  }
  const py_ref module_name(PyUnicode_FromString("posix"));
  const py_ref wrapper(module_name ? PyCFunction_NewEx(def, original.get(), module_name.get()) : nullptr);
  if (!wrapper || PyObject_SetAttrString(posix, def->ml_name, wrapper.get()) != 0) return false;
  return os == nullptr || PyObject_SetAttrString(os, def->ml_name, wrapper.get()) == 0;
}

bool wrap_fork() {
  const py_ref posix(loaded_module("posix"));
  if (!posix) return false;
  PyObject* os = PyDict_GetItemString(PyImport_GetModuleDict(), "os");  // borrowed
  return wrap_fork_function(posix.get(), os, &fork_def) && wrap_fork_function(posix.get(), os, &forkpty_def);
}
#else
// Before 3.12 os.fork() does not count threads: nothing to wrap.
bool wrap_fork() { return true; }
#endif

bool wrap_signal(PyObject* signal_module) {
  g_original_signal = PyObject_GetAttrString(signal_module, "signal");
  if (g_original_signal == nullptr) return false;
  PyObject* module_name = PyUnicode_FromString("_signal");
  PyObject* wrapper = module_name != nullptr ? PyCFunction_NewEx(&signal_def, nullptr, module_name) : nullptr;
  Py_XDECREF(module_name);
  const bool ok = wrapper != nullptr && PyObject_SetAttrString(signal_module, "signal", wrapper) == 0;
  Py_XDECREF(wrapper);
  return ok;
}

}  // namespace

// The crash handler goes where the disposition is still the default. With
// -X faulthandler or PYTHONFAULTHANDLER, faulthandler already holds the crash
// signals: it is disabled, ours installed, and faulthandler enabled again as
// those options enable it (stderr, all threads), so it dumps the traceback
// first and then hands the signal on to ours. faulthandler is only looked up
// in sys.modules, never imported.
void install_crash_handlers_under_faulthandler() noexcept {
  PyObject* name = PyUnicode_FromString("faulthandler");
  PyObject* fh = name != nullptr ? PyImport_GetModule(name) : nullptr;
  Py_XDECREF(name);
  bool reenable = false;
  if (fh != nullptr) {
    PyObject* enabled = PyObject_CallMethod(fh, "is_enabled", nullptr);
    reenable = enabled == Py_True;
    Py_XDECREF(enabled);
    if (reenable) {
      PyObject* r = PyObject_CallMethod(fh, "disable", nullptr);
      reenable = r != nullptr;
      Py_XDECREF(r);
    }
  }
  if (PyErr_Occurred() != nullptr) report_python_error("bootstrap: faulthandler");
  sensor::install_crash_handlers();
  if (reenable) {
    PyObject* err = PySys_GetObject("stderr");  // borrowed
    PyObject* r = err != nullptr ? PyObject_CallMethod(fh, "enable", "(OO)", err, Py_True)
                                 : PyObject_CallMethod(fh, "enable", nullptr);
    if (r == nullptr) report_python_error("bootstrap: faulthandler.enable");
    Py_XDECREF(r);
  }
  Py_XDECREF(fh);
}

void bootstrap() noexcept {
  PyObject* mod = load_own_module();
  if (mod == nullptr) {
    report_python_error("bootstrap: import _bluepython");
    return;
  }
  const bool mcp_hooks = sensor::settings().enabled(category::mcp);
  if ((sensor::settings().enabled(category::imports) || mcp_hooks) && !import_monitor::install(mod)) {
    report_python_error("bootstrap: import monitor");
  }
  if (mcp_hooks) hooks_loader::arm();
  if (!register_fork_hook(mod)) report_python_error("bootstrap: os.register_at_fork");
  if (!wrap_os_exit()) report_python_error("bootstrap: os._exit");
  if (!wrap_fork()) report_python_error("bootstrap: os.fork");
  // Let the signal module record the default SIGTERM disposition before our
  // C handler replaces it, so signal.getsignal() answers as under python.
  PyObject* sig = loaded_module("_signal");
  if (sig == nullptr) {
    report_python_error("bootstrap: _signal");
  } else {
    if (!wrap_signal(sig)) report_python_error("bootstrap: _signal.signal");
    Py_DECREF(sig);
    sensor::install_signal_handlers();
    install_crash_handlers_under_faulthandler();
  }
  Py_DECREF(mod);
}

}  // namespace bluepython::module
