// SPDX-License-Identifier: Apache-2.0
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstddef>
#include <cstdint>

// Whose doing an audit event is: the origin of the Python code that raised it
// (the app, or machinery whose work is not the app's side effect), and the
// facts about paths the noise rules need. All need the GIL; none raises.
namespace bluepython::capture {

enum class origin : std::uint8_t {
  app,
  interpreter,     // no Python frame: start-up in C (stdio, path configuration)
  import_system,   // importlib (module sources, bytecode, metadata), zipimport, getpath, runpy, our hooks
  self_reporting,  // shutil: its operations raise events of their own (a copytree is one event)
  temp_files,      // tempfile: its creations raise events of their own; its clean-up's removals are reported
  code_generator,  // collections.namedtuple, dataclasses, typing, inspect: generated code
  diagnostics,     // traceback, linecache, warnings: source lines read (and parsed) to show an error
};

// What a code object's file name says about its origin (exposed for tests).
origin classify_file_name(const char* name, std::size_t size) noexcept;
// The origin of the frame `skip` levels above the innermost Python frame;
// pathlib, zipfile, ast and tokenize are looked through (up to three more frames).
origin origin_of_caller(int skip = 0) noexcept;
// Whether the innermost Python frame runs the function `name` (its code's
// co_name).
bool innermost_function_is(const char* name) noexcept;
// Whether `path` (a str) lies in the Python installation (sys.prefix,
// base_prefix and their exec variants): reading there is the program using
// its own installation.
bool in_installation(PyObject* path);
// Whether open() flags (an int) only read.
bool read_only(PyObject* flags) noexcept;
// Whether `path` is the main program's file (cpython.run_file).
bool is_main_file(PyObject* path) noexcept;
// cpython.run_file: remembers the main program's path.
void note_main_file(PyObject* path) noexcept;
// The main program starts: site may have moved sys.prefix, read it anew.
void forget_installation() noexcept;

}  // namespace bluepython::capture
