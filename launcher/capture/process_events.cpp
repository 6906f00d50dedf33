// SPDX-License-Identifier: Apache-2.0
// Side effects of the process category: programs started (python_process_spawn),
// forks (python_process_fork); signals go through report_members.
#include <string>

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
  report(e.reports, a.text);
}

}  // namespace

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
