// SPDX-License-Identifier: Apache-2.0
#include "runtime/interpreter_support.hpp"

#include <fmt/format.h>

namespace bluepython {

std::optional<std::string> unsupported_interpreter(const interpreter_traits& traits) {
  const auto major = static_cast<int>((traits.version_hex >> 24U) & 0xffU);
  const auto minor = static_cast<int>((traits.version_hex >> 16U) & 0xffU);
  if (major != 3 || minor < kOldestMinor || minor > kNewestMinor) {
    return fmt::format("bluepython: CPython {}.{} is not supported (3.{} to 3.{} are); run it with python instead",
                       major, minor, kOldestMinor, kNewestMinor);
  }
  // The capture state (call context, folding, origin caches, the spawn
  // wrappers' flags) is guarded by the GIL; without one it would race.
  if (traits.gil_disabled) {
    return fmt::format("bluepython: free-threaded CPython {}.{}t is not supported (its state relies on the GIL); "
                       "use the standard {}.{} build",
                       major, minor, major, minor);
  }
  if (!traits.shared_library) {
    return fmt::format("bluepython: CPython {}.{} without a shared libpython is not supported; "
                       "use a build configured with --enable-shared",
                       major, minor);
  }
  return std::nullopt;
}

}  // namespace bluepython
