// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>

#include "capture/audit_events.hpp"

// The handlers the audit event table names, one file per category:
// process_events.cpp, file_events.cpp, db_events.cpp, network_events.cpp, code_events.cpp;
// the hook's own (run, import) in audit_hook.cpp. Internal to capture/.
namespace bluepython::capture {

// Any category: `reports` with "via" and the row's members.
void report_members(const audit_event& e, PyObject* args);

// process
bool popen_seen(const audit_event& e, PyObject* args);
bool posix_spawn_seen(const audit_event& e, PyObject* args);
void popen_spawn(const audit_event& e, PyObject* args);
void exec_spawn(const audit_event& e, PyObject* args);  // os.exec, os.posix_spawn
void os_spawn(const audit_event& e, PyObject* args);
void pty_spawn(const audit_event& e, PyObject* args);
void system_spawn(const audit_event& e, PyObject* args);
void process_fork(const audit_event& e, PyObject* args);
// Whether a subprocess.Popen was seen in this thread and its fork_exec has
// not happened yet; clears it.
bool take_popen_pending() noexcept;
void process_signal(const audit_event& e, PyObject* args);  // os.kill, os.killpg
// A spawn's event (attributes, argv[0]'s base name) waits for the child's pid:
// the fork_exec or posix_spawn wrapper calls child_started with what the
// call returned (the pid, or nullptr with the error set, which stays set).
void wait_for_child(std::string attrs, std::string program);
void child_started(PyObject* result) noexcept;

// files
bool open_wanted(const audit_event& e, PyObject* args);
bool change_wanted(const audit_event& e, PyObject* args);
void file_open(const audit_event& e, PyObject* args);
void file_change(const audit_event& e, PyObject* args);

// files: sqlite3 (db_events.cpp)
void sqlite_connect(const audit_event& e, PyObject* args);
bool sqlite_opened_wanted(const audit_event& e, PyObject* args);
void sqlite_opened(const audit_event& e, PyObject* args);

// network
void socket_address(const audit_event& e, PyObject* args);
void url_request(const audit_event& e, PyObject* args);  // urllib.Request

// code
bool compile_wanted(const audit_event& e, PyObject* args);
bool marshal_wanted(const audit_event& e, PyObject* args);
void compile_source(const audit_event& e, PyObject* args);
void marshal_loads(const audit_event& e, PyObject* args);

// policy gates (policy_gate.cpp): 0 lets the occurrence happen, -1 (with
// an exception set) makes it fail
int gate_open(const audit_event& e, PyObject* args);
int gate_paths(const audit_event& e, PyObject* args);   // the row's guards: (op, path argument)
int gate_spawn(const audit_event& e, PyObject* args);   // guards[0]: executable argument, argv argument
int gate_system(const audit_event& e, PyObject* args);  // os.system: the shell
int gate_socket(const audit_event& e, PyObject* args);  // guards[0]: (connect/bind, address argument)
int gate_host(const audit_event& e, PyObject* args);    // guards[0]: (op, host argument, port argument)
int gate_code(const audit_event& e, PyObject* args);    // guards[0]: (op, subject argument, name argument)

// the hook's own
void program_run(const audit_event& e, PyObject* args);
void module_import(const audit_event& e, PyObject* args);

}  // namespace bluepython::capture
