// SPDX-License-Identifier: Apache-2.0
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string>
#include <string_view>

namespace bluepython::capture {

// A URL as events report it: the password of its user information and the
// values of query parameters whose names suggest a credential (token, secret,
// password, key, signature, auth, code, session, ...) replaced by
// "[REDACTED]"; everything else as given. Text that is not a URL comes back
// unchanged.
std::string safe_url(std::string_view url);

// Whether a query parameter's name suggests a credential (exposed for tests).
bool credential_name(std::string_view name) noexcept;

// _bluepython.safe_url(url: str) -> str (the hooks' HTTP requests).
PyObject* py_safe_url(PyObject* self, PyObject* url);

}  // namespace bluepython::capture
