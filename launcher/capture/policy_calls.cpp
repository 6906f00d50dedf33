// SPDX-License-Identifier: Apache-2.0
// The policy's checks of a tools/call (docs/policy.md): tool allow/deny lists,
// argument rules, tool pins; asked by the MCP hooks before a handler runs.
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "capture/event_args.hpp"
#include "capture/policy_gate.hpp"
#include "capture/policy_gate_detail.hpp"
#include "pipeline/json_writer.hpp"
#include "pyapi/py_json.hpp"
#include "pyapi/py_ref.hpp"

namespace bluepython::capture::policy_gate {

using policy::op;

namespace {

policy::argument_value value_at(PyObject* root, const std::vector<std::string>& tokens) {
  PyObject* cur = root;  // borrowed along the way
  for (const std::string& token : tokens) {
    if (cur == nullptr) break;
    if (PyDict_Check(cur)) {
      cur = PyDict_GetItemString(cur, token.c_str());
    } else if (PyList_Check(cur)) {
      if (token.empty() || token.find_first_not_of("0123456789") != std::string::npos || token.size() > 9) return {};
      const auto at = static_cast<Py_ssize_t>(std::stol(token));
      cur = at < PyList_GET_SIZE(cur) ? PyList_GET_ITEM(cur, at) : nullptr;
    } else {
      return {};
    }
  }
  policy::argument_value out;
  if (cur == nullptr) return out;
  if (PyUnicode_Check(cur)) {
    out.kind = policy::argument_value::string;
    std::string storage;
    out.text = std::string(python_str_view(cur, storage));
  } else if (PyBool_Check(cur)) {
    out.kind = policy::argument_value::boolean;
    out.text = cur == Py_True ? "true" : "false";
  } else if (PyLong_Check(cur) || PyFloat_Check(cur)) {
    out.kind = policy::argument_value::number;
    out.numeric = PyFloat_AsDouble(cur);
    if (PyErr_Occurred() != nullptr) PyErr_Clear();
  } else if (cur == Py_None) {
    out.kind = policy::argument_value::null;
  } else {
    out.kind = policy::argument_value::other;
  }
  return out;
}

// A tool's latest definition digest, and whether the server registered it
// (FastMCP, fastmcp, MCPServer) or only listed it (a low-level Server's
// tools/list answer: used only for tools never registered). Under the GIL.
struct tool_definition {
  std::string digest;
  bool registered = false;
};
std::unordered_map<std::string, tool_definition> g_tool_digests;

nlohmann::json as_json(PyObject* v) {
  if (v == nullptr || v == Py_None) return nullptr;
  std::string text;
  json_writer w(text, json_limits{});
  encode_python_value(w, v);
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

}  // namespace

PyObject* py_checks_calls(PyObject* /*self*/, PyObject* /*unused*/) {
  const policy::compiled_policy* g_policy = active();
  return PyBool_FromLong(g_policy != nullptr && g_policy->checks_calls() ? 1 : 0);
}

PyObject* py_note_tool_definition(PyObject* /*self*/, PyObject* const* args, Py_ssize_t nargs) {
  if ((nargs != 3 && nargs != 4) || !PyUnicode_Check(args[0])) {
    PyErr_SetString(PyExc_TypeError, "note_tool_definition(name: str, description, input_schema, listed=False)");
    return nullptr;
  }
  const policy::compiled_policy* g_policy = active();
  if (g_policy == nullptr || !g_policy->has_tool_pins()) Py_RETURN_NONE;
  const int listed = nargs == 4 ? PyObject_IsTrue(args[3]) : 0;
  if (listed < 0) return nullptr;
  try {
    std::string storage;
    const std::string name(python_str_view(args[0], storage));
    tool_definition& d = g_tool_digests[name];
    if (listed != 0 && d.registered) Py_RETURN_NONE;
    d.digest = policy::definition_digest(name, as_json(args[1]), as_json(args[2]));
    d.registered = listed == 0;
  } catch (...) {
    return PyErr_NoMemory();
  }
  Py_RETURN_NONE;
}

PyObject* py_check_call(PyObject* /*self*/, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "policy_check_call(name, arguments)");
    return nullptr;
  }
  const policy::compiled_policy* g_policy = active();
  if (g_policy == nullptr || !g_policy->checks_calls()) Py_RETURN_NONE;
  const busy_guard guard;
  int outcome = 0;
  try {
    std::string storage;
    const std::string name = PyUnicode_Check(args[0]) ? std::string(python_str_view(args[0], storage)) : std::string();
    scope_now where;
    current_scope(where);
    if (where.scope.tool.empty()) where.scope.tool = name;
    where.scope.in_call = true;
    std::optional<policy::violation> v;
    std::string subject = subject_json({{"tool", name}}, op::call);
    policy::operation x;
    x.what = op::call;
    x.text = name;
    v = g_policy->check(x, where.scope);
    if (!v) {
      PyObject* arguments = args[1];
      v = g_policy->check_arguments(where.scope, [arguments](const std::vector<std::string>& tokens) {
        return value_at(arguments, tokens);
      });
    }
    if (!v && g_policy->has_tool_pins()) {
      const auto it = g_tool_digests.find(name);
      const std::string digest = it == g_tool_digests.end() ? std::string() : it->second.digest;
      v = g_policy->check_tool_pin(name, digest);
      if (v && !digest.empty()) subject = subject_json({{"tool", name}, {"definition", digest}}, op::call);
    }
    if (!v) Py_RETURN_NONE;
    outcome = act(*v, subject, PyExc_PermissionError, name);
    if (outcome == 0) Py_RETURN_NONE;
    PyErr_Clear();  // the hook answers with an error result instead
    const std::string message = fmt::format("bluepython policy: {}", v->reason);
    return PyUnicode_FromStringAndSize(message.data(), static_cast<Py_ssize_t>(message.size()));
  } catch (...) {
    return PyErr_NoMemory();
  }
}

}  // namespace bluepython::capture::policy_gate
