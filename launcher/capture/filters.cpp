// SPDX-License-Identifier: Apache-2.0
#include "capture/filters.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <array>

#include "capture/event_args.hpp"
#include "pyapi/py_ref.hpp"
#include "runtime/sensor.hpp"

namespace bluepython::capture {

bool matches_any(const std::vector<std::string>& patterns, const std::string& subject) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& p) { return ::fnmatch(p.c_str(), subject.c_str(), 0) == 0; });
}

bool passes(const pattern_filter& filter, std::span<const std::string> subjects) {
  if (filter.include.empty() && filter.exclude.empty()) return true;
  bool included = filter.include.empty();
  bool named = false;
  for (const std::string& text : subjects) {
    if (text.empty()) continue;
    named = true;
    if (matches_any(filter.exclude, text)) return false;
    if (!included && matches_any(filter.include, text)) included = true;
  }
  return included || !named;
}

bool passes(category c, std::span<PyObject* const> subjects) {
  const pattern_filter& filter = sensor::settings().filters[static_cast<std::size_t>(c)];
  if (filter.include.empty() && filter.exclude.empty()) return true;
  std::array<std::string, 2> texts;
  std::size_t n = 0;
  for (PyObject* subject : subjects) {
    if (n == texts.size()) break;
    texts[n++] = text_of(subject);
  }
  return passes(filter, std::span<const std::string>(texts.data(), n));
}

bool passes(const audit_event& e, PyObject* args) {
  const pattern_filter& filter = sensor::settings().filters[static_cast<std::size_t>(e.cat)];
  if (filter.include.empty() && filter.exclude.empty()) return true;
  // Strong references: text_of can run app code (__fspath__) that changes
  // the list an argument came from.
  std::array<py_ref, 2> held;
  std::array<PyObject*, 2> subjects{};
  for (std::size_t i = 0; i < e.subjects.size(); ++i) {
    const subject_spec& spec = e.subjects[i];
    PyObject* value = spec.kind == subject_kind::none ? nullptr : arg(args, spec.index);
    switch (spec.kind) {
      case subject_kind::none: break;
      case subject_kind::arg: held[i] = py_ref::borrow(value); break;
      case subject_kind::first_of: held[i] = first_of(value); break;
      case subject_kind::host_of: held[i] = py_ref::borrow(host_of(value)); break;
    }
    subjects[i] = held[i].get();
  }
  return passes(e.cat, subjects);
}

}  // namespace bluepython::capture
