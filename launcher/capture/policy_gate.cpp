// SPDX-License-Identifier: Apache-2.0
// The guardrail policy at run time (docs/policy.md): the checks the gates
// share, the violation event and what each mode does, the import lock, the
// resolver wrapper. The gates are in policy_gates.cpp, tools/call in
// policy_calls.cpp.
#include "capture/policy_gate.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "capture/event_args.hpp"
#include "capture/folding.hpp"
#include "capture/handlers.hpp"
#include "capture/policy_gate_detail.hpp"
#include "pipeline/json_writer.hpp"
#include "policy/paths.hpp"
#include "pyapi/call_context.hpp"
#include "pyapi/py_json.hpp"
#include "pyapi/py_ref.hpp"
#include "runtime/sensor.hpp"

#if PY_VERSION_HEX < 0x030B0000
#include <frameobject.h>
#endif

namespace bluepython::capture {
namespace policy_gate {
namespace {

using policy::op;

const policy::compiled_policy* g_policy = nullptr;

// ---- Paths ---------------------------------------------------------------
// Resolved real paths, kept for a short while: resolving costs a system
// call per component, and a loop opening the same files would pay it every
// time. Anything this process does that can change what a path resolves to
// (a rename, link, removal, a child process) empties the cache; a change
// made by another process is seen within kPathTtl. Guarded by the GIL.
struct cached_path {
  std::string resolved;
  std::chrono::steady_clock::time_point until;
};
constexpr auto kPathTtl = std::chrono::milliseconds(100);
constexpr std::size_t kPathCacheSize = 1024;
std::unordered_map<std::string, cached_path> g_paths;

}  // namespace

void forget_paths() noexcept { g_paths.clear(); }

std::string current_dir() {
  char buf[4096];
  return ::getcwd(buf, sizeof buf) != nullptr ? std::string(buf) : std::string("/");
}

namespace {

const std::string& real_path(const std::string& given) {
  const std::string key = given.starts_with('/') ? given : current_dir() + "/" + given;
  const auto now = std::chrono::steady_clock::now();
  if (auto it = g_paths.find(key); it != g_paths.end() && it->second.until > now) return it->second.resolved;
  if (g_paths.size() >= kPathCacheSize) g_paths.clear();
  auto& slot = g_paths[key];
  slot.resolved = policy::resolve_path(key, "/");
  slot.until = now + kPathTtl;
  return slot.resolved;
}

// An executable as the kernel would find it: a name without `/` looked up on
// PATH, then resolved.
std::string real_executable(const std::string& given) {
  if (given.empty()) return given;
  if (given.find('/') != std::string::npos) return policy::resolve_path(given, current_dir());
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    const auto colon = dirs.find(':');
    const std::string_view dir = dirs.substr(0, colon);
    const std::string candidate = fmt::format("{}/{}", dir.empty() ? std::string_view(".") : dir, given);
    if (::access(candidate.c_str(), X_OK) == 0) return policy::resolve_path(candidate, current_dir());
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  return given;  // not found: the name as given (a spawn of it fails anyway)
}

// ---- Names an address was resolved from ----------------------------------
constexpr std::size_t kAliasLimit = 4096;
std::unordered_map<std::string, std::vector<std::string>> g_aliases;  // address -> names; GIL

void note_alias(const std::string& address, const std::string& name) {
  if (g_aliases.size() >= kAliasLimit) g_aliases.clear();
  auto& names = g_aliases[address];
  for (const auto& n : names) {
    if (n == name) return;
  }
  if (names.size() < 16) names.push_back(name);
}

}  // namespace

// ---- The call in effect ----------------------------------------------------
namespace {
std::string_view dict_text(PyObject* dict, const char* key, std::string& storage) {
  PyObject* v = PyDict_GetItemString(dict, key);  // borrowed
  if (v == nullptr || !PyUnicode_Check(v)) return {};
  return python_str_view(v, storage);
}
}  // namespace

void current_scope(scope_now& out) {
  out.fields = py_ref(call_context::current_fields());
  if (!out.fields) return;
  out.scope.in_call = true;
  out.scope.server = dict_text(out.fields.get(), "server_name", out.storage_server);
  std::string method_storage;
  if (dict_text(out.fields.get(), "method", method_storage) == "tools/call") {
    out.scope.tool = dict_text(out.fields.get(), "target", out.storage_tool);
  }
}

namespace {

// ---- The violation event -----------------------------------------------------
// Where in the app the operation was asked for: the innermost frame that is
// not ours.
void write_origin(json_writer& w) {
  PyFrameObject* frame = PyEval_GetFrame();  // borrowed
  if (frame == nullptr) {
    w.null();
    return;
  }
  Py_INCREF(frame);
  for (int depth = 0; frame != nullptr && depth < 64; ++depth) {
    PyCodeObject* code = PyFrame_GetCode(frame);
    std::string storage;
    const std::string_view file = python_str_view(code->co_filename, storage);
    if (!file.starts_with("<bluepython>")) {
      w.begin_object();
      w.key("file");
      w.string(file);
      w.key("line");
      w.integer(PyFrame_GetLineNumber(frame));
      w.key("function");
      std::string name_storage;
      w.string(python_str_view(code->co_name, name_storage));
      w.end_object();
      Py_DECREF(code);
      Py_DECREF(frame);
      return;
    }
    Py_DECREF(code);
    PyFrameObject* back = PyFrame_GetBack(frame);
    Py_DECREF(frame);
    frame = back;
  }
  Py_XDECREF(frame);
  w.null();
}

[[noreturn]] void end_process(const policy::violation& v) noexcept {
  sensor::stop("policy_kill");
  try {
    const std::string line = fmt::format("bluepython: policy: {}; the process is ended (kill mode)\n", v.reason);
    (void)!::write(STDERR_FILENO, line.data(), line.size());
  } catch (...) {
    constexpr std::string_view fallback = "bluepython: policy: the process is ended (kill mode)\n";
    (void)!::write(STDERR_FILENO, fallback.data(), fallback.size());
  }
  ::kill(::getpid(), SIGKILL);
  ::_exit(137);
}

}  // namespace

// ---- Gate helpers ------------------------------------------------------------

bool limited(op o) noexcept { return g_policy != nullptr && g_policy->limits(o); }

std::string subject_json(std::initializer_list<std::pair<const char*, std::string_view>> members, op o) {
  std::string out;
  json_writer w(out, sensor::settings().limits);
  w.key("kind");
  w.string(policy::subject_name(policy::subject_of(o)));
  w.key("op");
  w.string(policy::op_name(o));
  for (const auto& [k, v] : members) {
    if (v.data() == nullptr) continue;
    w.key(k);
    w.string(v);
  }
  return out;
}

int check_one(const policy::operation& o, const scope_now& where, std::string_view subject) {
  const auto v = g_policy->check(o, where.scope);
  if (!v) return 0;
  return act(*v, subject, PyExc_PermissionError, o.text);
}

// A file operation on `given` (a path argument).
int check_path(op o, PyObject* given_obj, const scope_now& where, std::string_view via) {
  if (!limited(o) || given_obj == nullptr || PyLong_Check(given_obj)) return 0;
  const std::string given = text_of(given_obj);
  if (given.empty()) return 0;
  const std::string& resolved = real_path(given);
  policy::operation x;
  x.what = o;
  x.text = resolved;
  const auto v = g_policy->check(x, where.scope);
  if (!v) return 0;
  return act(*v, subject_json({{"path", resolved}, {"given", given == resolved ? std::string_view{} : given}, {"via", via}}, o),
             PyExc_PermissionError, resolved);
}

std::string join_args(PyObject* argv, std::string& first) {
  std::string joined;
  if (argv == nullptr || argv == Py_None) return joined;
  if (!PyList_Check(argv) && !PyTuple_Check(argv)) {
    first = text_of(argv);
    return joined;
  }
  const py_ref items(PySequence_Fast(argv, "argv"));
  if (!items) {
    PyErr_Clear();
    return joined;
  }
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(items.get());
  for (Py_ssize_t i = 0; i < n; ++i) {
    std::string item = text_of(PySequence_Fast_GET_ITEM(items.get(), i));
    if (i == 0) {
      first = std::move(item);
      continue;
    }
    if (i > 1) joined += ' ';
    joined += item;
  }
  return joined;
}

int check_spawn(const std::string& exe_given, const std::string& argv0, const std::string& args, std::string_view via) {
  if (!limited(op::spawn)) return 0;
  scope_now where;
  current_scope(where);
  const std::string resolved = real_executable(exe_given.empty() ? argv0 : exe_given);
  policy::operation x;
  x.what = op::spawn;
  x.text = resolved;
  x.name = argv0;
  x.args = args;
  const auto v = g_policy->check(x, where.scope);
  if (!v) return 0;
  return act(*v, subject_json({{"executable", resolved}, {"argv0", argv0}, {"args", args}, {"via", via}}, op::spawn),
             PyExc_PermissionError, resolved);
}

int check_endpoint(op o, const std::string& host, int port, std::string_view via) {
  if (!limited(o) || host.empty()) return 0;
  scope_now where;
  current_scope(where);
  policy::operation x;
  x.what = o;
  x.text = host;
  x.port = port;
  if (const auto it = g_aliases.find(host); it != g_aliases.end()) x.aliases = it->second;
  const auto v = g_policy->check(x, where.scope);
  if (!v) return 0;
  const std::string port_text = port >= 0 ? std::to_string(port) : std::string();
  return act(*v,
             subject_json({{"host", host}, {"port", port >= 0 ? std::string_view(port_text) : std::string_view{}},
                           {"names", x.aliases.empty() ? std::string_view{} : std::string_view(x.aliases.front())},
                           {"via", via}},
                          o),
             PyExc_PermissionError, port >= 0 ? fmt::format("{}:{}", host, port) : host);
}

int port_of(PyObject* v) {
  if (v == nullptr || v == Py_None) return -1;
  if (PyLong_Check(v)) {
    const long p = PyLong_AsLong(v);
    if (p == -1 && PyErr_Occurred() != nullptr) PyErr_Clear();
    return p >= 0 && p <= 65535 ? static_cast<int>(p) : -1;
  }
  const std::string text = text_of(v);
  if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::atoi(text.c_str());
}

namespace {

// ---- The resolver wrapper ------------------------------------------------------
bool g_resolver_wrapped = false;

PyObject* getaddrinfo_wrapper(PyObject* original, PyObject* args, PyObject* kwargs) {
  PyObject* result = PyObject_Call(original, args, kwargs);
  if (result == nullptr || !PyList_Check(result) || !PyTuple_Check(args) || PyTuple_GET_SIZE(args) < 1) return result;
  const busy_guard guard;
  const std::string host = text_of(PyTuple_GET_ITEM(args, 0));
  if (host.empty() || policy::parse_ip(host)) return result;
  try {
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(result); ++i) {
      PyObject* entry = PyList_GET_ITEM(result, i);
      if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) < 5) continue;
      PyObject* sockaddr = PyTuple_GET_ITEM(entry, 4);
      if (!PyTuple_Check(sockaddr) || PyTuple_GET_SIZE(sockaddr) < 1) continue;
      const std::string address = text_of(PyTuple_GET_ITEM(sockaddr, 0));
      if (!address.empty()) note_alias(address, host);
    }
  } catch (...) {
  }
  return result;
}

PyMethodDef getaddrinfo_def = {"getaddrinfo",
                               reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&getaddrinfo_wrapper)),
                               METH_VARARGS | METH_KEYWORDS, "_socket.getaddrinfo, observed by bluepython."};

}  // namespace

void init(const policy::compiled_policy* compiled) noexcept { g_policy = compiled; }

const policy::compiled_policy* active() noexcept { return g_policy; }

int act(const policy::violation& v, std::string_view subject_members, PyObject* exc_type, std::string_view about,
        std::string_view module_name) noexcept {
  try {
    const char* action = v.effective == policy::mode::observe ? "recorded"
                         : v.effective == policy::mode::kill  ? "killed"
                                                              : "denied";
    std::string attrs;
    json_writer w(attrs, sensor::settings().limits);
    w.key("rule");
    w.string(v.rule_id);
    w.key("mode");
    w.string(policy::mode_name(v.effective));
    w.key("action");
    w.string(action);
    w.key("reason");
    w.string(v.reason);
    if (v.by != nullptr && !v.by->why.empty()) {
      w.key("why");
      w.string(v.by->why);
    }
    w.key("subject");
    attrs += '{';
    attrs += subject_members;
    attrs += '}';
    w.key("origin");
    write_origin(w);
    report_unfolded("python_policy_violation", attrs);
  } catch (...) {
    // The event is lost; the decision still stands.
  }
  switch (v.effective) {
    case policy::mode::observe: return 0;
    case policy::mode::kill: end_process(v);
    case policy::mode::enforce: break;
  }
  std::string message;
  const char* text = "bluepython policy: denied";
  try {
    message = about.empty() ? fmt::format("bluepython policy: {}", v.reason)
                            : fmt::format("bluepython policy: {}: {}", v.reason, about);
    text = message.c_str();
  } catch (...) {
    // Out of memory: the short message still tells the tool why.
  }
  if (exc_type == PyExc_ImportError) {
    const py_ref msg(PyUnicode_FromString(text));
    const py_ref name(PyUnicode_FromStringAndSize(module_name.data(), static_cast<Py_ssize_t>(module_name.size())));
    if (msg && name) PyErr_SetImportError(msg.get(), name.get(), nullptr);
    return -1;
  }
  const py_ref error(PyObject_CallFunction(exc_type, "is", EACCES, text));
  if (error) PyErr_SetObject(exc_type, error.get());
  return -1;
}

int check_import(std::string_view module, const std::string& file) noexcept {
  if (g_policy == nullptr || !g_policy->has_import_lock()) return 0;
  try {
    std::string digest;
    if (!file.empty()) {
      const auto sum = sha256_file(file);
      if (sum) digest = to_hex(*sum);
    }
    const auto v = g_policy->check_import(module, digest);
    if (!v) return 0;
    std::string subject;
    json_writer w(subject, sensor::settings().limits);
    w.key("kind");
    w.string("imports");
    w.key("op");
    w.string("import");
    w.key("module");
    w.string(module);
    if (!file.empty()) {
      w.key("file");
      w.string(file);
      w.key("sha256");
      w.string(digest);
    }
    return act(*v, subject, PyExc_ImportError, {}, module);
  } catch (...) {
    return 0;
  }
}

void install_wrappers() noexcept {
  if (g_resolver_wrapped || g_policy == nullptr || !g_policy->limits(op::connect)) return;
  PyObject* modules = PyImport_GetModuleDict();  // borrowed
  PyObject* sock = modules != nullptr ? PyDict_GetItemString(modules, "_socket") : nullptr;
  if (sock == nullptr) return;
  g_resolver_wrapped = true;
  const saved_exception saved;
  const py_ref original(PyObject_GetAttrString(sock, "getaddrinfo"));
  if (!original || !PyCFunction_Check(original.get())) return;
  const py_ref module_name(PyObject_GetAttrString(sock, "__name__"));
  const py_ref wrapper(module_name ? PyCFunction_NewEx(&getaddrinfo_def, original.get(), module_name.get()) : nullptr);
  if (wrapper) (void)PyObject_SetAttrString(sock, "getaddrinfo", wrapper.get());
}

int check_fork_exec(PyObject* argv, PyObject* executables) noexcept {
  if (!limited(op::spawn)) return 0;
  const busy_guard guard;
  try {
    forget_paths();
    std::string argv0;
    const std::string joined = join_args(argv, argv0);
    // fork_exec tries each of its executables in turn (subprocess passes the
    // PATH candidates); the first names what is started.
    const py_ref first = first_of(executables);
    const std::string exe = first ? text_of(first.get()) : std::string();
    return check_spawn(exe, argv0, joined, "_posixsubprocess.fork_exec");
  } catch (...) {
    return 0;
  }
}

}  // namespace policy_gate

}  // namespace bluepython::capture
