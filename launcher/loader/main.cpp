// SPDX-License-Identifier: Apache-2.0
// bluepython: a drop-in `python` that records what the program does.
//
// This executable links neither libpython nor the core: it finds the CPython it
// serves (loader/locate.hpp), loads that libpython for every later extension
// module to see, then loads the core and hands it the process.
#include <dlfcn.h>
#include <limits.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <variant>
#include <vector>

#include "loader/core_entry.hpp"
#include "loader/locate.hpp"

namespace {

constexpr int kUsageError = 2;

int refuse(const std::string& message) {
  (void)std::fprintf(stderr, "%s\n", message.c_str());
  return kUsageError;
}

std::string self_path() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::string(value) : std::string();
}

// The absolute path argv[0] names, as the shell found it (symlinks kept).
std::string invoked_path(const char* argv0, const std::string& path_env, const std::string& self) {
  std::string name = argv0 != nullptr ? argv0 : "";
  if (name.find('/') != std::string::npos) {
    if (name.front() == '/') return name;
    char cwd[PATH_MAX];
    return ::getcwd(cwd, sizeof cwd) != nullptr ? std::string(cwd) + "/" + name : name;
  }
  std::size_t start = 0;
  while (!name.empty() && start <= path_env.size()) {
    const auto colon = path_env.find(':', start);
    std::string dir = path_env.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (dir.empty()) dir = ".";
    std::string candidate = std::move(dir);
    candidate.append("/").append(name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return self;
}

int launch(int argc, char** argv) {
  using namespace bluepython::loader;
  const target t{BLUEPYTHON_PY_MAJOR, BLUEPYTHON_PY_MINOR, BLUEPYTHON_MULTIARCH, BLUEPYTHON_LIBPYTHON_HINT,
                 BLUEPYTHON_CORE_HINT};
  process p;
  p.self = self_path();
  p.path_env = env("PATH");
  p.invoked = invoked_path(argc > 0 ? argv[0] : nullptr, p.path_env, p.self);
  p.libpython_env = env("BLUEPYTHON_LIBPYTHON");

  const outcome where = find_libpython(t, p);
  if (const auto* no = std::get_if<refusal>(&where)) return refuse(no->message);
  const auto& lib = std::get<found>(where);
  // Global: extension modules resolve the C API from it, as under python.
  void* python = ::dlopen(lib.libpython.c_str(), RTLD_LAZY | RTLD_GLOBAL);
  if (python == nullptr) {
    const char* why = ::dlerror();
    return refuse("bluepython: cannot load CPython " + version_of(t) + "'s " + lib.libpython + " (" + lib.how +
                  "): " + (why != nullptr ? why : "unknown error") +
                  "; install bluepython into a CPython " + version_of(t) +
                  " environment with its pip, or set BLUEPYTHON_LIBPYTHON to the library");
  }

  // The library must be the version served ($BLUEPYTHON_LIBPYTHON, the
  // dynamic loader's pick): Py_GetVersion may be called before initialization.
  using version_fn = const char* (*)();
  const auto version = reinterpret_cast<version_fn>(::dlsym(python, "Py_GetVersion"));
  if (auto wrong = check_loaded(t, lib.libpython, version != nullptr ? version() : "")) return refuse(wrong->message);

  std::vector<std::string> looked;
  const std::string core = find_core(t, p.self, looked);
  if (core.empty()) {
    std::string list;
    for (const auto& candidate : looked) list += (list.empty() ? "" : ", ") + candidate;
    return refuse("bluepython: its core (libbluepython-core.so) is missing; looked in " + list +
                  "; reinstall bluepython");
  }
  void* handle = ::dlopen(core.c_str(), RTLD_LAZY | RTLD_LOCAL);
  auto entry = handle != nullptr ? reinterpret_cast<bluepython_core_main_fn>(::dlsym(handle, kCoreEntry)) : nullptr;
  if (entry == nullptr) {
    const char* why = ::dlerror();
    return refuse("bluepython: cannot load its core " + core + ": " + (why != nullptr ? why : "no entry point") +
                  "; reinstall bluepython");
  }
  const bluepython_start start{kCoreAbi, (static_cast<unsigned>(t.major) << 24U) | (static_cast<unsigned>(t.minor) << 16U),
                               lib.libpython.c_str(), lib.how.c_str()};
  return entry(argc, argv, &start);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return launch(argc, argv);
  } catch (const std::exception& e) {  // std::bad_alloc, before anything ran
    (void)std::fprintf(stderr, "bluepython: cannot start: %s\n", e.what());
    return 1;
  }
}
