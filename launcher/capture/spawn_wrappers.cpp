// SPDX-License-Identifier: Apache-2.0
#include "capture/spawn_wrappers.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "capture/event_args.hpp"
#include "capture/filters.hpp"
#include "capture/folding.hpp"
#include "capture/handlers.hpp"
#include "capture/policy_gate.hpp"
#include "pyapi/call_context.hpp"
#include "pyapi/py_ref.hpp"
#include "runtime/sensor.hpp"

extern char** environ;

namespace bluepython::capture {
namespace {

// _posixsubprocess.fork_exec: what subprocess and multiprocessing (spawn,
// forkserver, resource tracker) start children with. It raises no audit
// event before Python 3.14: the wrapper reports the spawns subprocess.Popen
// did not, and hands the MCP call in effect to the child through its
// environment (BLUEPYTHON_PARENT_CALL, this child only).

constexpr std::string_view kCallVariable = "BLUEPYTHON_PARENT_CALL=";

// argv[5] of fork_exec: a sequence of b"NAME=value", or None (inherit).
void env_list_names(json_writer& w, PyObject* env) {
  if (env == nullptr || env == Py_None || !(PyList_Check(env) || PyTuple_Check(env))) {
    w.null();
    return;
  }
  w.begin_array();
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(env);
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* item = PySequence_Fast_GET_ITEM(env, i);
    if (!PyBytes_Check(item)) continue;
    const std::string_view text(PyBytes_AS_STRING(item), static_cast<std::size_t>(PyBytes_GET_SIZE(item)));
    w.string(text.substr(0, text.find('=')));
  }
  w.end_array();
}

// The child's environment with the call added: a copy of `env` (or of this
// process's environment when None), never the caller's list.
PyObject* env_with_call(PyObject* env, std::string_view call) {
  PyObject* out = PyList_New(0);
  if (out == nullptr) return nullptr;
  auto add = [&](const char* data, std::size_t size) {
    const std::string_view entry(data, size);
    if (entry.starts_with(kCallVariable)) return true;
    PyObject* item = PyBytes_FromStringAndSize(data, static_cast<Py_ssize_t>(size));
    const bool ok = item != nullptr && PyList_Append(out, item) == 0;
    Py_XDECREF(item);
    return ok;
  };
  bool ok = true;
  if (env != nullptr && env != Py_None && (PyList_Check(env) || PyTuple_Check(env))) {
    // The size read anew and each item held: an allocation here may run a
    // collection, and with it app finalizers that change the caller's list.
    for (Py_ssize_t i = 0; ok && i < PySequence_Fast_GET_SIZE(env); ++i) {
      const py_ref item = py_ref::borrow(PySequence_Fast_GET_ITEM(env, i));
      if (PyBytes_Check(item.get())) {
        ok = add(PyBytes_AS_STRING(item.get()), static_cast<std::size_t>(PyBytes_GET_SIZE(item.get())));
      } else {
        ok = PyList_Append(out, item.get()) == 0;  // let fork_exec judge it
      }
    }
  } else {
    for (char** e = environ; ok && e != nullptr && *e != nullptr; ++e) ok = add(*e, std::strlen(*e));
  }
  std::string entry(kCallVariable);
  entry += call;
  if (ok) {
    PyObject* item = PyBytes_FromStringAndSize(entry.data(), static_cast<Py_ssize_t>(entry.size()));
    ok = item != nullptr && PyList_Append(out, item) == 0;
    Py_XDECREF(item);
  }
  if (!ok) Py_CLEAR(out);
  return out;
}

// The spawn as python_process_spawn, unless subprocess.Popen announced it or
// the process patterns leave it out (the same decision the audit hook makes
// for the events it sees).
void report_fork_exec(PyObject* args) {
  PyObject* argv = PyTuple_GET_ITEM(args, 0);
  const py_ref executable = first_of(PyTuple_GET_ITEM(args, 1));
  const py_ref program = first_of(argv);
  const std::array<PyObject*, 2> subjects{executable.get(), program.get()};
  if (!passes(category::process, subjects)) return;
  event_attrs a("_posixsubprocess.fork_exec");
  json_writer& w = a.w;
  w.key("executable");
  value_or_null(w, executable.get());
  w.key("argv");
  argv_array(w, argv);
  w.key("cwd");
  value_or_null(w, PyTuple_GET_ITEM(args, 4));
  w.key("env_keys");
  env_list_names(w, PyTuple_GET_ITEM(args, 5));
  std::string name = program ? text_of(program.get()) : std::string();
  const auto slash = name.rfind('/');
  wait_for_child(std::move(a.text), slash == std::string::npos ? name : name.substr(slash + 1));
}

// fork_exec's arguments with the call in effect added to the child's
// environment (a new tuple; the caller's is never changed), or `args`.
py_ref with_call_in_environment(PyObject* args) {
  std::string call;
  if (!call_context::current_call_object(call)) return py_ref::borrow(args);
  py_ref env(env_with_call(PyTuple_GET_ITEM(args, 5), call));
  const Py_ssize_t n = PyTuple_GET_SIZE(args);
  py_ref copy(env ? PyTuple_New(n) : nullptr);  // a full slice would hand back `args` itself
  if (!copy) return py_ref::borrow(args);
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyTuple_SET_ITEM(copy.get(), i, i == 5 ? env.release() : Py_NewRef(PyTuple_GET_ITEM(args, i)));
  }
  return copy;
}

PyObject* fork_exec(PyObject* original, PyObject* args) {
  // multiprocessing's spawn and forkserver call fork_exec with no audit event first.
  sensor::publish_handoff();
  const bool announced = take_popen_pending();
  if (!PyTuple_Check(args) || PyTuple_GET_SIZE(args) < 6 || busy_guard::busy()) {
    PyObject* pid = PyObject_Call(original, args, nullptr);
    if (announced) child_started(pid);
    return pid;
  }
  if (!announced && policy_gate::check_fork_exec(PyTuple_GET_ITEM(args, 0), PyTuple_GET_ITEM(args, 1)) < 0) {
    return nullptr;  // refused by the policy: PermissionError, as Popen's audit event would have raised
  }
  py_ref call_args = py_ref::borrow(args);
  {
    const busy_guard guard;
    const saved_exception saved;
    try {
      if (!announced && sensor::settings().enabled(category::process)) report_fork_exec(args);
      call_args = with_call_in_environment(args);
    } catch (...) {
      // Out of memory: the spawn is not reported; the app's call proceeds.
    }
  }
  PyObject* pid = PyObject_Call(original, call_args.get(), nullptr);
  child_started(pid);  // the spawn's event, with the pid (or the error)
  return pid;
}

PyMethodDef fork_exec_def = {"fork_exec", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fork_exec)),
                             METH_VARARGS, "_posixsubprocess.fork_exec, observed by bluepython."};

}  // namespace

PyObject* wrap_fork_exec(PyObject* original) noexcept {
  if (original == nullptr || !PyCallable_Check(original)) {
    PyErr_SetString(PyExc_TypeError, "wrap_fork_exec(): expected the original fork_exec");
    return nullptr;
  }
  PyObject* module_name = PyUnicode_FromString("_posixsubprocess");
  PyObject* wrapper = module_name != nullptr ? PyCFunction_NewEx(&fork_exec_def, original, module_name) : nullptr;
  Py_XDECREF(module_name);
  return wrapper;
}

namespace {

// The native installation of the fork_exec wrapper: _posixsubprocess.fork_exec
// once the module is loaded, and subprocess's own reference to it
// (`from _posixsubprocess import fork_exec as _fork_exec`) once subprocess is.
// Checked on import events and before each subprocess.Popen; a few dict
// lookups until both are done. Guarded by the GIL.
PyObject* g_fork_exec_original = nullptr;
PyObject* g_fork_exec_wrapper = nullptr;
bool g_subprocess_wrapped = false;

#if PY_VERSION_HEX >= 0x030B0000
// subprocess's own reference (3.11+: `from _posixsubprocess import fork_exec
// as _fork_exec`), replaced once subprocess has set it. Whether that is done.
bool wrap_subprocess_reference(PyObject* modules) {
  PyObject* subprocess = PyDict_GetItemString(modules, "subprocess");  // borrowed
  if (subprocess == nullptr) return false;
  PyObject* bound = PyObject_GetAttrString(subprocess, "_fork_exec");
  bool done = false;
  if (bound == g_fork_exec_original) {
    done = PyObject_SetAttrString(subprocess, "_fork_exec", g_fork_exec_wrapper) == 0;
  } else if (bound != nullptr) {
    done = true;  // someone else's, or ours already: leave it
  }
  Py_XDECREF(bound);
  return done;
}
#else
// 3.10's subprocess calls _posixsubprocess.fork_exec through the module at
// each spawn (it keeps no reference of its own): the module's is enough.
bool wrap_subprocess_reference(PyObject*) { return true; }
#endif

}  // namespace

void install_fork_exec_wrapper() noexcept {
  if (g_subprocess_wrapped || !sensor::started()) return;
  PyObject* modules = PyImport_GetModuleDict();  // borrowed
  if (modules == nullptr) return;
  const saved_exception saved;
  if (g_fork_exec_wrapper == nullptr) {
    PyObject* module = PyDict_GetItemString(modules, "_posixsubprocess");  // borrowed
    PyObject* original = module != nullptr ? PyObject_GetAttrString(module, "fork_exec") : nullptr;
    PyObject* wrapper = original != nullptr ? wrap_fork_exec(original) : nullptr;
    if (wrapper != nullptr && PyObject_SetAttrString(module, "fork_exec", wrapper) == 0) {
      g_fork_exec_original = original;  // both kept for the process's life
      g_fork_exec_wrapper = wrapper;
    } else {
      Py_XDECREF(original);
      Py_XDECREF(wrapper);
    }
  }
  if (g_fork_exec_wrapper != nullptr) g_subprocess_wrapped = wrap_subprocess_reference(modules);
}

namespace {

// ---------------------------------------------------------------------------
// os.posix_spawn / os.posix_spawnp (path, argv, env, /, **options): what
// subprocess starts most children with on 3.13+ (an executable given with a
// directory, no cwd, preexec_fn, pass_fds or ids), and on 3.10-3.12 when
// close_fds is off. The audit event os.posix_spawn reports the spawn; the
// wrapper hands the call in effect to the child, as the fork_exec wrapper
// does: a copied env mapping with BLUEPYTHON_PARENT_CALL (the caller's is
// never changed).

// What posix_spawn takes as env: a mapping; from 3.13 also None (the
// current environment). Anything else is left for posix_spawn to refuse.
bool spawn_env_accepted(PyObject* env) {
#if PY_VERSION_HEX >= 0x030D0000
  if (env == Py_None) return true;
#endif
  return env != Py_None && PyMapping_Check(env) != 0;
}

// A dict of `env` (None: this process's environment, as bytes) and the call.
PyObject* env_mapping_with_call(PyObject* env, std::string_view call) {
  py_ref copy(PyDict_New());
  if (!copy) return nullptr;
  if (env != Py_None) {
    if (PyDict_Merge(copy.get(), env, 1) != 0) return nullptr;
  } else {
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      const std::string_view entry(*e);
      const auto eq = entry.find('=');
      if (eq == std::string_view::npos || eq == 0) continue;
      const py_ref key(PyBytes_FromStringAndSize(entry.data(), static_cast<Py_ssize_t>(eq)));
      const py_ref value(PyBytes_FromStringAndSize(entry.data() + eq + 1,
                                                   static_cast<Py_ssize_t>(entry.size() - eq - 1)));
      if (!key || !value || PyDict_SetItem(copy.get(), key.get(), value.get()) != 0) return nullptr;
    }
  }
  const std::string_view name = kCallVariable.substr(0, kCallVariable.size() - 1);
  const py_ref bytes_name(PyBytes_FromStringAndSize(name.data(), static_cast<Py_ssize_t>(name.size())));
  if (!bytes_name || PyDict_DelItem(copy.get(), bytes_name.get()) != 0) PyErr_Clear();  // one entry, ours
  const py_ref value(PyUnicode_FromStringAndSize(call.data(), static_cast<Py_ssize_t>(call.size())));
  const py_ref key(PyUnicode_FromStringAndSize(name.data(), static_cast<Py_ssize_t>(name.size())));
  if (!value || !key || PyDict_SetItem(copy.get(), key.get(), value.get()) != 0) return nullptr;
  return copy.release();
}

// The child's env with the call in effect, or nothing (no call, or an env
// left as it is).
py_ref spawn_env_with_call(PyObject* env) {
  std::string call;
  if (!spawn_env_accepted(env) || !call_context::current_call_object(call)) return {};
  return py_ref(env_mapping_with_call(env, call));
}

// The env posix_spawn is being called with by this thread's wrapper, and the
// app's own (borrowed, for the call's duration): the audit event os.posix_spawn
// then reports the app's env, not the copy with our variable.
thread_local PyObject* t_spawn_env_copy = nullptr;
thread_local PyObject* t_spawn_env_app = nullptr;

PyObject* posix_spawn(PyObject* original, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  constexpr std::size_t kMaxArgs = 16;  // 3 positional and 7 options today
  const Py_ssize_t total = nargs + (kwnames != nullptr ? PyTuple_GET_SIZE(kwnames) : 0);
  if (nargs != 3 || total > static_cast<Py_ssize_t>(kMaxArgs) || busy_guard::busy()) {
    PyObject* pid = PyObject_Vectorcall(original, args, static_cast<std::size_t>(nargs), kwnames);
    child_started(pid);
    return pid;
  }
  py_ref env;
  {
    const busy_guard guard;
    const saved_exception saved;
    try {
      env = spawn_env_with_call(args[2]);
    } catch (...) {
      // Out of memory: the child is not linked to the call; the spawn proceeds.
    }
  }
  if (!env) {
    PyObject* pid = PyObject_Vectorcall(original, args, static_cast<std::size_t>(nargs), kwnames);
    child_started(pid);
    return pid;
  }
  std::array<PyObject*, kMaxArgs> copy{};
  std::copy(args, args + total, copy.begin());
  copy[2] = env.get();
  t_spawn_env_copy = env.get();
  t_spawn_env_app = args[2];
  PyObject* result = PyObject_Vectorcall(original, copy.data(), static_cast<std::size_t>(nargs), kwnames);
  t_spawn_env_copy = t_spawn_env_app = nullptr;
  child_started(result);  // the spawn's event, with the pid (or the error)
  return result;
}

// posix_spawn's own docstring (signature included), kept for the wrappers.
std::string g_posix_spawn_doc;
std::string g_posix_spawnp_doc;
PyMethodDef posix_spawn_def = {"posix_spawn", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&posix_spawn)),
                               METH_FASTCALL | METH_KEYWORDS, nullptr};
PyMethodDef posix_spawnp_def = {"posix_spawnp",
                                reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&posix_spawn)),
                                METH_FASTCALL | METH_KEYWORDS, nullptr};
bool g_posix_spawn_wrapped = false;

// posix.<name> (and os's copy, if os is loaded; a later `import os` copies
// the wrapper) replaced by the wrapper, the original kept as its self.
void wrap_posix_function(PyObject* posix, PyObject* os, PyMethodDef* def, std::string& doc) {
  const py_ref original(PyObject_GetAttrString(posix, def->ml_name));
  if (!original || !PyCFunction_Check(original.get())) return;  // not on this platform
  const py_ref signature(PyObject_GetAttrString(original.get(), "__text_signature__"));
  const py_ref text(PyObject_GetAttrString(original.get(), "__doc__"));
  PyErr_Clear();
  const char* sig = signature && PyUnicode_Check(signature.get()) ? PyUnicode_AsUTF8(signature.get()) : nullptr;
  const char* body = text && PyUnicode_Check(text.get()) ? PyUnicode_AsUTF8(text.get()) : nullptr;
  if (sig != nullptr && body != nullptr) {
    doc = fmt::format("{}{}\n--\n\n{}", def->ml_name, sig, body);  // what __text_signature__ is read from
    def->ml_doc = doc.c_str();
  }
  const py_ref module_name(PyUnicode_FromString("posix"));
  const py_ref wrapper(module_name ? PyCFunction_NewEx(def, original.get(), module_name.get()) : nullptr);
  if (!wrapper || PyObject_SetAttrString(posix, def->ml_name, wrapper.get()) != 0) return;
  if (os != nullptr) (void)PyObject_SetAttrString(os, def->ml_name, wrapper.get());
}

void install_posix_spawn_wrappers() noexcept {
  if (g_posix_spawn_wrapped || !sensor::started()) return;
  PyObject* modules = PyImport_GetModuleDict();  // borrowed
  PyObject* posix = modules != nullptr ? PyDict_GetItemString(modules, "posix") : nullptr;
  if (posix == nullptr) return;
  g_posix_spawn_wrapped = true;  // one attempt: a failure leaves os as it is
  PyObject* os = PyDict_GetItemString(modules, "os");  // borrowed
  const saved_exception saved;
  try {
    wrap_posix_function(posix, os, &posix_spawn_def, g_posix_spawn_doc);
    wrap_posix_function(posix, os, &posix_spawnp_def, g_posix_spawnp_doc);
  } catch (...) {
  }
}

}  // namespace

namespace {

// ---------------------------------------------------------------------------
// multiprocessing forkserver: its workers are forked by the fork server, a
// process started once, so neither the environment handoff nor the fork
// thread-local can link a worker to the process (and call) that asked for
// it. The requester's preparation data (multiprocessing.spawn.
// get_preparation_data, pickled to the worker) carries its pid, uuid and
// current call instead, under kPreparationKey; the worker reads it in
// multiprocessing.spawn.prepare and reports python_process_link. Spawn
// children get the same data but were linked at start-up already (their
// parent is the requester): they report nothing more.

constexpr const char* kPreparationKey = "bluepython_parent";

PyObject* get_preparation_data(PyObject* original, PyObject* args, PyObject* kwargs) {
  PyObject* data = PyObject_Call(original, args, kwargs);
  if (data == nullptr || !PyDict_Check(data) || busy_guard::busy()) return data;
  const busy_guard guard;
  const saved_exception saved;
  try {
    std::string text = fmt::format(R"({{"pid":{},"uuid":"{}")", sensor::pid(), sensor::uuid());
    std::string call;
    if (call_context::current_call_object(call)) {
      text += R"(,"call":)";
      text += call;
    }
    text += '}';
    const py_ref item(PyUnicode_FromStringAndSize(text.data(), static_cast<Py_ssize_t>(text.size())));
    if (item) PyDict_SetItemString(data, kPreparationKey, item.get());
  } catch (...) {
  }
  return data;
}

// The requester's pid in the text get_preparation_data wrote, or -1.
long requester_pid(std::string_view text) noexcept {
  constexpr std::string_view head = R"({"pid":)";
  if (!text.starts_with(head)) return -1;
  long pid = -1;
  const char* begin = text.data() + head.size();
  const auto [end, error] = std::from_chars(begin, text.data() + text.size(), pid);
  return error == std::errc{} && end != begin ? pid : -1;
}

PyObject* prepare(PyObject* original, PyObject* args, PyObject* kwargs) {
  PyObject* data = PyTuple_Check(args) && PyTuple_GET_SIZE(args) > 0 ? PyTuple_GET_ITEM(args, 0) : nullptr;
  if (data != nullptr && PyDict_Check(data) && !busy_guard::busy() && sensor::settings().enabled(category::process)) {
    const busy_guard guard;
    const saved_exception saved;
    try {
      // Held: its text is read until the event is out.
      const py_ref item = py_ref::borrow(PyDict_GetItemString(data, kPreparationKey));
      Py_ssize_t size = 0;
      const char* text = item && PyUnicode_Check(item.get()) ? PyUnicode_AsUTF8AndSize(item.get(), &size) : nullptr;
      const std::string_view parent = text != nullptr ? std::string_view(text, static_cast<std::size_t>(size))
                                                      : std::string_view{};
      const long pid = requester_pid(parent);
      // Our own text, pickled by our own wrapper; checked anyway, since it
      // goes into the spool as raw JSON.
      if (pid > 0 && pid != static_cast<long>(::getppid()) && nlohmann::json::accept(parent)) {
        std::string attrs = R"("via":"multiprocessing.forkserver","parent":)";
        attrs += parent;
        report("python_process_link", attrs);
      }
    } catch (...) {
    }
  }
  return PyObject_Call(original, args, kwargs);
}

PyMethodDef get_preparation_data_def = {
    "get_preparation_data",
    reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&get_preparation_data)), METH_VARARGS | METH_KEYWORDS,
    "multiprocessing.spawn.get_preparation_data, observed by bluepython."};
PyMethodDef prepare_def = {"prepare", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&prepare)),
                           METH_VARARGS | METH_KEYWORDS, "multiprocessing.spawn.prepare, observed by bluepython."};

bool g_multiprocessing_wrapped = false;

// Wraps one function of a module (the original kept as the wrapper's self).
bool wrap_attribute(PyObject* module, const char* name, PyMethodDef* def) noexcept {
  PyObject* original = PyObject_GetAttrString(module, name);
  if (original == nullptr || !PyCallable_Check(original) || PyCFunction_Check(original)) {
    Py_XDECREF(original);  // missing, or a C function already (ours)
    return false;
  }
  PyObject* module_name = PyObject_GetAttrString(module, "__name__");
  PyObject* wrapper = module_name != nullptr ? PyCFunction_NewEx(def, original, module_name) : nullptr;
  const bool ok = wrapper != nullptr && PyObject_SetAttrString(module, name, wrapper) == 0;
  Py_XDECREF(module_name);
  Py_XDECREF(wrapper);
  Py_DECREF(original);  // the wrapper holds it
  return ok;
}

void install_multiprocessing_wrappers() noexcept {
  if (g_multiprocessing_wrapped || !sensor::started()) return;
  PyObject* modules = PyImport_GetModuleDict();  // borrowed
  PyObject* spawn = modules != nullptr ? PyDict_GetItemString(modules, "multiprocessing.spawn") : nullptr;
  if (spawn == nullptr) return;
  const saved_exception saved;
  // Found during its own import (partially initialized): try again at a
  // later import, once both functions exist.
  if (PyObject_HasAttrString(spawn, "get_preparation_data") != 0 && PyObject_HasAttrString(spawn, "prepare") != 0) {
    g_multiprocessing_wrapped = true;  // one attempt: a failure leaves multiprocessing as it is
    wrap_attribute(spawn, "get_preparation_data", &get_preparation_data_def);
    wrap_attribute(spawn, "prepare", &prepare_def);
  }
}

}  // namespace

PyObject* app_spawn_env(PyObject* env) noexcept {
  return env != nullptr && env == t_spawn_env_copy ? t_spawn_env_app : env;
}

void install_spawn_wrappers() noexcept {
  if (!sensor::settings().enabled(category::process)) return;
  if (!g_subprocess_wrapped) install_fork_exec_wrapper();
  if (!g_multiprocessing_wrapped) install_multiprocessing_wrappers();
  if (!g_posix_spawn_wrapped) install_posix_spawn_wrappers();
}

}  // namespace bluepython::capture
