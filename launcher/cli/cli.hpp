// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <vector>

namespace bluepython {

// bluepython's own subcommands. Anything else in argv[1] belongs to CPython.
bool is_subcommand(const std::string& arg) noexcept;

// How the executable found the CPython it loaded (docs/ARCHITECTURE.md,
// "Finding the interpreter"), for `bluepython version`.
struct launch_info {
  std::string libpython;  // as found: a path, or a soname left to the dynamic loader
  std::string found_by;
};

// The whole program: dispatches to a subcommand or runs CPython with argv
// untouched. Throws launcher_error for bad flags or config (exit code 2).
int run_main(int argc, char** argv, const launch_info& launch);

}  // namespace bluepython
