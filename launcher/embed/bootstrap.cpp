// SPDX-License-Identifier: Apache-2.0
// The bootstrap: what runs once the interpreter is up, before the app's first
// instruction. The import monitor and the MCP hooks loader (capture/), the
// fork hook, the os._exit and _signal.signal wrappers, and the signal and
// crash handlers, under faulthandler when it is on. Fails open: each failure
// becomes a python_internal_exception event and the program runs regardless.
#include <unistd.h>

#include <csignal>

#include "capture/hooks_loader.hpp"
#include "capture/import_monitor.hpp"
#include "embed/bluepython_module.hpp"
#include "pyapi/call_context.hpp"
#include "pyapi/py_ref.hpp"
#include "runtime/sensor.hpp"

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

// posix, not os: importing os would load modules `python -S` does not.
bool register_fork_hook(PyObject* mod) {
  PyObject* os = PyImport_ImportModule("posix");
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
  PyObject* posix = PyImport_ImportModule("posix");
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
  PyObject* mod = PyImport_ImportModule("_bluepython");
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
  // Let the signal module record the default SIGTERM disposition before our
  // C handler replaces it, so signal.getsignal() answers as under python.
  PyObject* sig = PyImport_ImportModule("_signal");
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
