// SPDX-License-Identifier: Apache-2.0
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

namespace bluepython::audit_hook {

// Registers the native audit hook with PySys_AddAuditHook. Must run before
// the interpreter is pre-initialized so start-up itself is seen.
// Returns false if CPython refused.
bool install() noexcept;

// The hook. Checks the event name first and returns at once for everything it
// does not handle; always returns 0 (it observes, it does not deny).
int on_event(const char* event, PyObject* args, void* user_data) noexcept;

}  // namespace bluepython::audit_hook
