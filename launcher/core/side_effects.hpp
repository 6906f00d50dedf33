// SPDX-License-Identifier: Apache-2.0
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

namespace bluepython::side_effects {

// What the app's code does, reported from the native audit hook, each event
// attributed: context.scope is "call" (with context.mcp, the MCP call in
// effect in the thread or task that raised it), "startup" (before the
// process's first MCP session opened) or "background" (after, outside any
// call).

// Process category: subprocess.Popen, os.system, os.exec, os.posix_spawn,
// os.spawn, pty.spawn (python_process_spawn), os.fork, os.forkpty
// (python_process_fork), os.kill, os.killpg (python_process_signal).
// `event` is the audit event name; returns true when it was one of these.
// Needs the GIL (as every audit hook call has); never raises.
bool on_process_event(const char* event, PyObject* args) noexcept;

// From the first MCP session on, side effects outside a call are
// "background" rather than "startup".
void mark_serving() noexcept;

}  // namespace bluepython::side_effects
