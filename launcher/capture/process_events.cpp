// SPDX-License-Identifier: Apache-2.0
// Side effects of the process category: programs started (python_process_spawn),
// forks (python_process_fork); signals go through report_members.
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>

#include "capture/event_args.hpp"
#include "capture/folding.hpp"
#include "capture/handlers.hpp"
#include "capture/spawn_wrappers.hpp"
#include "pyapi/call_context.hpp"
#include "runtime/sensor.hpp"

namespace bluepython::capture {
namespace {

// subprocess.Popen was seen in this thread: the _posixsubprocess.fork_exec
// (or, on its posix_spawn path, the os.posix_spawn) that follows is the same
// spawn, reported (or filtered) already.
thread_local bool t_popen_pending = false;

// A spawn reported once the child exists: its event waits here until the
// fork_exec or posix_spawn wrapper knows the pid (or the error).
struct waiting_spawn {
  bool set = false;
  std::string attrs;
  std::string program;  // argv[0]'s base name, for the signals sent to it
};
thread_local waiting_spawn t_waiting;

// The children this process started, by pid: the program and the call it was
// started in, so that a signal names what it was sent to (bounded, oldest out).
struct child_record {
  std::string program;
  std::string call_id;
};
constexpr std::size_t kChildren = 4096;
struct child_table {
  std::unordered_map<long long, child_record> by_pid;
  std::deque<long long> order;
};
child_table& children() {  // guarded by the GIL
  static child_table table;
  return table;
}

std::string base_name(std::string_view path) {
  const auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

void remember_child(long long pid, std::string program) {
  std::string context;
  std::string call_id;
  if (call_context::current_json(context)) call_id = std::string(call_id_of(context));
  child_table& t = children();
  if (t.by_pid.size() >= kChildren && !t.order.empty()) {
    t.by_pid.erase(t.order.front());
    t.order.pop_front();
  }
  if (t.by_pid.insert_or_assign(pid, child_record{std::move(program), std::move(call_id)}).second) {
    t.order.push_back(pid);
  }
}

void spawn(const audit_event& e, PyObject* executable, PyObject* argv, PyObject* cwd, PyObject* env) {
  event_attrs a(e.name);
  json_writer& w = a.w;
  w.key("executable");
  const py_ref program = executable != nullptr && executable != Py_None ? py_ref::borrow(executable) : first_of(argv);
  value_or_null(w, program.get());
  w.key("argv");
  argv_array(w, argv);
  w.key("cwd");
  value_or_null(w, cwd);
  w.key("env_keys");
  env_names(w, env);
  std::string name;
  if (const py_ref first = first_of(argv); first) name = base_name(text_of(first.get()));
  // subprocess.Popen and os.posix_spawn return through a wrapper of ours
  // (fork_exec, posix_spawn) that knows the child's pid; os.exec keeps the
  // pid, pty.spawn and os.spawn* fork in Python (their fork is an event).
  if (e.name != "subprocess.Popen" && e.name != "os.posix_spawn") {
    report(e.reports, a.text);
    return;
  }
  wait_for_child(std::move(a.text), std::move(name));
}

}  // namespace

void wait_for_child(std::string attrs, std::string program) {
  if (t_waiting.set) report("python_process_spawn", t_waiting.attrs);  // one that never reached a wrapper
  t_waiting = {true, std::move(attrs), std::move(program)};
}

void child_started(PyObject* result) noexcept {
  if (!t_waiting.set) return;
  waiting_spawn waiting = std::move(t_waiting);
  t_waiting = {};
  PyObject* type = nullptr;
  PyObject* value = nullptr;
  PyObject* traceback = nullptr;
  if (result == nullptr) PyErr_Fetch(&type, &value, &traceback);  // the spawn failed: its error is the app's
  try {
    const busy_guard guard;
    if (result != nullptr && PyLong_Check(result)) {
      const long long pid = PyLong_AsLongLong(result);
      if (pid == -1 && PyErr_Occurred() != nullptr) {
        PyErr_Clear();
      } else {
        waiting.attrs += ",\"pid\":" + std::to_string(pid);
        remember_child(pid, waiting.program);
      }
    } else if (result == nullptr) {
      py_ref message(value != nullptr ? PyObject_Str(value) : nullptr);
      if (!message) PyErr_Clear();
      std::string error = type != nullptr ? reinterpret_cast<PyTypeObject*>(type)->tp_name : "error";
      if (message) error += ": " + text_of(message.get());
      json_writer w(waiting.attrs, sensor::settings().limits);
      waiting.attrs += ",";
      w.key("error");
      w.string(error);
    }
    report("python_process_spawn", waiting.attrs);
  } catch (...) {
  }
  if (result == nullptr) PyErr_Restore(type, value, traceback);
}

// os.kill / os.killpg (pid, signal): with the program and the call a child
// of this process was started in, when the pid is one.
void process_signal(const audit_event& e, PyObject* args) {
  event_attrs a(e.name);
  json_writer& w = a.w;
  w.key("pid");
  value_or_null(w, arg(args, 0));
  w.key("signal");
  value_or_null(w, arg(args, 1));
  PyObject* pid = arg(args, 0);
  if (pid != nullptr && PyLong_Check(pid) && e.name == "os.kill") {
    const long long value = PyLong_AsLongLong(pid);
    if (value == -1 && PyErr_Occurred() != nullptr) PyErr_Clear();
    if (const auto child = children().by_pid.find(value); child != children().by_pid.end()) {
      w.key("target");
      w.begin_object();
      w.key("program");
      w.string(child->second.program);
      w.key("spawned_in");
      if (child->second.call_id.empty()) {
        w.null();
      } else {
        w.string(child->second.call_id);
      }
      w.end_object();
    }
  }
  report(e.reports, a.text);
}

bool take_popen_pending() noexcept {
  const bool pending = t_popen_pending;
  t_popen_pending = false;
  return pending;
}

bool popen_seen(const audit_event& /*e*/, PyObject* /*args*/) {
  install_fork_exec_wrapper();  // before Popen calls it
  t_popen_pending = true;
  return true;
}

bool posix_spawn_seen(const audit_event& /*e*/, PyObject* /*args*/) {
  return !take_popen_pending();  // subprocess's posix_spawn path: the Popen covered it
}

void popen_spawn(const audit_event& e, PyObject* args) {
  spawn(e, arg(args, 0), arg(args, 1), arg(args, 2), arg(args, 3));
}

void exec_spawn(const audit_event& e, PyObject* args) {
  spawn(e, arg(args, 0), arg(args, 1), nullptr, app_spawn_env(arg(args, 2)));
}

void os_spawn(const audit_event& e, PyObject* args) { spawn(e, arg(args, 1), arg(args, 2), nullptr, arg(args, 3)); }

void pty_spawn(const audit_event& e, PyObject* args) { spawn(e, nullptr, arg(args, 0), nullptr, nullptr); }

void system_spawn(const audit_event& e, PyObject* args) {
  event_attrs a(e.name);
  json_writer& w = a.w;
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
  report(e.reports, a.text);
}

void process_fork(const audit_event& e, PyObject* args) {
  std::string call;
  if (!call_context::current_call_object(call)) call.clear();
  sensor::set_fork_call(call);  // the child's sensor_startup names it
  report_members(e, args);
}

void report_members(const audit_event& e, PyObject* args) {
  event_attrs a(e.name);
  json_writer& w = a.w;
  for (const member_spec& m : e.members) {
    if (m.key == nullptr) continue;
    w.key(m.key);
    value_or_null(w, arg(args, m.index));
  }
  report(e.reports, a.text);
}

}  // namespace bluepython::capture
