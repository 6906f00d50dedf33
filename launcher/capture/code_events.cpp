// SPDX-License-Identifier: Apache-2.0
// Side effects of the code category that need more than their arguments:
// code compiled from a string (with a preview of the source) and marshal.loads
// outside the import system. pickle, ctypes and sqlite3 extension loading go
// through report_members.
#include <algorithm>
#include <string>
#include <string_view>

#include "capture/event_args.hpp"
#include "capture/folding.hpp"
#include "capture/handlers.hpp"
#include "capture/origin.hpp"
#include "pyapi/py_json.hpp"
#include "runtime/sensor.hpp"

namespace bluepython::capture {
namespace {

constexpr std::size_t kSourcePreview = 1024;

}  // namespace

void compile_source(const audit_event& e, PyObject* args) {
  PyObject* source = arg(args, 0);
  event_attrs a(e.name);
  json_writer& w = a.w;
  w.key("filename");
  value_or_null(w, arg(args, 1));
  std::string_view text;
  std::string storage;
  if (source != nullptr && PyBytes_Check(source)) {
    text = std::string_view(PyBytes_AS_STRING(source), static_cast<std::size_t>(PyBytes_GET_SIZE(source)));
  } else if (source != nullptr && PyUnicode_Check(source)) {
    text = python_str_view(source, storage);
  }
  w.key("source");
  if (source == nullptr || source == Py_None) {
    w.null();  // compiled from an AST
  } else {
    json_limits preview = w.limits();
    preview.max_string_bytes = std::min(preview.max_string_bytes, kSourcePreview);
    std::string piece;
    json_writer p(piece, preview);
    p.string(text);
    w.raw(piece);
  }
  w.key("source_bytes");
  w.integer(static_cast<std::int64_t>(text.size()));
  report(e.reports, a.text);
}

bool compile_wanted(const audit_event& /*e*/, PyObject* args) {
  PyObject* source = arg(args, 0);
  if (source == nullptr || source == Py_None) return false;  // parsed from a file
  if (in_installation(arg(args, 1))) return false;           // the source of an installed module
  return origin_of_caller() == origin::app;
}

bool marshal_wanted(const audit_event& /*e*/, PyObject* /*args*/) {
  const origin o = origin_of_caller();
  return o != origin::import_system && o != origin::interpreter;
}

void marshal_loads(const audit_event& e, PyObject* args) {
  PyObject* data = arg(args, 0);
  event_attrs a(e.name);
  json_writer& w = a.w;
  w.key("bytes");
  if (data != nullptr && PyBytes_Check(data)) {
    w.integer(PyBytes_GET_SIZE(data));
  } else {
    w.null();
  }
  report(e.reports, a.text);
}

}  // namespace bluepython::capture
