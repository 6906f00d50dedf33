// SPDX-License-Identifier: Apache-2.0
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "pipeline/json_writer.hpp"
#include "pyapi/py_ref.hpp"

// Reading an audit event's argument tuple and writing its members as JSON,
// shared by the side-effect handlers of every category. All need the GIL.
namespace bluepython::capture {

// Room for a typical event's attributes: one allocation, no regrowth.
inline constexpr std::size_t kAttrsReserve = 512;

// Encoding an argument can run Python code (str() of a path-like, keys() of
// an environment mapping), which can raise audit events of its own: those are
// ours, not the app's, and are not reported. A guard marks the thread busy
// for its life; `entered` is false when it already was.
// Inline: it runs for every side-effect event.
class busy_guard {
 public:
  busy_guard() noexcept : entered_(!t_busy_) {
    if (entered_) t_busy_ = true;
  }
  busy_guard(const busy_guard&) = delete;
  busy_guard& operator=(const busy_guard&) = delete;
  ~busy_guard() {
    if (entered_) t_busy_ = false;
  }
  [[nodiscard]] bool entered() const noexcept { return entered_; }
  // Whether this thread is inside a guard now.
  [[nodiscard]] static bool busy() noexcept { return t_busy_; }

 private:
  static inline thread_local bool t_busy_ = false;
  bool entered_;
};

// The attributes of one side-effect event as they are written: "via" (the
// audit event or function that reported it) first, then the handler's
// members through `w`; `text` is what goes to report().
struct event_attrs {
  std::string text;
  json_writer w;
  explicit event_attrs(std::string_view via);
  event_attrs(const event_attrs&) = delete;
  event_attrs& operator=(const event_attrs&) = delete;
};

// args[i] (borrowed) or nullptr when there is no such argument (or i < 0).
inline PyObject* arg(PyObject* args, Py_ssize_t i) noexcept {
  if (args == nullptr || i < 0 || !PyTuple_Check(args) || PyTuple_GET_SIZE(args) <= i) return nullptr;
  return PyTuple_GET_ITEM(args, i);
}

// The first item of a list/tuple argv, or `v` itself (a single program);
// empty for an empty sequence. A strong reference: encoding or matching it
// can run app code that empties the list.
py_ref first_of(PyObject* v) noexcept;
// The host of a socket address tuple (borrowed), or the address itself.
PyObject* host_of(PyObject* address) noexcept;

// The value as JSON, or null for nullptr.
void value_or_null(json_writer& w, PyObject* v);
// value_or_null appended to `out`, copying a plain ASCII str (paths, modes)
// straight in.
void text_or_null(std::string& out, const json_limits& limits, PyObject* v);
// The text of a plain ASCII str (exactly str, compact, nothing to escape) of
// at most `max` bytes; empty otherwise.
std::string_view plain_ascii(PyObject* v, std::size_t max) noexcept;
// argv as a JSON array: a single program (str, bytes, path-like) becomes a
// one-item array; null for None.
void argv_array(json_writer& w, PyObject* v);
// The names of an explicitly passed environment mapping (never the values);
// null when the child inherits the parent's.
void env_names(json_writer& w, PyObject* env);
// A str, bytes or path-like as text (for pattern matching); empty otherwise.
std::string text_of(PyObject* v);

}  // namespace bluepython::capture
