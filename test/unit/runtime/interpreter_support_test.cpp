// SPDX-License-Identifier: Apache-2.0
#include "runtime/interpreter_support.hpp"

#include <catch2/catch.hpp>

#include <string>

using bluepython::interpreter_traits;
using bluepython::unsupported_interpreter;

namespace {

interpreter_traits cpython(int minor, bool free_threaded = false, bool shared = true) {
  interpreter_traits t;
  t.version_hex = (3UL << 24U) | (static_cast<unsigned long>(minor) << 16U) | (1UL << 8U) | 0xf0UL;
  t.gil_disabled = free_threaded;
  t.shared_library = shared;
  return t;
}

}  // namespace

TEST_CASE("CPython 3.10 to 3.13, standard shared builds, are served", "[interpreter]") {
  for (int minor = 10; minor <= 13; ++minor) {
    INFO(minor);
    CHECK_FALSE(unsupported_interpreter(cpython(minor)).has_value());
  }
}

TEST_CASE("a free-threaded build is refused with one line naming the reason", "[interpreter]") {
  const auto problem = unsupported_interpreter(cpython(13, true));
  REQUIRE(problem.has_value());
  CHECK(problem->find("free-threaded CPython 3.13t") != std::string::npos);
  CHECK(problem->find('\n') == std::string::npos);
  CHECK(problem->rfind("bluepython: ", 0) == 0);
}

TEST_CASE("versions outside the range and static builds are refused", "[interpreter]") {
  for (int minor : {6, 9, 14}) {
    INFO(minor);
    const auto problem = unsupported_interpreter(cpython(minor));
    REQUIRE(problem.has_value());
    CHECK(problem->find("3." + std::to_string(minor) + " is not supported") != std::string::npos);
  }
  const auto problem = unsupported_interpreter(cpython(12, false, false));
  REQUIRE(problem.has_value());
  CHECK(problem->find("shared libpython") != std::string::npos);
}
