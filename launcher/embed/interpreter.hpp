// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"
#include "runtime/interpreter_support.hpp"

namespace bluepython {

// Runs CPython exactly as `python` would with `python_argv` (argv[0] first):
// CPython parses the whole command line itself. Before the interpreter exists
// it starts the sensor, registers the native audit hook and the _bluepython
// module; after start-up it runs the bootstrap; then Py_RunMain. Returns the
// process exit code (the same code python would exit with).
int run_interpreter(const config& cfg, const std::vector<std::string>& bluepython_argv,
                    const std::vector<std::string>& python_argv);

// What the headers bluepython was built against say about that CPython.
interpreter_traits embedded_interpreter() noexcept;

// Where the venv that should be in effect lives, or "" (see docs: a
// bluepython outside a venv honours $VIRTUAL_ENV). Exposed for tests.
std::string virtual_env_to_emulate(const std::string& executable, const char* virtual_env);

}  // namespace bluepython
