// SPDX-License-Identifier: Apache-2.0
// Side effects of the files category: files opened (python_file_open) and
// changes to the file system (python_file_change), with the noise rules that
// leave out the interpreter's and the import system's own file work.
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include <array>
#include <charconv>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "capture/event_args.hpp"
#include "capture/folding.hpp"
#include "capture/handlers.hpp"
#include "capture/origin.hpp"
#include "pyapi/py_ref.hpp"
#include "runtime/sensor.hpp"

namespace bluepython::capture {

bool open_wanted(const audit_event& /*e*/, PyObject* args) {
  // open(fd) / os.fdopen wrap a descriptor that is open already (pipes of
  // subprocess, sockets' makefile): nothing is opened.
  PyObject* path = arg(args, 0);
  if (path != nullptr && PyLong_Check(path)) return false;
  if (read_only(arg(args, 2)) && in_installation(path)) return false;
  const origin o = origin_of_caller();
  return o == origin::app || o == origin::code_generator ? !is_main_file(path) : false;
}

namespace {

// A path argument as the bytes the kernel gets (str, bytes or os.PathLike),
// or false (an fd, None, an encoding error). Leaves no Python error set.
bool fs_bytes(PyObject* path, std::string& out) {
  if (path == nullptr || path == Py_None || PyLong_Check(path)) return false;
  PyObject* fs = PyOS_FSPath(path);  // new reference: str or bytes
  PyObject* encoded = nullptr;
  if (fs != nullptr && PyUnicode_Check(fs)) {
    encoded = PyUnicode_EncodeFSDefault(fs);
  } else if (fs != nullptr && PyBytes_Check(fs)) {
    Py_INCREF(fs);
    encoded = fs;
  }
  Py_XDECREF(fs);
  if (encoded == nullptr) {
    PyErr_Clear();
    return false;
  }
  char* data = nullptr;
  Py_ssize_t size = 0;
  const bool ok = PyBytes_AsStringAndSize(encoded, &data, &size) == 0 &&
                  std::memchr(data, 0, static_cast<std::size_t>(size)) == nullptr;
  if (ok) out.assign(data, static_cast<std::size_t>(size));
  Py_DECREF(encoded);
  PyErr_Clear();
  return ok;
}

// Whether something is at args[path] (relative to args[dir_fd] when that is
// a descriptor), not following a last symlink; nullopt when it cannot be told.
std::optional<bool> exists_at(PyObject* args, int path, int dir_fd) {
  std::string name;
  if (!fs_bytes(arg(args, path), name)) return std::nullopt;
  int at = AT_FDCWD;
  if (PyObject* fd = dir_fd >= 0 ? arg(args, dir_fd) : nullptr; fd != nullptr && PyLong_Check(fd)) {
    const long value = PyLong_AsLong(fd);
    if (value == -1 && PyErr_Occurred() != nullptr) {
      PyErr_Clear();
      return std::nullopt;
    }
    at = static_cast<int>(value);
  }
  struct stat st{};
  if (::fstatat(at, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return true;
  if (errno == ENOENT || errno == ENOTDIR) return false;
  return std::nullopt;
}

// Whether the operation can take effect. The audit event comes before the
// system call: an os.makedirs(..., exist_ok=True) of a directory that is
// there, a removal or rename of what is not there, a link over a name that is
// taken all fail and change nothing. Checked when the event is raised.
bool can_take_effect(const audit_event& e, PyObject* args) {
  const std::string_view op = e.op;
  // exists_at(args, argument of the path, argument of its dir_fd)
  if (op == "mkdir") return exists_at(args, 0, 2) != true;                     // (path, mode, dir_fd)
  if (op == "remove" || op == "rmdir") return exists_at(args, 0, 1) != false;  // (path, dir_fd)
  if (op == "rename") return exists_at(args, 0, 2) != false;                   // (src, dst, src_dir_fd, dst_dir_fd)
  if (op == "symlink") return exists_at(args, 1, 2) != true;                   // (src, dst, dir_fd)
  if (op == "link") return exists_at(args, 1, 3) != true;                      // (src, dst, src_dir_fd, dst_dir_fd)
  return true;
}

}  // namespace

bool change_wanted(const audit_event& e, PyObject* args) {
  if (e.name.starts_with("os.")) {
    const origin o = origin_of_caller();
    // Inside shutil, its own event covers it. Inside tempfile, the directory
    // mkdtemp makes is its own event, and the probe gettempdir() makes of the
    // temporary directory (a file written and removed) is not the app's.
    if (o == origin::self_reporting || o == origin::import_system || o == origin::interpreter) return false;
    if (o == origin::temp_files && (e.op == std::string_view("mkdir") || innermost_function_is("_get_default_tempdir"))) {
      return false;
    }
    const saved_exception saved;
    return can_take_effect(e, args);
  }
  // shutil.*: called by shutil itself (copytree's files, move's copy): covered
  // by the outer operation's event. tempfile.* (and shutil.rmtree called by a
  // TemporaryDirectory's clean-up) are the app's.
  return origin_of_caller(1) != origin::self_reporting;
}


void file_open(const audit_event& e, PyObject* args) {
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
    report(e.reports, std::string_view(direct.data(), static_cast<std::size_t>(p - direct.data())));
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
  report(e.reports, attrs);
}

void file_change(const audit_event& e, PyObject* args) {
  event_attrs a(e.name);
  json_writer& w = a.w;
  w.key("op");
  w.string(e.op);
  for (const member_spec& m : e.members) {
    if (m.key == nullptr || m.index < 0) continue;
    w.key(m.key);
    value_or_null(w, arg(args, m.index));
  }
  report(e.reports, a.text);
}

}  // namespace bluepython::capture
