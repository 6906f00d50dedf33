// SPDX-License-Identifier: Apache-2.0
#include "side_effects.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <unistd.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <atomic>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bluepython_module.hpp"
#include "config.hpp"
#include "json_writer.hpp"
#include "py_json.hpp"
#include "sensor.hpp"

namespace bluepython::side_effects {
namespace {

// Room for a typical event's attributes: one allocation, no regrowth.
constexpr std::size_t kAttrsReserve = 512;

std::atomic<bool> g_program{false};  // cpython.run_* seen: the main program runs
std::atomic<bool> g_serving{false};  // an MCP session opened

// Encoding an argument can run Python code (str() of a path-like, keys() of
// an environment mapping), which can raise audit events of its own: those
// are not reported (they are ours, not the app's).
thread_local bool t_busy = false;

struct busy_guard {
  bool entered = !t_busy;
  busy_guard() noexcept {
    if (entered) t_busy = true;
  }
  busy_guard(const busy_guard&) = delete;
  busy_guard& operator=(const busy_guard&) = delete;
  ~busy_guard() {
    if (entered) t_busy = false;
  }
};

PyObject* arg(PyObject* args, Py_ssize_t i) noexcept {
  if (args == nullptr || !PyTuple_Check(args) || PyTuple_GET_SIZE(args) <= i) return nullptr;
  return PyTuple_GET_ITEM(args, i);
}

void value_or_null(json_writer& w, PyObject* v) {
  if (v == nullptr) {
    w.null();
  } else {
    encode_python_value(w, v);
  }
}

// One JSON value appended to `out` (value_or_null), with a shortcut for the
// common case of a plain ASCII str within the string limit (paths, modes):
// its bytes are the UTF-8 text.
void text_or_null(std::string& out, const json_limits& limits, PyObject* v) {
  if (v != nullptr && PyUnicode_CheckExact(v) && PyUnicode_IS_COMPACT_ASCII(v) &&
      static_cast<std::size_t>(PyUnicode_GET_LENGTH(v)) <= limits.max_string_bytes) {
    const std::string_view text(static_cast<const char*>(PyUnicode_DATA(v)),
                                static_cast<std::size_t>(PyUnicode_GET_LENGTH(v)));
    out += '"';
    json_writer::append_escaped(out, text, text.size());
    out += '"';
    return;
  }
  json_writer w(out, limits);
  value_or_null(w, v);
}

// The text of a plain ASCII str (exactly str, compact, nothing to escape) of
// at most `max` bytes; empty otherwise.
std::string_view plain_ascii(PyObject* v, std::size_t max) noexcept {
  if (v == nullptr || !PyUnicode_CheckExact(v) || !PyUnicode_IS_COMPACT_ASCII(v)) return {};
  const std::string_view text(static_cast<const char*>(PyUnicode_DATA(v)), static_cast<std::size_t>(PyUnicode_GET_LENGTH(v)));
  return text.size() <= max && json_writer::is_plain(text) ? text : std::string_view{};
}

// argv as a JSON array: a single program (str, bytes, path-like) becomes a
// one-item array.
void argv_array(json_writer& w, PyObject* v) {
  if (v == nullptr || v == Py_None) {
    w.null();
  } else if (PyList_Check(v) || PyTuple_Check(v)) {
    encode_python_value(w, v);
  } else {
    w.begin_array();
    encode_python_value(w, v);
    w.end_array();
  }
}

// The first item of argv, for an event whose executable is implicit.
PyObject* first_of(PyObject* v) noexcept {
  if (v != nullptr && (PyList_Check(v) || PyTuple_Check(v))) {
    return PySequence_Fast_GET_SIZE(v) > 0 ? PySequence_Fast_GET_ITEM(v, 0) : nullptr;
  }
  return v;
}

// The names of an environment passed explicitly (never the values); null
// when the child inherits the parent's.
void env_names(json_writer& w, PyObject* env) {
  if (env == nullptr || env == Py_None) {
    w.null();
    return;
  }
  PyObject* keys = PyMapping_Keys(env);
  if (keys == nullptr) {
    PyErr_Clear();
    w.null();
    return;
  }
  encode_python_value(w, keys);
  Py_DECREF(keys);
}

// The context members of a side-effect event: where it happened. Inside a
// call, a per-thread buffer; outside, constant text.
std::string_view scope_context() {
  thread_local std::string context;
  if (module::current_call_json(context)) {
    context.insert(0, "\"scope\":\"call\",");
    return context;
  }
  return g_serving.load(std::memory_order_relaxed)   ? R"("scope":"background")"
         : g_program.load(std::memory_order_relaxed) ? R"("scope":"startup")"
                                                     : R"("scope":"interpreter")";
}

// Folding: an event repeated identically (same name and attributes) within
// one MCP call is written the first time; the repeats are counted and written
// once more, with "repeated": N, when the call ends. Keyed by call_id; at most
// kFoldKeys distinct events per call are tracked (beyond, events pass
// unfolded). Guarded by the GIL.
struct fold_entry {
  std::string name;
  std::string attrs;
  std::string context;
  std::uint64_t repeats = 0;
};
constexpr std::size_t kFoldKeys = 256;
constexpr std::size_t kFoldCalls = 1024;
std::unordered_map<std::string, std::unordered_map<std::string, fold_entry>> g_folds;

// The call_id member of a context.mcp JSON text.
std::string_view call_id_of(std::string_view context) noexcept {
  constexpr std::string_view key = "\"call_id\":\"";
  const auto at = context.find(key);
  if (at == std::string_view::npos) return {};
  const auto start = at + key.size();
  const auto end = context.find('"', start);
  return end == std::string_view::npos ? std::string_view{} : context.substr(start, end - start);
}

void write_repeats(std::unordered_map<std::string, fold_entry>& entries) {
  for (auto& [key, entry] : entries) {
    if (entry.repeats == 0) continue;
    std::string attrs = entry.attrs;
    attrs += fmt::format(",\"repeated\":{}", entry.repeats);
    sensor::emit(entry.name, attrs, entry.context, true);
  }
}

void emit(const char* name, std::string_view attrs) {
  const std::string_view context = scope_context();
  const std::string_view call_id = context.starts_with(R"("scope":"call")") ? call_id_of(context) : std::string_view{};
  if (!call_id.empty()) {
    auto folds = g_folds.find(std::string(call_id));
    if (folds == g_folds.end()) {
      if (g_folds.size() >= kFoldCalls) {  // calls that never ended: let them go
        for (auto& [id, entries] : g_folds) write_repeats(entries);
        g_folds.clear();
      }
      folds = g_folds.emplace(std::string(call_id), std::unordered_map<std::string, fold_entry>{}).first;
    }
    std::string key(name);
    key += '\0';
    key += attrs;
    auto& entries = folds->second;
    if (const auto seen = entries.find(key); seen != entries.end()) {
      ++seen->second.repeats;
      return;
    }
    if (entries.size() < kFoldKeys) entries.emplace(std::move(key), fold_entry{name, std::string(attrs), std::string(context), 0});
  }
  sensor::emit(name, attrs, context, true);
}

void spawn(const char* via, PyObject* executable, PyObject* argv, PyObject* cwd, PyObject* env) {
  std::string attrs;
  attrs.reserve(kAttrsReserve);
  json_writer w(attrs, sensor::settings().limits);
  w.key("via");
  w.string(via);
  w.key("executable");
  value_or_null(w, executable != nullptr && executable != Py_None ? executable : first_of(argv));
  w.key("argv");
  argv_array(w, argv);
  w.key("cwd");
  value_or_null(w, cwd);
  w.key("env_keys");
  env_names(w, env);
  emit("python_process_spawn", attrs);
}

constexpr std::string_view kCallPrefix = "\"mcp\":";

void simple(const char* name, const char* via, std::initializer_list<std::pair<const char*, PyObject*>> members) {
  std::string attrs;
  attrs.reserve(kAttrsReserve);
  json_writer w(attrs, sensor::settings().limits);
  w.key("via");
  w.string(via);
  for (const auto& [key, value] : members) {
    w.key(key);
    value_or_null(w, value);
  }
  emit(name, attrs);
}

// ---------------------------------------------------------------------------
// process

// subprocess.Popen was reported in this thread: the _posixsubprocess.fork_exec
// (or, on its posix_spawn path, the os.posix_spawn) that follows is the same
// spawn.
thread_local bool t_popen_pending = false;

void install_fork_exec_wrapper() noexcept;

void process_event(const char* event, PyObject* args) {
  if (std::strcmp(event, "subprocess.Popen") == 0) {
    install_fork_exec_wrapper();  // before Popen calls it
    t_popen_pending = true;
    spawn(event, arg(args, 0), arg(args, 1), arg(args, 2), arg(args, 3));
  } else if (std::strcmp(event, "os.posix_spawn") == 0 && t_popen_pending) {
    t_popen_pending = false;  // subprocess's posix_spawn path: the Popen reported it
  } else if (std::strcmp(event, "os.exec") == 0 || std::strcmp(event, "os.posix_spawn") == 0) {
    spawn(event, arg(args, 0), arg(args, 1), nullptr, arg(args, 2));
  } else if (std::strcmp(event, "os.spawn") == 0) {
    spawn(event, arg(args, 1), arg(args, 2), nullptr, arg(args, 3));
  } else if (std::strcmp(event, "pty.spawn") == 0) {
    spawn(event, nullptr, arg(args, 0), nullptr, nullptr);
  } else if (std::strcmp(event, "os.system") == 0) {
    std::string attrs;
    attrs.reserve(kAttrsReserve);
    json_writer w(attrs, sensor::settings().limits);
    w.key("via");
    w.string(event);
    w.key("executable");
    w.string("/bin/sh");  // system(3)
    w.key("argv");
    w.begin_array();
    w.string("/bin/sh");
    w.string("-c");
    value_or_null(w, arg(args, 0));
    w.end_array();
    w.key("cwd");
    w.null();
    w.key("env_keys");
    w.null();
    emit("python_process_spawn", attrs);
  } else if (std::strcmp(event, "os.fork") == 0 || std::strcmp(event, "os.forkpty") == 0) {
    std::string call;
    if (module::current_call_json(call) && call.starts_with(kCallPrefix)) call.erase(0, kCallPrefix.size());
    sensor::set_fork_call(call);  // the child's sensor_startup names it
    simple("python_process_fork", event, {});
  } else {  // os.kill, os.killpg
    simple("python_process_signal", event, {{"pid", arg(args, 0)}, {"signal", arg(args, 1)}});
  }
}

// ---------------------------------------------------------------------------
// files

// Who raised an event, from the Python code running: the app, or machinery
// whose work is not the app's side effect (or is reported once already).
enum class origin : std::uint8_t {
  app,
  interpreter,     // no Python frame: start-up in C (stdio, path configuration)
  import_system,   // importlib (module sources, bytecode, metadata), zipimport, getpath, our hooks
  self_reporting,  // shutil / tempfile: their operations raise events of their own
  code_generator,  // collections.namedtuple, dataclasses, typing: generated code
};

bool has(std::string_view name, std::string_view part) noexcept { return name.find(part) != std::string_view::npos; }

origin classify_file(std::string_view name) noexcept {
  // runpy runs files and modules by path or name (-m, multiprocessing's
  // re-import of the main script): loading code, like the import system.
  if (name.starts_with("<frozen importlib.") || name == "<frozen zipimport>" || name == "<frozen getpath>" ||
      name.ends_with("/runpy.py") || name == "<frozen runpy>" ||
      name.starts_with("<bluepython>/") || has(name, "/importlib/metadata/") || has(name, "/importlib/resources/")) {
    return origin::import_system;
  }
  if (name.ends_with("/shutil.py") || name.ends_with("/tempfile.py")) return origin::self_reporting;
  if (name.ends_with("/collections/__init__.py") || name.ends_with("/dataclasses.py") || name.ends_with("/typing.py") ||
      name.ends_with("/inspect.py") ||  // signatures of builtins, parsed from their text form
      name.ends_with("/attr/_make.py") || name.ends_with("/typing_inspection/typing_objects.py")) {
    return origin::code_generator;
  }
  return origin::app;
}

// The origin of the frame `skip` levels above the innermost Python frame.
// importlib.metadata reads through pathlib and zipfile: those two are
// looked through (up to three more frames).
// What a code object's file name says, remembered per file name object: the
// same few files raise nearly every event, and classifying a name is a dozen
// string searches. Direct-mapped by the str's address; each entry holds a
// reference so that the address cannot be reused while cached. GIL-guarded.
struct file_class {
  origin kind = origin::app;
  bool helper = false;  // pathlib / zipfile: look at who called them
};
struct file_class_slot {
  PyObject* file = nullptr;  // strong reference
  file_class value;
};
std::array<file_class_slot, 128> g_file_classes;

bool file_class_of(PyObject* file, file_class& out) noexcept {
  auto& slot = g_file_classes[(reinterpret_cast<std::uintptr_t>(file) >> 4U) % g_file_classes.size()];
  if (slot.file == file) {
    out = slot.value;
    return true;
  }
  Py_ssize_t size = 0;
  const char* text = PyUnicode_Check(file) ? PyUnicode_AsUTF8AndSize(file, &size) : nullptr;
  if (text == nullptr) {
    PyErr_Clear();
    return false;
  }
  const std::string_view name(text, static_cast<std::size_t>(size));
  out.kind = classify_file(name);
  // Helpers: what matters is who called them (ast.parse for inspect, say).
  out.helper = name.ends_with("/pathlib.py") || name.ends_with("/zipfile.py") || name.ends_with("/ast.py");
  Py_INCREF(file);
  Py_XSETREF(slot.file, file);
  slot.value = out;
  return true;
}

origin origin_of_caller(int skip = 0) noexcept {
  PyFrameObject* frame = PyEval_GetFrame();  // borrowed
  if (frame == nullptr) return origin::interpreter;
  Py_INCREF(frame);
  origin result = origin::app;
  for (int depth = 0; frame != nullptr && depth < skip + 4; ++depth) {
    PyCodeObject* code = PyFrame_GetCode(frame);
    file_class found;
    const bool known = code != nullptr && file_class_of(code->co_filename, found);
    Py_XDECREF(code);
    if (!known) break;
    if (depth >= skip) {
      result = found.kind;
      if (result != origin::app || !found.helper) break;
    }
    PyFrameObject* back = PyFrame_GetBack(frame);  // new reference
    Py_DECREF(frame);
    frame = back;
  }
  Py_XDECREF(frame);
  return result;
}

// The Python installation: sys.prefix, sys.base_prefix and their exec
// variants, each as "<prefix>/". Reading files there (the standard library,
// installed packages and their data) is the program using its own
// installation, not reported; writing there is.
std::vector<std::string> g_installation;  // guarded by the GIL
bool g_installation_known = false;

const std::vector<std::string>& installation() {
  if (!g_installation_known) {
    g_installation_known = true;
    for (const char* name : {"prefix", "base_prefix", "exec_prefix", "base_exec_prefix"}) {
      PyObject* value = PySys_GetObject(name);  // borrowed
      if (value == nullptr || !PyUnicode_Check(value)) continue;
      Py_ssize_t size = 0;
      const char* text = PyUnicode_AsUTF8AndSize(value, &size);
      if (text == nullptr) {
        PyErr_Clear();
        continue;
      }
      std::string prefix(text, static_cast<std::size_t>(size));
      if (prefix.empty() || prefix == "/") continue;
      if (prefix.back() != '/') prefix += '/';
      if (std::find(g_installation.begin(), g_installation.end(), prefix) == g_installation.end()) {
        g_installation.push_back(std::move(prefix));
      }
    }
    if (g_installation.empty()) g_installation_known = false;  // sys not ready yet: ask again later
  }
  return g_installation;
}

bool in_installation(PyObject* path) {
  if (path == nullptr || !PyUnicode_Check(path)) return false;
  Py_ssize_t size = 0;
  const char* text = PyUnicode_AsUTF8AndSize(path, &size);
  if (text == nullptr) {
    PyErr_Clear();
    return false;
  }
  const std::string_view name(text, static_cast<std::size_t>(size));
  // The prefix test first: most paths outside the installation fail it at once.
  return std::any_of(installation().begin(), installation().end(),
                     [&](const std::string& prefix) { return name.starts_with(prefix); }) &&
         name.find("/../") == std::string_view::npos;
}

bool read_only(PyObject* flags) noexcept {
  if (flags == nullptr || !PyLong_Check(flags)) return false;
  const long value = PyLong_AsLong(flags);
  if (value == -1 && PyErr_Occurred() != nullptr) {
    PyErr_Clear();
    return false;
  }
  return (value & O_ACCMODE) == O_RDONLY && (value & (O_CREAT | O_TRUNC | O_APPEND)) == 0;
}

// The main program's path (cpython.run_file): the interpreter reading it is
// not a side effect.
std::string g_main_file;  // guarded by the GIL

bool is_main_file(PyObject* path) noexcept {
  if (g_main_file.empty() || path == nullptr || !PyUnicode_Check(path)) return false;
  Py_ssize_t size = 0;
  const char* text = PyUnicode_AsUTF8AndSize(path, &size);
  if (text == nullptr) {
    PyErr_Clear();
    return false;
  }
  return std::string_view(text, static_cast<std::size_t>(size)) == g_main_file;
}

void file_open(PyObject* args) {
  PyObject* path = arg(args, 0);
  PyObject* mode = arg(args, 1);
  PyObject* flags_obj = arg(args, 2);
  long flags = 0;
  if (flags_obj != nullptr && PyLong_Check(flags_obj)) {
    flags = PyLong_AsLong(flags_obj);
    if (flags == -1 && PyErr_Occurred() != nullptr) {
      PyErr_Clear();
      flags = 0;
    }
  }
  const json_limits& limits = sensor::settings().limits;
  const std::string_view path_text = plain_ascii(path, limits.max_string_bytes);
  const std::string_view mode_text = plain_ascii(mode, 64);
  std::array<char, 24> digits{};
  const auto digits_end = std::to_chars(digits.data(), digits.data() + digits.size(), flags).ptr;
  const std::string_view flags_text(digits.data(), static_cast<std::size_t>(digits_end - digits.data()));
  const std::string_view access = (flags & O_ACCMODE) == O_WRONLY ? R"(,"access":"write")"
                                  : (flags & O_ACCMODE) == O_RDWR ? R"(,"access":"read_write")"
                                                                  : R"(,"access":"read")";
  const std::string_view create = (flags & O_CREAT) != 0 ? R"(,"create":true)" : R"(,"create":false)";
  const std::string_view append = (flags & O_APPEND) != 0 ? R"(,"append":true)" : R"(,"append":false)";
  const std::string_view truncate = (flags & O_TRUNC) != 0 ? R"(,"truncate":true)" : R"(,"truncate":false)";
  // The hottest side effect. The fixed members are literal text (the same
  // JSON the writer would produce); a path and mode that need no escaping
  // (nearly all) are copied into a per-thread buffer with no string building.
  constexpr std::string_view kHead = R"("via":"open","path":")";
  constexpr std::string_view kMode = R"(","mode":")";
  constexpr std::string_view kFlags = R"(","flags":)";
  // Everything but the path: 44 bytes of keys, a mode of at most 64, flags of
  // at most 20, access and the three booleans at most 70.
  constexpr std::size_t kFixed = 256;
  thread_local std::array<char, 4096 + kFixed> direct{};
  if (!path_text.empty() && !mode_text.empty() && path_text.size() <= direct.size() - kFixed) {
    char* p = direct.data();
    for (const std::string_view piece : {kHead, path_text, kMode, mode_text, kFlags, flags_text, access, create,
                                         append, truncate}) {
      std::memcpy(p, piece.data(), piece.size());
      p += piece.size();
    }
    emit("python_file_open", std::string_view(direct.data(), static_cast<std::size_t>(p - direct.data())));
    return;
  }
  thread_local std::string attrs;
  attrs.assign(R"("via":"open","path":)");
  text_or_null(attrs, limits, path);
  attrs += R"(,"mode":)";
  text_or_null(attrs, limits, mode);
  attrs += R"(,"flags":)";
  attrs += flags_text;
  attrs += access;
  attrs += create;
  attrs += append;
  attrs += truncate;
  emit("python_file_open", attrs);
}

// A change to the file system: op, the path changed, and the other path of
// two-path operations.
struct change_spec {
  const char* event;
  const char* op;
  int path;    // index of the path argument
  int target;  // index of the second path argument, or -1
};

constexpr std::array<change_spec, 17> kChanges = {{
    {"os.remove", "remove", 0, -1},
    {"os.rmdir", "rmdir", 0, -1},
    {"os.mkdir", "mkdir", 0, -1},
    {"os.rename", "rename", 0, 1},  // os.replace too
    {"os.link", "link", 1, 0},      // path: the new link; target: what it links to
    {"os.symlink", "symlink", 1, 0},
    {"os.chmod", "chmod", 0, -1},
    {"os.chown", "chown", 0, -1},
    {"os.truncate", "truncate", 0, -1},
    {"shutil.copyfile", "copy", 1, 0},  // path: the file written; target: its source
    {"shutil.copytree", "copytree", 1, 0},
    {"shutil.move", "move", 0, 1},
    {"shutil.rmtree", "rmtree", 0, -1},
    {"shutil.unpack_archive", "unpack_archive", 1, 0},  // path: where it unpacks; target: the archive
    {"shutil.make_archive", "make_archive", 0, 2},
    {"tempfile.mkstemp", "mkstemp", 0, -1},
    {"tempfile.mkdtemp", "mkdtemp", 0, -1},
}};

const change_spec* change_of(const char* event) noexcept {
  for (const auto& spec : kChanges) {
    if (std::strcmp(event, spec.event) == 0) return &spec;
  }
  return nullptr;
}

void file_change(const change_spec& spec, PyObject* args) {
  std::string attrs;
  attrs.reserve(kAttrsReserve);
  json_writer w(attrs, sensor::settings().limits);
  w.key("via");
  w.string(spec.event);
  w.key("op");
  w.string(spec.op);
  w.key("path");
  value_or_null(w, arg(args, spec.path));
  if (spec.target >= 0) {
    w.key("target");
    value_or_null(w, arg(args, spec.target));
  }
  emit("python_file_change", attrs);
}

// ---------------------------------------------------------------------------
// network

PyObject* socket_attr(PyObject* sock, const char* name) noexcept {
  PyObject* value = PyObject_GetAttrString(sock, name);
  if (value == nullptr) PyErr_Clear();
  return value;
}

void family_name(json_writer& w, PyObject* family) {
  long value = family != nullptr && PyLong_Check(family) ? PyLong_AsLong(family) : -1;
  if (value == -1 && PyErr_Occurred() != nullptr) PyErr_Clear();
  switch (value) {
    case AF_INET: w.string("inet"); break;
    case AF_INET6: w.string("inet6"); break;
    case AF_UNIX: w.string("unix"); break;
    default:
      if (value < 0) {
        w.null();
      } else {
        w.integer(value);
      }
  }
}

// socket.connect / bind / sendto / sendmsg: (socket, address).
void socket_address(const char* name, const char* via, PyObject* args) {
  PyObject* sock = arg(args, 0);
  PyObject* address = arg(args, 1);
  PyObject* family = sock != nullptr ? socket_attr(sock, "family") : nullptr;
  PyObject* type = sock != nullptr ? socket_attr(sock, "type") : nullptr;
  std::string attrs;
  attrs.reserve(kAttrsReserve);
  json_writer w(attrs, sensor::settings().limits);
  w.key("via");
  w.string(via);
  w.key("family");
  family_name(w, family);
  w.key("type");
  long type_value = type != nullptr && PyLong_Check(type) ? PyLong_AsLong(type) : -1;
  if (type_value == -1 && PyErr_Occurred() != nullptr) PyErr_Clear();
  type_value &= ~static_cast<long>(SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (type_value == SOCK_STREAM) {
    w.string("stream");
  } else if (type_value == SOCK_DGRAM) {
    w.string("datagram");
  } else if (type_value < 0) {
    w.null();
  } else {
    w.integer(type_value);
  }
  if (address != nullptr && PyTuple_Check(address) && PyTuple_GET_SIZE(address) >= 2) {
    w.key("host");
    encode_python_value(w, PyTuple_GET_ITEM(address, 0));
    w.key("port");
    encode_python_value(w, PyTuple_GET_ITEM(address, 1));
  } else {
    w.key("address");  // AF_UNIX paths and anything else, as given
    value_or_null(w, address);
  }
  Py_XDECREF(family);
  Py_XDECREF(type);
  emit(name, attrs);
}

void network_event(const char* event, PyObject* args) {
  if (std::strcmp(event, "socket.connect") == 0 || std::strcmp(event, "socket.sendto") == 0 ||
      std::strcmp(event, "socket.sendmsg") == 0) {
    socket_address("python_net_connect", event, args);
  } else if (std::strcmp(event, "socket.bind") == 0) {
    socket_address("python_net_bind", event, args);
  } else if (std::strcmp(event, "socket.getaddrinfo") == 0) {
    simple("python_net_resolve", event, {{"host", arg(args, 0)}, {"port", arg(args, 1)}});
  } else if (std::strcmp(event, "socket.gethostbyname") == 0) {
    simple("python_net_resolve", event, {{"host", arg(args, 0)}});
  } else if (std::strcmp(event, "http.client.connect") == 0) {
    simple("python_net_connect", event, {{"host", arg(args, 1)}, {"port", arg(args, 2)}});
  } else {  // urllib.Request
    simple("python_net_request", event, {{"url", arg(args, 0)}, {"method", arg(args, 3)}});
  }
}

// ---------------------------------------------------------------------------
// code

constexpr std::size_t kSourcePreview = 1024;

void compile_event(PyObject* args) {
  PyObject* source = arg(args, 0);
  std::string attrs;
  attrs.reserve(kAttrsReserve);
  json_writer w(attrs, sensor::settings().limits);
  w.key("via");
  w.string("compile");
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
  emit("python_code_dynamic", attrs);
}

void code_event(const char* event, PyObject* args) {
  if (std::strcmp(event, "compile") == 0) {
    compile_event(args);
  } else if (std::strcmp(event, "marshal.loads") == 0) {
    PyObject* data = arg(args, 0);
    std::string attrs;
    attrs.reserve(kAttrsReserve);
    json_writer w(attrs, sensor::settings().limits);
    w.key("via");
    w.string(event);
    w.key("bytes");
    if (data != nullptr && PyBytes_Check(data)) {
      w.integer(PyBytes_GET_SIZE(data));
    } else {
      w.null();
    }
    emit("python_code_dynamic", attrs);
  } else if (std::strcmp(event, "pickle.find_class") == 0) {
    simple("python_code_dynamic", event, {{"module", arg(args, 0)}, {"name", arg(args, 1)}});
  } else if (std::strcmp(event, "ctypes.dlopen") == 0) {
    simple("python_code_native_load", event, {{"library", arg(args, 0)}});
  } else if (std::strcmp(event, "ctypes.dlsym") == 0) {
    simple("python_code_native_load", event, {{"library", arg(args, 0)}, {"symbol", arg(args, 1)}});
  } else {  // sqlite3.load_extension
    simple("python_code_native_load", event, {{"library", arg(args, 1)}});
  }
}

// ---------------------------------------------------------------------------

enum class what : std::uint8_t { none, process, open, change, network, code };

// Decides from the name alone, hot names (object.__getattr__, sys._getframe,
// builtins.id, exec) first out.
what classify(const char* e) noexcept {
  switch (e[0]) {
    case 'o':
      if (e[1] == 's' && e[2] == '.') {
        switch (e[3]) {
          case 'e': return std::strcmp(e + 3, "exec") == 0 ? what::process : what::none;
          case 'f':
            return std::strcmp(e + 3, "fork") == 0 || std::strcmp(e + 3, "forkpty") == 0 ? what::process : what::none;
          case 'k':
            return std::strcmp(e + 3, "kill") == 0 || std::strcmp(e + 3, "killpg") == 0 ? what::process : what::none;
          case 'p': return std::strcmp(e + 3, "posix_spawn") == 0 ? what::process : what::none;
          case 's':
            return std::strcmp(e + 3, "spawn") == 0 || std::strcmp(e + 3, "system") == 0 ? what::process
                   : (change_of(e) != nullptr ? what::change : what::none);
          default: return change_of(e) != nullptr ? what::change : what::none;
        }
      }
      return e[1] == 'p' && std::strcmp(e, "open") == 0 ? what::open : what::none;
    case 's':
      switch (e[1]) {
        case 'u': return std::strcmp(e, "subprocess.Popen") == 0 ? what::process : what::none;
        case 'o':
          return std::strncmp(e, "socket.", 7) == 0 &&
                         (std::strcmp(e + 7, "connect") == 0 || std::strcmp(e + 7, "bind") == 0 ||
                          std::strcmp(e + 7, "sendto") == 0 || std::strcmp(e + 7, "sendmsg") == 0 ||
                          std::strcmp(e + 7, "getaddrinfo") == 0 || std::strcmp(e + 7, "gethostbyname") == 0)
                     ? what::network
                     : what::none;
        case 'h': return change_of(e) != nullptr ? what::change : what::none;
        case 'q': return std::strcmp(e, "sqlite3.load_extension") == 0 ? what::code : what::none;
        default: return what::none;  // sys.* (hot)
      }
    case 'p':
      if (std::strcmp(e, "pty.spawn") == 0) return what::process;
      return std::strcmp(e, "pickle.find_class") == 0 ? what::code : what::none;
    case 't': return change_of(e) != nullptr ? what::change : what::none;
    case 'c':
      if (e[1] == 'o') return std::strcmp(e, "compile") == 0 ? what::code : what::none;
      return std::strcmp(e, "ctypes.dlopen") == 0 || std::strcmp(e, "ctypes.dlsym") == 0 ? what::code : what::none;
    case 'm': return std::strcmp(e, "marshal.loads") == 0 ? what::code : what::none;
    case 'h': return std::strcmp(e, "http.client.connect") == 0 ? what::network : what::none;
    case 'u': return std::strcmp(e, "urllib.Request") == 0 ? what::network : what::none;
    default: return what::none;
  }
}

category category_of(what w) noexcept {
  switch (w) {
    case what::process: return category::process;
    case what::open:
    case what::change: return category::files;
    case what::network: return category::network;
    default: return category::code;
  }
}

// Whether an event is the app's: noise control by origin (see origin).
bool wanted(what kind, const char* event, PyObject* args) noexcept {
  switch (kind) {
    case what::open: {
      // open(fd) / os.fdopen wrap a descriptor that is open already (pipes of
      // subprocess, sockets' makefile): nothing is opened.
      PyObject* path = arg(args, 0);
      if (path != nullptr && PyLong_Check(path)) return false;
      if (read_only(arg(args, 2)) && in_installation(path)) return false;
      const origin o = origin_of_caller();
      return o == origin::app || o == origin::code_generator ? !is_main_file(path) : false;
    }
    case what::change:
      if (event[0] == 'o') {  // os.*: inside shutil or tempfile, their own event covers it
        const origin o = origin_of_caller();
        return o != origin::self_reporting && o != origin::import_system && o != origin::interpreter;
      }
      // shutil.* / tempfile.*: called by shutil or tempfile itself (copytree's
      // files, move's copy): covered by the outer operation's event.
      return origin_of_caller(1) != origin::self_reporting;
    case what::code:
      if (std::strcmp(event, "compile") == 0) {
        PyObject* source = arg(args, 0);
        if (source == nullptr || source == Py_None) return false;  // parsed from a file
        if (in_installation(arg(args, 1))) return false;  // the source of an installed module
        return origin_of_caller() == origin::app;
      }
      if (std::strcmp(event, "marshal.loads") == 0) {
        const origin o = origin_of_caller();
        return o != origin::import_system && o != origin::interpreter;
      }
      return true;
    default:
      return true;
  }
}

// ---------------------------------------------------------------------------
// _posixsubprocess.fork_exec: what subprocess and multiprocessing (spawn,
// forkserver, resource tracker) start children with. It raises no audit
// event before Python 3.14: the wrapper reports the spawns subprocess.Popen
// did not, and hands the MCP call in effect to the child through its
// environment (BLUEPYTHON_PARENT_CALL, this child only).

constexpr std::string_view kCallVariable = "BLUEPYTHON_PARENT_CALL=";

// argv[5] of fork_exec: a sequence of b"NAME=value", or None (inherit).
void env_list_names(json_writer& w, PyObject* env) {
  if (env == nullptr || env == Py_None || !(PyList_Check(env) || PyTuple_Check(env))) {
    w.null();
    return;
  }
  w.begin_array();
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(env);
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* item = PySequence_Fast_GET_ITEM(env, i);
    if (!PyBytes_Check(item)) continue;
    const std::string_view text(PyBytes_AS_STRING(item), static_cast<std::size_t>(PyBytes_GET_SIZE(item)));
    w.string(text.substr(0, text.find('=')));
  }
  w.end_array();
}

// The child's environment with the call added: a copy of `env` (or of this
// process's environment when None), never the caller's list.
PyObject* env_with_call(PyObject* env, std::string_view call) {
  PyObject* out = PyList_New(0);
  if (out == nullptr) return nullptr;
  auto add = [&](const char* data, std::size_t size) {
    const std::string_view entry(data, size);
    if (entry.starts_with(kCallVariable)) return true;
    PyObject* item = PyBytes_FromStringAndSize(data, static_cast<Py_ssize_t>(size));
    const bool ok = item != nullptr && PyList_Append(out, item) == 0;
    Py_XDECREF(item);
    return ok;
  };
  bool ok = true;
  if (env != nullptr && env != Py_None && (PyList_Check(env) || PyTuple_Check(env))) {
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(env);
    for (Py_ssize_t i = 0; ok && i < n; ++i) {
      PyObject* item = PySequence_Fast_GET_ITEM(env, i);
      if (PyBytes_Check(item)) {
        ok = add(PyBytes_AS_STRING(item), static_cast<std::size_t>(PyBytes_GET_SIZE(item)));
      } else {
        ok = PyList_Append(out, item) == 0;  // let fork_exec judge it
      }
    }
  } else {
    for (char** e = environ; ok && e != nullptr && *e != nullptr; ++e) ok = add(*e, std::strlen(*e));
  }
  std::string entry(kCallVariable);
  entry += call;
  if (ok) {
    PyObject* item = PyBytes_FromStringAndSize(entry.data(), static_cast<Py_ssize_t>(entry.size()));
    ok = item != nullptr && PyList_Append(out, item) == 0;
    Py_XDECREF(item);
  }
  if (!ok) Py_CLEAR(out);
  return out;
}

PyObject* fork_exec(PyObject* original, PyObject* args) {
  const bool reported = t_popen_pending;
  t_popen_pending = false;
  if (!PyTuple_Check(args) || PyTuple_GET_SIZE(args) < 6 || t_busy) return PyObject_Call(original, args, nullptr);
  PyObject* call_args = Py_NewRef(args);
  {
    busy_guard guard;
    PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
    PyErr_Fetch(&type, &value, &traceback);
    try {
      if (!reported && sensor::settings().enabled(category::process)) {
        PyObject* executables = PyTuple_GET_ITEM(args, 1);
        std::string attrs;
        attrs.reserve(kAttrsReserve);
        json_writer w(attrs, sensor::settings().limits);
        w.key("via");
        w.string("_posixsubprocess.fork_exec");
        w.key("executable");
        value_or_null(w, first_of(executables));
        w.key("argv");
        argv_array(w, PyTuple_GET_ITEM(args, 0));
        w.key("cwd");
        value_or_null(w, PyTuple_GET_ITEM(args, 4));
        w.key("env_keys");
        env_list_names(w, PyTuple_GET_ITEM(args, 5));
        emit("python_process_spawn", attrs);
      }
      std::string call;
      if (module::current_call_json(call) && call.starts_with(kCallPrefix)) {
        PyObject* env = env_with_call(PyTuple_GET_ITEM(args, 5), std::string_view(call).substr(kCallPrefix.size()));
        // A new tuple (a full slice would hand back `args` itself).
        const Py_ssize_t n = PyTuple_GET_SIZE(args);
        PyObject* copy = env != nullptr ? PyTuple_New(n) : nullptr;
        if (copy != nullptr) {
          for (Py_ssize_t i = 0; i < n; ++i) {
            PyTuple_SET_ITEM(copy, i, i == 5 ? env : Py_NewRef(PyTuple_GET_ITEM(args, i)));
          }
          Py_SETREF(call_args, copy);
        } else {
          Py_XDECREF(env);
        }
      }
    } catch (...) {
    }
    PyErr_Clear();
    PyErr_Restore(type, value, traceback);
  }
  PyObject* result = PyObject_Call(original, call_args, nullptr);
  Py_DECREF(call_args);
  return result;
}

PyMethodDef fork_exec_def = {"fork_exec", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fork_exec)),
                             METH_VARARGS, "_posixsubprocess.fork_exec, observed by bluepython."};

// ---------------------------------------------------------------------------
// include/exclude patterns of the category (config)

// What an event names, for the patterns: paths, hosts, URLs, executables,
// file names (up to two).
std::array<PyObject*, 2> subjects(what kind, const char* event, PyObject* args) noexcept {
  auto host_of = [](PyObject* address) -> PyObject* {
    if (address != nullptr && PyTuple_Check(address) && PyTuple_GET_SIZE(address) >= 1) {
      return PyTuple_GET_ITEM(address, 0);
    }
    return address;
  };
  switch (kind) {
    case what::process:
      if (std::strcmp(event, "subprocess.Popen") == 0) return {arg(args, 0), first_of(arg(args, 1))};
      if (std::strcmp(event, "os.spawn") == 0) return {arg(args, 1), nullptr};
      if (std::strcmp(event, "pty.spawn") == 0) return {first_of(arg(args, 0)), nullptr};
      if (std::strcmp(event, "os.kill") == 0 || std::strcmp(event, "os.killpg") == 0 ||
          std::strcmp(event, "os.fork") == 0 || std::strcmp(event, "os.forkpty") == 0) {
        return {nullptr, nullptr};
      }
      return {arg(args, 0), nullptr};  // os.exec, os.posix_spawn, os.system (the command)
    case what::open: return {arg(args, 0), nullptr};
    case what::change: {
      const change_spec* spec = change_of(event);
      if (spec == nullptr) return {nullptr, nullptr};
      return {arg(args, spec->path), spec->target >= 0 ? arg(args, spec->target) : nullptr};
    }
    case what::network:
      if (std::strncmp(event, "socket.", 7) == 0) {
        if (std::strcmp(event, "socket.getaddrinfo") == 0 || std::strcmp(event, "socket.gethostbyname") == 0) {
          return {arg(args, 0), nullptr};
        }
        return {host_of(arg(args, 1)), nullptr};
      }
      if (std::strcmp(event, "http.client.connect") == 0) return {arg(args, 1), nullptr};
      return {arg(args, 0), nullptr};  // urllib.Request: the URL
    default:
      if (std::strcmp(event, "compile") == 0) return {arg(args, 1), nullptr};
      if (std::strcmp(event, "sqlite3.load_extension") == 0) return {arg(args, 1), nullptr};
      if (std::strcmp(event, "marshal.loads") == 0) return {nullptr, nullptr};
      return {arg(args, 0), nullptr};  // pickle.find_class (module), ctypes.dlopen/dlsym (library)
  }
}

bool matches_any(const std::vector<std::string>& patterns, const std::string& subject) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& p) { return ::fnmatch(p.c_str(), subject.c_str(), 0) == 0; });
}

// The text a pattern is matched against: str, bytes or a path-like's path.
std::string text_of(PyObject* v) {
  std::string storage;
  if (v == nullptr || PyLong_Check(v)) return storage;
  if (PyUnicode_Check(v)) return std::string(python_str_view(v, storage));
  if (PyBytes_Check(v)) return {PyBytes_AS_STRING(v), static_cast<std::size_t>(PyBytes_GET_SIZE(v))};
  PyObject* path = PyOS_FSPath(v);
  if (path == nullptr) {
    PyErr_Clear();
    return storage;
  }
  std::string out = text_of(path);
  Py_DECREF(path);
  return out;
}

// Whether the category's include/exclude patterns let the event through.
bool passes_patterns(what kind, const char* event, PyObject* args) {
  const pattern_filter& filter = sensor::settings().filters[static_cast<std::size_t>(category_of(kind))];
  if (filter.include.empty() && filter.exclude.empty()) return true;
  bool included = filter.include.empty();
  bool named = false;
  for (PyObject* subject : subjects(kind, event, args)) {
    const std::string text = text_of(subject);
    if (text.empty()) continue;
    named = true;
    if (matches_any(filter.exclude, text)) return false;
    if (!included && matches_any(filter.include, text)) included = true;
  }
  return included || !named;  // an event that names nothing is not filtered
}

}  // namespace

PyObject* wrap_fork_exec(PyObject* original) noexcept {
  if (original == nullptr || !PyCallable_Check(original)) {
    PyErr_SetString(PyExc_TypeError, "wrap_fork_exec(): expected the original fork_exec");
    return nullptr;
  }
  PyObject* module_name = PyUnicode_FromString("_posixsubprocess");
  PyObject* wrapper = module_name != nullptr ? PyCFunction_NewEx(&fork_exec_def, original, module_name) : nullptr;
  Py_XDECREF(module_name);
  return wrapper;
}

namespace {

// The native installation of the fork_exec wrapper: _posixsubprocess.fork_exec
// once the module is loaded, and subprocess's own reference to it
// (`from _posixsubprocess import fork_exec as _fork_exec`) once subprocess is.
// Checked on import events and before each subprocess.Popen; a few dict
// lookups until both are done. Guarded by the GIL.
PyObject* g_fork_exec_original = nullptr;
PyObject* g_fork_exec_wrapper = nullptr;
bool g_subprocess_wrapped = false;

void install_fork_exec_wrapper() noexcept {
  if (g_subprocess_wrapped || !sensor::started()) return;
  PyObject* modules = PyImport_GetModuleDict();  // borrowed
  if (modules == nullptr) return;
  PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
  PyErr_Fetch(&type, &value, &traceback);
  if (g_fork_exec_wrapper == nullptr) {
    PyObject* module = PyDict_GetItemString(modules, "_posixsubprocess");  // borrowed
    PyObject* original = module != nullptr ? PyObject_GetAttrString(module, "fork_exec") : nullptr;
    PyObject* wrapper = original != nullptr ? wrap_fork_exec(original) : nullptr;
    if (wrapper != nullptr && PyObject_SetAttrString(module, "fork_exec", wrapper) == 0) {
      g_fork_exec_original = original;  // both kept for the process's life
      g_fork_exec_wrapper = wrapper;
    } else {
      Py_XDECREF(original);
      Py_XDECREF(wrapper);
    }
  }
  if (g_fork_exec_wrapper != nullptr) {
    PyObject* subprocess = PyDict_GetItemString(modules, "subprocess");  // borrowed
    if (subprocess != nullptr) {
      PyObject* bound = PyObject_GetAttrString(subprocess, "_fork_exec");
      if (bound == g_fork_exec_original) {
        g_subprocess_wrapped = PyObject_SetAttrString(subprocess, "_fork_exec", g_fork_exec_wrapper) == 0;
      } else if (bound != nullptr) {
        g_subprocess_wrapped = true;  // someone else's, or ours already: leave it
      }
      Py_XDECREF(bound);
    }
  }
  PyErr_Clear();
  PyErr_Restore(type, value, traceback);
}

// ---------------------------------------------------------------------------
// multiprocessing forkserver: its workers are forked by the fork server, a
// process started once, so neither the environment handoff nor the fork
// thread-local can link a worker to the process (and call) that asked for
// it. The requester's preparation data (multiprocessing.spawn.
// get_preparation_data, pickled to the worker) carries its pid, uuid and
// current call instead, under kPreparationKey; the worker reads it in
// multiprocessing.spawn.prepare and reports python_process_link. Spawn
// children get the same data but were linked at start-up already (their
// parent is the requester): they report nothing more.

constexpr const char* kPreparationKey = "bluepython_parent";

PyObject* get_preparation_data(PyObject* original, PyObject* args, PyObject* kwargs) {
  PyObject* data = PyObject_Call(original, args, kwargs);
  if (data == nullptr || !PyDict_Check(data) || t_busy) return data;
  busy_guard guard;
  PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
  PyErr_Fetch(&type, &value, &traceback);
  try {
    std::string text = fmt::format(R"({{"pid":{},"uuid":"{}")", sensor::pid(), sensor::uuid());
    std::string call;
    if (module::current_call_json(call) && call.starts_with(kCallPrefix)) {
      text += R"(,"call":)";
      text += std::string_view(call).substr(kCallPrefix.size());
    }
    text += '}';
    PyObject* item = PyUnicode_FromStringAndSize(text.data(), static_cast<Py_ssize_t>(text.size()));
    if (item != nullptr) PyDict_SetItemString(data, kPreparationKey, item);
    Py_XDECREF(item);
  } catch (...) {
  }
  PyErr_Clear();
  PyErr_Restore(type, value, traceback);
  return data;
}

// The requester's pid in the text get_preparation_data wrote, or -1.
long requester_pid(std::string_view text) noexcept {
  constexpr std::string_view head = R"({"pid":)";
  if (!text.starts_with(head)) return -1;
  long pid = -1;
  const char* begin = text.data() + head.size();
  const auto [end, error] = std::from_chars(begin, text.data() + text.size(), pid);
  return error == std::errc{} && end != begin ? pid : -1;
}

PyObject* prepare(PyObject* original, PyObject* args, PyObject* kwargs) {
  PyObject* data = PyTuple_Check(args) && PyTuple_GET_SIZE(args) > 0 ? PyTuple_GET_ITEM(args, 0) : nullptr;
  if (data != nullptr && PyDict_Check(data) && !t_busy && sensor::settings().enabled(category::process)) {
    busy_guard guard;
    PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
    PyErr_Fetch(&type, &value, &traceback);
    try {
      PyObject* item = PyDict_GetItemString(data, kPreparationKey);  // borrowed
      Py_ssize_t size = 0;
      const char* text = item != nullptr && PyUnicode_Check(item) ? PyUnicode_AsUTF8AndSize(item, &size) : nullptr;
      const std::string_view parent = text != nullptr ? std::string_view(text, static_cast<std::size_t>(size))
                                                      : std::string_view{};
      const long pid = requester_pid(parent);
      // Our own text, pickled by our own wrapper; checked anyway, since it
      // goes into the spool as raw JSON.
      if (pid > 0 && pid != static_cast<long>(::getppid()) && nlohmann::json::accept(parent)) {
        std::string attrs = R"("via":"multiprocessing.forkserver","parent":)";
        attrs += parent;
        emit("python_process_link", attrs);
      }
    } catch (...) {
    }
    PyErr_Clear();
    PyErr_Restore(type, value, traceback);
  }
  return PyObject_Call(original, args, kwargs);
}

PyMethodDef get_preparation_data_def = {
    "get_preparation_data",
    reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&get_preparation_data)), METH_VARARGS | METH_KEYWORDS,
    "multiprocessing.spawn.get_preparation_data, observed by bluepython."};
PyMethodDef prepare_def = {"prepare", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&prepare)),
                           METH_VARARGS | METH_KEYWORDS, "multiprocessing.spawn.prepare, observed by bluepython."};

bool g_multiprocessing_wrapped = false;

// Wraps one function of a module (the original kept as the wrapper's self).
bool wrap_attribute(PyObject* module, const char* name, PyMethodDef* def) noexcept {
  PyObject* original = PyObject_GetAttrString(module, name);
  if (original == nullptr || !PyCallable_Check(original) || PyCFunction_Check(original)) {
    Py_XDECREF(original);  // missing, or a C function already (ours)
    return false;
  }
  PyObject* module_name = PyObject_GetAttrString(module, "__name__");
  PyObject* wrapper = module_name != nullptr ? PyCFunction_NewEx(def, original, module_name) : nullptr;
  const bool ok = wrapper != nullptr && PyObject_SetAttrString(module, name, wrapper) == 0;
  Py_XDECREF(module_name);
  Py_XDECREF(wrapper);
  Py_DECREF(original);  // the wrapper holds it
  return ok;
}

void install_multiprocessing_wrappers() noexcept {
  if (g_multiprocessing_wrapped || !sensor::started()) return;
  PyObject* modules = PyImport_GetModuleDict();  // borrowed
  PyObject* spawn = modules != nullptr ? PyDict_GetItemString(modules, "multiprocessing.spawn") : nullptr;
  if (spawn == nullptr) return;
  PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
  PyErr_Fetch(&type, &value, &traceback);
  // Found during its own import (partially initialized): try again at a
  // later import, once both functions exist.
  if (PyObject_HasAttrString(spawn, "get_preparation_data") != 0 && PyObject_HasAttrString(spawn, "prepare") != 0) {
    g_multiprocessing_wrapped = true;  // one attempt: a failure leaves multiprocessing as it is
    wrap_attribute(spawn, "get_preparation_data", &get_preparation_data_def);
    wrap_attribute(spawn, "prepare", &prepare_def);
  }
  PyErr_Clear();
  PyErr_Restore(type, value, traceback);
}

}  // namespace

void on_import() noexcept {
  if (!sensor::settings().enabled(category::process)) return;
  if (!g_subprocess_wrapped) install_fork_exec_wrapper();
  if (!g_multiprocessing_wrapped) install_multiprocessing_wrappers();
}

void call_ends(std::string_view call_json) noexcept {
  try {
    const std::string_view call_id = call_id_of(call_json);
    if (call_id.empty()) return;
    const auto folds = g_folds.find(std::string(call_id));
    if (folds == g_folds.end()) return;
    write_repeats(folds->second);
    g_folds.erase(folds);
  } catch (...) {
  }
}

void program_starts() noexcept {
  g_program.store(true, std::memory_order_relaxed);
  // site moved sys.prefix to the virtualenv meanwhile: read the prefixes anew.
  g_installation_known = false;
  g_installation.clear();
}

void note_main_file(PyObject* path) noexcept {
  if (path == nullptr || !PyUnicode_Check(path)) return;
  Py_ssize_t size = 0;
  const char* text = PyUnicode_AsUTF8AndSize(path, &size);
  if (text == nullptr) {
    PyErr_Clear();
    return;
  }
  try {
    g_main_file.assign(text, static_cast<std::size_t>(size));
  } catch (...) {
  }
}

bool on_event(const char* event, PyObject* args) noexcept {
  const what kind = classify(event);
  if (kind == what::none) return false;
  if (!sensor::settings().enabled(category_of(kind))) return true;
  busy_guard guard;
  if (!guard.entered) return true;
  PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
  PyErr_Fetch(&type, &value, &traceback);
  try {
    if (!wanted(kind, event, args) || !passes_patterns(kind, event, args)) {
      // not the app's doing
    } else {
      switch (kind) {
        case what::process: process_event(event, args); break;
        case what::open: file_open(args); break;
        case what::change: file_change(*change_of(event), args); break;
        case what::network: network_event(event, args); break;
        default: code_event(event, args); break;
      }
    }
  } catch (...) {
    // Out of memory: the event is lost; the app goes on.
  }
  PyErr_Clear();
  PyErr_Restore(type, value, traceback);
  return true;
}

void mark_serving() noexcept { g_serving.store(true, std::memory_order_relaxed); }

}  // namespace bluepython::side_effects
