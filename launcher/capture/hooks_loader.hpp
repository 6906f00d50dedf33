// SPDX-License-Identifier: Apache-2.0
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

// Loading the built-in MCP hooks lazily: nothing runs until the app first
// imports `mcp` or `fastmcp`. At that moment (inside the import monitor's
// find_spec, before the package executes) the embedded importer is put on
// sys.meta_path and bluepython_hooks.activate() registers the post-import
// hooks. All functions need the GIL and never raise; faults become
// python_internal_exception events and the app runs on.
namespace bluepython::hooks_loader {

// Called once at bootstrap when the mcp category is on: activation is now
// pending; if mcp or fastmcp is already imported (a .pth file), it happens now.
void arm() noexcept;

// Called by the import monitor for each module name it is asked about.
// Cheap for every name but the first `mcp`/`fastmcp` (or a submodule).
void on_find_spec(PyObject* fullname) noexcept;

}  // namespace bluepython::hooks_loader
