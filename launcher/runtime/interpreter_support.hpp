// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <optional>
#include <string>

namespace bluepython {

// What bluepython needs to know about the CPython it embeds to decide whether
// it can serve it (filled from the headers it was built against, or, for a
// launcher that picks an interpreter at run time, from that interpreter).
struct interpreter_traits {
  unsigned long version_hex = 0;  // PY_VERSION_HEX
  bool gil_disabled = false;      // a free-threaded build (3.13t: Py_GIL_DISABLED)
  bool shared_library = true;     // libpython is a shared library (Py_ENABLE_SHARED)
};

// The lowest and highest minor versions of CPython 3 served.
inline constexpr int kOldestMinor = 10;
inline constexpr int kNewestMinor = 13;

// Why bluepython cannot serve this interpreter (one line, naming the reason
// and what to use instead), or nothing when it can. Pure; never throws
// anything but std::bad_alloc.
std::optional<std::string> unsupported_interpreter(const interpreter_traits& traits);

}  // namespace bluepython
