// SPDX-License-Identifier: Apache-2.0
// The core's entry point: the bluepython executable (loader/main.cpp) found and
// loaded libpython, then this library, and hands it the process here.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstdio>
#include <exception>

#include "cli/cli.hpp"
#include "config/error.hpp"
#include "loader/core_entry.hpp"

extern "C" __attribute__((visibility("default"))) int bluepython_core_main(int argc, char** argv,
                                                                           const bluepython_start* start) {
  constexpr unsigned kOurs = (static_cast<unsigned>(PY_MAJOR_VERSION) << 24U) |
                             (static_cast<unsigned>(PY_MINOR_VERSION) << 16U);
  if (start == nullptr || start->abi != kCoreAbi || start->python_hex != kOurs) {
    (void)std::fprintf(stderr, "bluepython: its executable and core are from different builds; reinstall bluepython\n");
    return 2;
  }
  try {
    return bluepython::run_main(argc, argv, {start->libpython, start->libpython_how});
  } catch (const bluepython::launcher_error& e) {
    (void)std::fprintf(stderr, "%s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    (void)std::fprintf(stderr, "bluepython: internal error: %s\n", e.what());
    return 1;
  }
}
