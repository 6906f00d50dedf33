// SPDX-License-Identifier: Apache-2.0
// bluepython: a drop-in `python` that records what the program does.
#include <cstdio>

#include "cli/cli.hpp"
#include "config/error.hpp"

int main(int argc, char** argv) {
  try {
    return bluepython::run_main(argc, argv);
  } catch (const bluepython::launcher_error& e) {
    (void)std::fprintf(stderr, "%s\n", e.what());
    return e.exit_code();
  }
}
