// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <string_view>

namespace bluepython {

// A Python module built into the executable: its code object, compiled and
// marshalled at build time by the same CPython the binary links (see
// cmake/embed_python.py). The table holds the hooks package
// (bluepython_hooks.*), its private wrapt copy (bluepython_hooks._vendor.*)
// and the importer that serves them (_bluepython_importer).
struct embedded_module {
  const char* name;
  bool is_package;
  const unsigned char* code;
  std::size_t size;
};

// The module named `name`, or nullptr. Thread-safe (immutable table).
const embedded_module* find_embedded_module(std::string_view name) noexcept;

// The CPython magic number the table was compiled for (importlib.util.MAGIC_NUMBER).
std::string_view embedded_magic() noexcept;

}  // namespace bluepython
