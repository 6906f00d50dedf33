// SPDX-License-Identifier: Apache-2.0
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

namespace bluepython::import_monitor {

// The finder type `_bluepython.ImportMonitor`. Placed first on sys.meta_path,
// its find_spec asks the finders after it, in order, and returns the first
// spec they give, so imports resolve exactly as without it; on the way it
// emits python_import for the spec (name, kind, file). Hashing and the
// distribution lookup happen later, on the writer thread.
// Written in C so it adds no Python frame to import tracebacks.
extern PyTypeObject type;

// Called by the audit hook for the `import` event while the monitor is not
// yet installed (interpreter start-up): remembers the order of names.
void note_startup_import(PyObject* name) noexcept;

// Installs the monitor at sys.meta_path[0] and reports, from sys.modules, the
// modules imported before it was in place (phase "startup"). Returns false
// with a Python error set on failure.
bool install(PyObject* module);

[[nodiscard]] bool installed() noexcept;

}  // namespace bluepython::import_monitor
