// SPDX-License-Identifier: Apache-2.0
// Side effects the Python hooks of libraries report (bluepython_hooks/_http.py,
// _llm.py): what an HTTP client or an LLM SDK did, which no audit event says
// (the URL, the status, the tokens). They take the audit hook's path from
// the category switch on: the filters, the scope and the folding.
#include "capture/library_events.hpp"

#include <array>
#include <string>

#include "capture/event_args.hpp"
#include "capture/filters.hpp"
#include "capture/folding.hpp"
#include "config/config.hpp"
#include "pyapi/py_json.hpp"
#include "runtime/sensor.hpp"

namespace bluepython::capture {

PyObject* py_side_effect(PyObject* /*self*/, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 4 || !PyUnicode_Check(args[0]) || !PyUnicode_Check(args[1]) || !PyDict_Check(args[2])) {
    PyErr_SetString(PyExc_TypeError, "side_effect(name: str, category: str, attributes: dict, subject)");
    return nullptr;
  }
  const char* category_name = PyUnicode_AsUTF8(args[1]);
  if (category_name == nullptr) return nullptr;
  const auto cat = category_from_name(category_name);
  if (!cat) {
    PyErr_Format(PyExc_ValueError, "side_effect(): unknown category %R", args[1]);
    return nullptr;
  }
  const char* name = PyUnicode_AsUTF8(args[0]);
  if (name == nullptr) return nullptr;
  if (!sensor::settings().enabled(*cat)) Py_RETURN_FALSE;
  const busy_guard guard;
  if (!guard.entered()) Py_RETURN_FALSE;
  try {
    if (args[3] != Py_None) {
      const std::array<PyObject*, 1> subjects{args[3]};
      if (!passes(*cat, subjects)) Py_RETURN_FALSE;
    }
    std::string attrs;
    json_writer w(attrs, sensor::settings().limits);
    encode_python_value(w, args[2], false);
    if (attrs.size() < 2) Py_RETURN_FALSE;
    // The members without the braces, as the handlers write them.
    report(name, std::string_view(attrs).substr(1, attrs.size() - 2));
  } catch (...) {
    Py_RETURN_FALSE;  // out of memory: the event is lost, the app goes on
  }
  Py_RETURN_TRUE;
}

}  // namespace bluepython::capture
