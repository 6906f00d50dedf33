// SPDX-License-Identifier: Apache-2.0
#include "side_effects.hpp"

#include <atomic>
#include <cstring>
#include <string>

#include "bluepython_module.hpp"
#include "json_writer.hpp"
#include "py_json.hpp"
#include "sensor.hpp"

namespace bluepython::side_effects {
namespace {

std::atomic<bool> g_serving{false};

// Encoding an argument can run Python code (str() of a path-like, keys() of
// an environment mapping), which can raise audit events of its own: those
// are not reported (they are ours, not the app's).
thread_local bool t_busy = false;

struct busy_guard {
  bool entered = !t_busy;
  busy_guard() noexcept {
    if (entered) t_busy = true;
  }
  busy_guard(const busy_guard&) = delete;
  busy_guard& operator=(const busy_guard&) = delete;
  ~busy_guard() {
    if (entered) t_busy = false;
  }
};

PyObject* arg(PyObject* args, Py_ssize_t i) noexcept {
  if (args == nullptr || !PyTuple_Check(args) || PyTuple_GET_SIZE(args) <= i) return nullptr;
  return PyTuple_GET_ITEM(args, i);
}

void value_or_null(json_writer& w, PyObject* v) {
  if (v == nullptr) {
    w.null();
  } else {
    encode_python_value(w, v);
  }
}

// argv as a JSON array: a single program (str, bytes, path-like) becomes a
// one-item array.
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

// The first item of argv, for an event whose executable is implicit.
PyObject* first_of(PyObject* v) noexcept {
  if (v != nullptr && (PyList_Check(v) || PyTuple_Check(v))) {
    return PySequence_Fast_GET_SIZE(v) > 0 ? PySequence_Fast_GET_ITEM(v, 0) : nullptr;
  }
  return v;
}

// The names of an environment passed explicitly (never the values); null
// when the child inherits the parent's.
void env_names(json_writer& w, PyObject* env) {
  if (env == nullptr || env == Py_None) {
    w.null();
    return;
  }
  PyObject* keys = PyMapping_Keys(env);
  if (keys == nullptr) {
    PyErr_Clear();
    w.null();
    return;
  }
  encode_python_value(w, keys);
  Py_DECREF(keys);
}

// context members of a side-effect event: where it happened.
std::string scope_context() {
  std::string context;
  if (module::current_call_json(context)) {
    context.insert(0, "\"scope\":\"call\",");
  } else {
    context = g_serving.load(std::memory_order_relaxed) ? R"("scope":"background")" : R"("scope":"startup")";
  }
  return context;
}

void emit(const char* name, const std::string& attrs) {
  sensor::emit(name, attrs, scope_context(), true);
}

void spawn(const char* via, PyObject* executable, PyObject* argv, PyObject* cwd, PyObject* env) {
  std::string attrs;
  json_writer w(attrs, sensor::settings().limits);
  w.key("via");
  w.string(via);
  w.key("executable");
  value_or_null(w, executable != nullptr && executable != Py_None ? executable : first_of(argv));
  w.key("argv");
  argv_array(w, argv);
  w.key("cwd");
  value_or_null(w, cwd);
  w.key("env_keys");
  env_names(w, env);
  emit("python_process_spawn", attrs);
}

void report(const char* event, PyObject* args) {
  if (std::strcmp(event, "subprocess.Popen") == 0) {
    spawn(event, arg(args, 0), arg(args, 1), arg(args, 2), arg(args, 3));
  } else if (std::strcmp(event, "os.exec") == 0 || std::strcmp(event, "os.posix_spawn") == 0) {
    spawn(event, arg(args, 0), arg(args, 1), nullptr, arg(args, 2));
  } else if (std::strcmp(event, "os.spawn") == 0) {
    spawn(event, arg(args, 1), arg(args, 2), nullptr, arg(args, 3));
  } else if (std::strcmp(event, "pty.spawn") == 0) {
    spawn(event, nullptr, arg(args, 0), nullptr, nullptr);
  } else if (std::strcmp(event, "os.system") == 0) {
    std::string attrs;
    json_writer w(attrs, sensor::settings().limits);
    w.key("via");
    w.string(event);
    w.key("executable");
    w.string("/bin/sh");  // system(3)
    w.key("argv");
    w.begin_array();
    w.string("/bin/sh");
    w.string("-c");
    value_or_null(w, arg(args, 0));
    w.end_array();
    w.key("cwd");
    w.null();
    w.key("env_keys");
    w.null();
    emit("python_process_spawn", attrs);
  } else if (std::strcmp(event, "os.fork") == 0 || std::strcmp(event, "os.forkpty") == 0) {
    std::string attrs;
    json_writer w(attrs, sensor::settings().limits);
    w.key("via");
    w.string(event);
    emit("python_process_fork", attrs);
  } else if (std::strcmp(event, "os.kill") == 0 || std::strcmp(event, "os.killpg") == 0) {
    std::string attrs;
    json_writer w(attrs, sensor::settings().limits);
    w.key("via");
    w.string(event);
    w.key("pid");
    value_or_null(w, arg(args, 0));
    w.key("signal");
    value_or_null(w, arg(args, 1));
    emit("python_process_signal", attrs);
  }
}

bool is_process_event(const char* event) noexcept {
  switch (event[0]) {
    case 's':
      return std::strcmp(event, "subprocess.Popen") == 0;
    case 'p':
      return std::strcmp(event, "pty.spawn") == 0;
    case 'o':
      if (event[1] != 's' || event[2] != '.') return false;
      switch (event[3]) {
        case 'e': return std::strcmp(event + 3, "exec") == 0;
        case 'f': return std::strcmp(event + 3, "fork") == 0 || std::strcmp(event + 3, "forkpty") == 0;
        case 'k': return std::strcmp(event + 3, "kill") == 0 || std::strcmp(event + 3, "killpg") == 0;
        case 'p': return std::strcmp(event + 3, "posix_spawn") == 0;
        case 's': return std::strcmp(event + 3, "spawn") == 0 || std::strcmp(event + 3, "system") == 0;
        default: return false;
      }
    default:
      return false;
  }
}

}  // namespace

bool on_process_event(const char* event, PyObject* args) noexcept {
  if (!is_process_event(event)) return false;
  if (!sensor::settings().enabled(category::process)) return true;
  busy_guard guard;
  if (!guard.entered) return true;
  PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
  PyErr_Fetch(&type, &value, &traceback);
  try {
    report(event, args);
  } catch (...) {
    // Out of memory: the event is lost; the app goes on.
  }
  PyErr_Clear();
  PyErr_Restore(type, value, traceback);
  return true;
}

void mark_serving() noexcept { g_serving.store(true, std::memory_order_relaxed); }

}  // namespace bluepython::side_effects
