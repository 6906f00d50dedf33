// SPDX-License-Identifier: Apache-2.0
#include "embed/interpreter.hpp"

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "capture/audit_hook.hpp"
#include "capture/policy_gate.hpp"
#include "embed/bluepython_module.hpp"
#include "config/error.hpp"
#include "pipeline/fd_util.hpp"
#include "runtime/interpreter_support.hpp"
#include "runtime/sensor.hpp"

namespace bluepython {
namespace {

bool is_file(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string dirname_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

void on_py_exit() { sensor::stop("exit"); }

// Fails like python does for a bad command line or a broken installation.
[[noreturn]] void exit_with_status(PyStatus status) {
  sensor::stop("startup-error");
  Py_ExitStatusException(status);
}

// The absolute path of the bluepython being run as argv[0] names it (symlinks
// kept: a bluepython symlinked into a venv's bin/ must find that venv).
std::string invoked_path(const std::string& argv0) {
  if (argv0.find('/') != std::string::npos) {
    if (argv0.front() == '/') return argv0;
    char cwd[PATH_MAX];
    if (::getcwd(cwd, sizeof cwd) != nullptr) return std::string(cwd) + "/" + argv0;
    return argv0;
  }
  if (const char* path = std::getenv("PATH")) {
    std::string_view rest(path);
    while (!rest.empty()) {
      const auto colon = rest.find(':');
      std::string dir(rest.substr(0, colon));
      if (dir.empty()) dir = ".";
      std::string candidate = dir;
      candidate.append("/").append(argv0);
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
  }
  return self_executable();
}

}  // namespace

std::string virtual_env_to_emulate(const std::string& executable, const char* virtual_env) {
  if (virtual_env == nullptr || virtual_env[0] == '\0') return {};
  // A bluepython inside a venv already gets that venv from getpath.
  const std::string exe_dir = dirname_of(executable);
  if (is_file(exe_dir + "/pyvenv.cfg") || is_file(dirname_of(exe_dir) + "/pyvenv.cfg")) return {};
  std::string venv(virtual_env);
  while (venv.size() > 1 && venv.back() == '/') venv.pop_back();
  if (!is_file(venv + "/pyvenv.cfg")) return {};
  return venv;
}

interpreter_traits embedded_interpreter() noexcept {
  interpreter_traits traits;
  traits.version_hex = PY_VERSION_HEX;
#ifdef Py_GIL_DISABLED
  traits.gil_disabled = true;
#endif
  // shared_library stays true: the core is only ever loaded by the executable
  // after it loaded a shared libpython (a static build is refused there,
  // launcher/loader/locate.cpp). The headers cannot tell: Debian's pyconfig.h
  // is its static python3.X's and leaves Py_ENABLE_SHARED undefined, though
  // libpython3.X.so is a shared build.
  return traits;
}

int run_interpreter(const config& cfg, const std::vector<std::string>& bluepython_argv,
                    const std::vector<std::string>& python_argv) {
  // Before anything runs: an interpreter we cannot serve is refused, never run unsafely.
  if (auto problem = unsupported_interpreter(embedded_interpreter())) throw launcher_error::usage(*problem);
  std::vector<char*> argv;
  argv.reserve(python_argv.size() + 1);
  for (const auto& a : python_argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const auto argc = static_cast<Py_ssize_t>(python_argv.size());

  sensor::startup_info info;
  info.argv = bluepython_argv;
  info.python_argv = python_argv;
  info.python_version = Py_GetVersion();
  sensor::start(cfg, info);

  if (PyImport_AppendInittab("_bluepython", &module::init) != 0) {
    throw launcher_error::internal("bluepython: cannot register the _bluepython module");
  }

  PyPreConfig preconfig;
  PyPreConfig_InitPythonConfig(&preconfig);
  PyStatus status = Py_PreInitializeFromBytesArgs(&preconfig, argc, argv.data());
  if (PyStatus_Exception(status)) {
    if (PyStatus_IsExit(status)) {
      sensor::stop("exit");
      return status.exitcode;
    }
    exit_with_status(status);
  }
  // After pre-initialization (which picks the memory allocator: -X dev,
  // PYTHONMALLOC) and before the interpreter exists, so start-up is seen.
  capture::policy_gate::init(sensor::settings().guard.get());
  if (!audit_hook::install()) sensor::report_internal("startup", "PySys_AddAuditHook refused the hook");

  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  status = PyConfig_SetBytesArgv(&config, argc, argv.data());
  // $VIRTUAL_ENV with a bluepython outside it: let getpath and site see the
  // venv's python as the program, then point sys.executable back at us.
  const std::string self = invoked_path(python_argv.empty() ? std::string() : python_argv[0]);
  const std::string venv = virtual_env_to_emulate(self, std::getenv("VIRTUAL_ENV"));
  if (!PyStatus_Exception(status) && !venv.empty()) {
    const std::string program = venv + "/bin/python";
    status = PyConfig_SetBytesString(&config, &config.program_name, program.c_str());
  }
  if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(status)) {
    if (PyStatus_IsExit(status)) {
      sensor::stop("exit");
      return status.exitcode;
    }
    exit_with_status(status);
  }

  if (PyObject* stdlib_dir = PySys_GetObject("_stdlib_dir"); stdlib_dir != nullptr && PyUnicode_Check(stdlib_dir)) {
    if (const char* dir = PyUnicode_AsUTF8(stdlib_dir)) sensor::set_stdlib_dir(dir);
    PyErr_Clear();
  }
#if PY_VERSION_HEX < 0x030B0000
  // 3.10 has no sys._stdlib_dir: <base_prefix>/<platlibdir>/python3.10, as its
  // getpath computes it, so the import resolver knows standard-library files.
  PyObject* base = PySys_GetObject("base_prefix");
  PyObject* platlibdir = PySys_GetObject("platlibdir");
  if (base != nullptr && platlibdir != nullptr && PyUnicode_Check(base) && PyUnicode_Check(platlibdir)) {
    const char* b = PyUnicode_AsUTF8(base);
    const char* l = PyUnicode_AsUTF8(platlibdir);
    if (b != nullptr && l != nullptr) sensor::set_stdlib_dir(fmt::format("{}/{}/python3.10", b, l));
  }
  PyErr_Clear();
#endif
  sensor::start_writer();
  if (!venv.empty()) {
    PyObject* exe = PyUnicode_DecodeFSDefault(self.c_str());
    if (exe == nullptr || PySys_SetObject("executable", exe) != 0) {
      PyErr_Clear();
      sensor::report_internal("startup", "cannot set sys.executable for $VIRTUAL_ENV");
    }
    Py_XDECREF(exe);
  }

  Py_AtExit(&on_py_exit);
  module::bootstrap();
  const int code = Py_RunMain();
  sensor::stop("exit");
  return code;
}

}  // namespace bluepython
