// SPDX-License-Identifier: Apache-2.0
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "config/config.hpp"
#include "policy/policy.hpp"

// The one table of the audit events bluepython handles (audit_events.cpp):
// for each PEP 578 event name, its category, what reports it, how its
// arguments name a subject for include/exclude, and the members it reports.
// The hook's prefilter is computed from the same table at compile time, so
// adding a row is the whole change: nothing else lists event names.
namespace bluepython::capture {

struct audit_event;

// Reports one occurrence (the category is on, the event is wanted and passed
// the filters). Needs the GIL; may throw std::bad_alloc (the hook catches).
using handler_fn = void (*)(const audit_event& event, PyObject* args);
// Whether an occurrence is the app's doing (noise rules by origin); nullptr
// in the table: always.
using wanted_fn = bool (*)(const audit_event& event, PyObject* args);
// Runs for every occurrence while the category is on, before the wanted and
// filter checks (subprocess.Popen marks the spawn as announced, so the
// fork_exec that follows is not reported again); false: nothing more to do.
using seen_fn = bool (*)(const audit_event& event, PyObject* args);

// Checks one occurrence against the guardrail policy (capture/policy_gate):
// 0 to let it happen, -1 with PermissionError set to make it fail. Runs
// before the handler, whatever the categories, when the policy limits the
// row's operation.
using gate_fn = int (*)(const audit_event& event, PyObject* args);

// Which operation of the policy an argument is the subject of (a path, an
// executable, an address); `extra`: a second argument the gate reads (argv,
// a port, a name).
struct guard_spec {
  policy::op op = policy::op::read;
  std::int8_t index = -1;
  std::int8_t extra = -1;
};

// How an argument names what the event is about, for the category's
// include/exclude patterns.
enum class subject_kind : std::uint8_t {
  none,
  arg,       // the argument itself (path, URL, host, command)
  first_of,  // the first item of an argv list (or the argument itself)
  host_of,   // the host of a socket address tuple
};
struct subject_spec {
  subject_kind kind = subject_kind::none;
  std::int8_t index = -1;
};

// A reported member taken from an argument: "key": args[index].
struct member_spec {
  const char* key = nullptr;
  std::int8_t index = -1;
};

// Which events are not side effects but the hook's own bookkeeping.
enum class gate : std::uint8_t {
  category,  // reported when `cat` is on
  always,    // handled whatever the categories (start of the program, imports)
};

struct audit_event {
  std::string_view name;
  gate when = gate::category;
  category cat = category::code;
  handler_fn handle = nullptr;
  wanted_fn wanted = nullptr;
  seen_fn seen = nullptr;
  const char* reports = nullptr;  // the bluepython event it becomes
  const char* op = nullptr;       // python_file_change: the operation
  std::array<member_spec, 2> members{};
  std::array<subject_spec, 2> subjects{};
  bool flush_after = false;  // os.exec: everything emitted so far goes to disk first
  // A child process starts: the handoff file is published first (whatever
  // the categories), for a bluepython child with a scrubbed environment.
  bool starts_child = false;
  gate_fn check = nullptr;  // the policy check; nullptr: no operation of the policy
  std::array<guard_spec, 2> guards{};
};

// The row for an audit event name, or nullptr. The hot path: most names the
// interpreter raises (object.__getattr__, sys._getframe, builtins.id, exec)
// are refused by a bit test on their first two characters.
const audit_event* find_audit_event(const char* name) noexcept;

// All rows (docs, tests).
std::span<const audit_event> audit_events() noexcept;

}  // namespace bluepython::capture
