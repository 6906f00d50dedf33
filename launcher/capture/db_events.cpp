// SPDX-License-Identifier: Apache-2.0
// SQLite databases, in the files category. sqlite3 opens and writes its files
// in C, where no audit event sees them. A connection is reported as the
// database file it opens (python_file_open, via "sqlite3.connect": the path,
// the URI mode, read-only or not, whether the file is created). The
// statements that change the database are reported as writes of that file
// (python_file_change, op "write", via "sqlite3", with the statement's kind
// and table): the MCP hooks' wrapper of sqlite3.connect has bluepython set a
// trace callback on each connection it reported. An app that sets its own
// trace callback replaces it. From then on its writes are not reported.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>

#include "capture/db_events.hpp"
#include "capture/event_args.hpp"
#include "capture/filters.hpp"
#include "capture/folding.hpp"
#include "capture/handlers.hpp"
#include "capture/origin.hpp"
#include "runtime/sensor.hpp"

namespace bluepython::capture {
namespace {

// What one sqlite3.connect names, kept until its connection exists
// (sqlite3.connect/handle, raised next in the same thread) or fails.
struct pending_database {
  bool set = false;
  std::string given;  // the database argument as given
  std::string path;   // the file, absolute; empty: no file (":memory:", "", mode=memory)
  bool uri = false;
  std::string mode;  // URI mode: ro, rw, rwc, memory; empty: the default (rwc)
  bool existed = false;
};
thread_local pending_database t_pending;

// The connection just reported, until its sqlite3.connect returns: its trace
// callback can only be set once Connection.__init__ has finished, and the
// MCP hooks' wrapper of sqlite3.connect asks for it then (sqlite_trace). Its
// address is only compared, never followed.
struct armable_connection {
  std::uintptr_t address = 0;
  std::string path;
};
thread_local armable_connection t_armable;

std::string database_text(PyObject* v) {
  if (v == nullptr) return {};
  if (PyBytes_Check(v)) return {PyBytes_AS_STRING(v), static_cast<std::size_t>(PyBytes_GET_SIZE(v))};
  PyObject* fs = PyOS_FSPath(v);  // str, bytes or path-like
  std::string out;
  if (fs != nullptr && PyUnicode_Check(fs)) {
    Py_ssize_t size = 0;
    if (const char* s = PyUnicode_AsUTF8AndSize(fs, &size); s != nullptr) out.assign(s, static_cast<std::size_t>(size));
  } else if (fs != nullptr && PyBytes_Check(fs)) {
    out.assign(PyBytes_AS_STRING(fs), static_cast<std::size_t>(PyBytes_GET_SIZE(fs)));
  }
  Py_XDECREF(fs);
  PyErr_Clear();
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decoded(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The database a sqlite3.connect argument names. "file:" starts a URI (the
// argument is one when the app passes uri=True; a plain file whose name
// starts with "file:" is taken as a URI too).
pending_database database_of(std::string given) {
  pending_database d;
  d.set = true;
  d.given = std::move(given);
  std::string_view name = d.given;
  if (name.starts_with("file:")) {
    d.uri = true;
    name.remove_prefix(5);
    const auto query_at = name.find('?');
    const std::string_view query = query_at == std::string_view::npos ? std::string_view{} : name.substr(query_at + 1);
    name = name.substr(0, std::min(query_at, name.find('#')));
    if (name.starts_with("//")) {  // file://host/path: only an empty host or localhost is allowed
      name.remove_prefix(2);
      const auto slash = name.find('/');
      name = slash == std::string_view::npos ? std::string_view{} : name.substr(slash);
    }
    for (std::size_t start = 0; start < query.size();) {
      const auto end = std::min(query.find('&', start), query.size());
      const std::string_view item = query.substr(start, end - start);
      if (item.starts_with("mode=")) d.mode = std::string(item.substr(5));
      start = end + 1;
    }
    d.path = percent_decoded(name);
  } else {
    d.path = std::string(name);
  }
  if (d.path.empty() || d.path == ":memory:" || d.mode == "memory") {
    d.path.clear();
    return d;
  }
  if (d.path.front() != '/') {
    std::array<char, 4096> cwd{};
    if (::getcwd(cwd.data(), cwd.size()) == nullptr) {
      d.path.clear();
      return d;
    }
    d.path = std::string(cwd.data()) + "/" + d.path;
  }
  struct stat st{};
  d.existed = ::stat(d.path.c_str(), &st) == 0;
  return d;
}

// The kind of a statement that changes the database, with its table: "insert
// into t", "create table t", "drop index i"; empty for one that does not
// (select, begin, commit, pragma) or that is not understood.
std::string written_by(std::string_view sql) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < sql.size() && words.size() < 8) {
    const char c = sql[i];
    if (std::isspace(static_cast<unsigned char>(c)) != 0 || c == ';') {
      ++i;
    } else if (sql.substr(i, 2) == "--") {
      i = std::min(sql.find('\n', i), sql.size());
    } else if (sql.substr(i, 2) == "/*") {
      const auto end = sql.find("*/", i + 2);
      i = end == std::string_view::npos ? sql.size() : end + 2;
    } else if (c == '(') {
      break;
    } else {
      std::size_t end = i;
      if (c == '"' || c == '`' || c == '[') {
        const char close = c == '[' ? ']' : c;
        end = sql.find(close, i + 1);
        end = end == std::string_view::npos ? sql.size() : end + 1;
      } else {
        while (end < sql.size() && std::isspace(static_cast<unsigned char>(sql[end])) == 0 && sql[end] != '(' &&
               sql[end] != ';') {
          ++end;
        }
      }
      words.emplace_back(sql.substr(i, std::min<std::size_t>(end - i, 128)));
      i = end;
    }
  }
  auto lower = [](std::string s) {
    for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
  };
  std::vector<std::string> lowered;
  lowered.reserve(words.size());
  for (const auto& w : words) lowered.push_back(lower(w));
  auto word = [&](std::size_t at) -> std::string { return at < lowered.size() ? lowered[at] : std::string(); };
  auto name = [&](std::size_t at) -> std::string { return at < words.size() ? words[at] : std::string(); };
  const std::string first = word(0);
  if (first == "with") {  // a common table expression before insert / update / delete
    const std::string_view rest = sql;
    for (const char* verb : {"insert", "update", "delete", "replace"}) {
      std::string lowered_sql = lower(std::string(rest.substr(0, 4096)));
      if (lowered_sql.find(std::string(" ") + verb + " ") != std::string::npos) return verb;
    }
    return {};
  }
  std::size_t at = 1;
  if (first == "insert" || first == "replace") {
    if (word(at) == "or") at += 2;  // insert or replace into
    if (word(at) == "into") ++at;
    return first + " into " + name(at);
  }
  if (first == "update") {
    if (word(at) == "or") at += 2;
    return "update " + name(at);
  }
  if (first == "delete") return "delete from " + name(word(at) == "from" ? at + 1 : at);
  if (first == "create" || first == "drop") {
    while (word(at) == "temp" || word(at) == "temporary" || word(at) == "unique" || word(at) == "virtual") ++at;
    const std::string what = word(at++);
    if (word(at) == "if") at += first == "create" ? 3 : 2;  // if not exists / if exists
    return first + " " + what + " " + name(at);
  }
  if (first == "alter") return "alter table " + name(2);
  if (first == "vacuum" || first == "reindex") return std::string(first);
  return {};
}

// The trace callback of a reported connection: `self` is the database file's
// path (a str). Never raises; always returns None.
PyObject* on_statement(PyObject* self, PyObject* statement) {
  if (!sensor::settings().enabled(category::files) || !PyUnicode_Check(statement)) Py_RETURN_NONE;
  const busy_guard guard;
  if (!guard.entered()) Py_RETURN_NONE;
  const saved_exception saved;
  try {
    Py_ssize_t size = 0;
    const char* text = PyUnicode_AsUTF8AndSize(statement, &size);
    if (text == nullptr) Py_RETURN_NONE;
    const std::string what = written_by(std::string_view(text, static_cast<std::size_t>(size)));
    if (what.empty()) Py_RETURN_NONE;
    const std::array<PyObject*, 1> subjects{self};
    if (!passes(category::files, subjects)) Py_RETURN_NONE;
    event_attrs a("sqlite3");
    a.w.key("op");
    a.w.string("write");
    a.w.key("path");
    value_or_null(a.w, self);
    a.w.key("statement");
    a.w.string(what);
    report("python_file_change", a.text);
  } catch (...) {
    // Out of memory: the event is lost; the statement runs.
  }
  Py_RETURN_NONE;
}

PyMethodDef g_on_statement{"bluepython_sqlite_trace", &on_statement, METH_O,
                           "bluepython: reports the statements that change this database"};

}  // namespace

// sqlite3.connect (database): remembered until its connection exists.
void sqlite_connect(const audit_event& /*e*/, PyObject* args) { t_pending = database_of(database_text(arg(args, 0))); }

bool sqlite_opened_wanted(const audit_event& /*e*/, PyObject* /*args*/) {
  if (!t_pending.set) return false;
  const origin o = origin_of_caller();
  if (o == origin::app || o == origin::code_generator) return true;
  t_pending = {};
  return false;
}

// sqlite3.connect/handle (connection): the connection exists.
void sqlite_opened(const audit_event& e, PyObject* args) {
  const pending_database d = std::move(t_pending);
  t_pending = {};
  if (d.path.empty()) return;  // in memory (or a private temporary database): no file of the app's
  py_ref path(PyUnicode_DecodeFSDefaultAndSize(d.path.data(), static_cast<Py_ssize_t>(d.path.size())));
  if (!path) {
    PyErr_Clear();
    return;
  }
  const std::array<PyObject*, 1> subjects{path.get()};
  if (!passes(category::files, subjects)) return;
  const bool read_only = d.mode == "ro";
  event_attrs a(e.name);
  json_writer& w = a.w;
  w.key("path");
  value_or_null(w, path.get());
  w.key("database");
  w.string(d.given);
  w.key("uri");
  w.boolean(d.uri);
  w.key("mode");
  w.string(d.mode.empty() ? std::string_view("rwc") : std::string_view(d.mode));
  w.key("access");
  w.string(read_only ? "read" : "read_write");
  w.key("create");
  w.boolean(!d.existed && (d.mode.empty() || d.mode == "rwc"));
  report(e.reports, a.text);
  // Its writes: a trace callback bound to the file's path, once the
  // connection is initialised (sqlite_trace).
  PyObject* connection = arg(args, 0);
  if (connection == nullptr || read_only) return;
  t_armable.address = reinterpret_cast<std::uintptr_t>(connection);
  t_armable.path = d.path;
}

namespace {

// The connection a sqlite3.connect returned: when it is the one just
// reported, its trace callback. Returns false with an exception set when
// setting it fails.
bool arm(PyObject* connection) {
  if (t_armable.address == 0 || t_armable.address != reinterpret_cast<std::uintptr_t>(connection)) return true;
  const std::string file = std::move(t_armable.path);
  t_armable = {};
  py_ref path(PyUnicode_DecodeFSDefaultAndSize(file.data(), static_cast<Py_ssize_t>(file.size())));
  py_ref callback(path ? PyCFunction_New(&g_on_statement, path.get()) : nullptr);
  py_ref done(callback ? PyObject_CallMethod(connection, "set_trace_callback", "O", callback.get()) : nullptr);
  return static_cast<bool>(done);
}

// sqlite3.connect as wrapped: `self` is the original. Calls it as it was
// called (no Python frame in between: the audit events of the connect still
// come from the app's frame), then arms the connection it returns. A fault
// arming it is reported; the connection is returned all the same.
PyObject* wrapped_connect(PyObject* self, PyObject* args, PyObject* kwargs) {
  PyObject* connection = PyObject_Call(self, args, kwargs);
  if (connection == nullptr) return nullptr;
  const saved_exception saved;
  try {
    if (!arm(connection)) {
      PyErr_Clear();
      sensor::report_internal("sqlite3", "could not set the trace callback that reports a database's writes");
    }
  } catch (...) {
  }
  return connection;
}

PyMethodDef g_connect{"connect", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&wrapped_connect)),
                      METH_VARARGS | METH_KEYWORDS,
                      "sqlite3.connect, as bluepython wraps it to report the database's writes."};

}  // namespace

PyObject* py_wrap_sqlite_connect(PyObject* /*self*/, PyObject* original) {
  if (!PyCallable_Check(original)) {
    PyErr_SetString(PyExc_TypeError, "wrap_sqlite_connect(): not callable");
    return nullptr;
  }
  return PyCFunction_New(&g_connect, original);
}

}  // namespace bluepython::capture
