// SPDX-License-Identifier: Apache-2.0
#pragma once

// Where the bluepython executable finds the CPython it serves and its own core
// (docs/ARCHITECTURE.md, "Finding the interpreter"). The executable has no
// link-time dependency on libpython: a wheel is built once and installed into
// any prefix or venv, so libpython is looked up at run time by one rule, and
// the core (built like an extension module) is loaded after it.
//
// Pure file-system logic, no Python and nothing else of ours: the rule is unit
// tested on real directory trees.

#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace bluepython::loader {

// What this build serves, fixed when it is compiled.
struct target {
  int major = 3;
  int minor = 0;
  std::string multiarch;  // e.g. "x86_64-linux-gnu": Debian's libdir for libpython
  std::string hint;       // a libpython recorded at build time (build tree, .deb); may be empty
  std::string core_hint;  // the core's path at build time (a build-tree executable copied elsewhere); may be empty
};

// What the process knows about itself.
struct process {
  std::string invoked;        // absolute path as invoked (symlinks kept): argv[0] or its PATH match
  std::string self;           // the executable's real path (/proc/self/exe)
  std::string libpython_env;  // $BLUEPYTHON_LIBPYTHON, or empty
  std::string path_env;       // $PATH
};

struct found {
  std::string libpython;  // a path, or a bare soname for the dynamic loader's own search
  std::string how;        // how it was found, for `bluepython version` and errors
};

struct refusal {
  std::string message;  // one line, "bluepython: ..."
};

using outcome = std::variant<found, refusal>;

// "3.12"
std::string version_of(const target& t);
// "libpython3.12.so.1.0"
std::string soname_of(const target& t);

// The libpython to load, or why this environment cannot be served:
//  1. $BLUEPYTHON_LIBPYTHON, when set;
//  2. a venv around the executable (pyvenv.cfg next to it or one folder up, the
//     invoked path first, then the real one): its version must be ours, and
//     libpython is that of its base interpreter (`home`);
//  3. the prefix the executable sits in (<prefix>/bin, with
//     <prefix>/lib/pythonX.Y/os.py), invoked path first, then the real one;
//  4. the libpython recorded at build time, if it exists;
//  5. the first pythonX.Y on $PATH whose prefix holds a standard library;
//  6. the bare soname, left to the dynamic loader (ld.so.cache).
// A prefix of ours without a usable libpython (static-only, free-threaded) or
// a venv or prefix of another version is refused, never passed over.
outcome find_libpython(const target& t, const process& p);

// The core library (libbluepython-core.so) that belongs with this executable:
// next to it (build tree), in the package folder of the environment's
// site-packages (wheel), in <prefix>/lib/bluepython (.deb, cmake install), or
// where the build put it (a build-tree executable copied elsewhere).
// Empty when none exists; `looked` receives every candidate tried.
std::string find_core(const target& t, const std::string& self, std::vector<std::string>& looked);

// Whether the library loaded is the CPython this build serves, from its
// Py_GetVersion() text ("3.12.1 (main, ...) [GCC ...]"): a refusal when it is
// another version or a free-threaded build, nothing when it is ours.
std::optional<refusal> check_loaded(const target& t, const std::string& library, const std::string& version_text);

// The keys of a pyvenv.cfg ("home", "version", "version_info"), trimmed.
struct venv_config {
  std::string home;
  std::string version;
};
venv_config read_venv_config(const std::string& path);

}  // namespace bluepython::loader
