// SPDX-License-Identifier: Apache-2.0
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

namespace bluepython::capture {

// _bluepython.wrap_sqlite_connect(connect): sqlite3.connect wrapped natively
// (no Python frame added). The connection it returns, when it was just
// reported (python_file_open via sqlite3.connect/handle, not read-only), gets
// the trace callback that reports its writes: it cannot be set earlier, the
// audit events of the connect come before Connection.__init__ ends.
PyObject* py_wrap_sqlite_connect(PyObject* self, PyObject* original);

}  // namespace bluepython::capture
