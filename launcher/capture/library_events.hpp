// SPDX-License-Identifier: Apache-2.0
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

namespace bluepython::capture {

// _bluepython.side_effect(name, category, attributes, subject) -> bool: a
// side effect a library hook saw (an HTTP client's request, an LLM SDK's
// call), reported as the audit hook reports its own: only while `category`
// is on, through its include/exclude patterns (matched on `subject`: a URL,
// a host; None names nothing), with the scope context and folding of
// repeats within a call. False when it was left out. Raises TypeError or
// ValueError for bad arguments only.
PyObject* py_side_effect(PyObject* self, PyObject* const* args, Py_ssize_t nargs);

// _bluepython.urllib_hooked(): the hooks report urllib's requests from now on
// (with their status); the urllib.Request audit event no longer does
// (network_events.cpp).
PyObject* py_urllib_hooked(PyObject* self, PyObject* unused);

}  // namespace bluepython::capture
