// SPDX-License-Identifier: Apache-2.0
// Side effects of the files category: files opened (python_file_open) and
// changes to the file system (python_file_change), with the noise rules that
// leave out the interpreter's and the import system's own file work.
#include <fcntl.h>

#include <array>
#include <charconv>
#include <cstring>
#include <string>
#include <string_view>

#include "capture/event_args.hpp"
#include "capture/folding.hpp"
#include "capture/handlers.hpp"
#include "capture/origin.hpp"
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

bool change_wanted(const audit_event& e, PyObject* /*args*/) {
  if (e.name.starts_with("os.")) {  // inside shutil or tempfile, their own event covers it
    const origin o = origin_of_caller();
    return o != origin::self_reporting && o != origin::import_system && o != origin::interpreter;
  }
  // shutil.* / tempfile.*: called by shutil or tempfile itself (copytree's
  // files, move's copy): covered by the outer operation's event.
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
