// SPDX-License-Identifier: Apache-2.0
#pragma once

// The one call from the executable into the core it loads (launcher/core_main.cpp
// defines it). Plain C types: the two are separate ELF objects, and an
// exception never crosses between them.

extern "C" {

// Bumped whenever this struct or the entry's meaning changes.
inline constexpr unsigned kCoreAbi = 1;

struct bluepython_start {
  unsigned abi;                // kCoreAbi of the executable
  unsigned python_hex;         // (major << 24) | (minor << 16) the executable looked for
  const char* libpython;       // the library loaded, as found
  const char* libpython_how;   // how it was found (docs/ARCHITECTURE.md, "Finding the interpreter")
};

// argv is the process's own; returns the exit status.
using bluepython_core_main_fn = int (*)(int argc, char** argv, const bluepython_start* start);
}

inline constexpr const char* kCoreEntry = "bluepython_core_main";
