// SPDX-License-Identifier: Apache-2.0
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string>
#include <string_view>

#include "pipeline/json_writer.hpp"

namespace bluepython {

// Encodes a Python object as JSON into `w`: dict (keys made strings), list,
// tuple, set, str, bytes, int, float, bool, None; anything else as its str().
// Never raises: Python errors met on the way are cleared and the value is
// written as a placeholder string. Limits: depth and items per container from
// the writer's json_limits (the rest is cut with a marker). Requires the GIL.
// `binary_summary`: MCP base64 payloads (`data` of a dict whose `type` is
// image/audio, any `blob` string) are written as {"bluepython_omitted":
// "base64","base64_chars":N,"bytes":M} instead of their text.
// Encoding runs app code (str() of objects, of dict keys); lists and dicts
// changed by it meanwhile are safe. `value` itself must stay alive: pass a
// strong reference, or an item of an immutable container that is held.
void encode_python_value(json_writer& w, PyObject* value, bool binary_summary = false);

// UTF-8 view of a str, repairing lone surrogates (lossy). `storage` keeps the
// bytes alive when a conversion was needed. Never raises.
std::string_view python_str_view(PyObject* str, std::string& storage);

}  // namespace bluepython
