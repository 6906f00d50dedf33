// SPDX-License-Identifier: Apache-2.0
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string>
#include <string_view>

#include "policy/policy.hpp"

// The guardrail policy at run time (docs/policy.md): the audit table's gates
// (policy_gate.cpp) turn an occurrence into a policy::operation, ask the
// compiled policy, and act on a violation: a python_policy_violation event
// always; then nothing more (observe), PermissionError / ImportError raised
// where the operation was asked for (enforce), or the process ended after the
// event is on disk (kill). All need the GIL.
namespace bluepython::capture::policy_gate {

// The compiled policy of this process (nullptr: none). Set once at start.
void init(const policy::compiled_policy* compiled) noexcept;
[[nodiscard]] const policy::compiled_policy* active() noexcept;

// Reports `v` about a subject (JSON object members, no braces) and acts on
// its mode: 0 when the operation goes on, -1 with `exc_type` raised (its
// message names the rule) when it must fail. Kill mode does not return.
// `about` ends the exception's message (the path, executable, address).
int act(const policy::violation& v, std::string_view subject_members, PyObject* exc_type, std::string_view about,
        std::string_view module_name = {}) noexcept;

// _bluepython.policy_check_call(name, arguments) -> str | None: the checks of
// a tools/call in the call in effect (tool lists, argument rules, tool pins).
// A message when the call must be answered with an error result without its
// handler running; None when it goes on (allowed, or observe mode).
PyObject* py_check_call(PyObject* self, PyObject* const* args, Py_ssize_t nargs);
// _bluepython.policy_checks_calls() -> bool: whether a policy checks tools/call.
PyObject* py_checks_calls(PyObject* self, PyObject* unused);
// _bluepython.note_tool_definition(name, description, input_schema): the
// definition a server offers for a tool now (registration, tools/list); a
// pinned tool's calls are checked against the latest.
PyObject* py_note_tool_definition(PyObject* self, PyObject* const* args, Py_ssize_t nargs);

// The import monitor found `module` in `file` (empty: no file): the import
// lock's check. 0: go on; -1 with ImportError raised.
int check_import(std::string_view module, const std::string& file) noexcept;

// A _posixsubprocess.fork_exec no audit event announced (multiprocessing's
// spawn and forkserver, the resource tracker): the spawn rules' check of its
// argv and executable list. 0: go on; -1 with PermissionError raised.
int check_fork_exec(PyObject* argv, PyObject* executables) noexcept;

// Installs the resolver wrapper once `_socket` is loaded (a connect to an
// address is matched against the names it was resolved from).
void install_wrappers() noexcept;

}  // namespace bluepython::capture::policy_gate
