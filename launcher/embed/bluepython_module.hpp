// SPDX-License-Identifier: Apache-2.0
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string>

namespace bluepython::module {

// Init function for the built-in module `_bluepython`, registered with
// PyImport_AppendInittab before the interpreter starts. It is the bridge the
// bundled Python hooks call: emit(), flush(), enabled(), config_json(), ...
PyObject* init();

// Runs once the interpreter is up, before the app's first instruction:
// installs the import monitor, fork and os._exit handling and the signal
// handlers. Fails open: any error becomes a python_internal_exception event.
void bootstrap() noexcept;

}  // namespace bluepython::module
