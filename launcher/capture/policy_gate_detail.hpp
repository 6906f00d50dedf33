// SPDX-License-Identifier: Apache-2.0
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "policy/policy.hpp"
#include "pyapi/py_ref.hpp"

// What the policy gates (policy_gates.cpp) and the tools/call checks
// (policy_calls.cpp) share with policy_gate.cpp; capture/ only. All need the
// GIL.
namespace bluepython::capture::policy_gate {

// The MCP call in effect as the policy's scope (the strings live here).
struct scope_now {
  py_ref fields;
  std::string storage_server;
  std::string storage_tool;
  policy::call_scope scope;
};
void current_scope(scope_now& out);

// Whether the policy limits `o` at all (no policy: false).
[[nodiscard]] bool limited(policy::op o) noexcept;
// Empties the real-path cache: after anything that can change what a path
// resolves to.
void forget_paths() noexcept;
[[nodiscard]] std::string current_dir();

// A violation's subject: kind, op, then the members (null data: left out).
std::string subject_json(std::initializer_list<std::pair<const char*, std::string_view>> members, policy::op o);
// The checks; each 0 (go on) or -1 with PermissionError raised.
int check_one(const policy::operation& o, const scope_now& where, std::string_view subject);
int check_path(policy::op o, PyObject* given, const scope_now& where, std::string_view via);
int check_spawn(const std::string& exe_given, const std::string& argv0, const std::string& args, std::string_view via);
int check_endpoint(policy::op o, const std::string& host, int port, std::string_view via);

// argv's items after the first, joined by spaces; the first into `first`.
std::string join_args(PyObject* argv, std::string& first);
// A port number from an int or digits; -1 when there is none.
int port_of(PyObject* v);

}  // namespace bluepython::capture::policy_gate
