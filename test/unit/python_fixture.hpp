// SPDX-License-Identifier: Apache-2.0
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "pyapi/call_context.hpp"
#include "runtime/sensor.hpp"

// One embedded interpreter and one started sensor for the tests that need
// CPython, made by the first test that asks (so listing the tests starts
// nothing) and kept until the process exits, as bluepython keeps its own.
// ctest runs each test case in a process of its own; a direct run of the
// executable shares them between all tests. The interpreter is isolated (no
// site, no environment variables) and allocates with malloc, so the
// sanitizer builds see Python objects' memory. The sensor spools into a fresh
// temporary directory (removed at exit); its process patterns are kProcessInclude and
// kProcessExclude. Main thread only; the GIL stays held by that thread.
namespace bluepython::test {

inline constexpr const char* kProcessInclude = "*/bin/*";
inline constexpr const char* kProcessExclude = "*/bin/false";

struct python_env {
  std::filesystem::path spool;
};

inline const python_env& python() {
  static const python_env env = [] {
    std::string dir = (std::filesystem::temp_directory_path() / "bluepython-unit-XXXXXX").string();
    if (::mkdtemp(dir.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    config cfg;
    cfg.spool.dir = dir;
    cfg.imports.hash = false;
    auto& process = cfg.filters[static_cast<std::size_t>(category::process)];
    process.include = {kProcessInclude};
    process.exclude = {kProcessExclude};
    sensor::startup_info info;
    info.argv = {"bluepython_unit_tests"};
    info.python_argv = info.argv;
    info.python_version = Py_GetVersion();
    sensor::start(cfg, info);

    PyPreConfig preconfig;
    PyPreConfig_InitIsolatedConfig(&preconfig);
    preconfig.allocator = PYMEM_ALLOCATOR_MALLOC;
    PyStatus status = Py_PreInitialize(&preconfig);
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.site_import = 0;
    if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) throw std::runtime_error("cannot start the interpreter");
    if (!call_context::init()) throw std::runtime_error("cannot create the call variable");
    sensor::start_writer();
    return python_env{dir};
  }();
  // Registered once `env` is complete, so it runs before `env` is destroyed
  // and before the sensor's own atexit fallback (registered earlier).
  static const bool cleanup = std::atexit([] {
    sensor::stop("exit");
    std::error_code ignored;
    std::filesystem::remove_all(env.spool, ignored);
  }) == 0;
  (void)cleanup;
  return env;
}

// Runs Python source in __main__; throws (with the error printed to stderr)
// when it raises.
inline void run_python(const char* source) {
  python();
  if (PyRun_SimpleString(source) != 0) throw std::runtime_error(std::string("Python code raised: ") + source);
}

// An object of __main__ (a new reference), or nullptr.
inline PyObject* main_object(const char* name) {
  PyObject* main = PyImport_AddModule("__main__");  // borrowed
  PyObject* value = main != nullptr ? PyObject_GetAttrString(main, name) : nullptr;
  if (value == nullptr) PyErr_Clear();
  return value;
}

// Every line written to the spool so far (after a flush).
inline std::vector<std::string> spool_lines() {
  sensor::flush();
  std::vector<std::string> lines;
  for (const auto& entry : std::filesystem::directory_iterator(python().spool)) {
    if (entry.path().extension() != ".ndjson") continue;
    std::ifstream in(entry.path());
    for (std::string line; std::getline(in, line);) lines.push_back(line);
  }
  return lines;
}

}  // namespace bluepython::test
