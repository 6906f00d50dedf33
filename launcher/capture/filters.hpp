// SPDX-License-Identifier: Apache-2.0
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <span>
#include <string>
#include <vector>

#include "capture/audit_events.hpp"
#include "config/config.hpp"

// The include/exclude patterns of a category (config: "<category>":
// {"include": [...], "exclude": [...]}), applied to what an event names:
// paths, hosts, URLs, executables, library names. Every capture path of a
// category (the audit hook and the spawn wrappers) decides through here.
namespace bluepython::capture {

// Whether `subject` matches one of the shell-style patterns (fnmatch).
bool matches_any(const std::vector<std::string>& patterns, const std::string& subject);
// The decision for subjects given as text: an empty text names nothing; an
// event that names nothing is never filtered out; an excluded subject filters
// it out; with include patterns, one subject must match.
bool passes(const pattern_filter& filter, std::span<const std::string> subjects);
// The same for Python objects (str, bytes, path-like). Needs the GIL.
bool passes(category c, std::span<PyObject* const> subjects);
// An audit event occurrence, its subjects taken as the table row says.
bool passes(const audit_event& e, PyObject* args);

}  // namespace bluepython::capture
