// SPDX-License-Identifier: Apache-2.0
#include "loader/locate.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <string_view>

namespace bluepython::loader {
namespace {

bool is_file(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_dir(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string dirname_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string real_path(const std::string& path) {
  char buf[PATH_MAX];
  return ::realpath(path.c_str(), buf) != nullptr ? std::string(buf) : std::string();
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return std::string(s);
}

// "3.11.7" -> "3.11"; anything else unchanged.
std::string major_minor(const std::string& version) {
  const auto first = version.find('.');
  if (first == std::string::npos) return version;
  const auto second = version.find('.', first + 1);
  return second == std::string::npos ? version : version.substr(0, second);
}

bool has_stdlib(const std::string& prefix, const std::string& version) {
  return is_file(prefix + "/lib/python" + version + "/os.py");
}

// The other CPython versions whose standard library this prefix holds ("3.11").
std::vector<std::string> stdlib_versions(const std::string& prefix) {
  std::vector<std::string> out;
  DIR* dir = ::opendir((prefix + "/lib").c_str());
  if (dir == nullptr) return out;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name(entry->d_name);
    if (name.substr(0, 6) != "python" || name.size() <= 6) continue;
    const std::string version(name.substr(6));
    if (has_stdlib(prefix, version)) out.push_back(version);
  }
  ::closedir(dir);
  return out;
}

// libpythonX.Y in a prefix that holds CPython X.Y's standard library.
std::optional<std::string> libpython_in(const target& t, const std::string& prefix) {
  std::vector<std::string> dirs{prefix + "/lib"};
  if (!t.multiarch.empty()) dirs.push_back(prefix + "/lib/" + t.multiarch);
  dirs.push_back(prefix + "/lib64");
  const std::string base = "libpython" + version_of(t);
  for (const auto& dir : dirs) {
    for (const char* suffix : {".so.1.0", ".so"}) {
      std::string candidate = dir;
      candidate.append("/").append(base).append(suffix);
      if (is_file(candidate)) return candidate;
    }
  }
  return std::nullopt;
}

// The verdict on a prefix that holds our version's standard library.
outcome judge_prefix(const target& t, const std::string& prefix, const std::string& how) {
  if (auto lib = libpython_in(t, prefix)) return found{*lib, how};
  const std::string version = version_of(t);
  return refusal{"bluepython: CPython " + version + " at " + prefix + " has no shared library (" + soname_of(t) +
                 "): it was built without --enable-shared" +
                 (t.multiarch.empty() ? std::string() : " (on Debian or Ubuntu: apt-get install libpython" + version + ")") +
                 "; use a CPython built with --enable-shared"};
}

std::string another_version(const target& t, const std::string& where, const std::string& theirs) {
  return "bluepython: this bluepython serves CPython " + version_of(t) + ", but " + where + " is CPython " + theirs +
         "; install bluepython with that interpreter's pip (`python -m pip install bluepython`)";
}

// Step 2: a venv whose bin/ holds the executable. `depth` counts venvs made
// by another venv's python, which 3.10 records as home (that venv's bin/).
std::optional<outcome> from_venv(const target& t, const std::string& exe, int depth = 0) {
  const std::string bin = dirname_of(exe);
  std::string venv = bin;
  std::string cfg_path = bin + "/pyvenv.cfg";
  if (!is_file(cfg_path)) {
    venv = dirname_of(bin);
    cfg_path = venv + "/pyvenv.cfg";
    if (!is_file(cfg_path)) return std::nullopt;
  }
  const venv_config cfg = read_venv_config(cfg_path);
  const std::string ours = version_of(t);
  if (!cfg.version.empty() && major_minor(cfg.version) != ours) {
    return refusal{another_version(t, "the virtual environment " + venv, major_minor(cfg.version))};
  }
  if (is_dir(venv + "/lib/python" + ours + "t") && !is_dir(venv + "/lib/python" + ours)) {
    return refusal{"bluepython: the virtual environment " + venv + " is free-threaded CPython " + ours +
                   "t, which is not supported (bluepython relies on the GIL); use the standard " + ours + " build"};
  }
  if (cfg.home.empty()) return refusal{"bluepython: " + cfg_path + " names no home (the base interpreter's folder)"};
  // The base prefix: home's parent (home is <prefix>/bin), or home itself. Never higher:
  // climbing towards / would put another installation (Debian's /lib/python3.X via the
  // /lib symlink) in place of an interpreter that is gone or unreadable.
  for (const std::string& dir : {dirname_of(cfg.home), cfg.home}) {
    if (has_stdlib(dir, ours)) return judge_prefix(t, dir, "venv " + venv + ", home " + cfg.home);
  }
  // home is itself a venv's bin/: its base is ours.
  constexpr int kMaxNesting = 4;
  if (depth < kMaxNesting) {
    if (auto inner = from_venv(t, cfg.home + "/python", depth + 1)) {
      if (const auto* f = std::get_if<found>(&*inner)) {
        return found{f->libpython, "venv " + venv + ", home " + cfg.home + " (a venv: " + f->how + ")"};
      }
      return inner;
    }
  }
  // Else the prefix of the interpreter home holds, by its real path.
  const std::string real = real_path(cfg.home + "/python" + ours);
  if (!real.empty()) {
    const std::string prefix = dirname_of(dirname_of(real));
    if (has_stdlib(prefix, ours)) return judge_prefix(t, prefix, "venv " + venv + ", home " + cfg.home);
  }
  // A home this user may not enter (a pyenv under /root, run as another user) would
  // otherwise read as a removed interpreter.
  struct stat st{};
  if (::stat((cfg.home + "/.").c_str(), &st) != 0 && errno == EACCES) {
    return refusal{"bluepython: the virtual environment " + venv + " has home = " + cfg.home +
                   ", which this user may not read (permission denied)"};
  }
  return refusal{"bluepython: the virtual environment " + venv + " has home = " + cfg.home +
                 ", where no CPython " + ours + " standard library was found (was its interpreter removed?)"};
}

// Step 3: <prefix>/bin/bluepython.
std::optional<outcome> from_prefix(const target& t, const std::string& exe) {
  const std::string prefix = dirname_of(dirname_of(exe));
  if (has_stdlib(prefix, version_of(t))) return judge_prefix(t, prefix, "prefix " + prefix);
  const auto others = stdlib_versions(prefix);
  if (others.size() == 1) return refusal{another_version(t, "the prefix " + prefix, others.front())};
  return std::nullopt;
}

// Step 5: pythonX.Y on $PATH.
std::optional<outcome> from_path(const target& t, const std::string& path_env) {
  const std::string name = "python" + version_of(t);
  std::string_view rest(path_env);
  while (!rest.empty()) {
    const auto colon = rest.find(':');
    std::string dir(rest.substr(0, colon));
    rest.remove_prefix(colon == std::string_view::npos ? rest.size() : colon + 1);
    if (dir.empty()) continue;
    std::string candidate = std::move(dir);
    candidate.append("/").append(name);
    if (::access(candidate.c_str(), X_OK) != 0) continue;
    const std::string real = real_path(candidate);
    if (real.empty()) continue;
    const std::string prefix = dirname_of(dirname_of(real));
    if (has_stdlib(prefix, version_of(t))) return judge_prefix(t, prefix, candidate + " on PATH");
  }
  return std::nullopt;
}

}  // namespace

std::string version_of(const target& t) { return std::to_string(t.major) + "." + std::to_string(t.minor); }

std::string soname_of(const target& t) { return "libpython" + version_of(t) + ".so.1.0"; }

namespace {

// pyvenv.cfg read with read(2), not std::ifstream: a stream would set up
// libstdc++'s locale machinery in every start of the executable.
std::string read_text(const std::string& path) {
  std::string text;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return text;
  std::array<char, 4096> buf{};
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n > 0) {
      text.append(buf.data(), static_cast<std::size_t>(n));
      if (text.size() > (1U << 20U)) break;  // no pyvenv.cfg is this large
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(fd);
  return text;
}

}  // namespace

venv_config read_venv_config(const std::string& path) {
  venv_config cfg;
  const std::string text = read_text(path);
  std::string version_info;
  std::string_view rest(text);
  while (!rest.empty()) {
    const auto newline = rest.find('\n');
    const std::string_view line = rest.substr(0, newline);
    rest.remove_prefix(newline == std::string_view::npos ? rest.size() : newline + 1);
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string key = trim(line.substr(0, eq));
    std::string value = trim(line.substr(eq + 1));
    if (key == "home") {
      cfg.home = std::move(value);
    } else if (key == "version") {
      cfg.version = std::move(value);
    } else if (key == "version_info") {
      version_info = std::move(value);
    }
  }
  if (cfg.version.empty()) cfg.version = version_info;
  while (cfg.home.size() > 1 && cfg.home.back() == '/') cfg.home.pop_back();
  return cfg;
}

outcome find_libpython(const target& t, const process& p) {
  if (!p.libpython_env.empty()) {
    if (is_file(p.libpython_env)) return found{p.libpython_env, "$BLUEPYTHON_LIBPYTHON"};
    return refusal{"bluepython: BLUEPYTHON_LIBPYTHON=" + p.libpython_env + " is not a file"};
  }
  std::vector<std::string> exes{p.invoked};
  if (!p.self.empty() && p.self != p.invoked) exes.push_back(p.self);
  for (const auto& exe : exes) {
    if (exe.empty()) continue;
    if (auto verdict = from_venv(t, exe)) return *verdict;
  }
  for (const auto& exe : exes) {
    if (exe.empty()) continue;
    if (auto verdict = from_prefix(t, exe)) return *verdict;
  }
  if (!t.hint.empty() && is_file(t.hint)) return found{t.hint, "recorded at build time"};
  if (auto verdict = from_path(t, p.path_env)) return *verdict;
  return found{soname_of(t), "the dynamic loader's search path"};
}

std::optional<refusal> check_loaded(const target& t, const std::string& library, const std::string& version_text) {
  const std::string ours = version_of(t);
  const std::string theirs = version_text.substr(0, version_text.find(' '));
  if (major_minor(theirs) != ours) {
    return refusal{"bluepython: " + library + " is CPython " + (theirs.empty() ? "of an unknown version" : theirs) +
                   ", but this bluepython serves CPython " + ours};
  }
  if (version_text.find("free-threading") != std::string::npos) {
    return refusal{"bluepython: " + library + " is free-threaded CPython " + ours +
                   "t, which is not supported (bluepython relies on the GIL); use the standard " + ours + " build"};
  }
  return std::nullopt;
}

std::string find_core(const target& t, const std::string& self, std::vector<std::string>& looked) {
  static constexpr std::string_view kName = "libbluepython-core.so";
  const std::string dir = dirname_of(self);
  const std::string prefix = dirname_of(dir);
  const std::string version = version_of(t);
  const std::array<std::string, 6> candidates{
      dir + "/" + std::string(kName),
      prefix + "/lib/python" + version + "/site-packages/bluepython_core/" + std::string(kName),
      prefix + "/lib/python" + version + "/dist-packages/bluepython_core/" + std::string(kName),
      prefix + "/lib64/python" + version + "/site-packages/bluepython_core/" + std::string(kName),
      prefix + "/lib/bluepython/" + std::string(kName),
      prefix + "/bluepython_core/" + std::string(kName),
  };
  for (const auto& candidate : candidates) {
    looked.push_back(candidate);
    if (is_file(candidate)) return candidate;
  }
  if (!t.core_hint.empty()) {
    looked.push_back(t.core_hint);
    if (is_file(t.core_hint)) return t.core_hint;
  }
  return {};
}

}  // namespace bluepython::loader
