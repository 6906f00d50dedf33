// SPDX-License-Identifier: Apache-2.0
// The policy gates of the audit event table (capture/audit_events.cpp): each
// turns an audit event's arguments into the operations its guards name and
// asks the policy (docs/policy.md).
#include <fcntl.h>
#include <sys/stat.h>

#include <string>

#include "capture/event_args.hpp"
#include "capture/handlers.hpp"
#include "capture/policy_gate_detail.hpp"
#include "policy/paths.hpp"

namespace bluepython::capture {

using policy::op;
using policy_gate::check_endpoint;

int gate_open(const audit_event& e, PyObject* args) {
  if (!open_wanted(e, args)) return 0;  // the interpreter's and the import system's own reading
  PyObject* path = arg(args, 0);
  long flags = 0;
  if (PyObject* f = arg(args, 2); f != nullptr && PyLong_Check(f)) {
    flags = PyLong_AsLong(f);
    if (flags == -1 && PyErr_Occurred() != nullptr) {
      PyErr_Clear();
      flags = 0;
    }
  }
  policy_gate::scope_now where;
  policy_gate::current_scope(where);
  const long access = flags & O_ACCMODE;
  if (access != O_WRONLY && policy_gate::check_path(op::read, path, where, "open") < 0) return -1;
  if (access != O_RDONLY && policy_gate::check_path(op::write, path, where, "open") < 0) return -1;
  if ((flags & O_CREAT) != 0 && policy_gate::limited(op::create)) {
    const std::string given = text_of(path);
    struct stat st{};
    if (!given.empty() && ::stat(given.c_str(), &st) != 0 && policy_gate::check_path(op::create, path, where, "open") < 0) {
      return -1;
    }
  }
  return 0;
}

int gate_paths(const audit_event& e, PyObject* args) {
  // Whatever is decided, paths may resolve differently afterwards.
  policy_gate::forget_paths();
  if (e.wanted != nullptr && !e.wanted(e, args)) return 0;
  policy_gate::scope_now where;
  policy_gate::current_scope(where);
  for (const guard_spec& g : e.guards) {
    if (g.index < 0) continue;
    if (policy_gate::check_path(g.op, arg(args, g.index), where, e.name) < 0) return -1;
  }
  return 0;
}

int gate_spawn(const audit_event& e, PyObject* args) {
  policy_gate::forget_paths();
  const guard_spec& g = e.guards[0];
  std::string argv0;
  const std::string joined = policy_gate::join_args(arg(args, g.extra), argv0);
  const std::string exe = g.index >= 0 ? text_of(arg(args, g.index)) : std::string();
  return policy_gate::check_spawn(exe, argv0, joined, e.name);
}

int gate_system(const audit_event& e, PyObject* args) {
  policy_gate::forget_paths();
  // The shell is what starts; the command is its argument.
  const std::string command = text_of(arg(args, 0));
  return policy_gate::check_spawn("/bin/sh", "sh", "-c " + command, e.name);
}

int gate_socket(const audit_event& e, PyObject* args) {
  const guard_spec& g = e.guards[0];
  PyObject* address = arg(args, g.index);
  if (address == nullptr || !PyTuple_Check(address) || PyTuple_GET_SIZE(address) < 2) return 0;  // AF_UNIX and others
  const std::string host = text_of(PyTuple_GET_ITEM(address, 0));
  return check_endpoint(g.op, host, policy_gate::port_of(PyTuple_GET_ITEM(address, 1)), e.name);
}

int gate_host(const audit_event& e, PyObject* args) {
  const guard_spec& g = e.guards[0];
  return check_endpoint(g.op, text_of(arg(args, g.index)), policy_gate::port_of(arg(args, g.extra)), e.name);
}

int gate_code(const audit_event& e, PyObject* args) {
  if (e.wanted != nullptr && !e.wanted(e, args)) return 0;
  const guard_spec& g = e.guards[0];
  if (!policy_gate::limited(g.op)) return 0;
  policy_gate::scope_now where;
  policy_gate::current_scope(where);
  std::string text = g.index >= 0 ? text_of(arg(args, g.index)) : std::string(e.name);
  // ctypes.CDLL(None): the program itself, no library is loaded.
  if (g.op == op::native && text.empty()) return 0;
  std::string name;
  if (g.op == op::unpickle) {
    name = text;
    text += '.';
    text += text_of(arg(args, g.extra));
  } else if (g.op == op::native && text.find('/') != std::string::npos) {
    text = policy::resolve_path(text, policy_gate::current_dir());
  }
  policy::operation x;
  x.what = g.op;
  x.text = text;
  x.name = name;
  const char* key = g.op == op::unpickle ? "class" : g.op == op::native ? "library" : "file";
  return policy_gate::check_one(x, where, policy_gate::subject_json({{key, text}, {"via", e.name}}, g.op));
}

}  // namespace bluepython::capture
