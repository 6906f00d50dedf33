// SPDX-License-Identifier: Apache-2.0
// The rule by which the executable finds the CPython it serves, on real
// directory trees (prefixes and venvs laid out as CPython lays them out).
#include "loader/locate.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <variant>

namespace fs = std::filesystem;
using namespace bluepython::loader;

namespace {

struct tree {
  fs::path root;
  tree() {
    std::string tmpl = (fs::temp_directory_path() / "bp-locate-XXXXXX").string();
    root = ::mkdtemp(tmpl.data());
  }
  ~tree() { fs::remove_all(root); }
  tree(const tree&) = delete;
  tree& operator=(const tree&) = delete;

  std::string file(const std::string& rel, const std::string& text = "") const {
    const fs::path p = root / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
    return p.string();
  }
  // <prefix>/bin/pythonX.Y, its standard library and (unless static) libpython.
  std::string prefix(const std::string& rel, const std::string& version, const std::string& libdir = "lib",
                     bool shared = true) const {
    file(rel + "/lib/python" + version + "/os.py");
    file(rel + "/bin/python" + version);
    fs::permissions(root / rel / "bin" / ("python" + version), fs::perms::owner_all);
    if (shared) file(rel + "/" + libdir + "/libpython" + version + ".so.1.0");
    return (root / rel).string();
  }
  std::string venv(const std::string& rel, const std::string& home, const std::string& version) const {
    file(rel + "/pyvenv.cfg", "home = " + home + "\ninclude-system-site-packages = false\nversion = " + version + "\n");
    return (root / rel).string();
  }
};

const target k312{3, 12, "x86_64-linux-gnu", "", ""};

process at(const std::string& exe, const std::string& path_env = "") {
  process p;
  p.invoked = exe;
  p.self = exe;
  p.path_env = path_env;
  return p;
}

std::string refused(const outcome& o) {
  const auto* r = std::get_if<refusal>(&o);
  REQUIRE(r != nullptr);
  CHECK(r->message.rfind("bluepython: ", 0) == 0);
  CHECK(r->message.find('\n') == std::string::npos);
  return r->message;
}

found accepted(const outcome& o) {
  const auto* f = std::get_if<found>(&o);
  if (f == nullptr) FAIL(std::get<refusal>(o).message);
  return *f;
}

}  // namespace

TEST_CASE("a venv's pyvenv.cfg leads to its base interpreter's libpython", "[loader]") {
  tree t;
  const std::string base = t.prefix("pyenv/3.12.1", "3.12");
  const std::string venv = t.venv("venv", base + "/bin", "3.12.1");
  const found f = accepted(find_libpython(k312, at(venv + "/bin/bluepython")));
  CHECK(f.libpython == base + "/lib/libpython3.12.so.1.0");
  CHECK(f.how.find("venv " + venv) == 0);
}

TEST_CASE("Debian's layout: /usr/bin home, libpython in the multiarch folder", "[loader]") {
  tree t;
  const std::string usr = t.prefix("usr", "3.12", "lib/x86_64-linux-gnu");
  const std::string venv = t.venv("venv", usr + "/bin", "3.12.3");
  CHECK(accepted(find_libpython(k312, at(venv + "/bin/bluepython"))).libpython ==
        usr + "/lib/x86_64-linux-gnu/libpython3.12.so.1.0");
  // Installed into the prefix itself (a .deb, or pip into /usr/local of an image).
  CHECK(accepted(find_libpython(k312, at(usr + "/bin/bluepython"))).how == "prefix " + usr);
}

TEST_CASE("a venv of another version is refused, naming both versions", "[loader]") {
  tree t;
  const std::string base = t.prefix("py311", "3.11");
  const std::string venv = t.venv("venv", base + "/bin", "3.11.7");
  const std::string message = refused(find_libpython(k312, at(venv + "/bin/bluepython")));
  CHECK(message.find("serves CPython 3.12") != std::string::npos);
  CHECK(message.find("is CPython 3.11") != std::string::npos);
}

TEST_CASE("versions outside 3.10-3.13 in a venv are refused the same way", "[loader]") {
  tree t;
  for (const std::string version : {"3.9.18", "3.14.0"}) {
    const std::string venv = t.venv("venv-" + version, "/nonexistent/bin", version);
    CHECK(refused(find_libpython(k312, at(venv + "/bin/bluepython"))).find(version.substr(0, 4)) != std::string::npos);
  }
}

TEST_CASE("a prefix without a shared libpython is refused, not passed over", "[loader]") {
  tree t;
  const std::string base = t.prefix("static", "3.12", "lib", false);
  const std::string message = refused(find_libpython(k312, at(base + "/bin/bluepython")));
  CHECK(message.find("--enable-shared") != std::string::npos);
  CHECK(message.find("libpython3.12.so.1.0") != std::string::npos);
}

TEST_CASE("a free-threaded venv is refused", "[loader]") {
  tree t;
  const std::string base = t.prefix("py313", "3.13t");
  t.file("venv/lib/python3.13t/site-packages/.keep");
  const std::string venv = t.venv("venv", base + "/bin", "3.13.0");
  const target k313{3, 13, "", "", ""};
  CHECK(refused(find_libpython(k313, at(venv + "/bin/bluepython"))).find("free-threaded") != std::string::npos);
}

TEST_CASE("a prefix of another version is refused", "[loader]") {
  tree t;
  const std::string base = t.prefix("usr-local", "3.11");
  CHECK(refused(find_libpython(k312, at(base + "/bin/bluepython"))).find("is CPython 3.11") != std::string::npos);
}

TEST_CASE("outside any prefix: the recorded hint, then pythonX.Y on PATH, then the soname", "[loader]") {
  tree t;
  const std::string base = t.prefix("opt/python", "3.12");
  const std::string lonely = t.file("home/.local/bin/bluepython");
  const std::string hint = t.file("hint/libpython3.12.so.1.0");

  target with_hint = k312;
  with_hint.hint = hint;
  CHECK(accepted(find_libpython(with_hint, at(lonely, base + "/bin"))).libpython == hint);

  const found on_path = accepted(find_libpython(k312, at(lonely, "/nonexistent:" + base + "/bin")));
  CHECK(on_path.libpython == base + "/lib/libpython3.12.so.1.0");
  CHECK(on_path.how == base + "/bin/python3.12 on PATH");

  const found last = accepted(find_libpython(k312, at(lonely, "/nonexistent")));
  CHECK(last.libpython == "libpython3.12.so.1.0");
}

TEST_CASE("a symlinked executable: the invoked path's venv first, then the real one's", "[loader]") {
  tree t;
  const std::string base = t.prefix("base", "3.12");
  const std::string venv = t.venv("venv", base + "/bin", "3.12.1");
  process p = at(t.file("elsewhere/bin/bluepython"));
  p.self = venv + "/bin/bluepython";
  CHECK(accepted(find_libpython(k312, p)).how.find("venv " + venv) == 0);
}

TEST_CASE("$BLUEPYTHON_LIBPYTHON wins, and must exist", "[loader]") {
  tree t;
  const std::string lib = t.file("custom/libpython3.12.so.1.0");
  process p = at("/nonexistent/bin/bluepython");
  p.libpython_env = lib;
  CHECK(accepted(find_libpython(k312, p)).how == "$BLUEPYTHON_LIBPYTHON");
  p.libpython_env = lib + ".missing";
  CHECK(refused(find_libpython(k312, p)).find("BLUEPYTHON_LIBPYTHON") != std::string::npos);
}

TEST_CASE("the core is found next to the executable or in the environment's site-packages", "[loader]") {
  tree t;
  std::vector<std::string> looked;
  const std::string venv = (t.root / "venv").string();
  CHECK(find_core(k312, venv + "/bin/bluepython", looked).empty());
  CHECK(looked.size() > 3);
  const std::string core = t.file("venv/lib/python3.12/site-packages/bluepython_core/libbluepython-core.so");
  CHECK(find_core(k312, venv + "/bin/bluepython", looked) == core);
  const std::string deb = t.file("usr/lib/bluepython/libbluepython-core.so");
  CHECK(find_core(k312, (t.root / "usr/bin/bluepython").string(), looked) == deb);
  // A build-tree executable copied elsewhere: the core where the build left it.
  target built = k312;
  built.core_hint = t.file("build/libbluepython-core.so");
  CHECK(find_core(built, (t.root / "elsewhere/bluepython").string(), looked) == built.core_hint);
}

TEST_CASE("pyvenv.cfg: keys trimmed, version_info when version is absent (uv)", "[loader]") {
  tree t;
  const std::string cfg = t.file("a/pyvenv.cfg", "home = /opt/py/bin/ \r\nimplementation = CPython\nversion_info = 3.12.4\n");
  const venv_config c = read_venv_config(cfg);
  CHECK(c.home == "/opt/py/bin");
  CHECK(c.version == "3.12.4");
}

TEST_CASE("the library loaded must be the version served, and not free-threaded", "[loader]") {
  CHECK_FALSE(check_loaded(k312, "/x/libpython3.12.so.1.0", "3.12.1 (main, May  9 2026, 07:35:25) [GCC 12.2.0]"));
  const auto other = check_loaded(k312, "/x/libpython3.11.so.1.0", "3.11.7 (main, May  9 2026) [GCC 12.2.0]");
  REQUIRE(other);
  CHECK(other->message == "bluepython: /x/libpython3.11.so.1.0 is CPython 3.11.7, but this bluepython serves CPython 3.12");
  const target k313{3, 13, "", "", ""};
  const auto ft = check_loaded(k313, "/x/libpython3.13t.so", "3.13.0 experimental free-threading build (main) [GCC]");
  REQUIRE(ft);
  CHECK(ft->message.find("free-threaded CPython 3.13t") != std::string::npos);
  CHECK(check_loaded(k312, "/x/lib.so", "")->message.find("unknown version") != std::string::npos);
}

TEST_CASE("a venv made by another venv's python (3.10 records that venv's bin/ as home)", "[loader]") {
  tree t;
  const std::string base = t.prefix("base", "3.12");
  const std::string outer = t.venv("outer", base + "/bin", "3.12.1");
  const std::string inner = t.venv("inner", outer + "/bin", "3.12.1");
  const found f = accepted(find_libpython(k312, at(inner + "/bin/bluepython")));
  CHECK(f.libpython == base + "/lib/libpython3.12.so.1.0");
  CHECK(f.how.find("venv " + inner + ", home " + outer + "/bin (a venv: venv " + outer) == 0);
}

TEST_CASE("a home with no standard library above it: the prefix of its python's real path", "[loader]") {
  tree t;
  const std::string base = t.prefix("opt/py", "3.12");
  fs::create_directories(t.root / "links");
  fs::create_symlink(base + "/bin/python3.12", t.root / "links" / "python3.12");
  const std::string venv = t.venv("venv", (t.root / "links").string(), "3.12.1");
  CHECK(accepted(find_libpython(k312, at(venv + "/bin/bluepython"))).libpython == base + "/lib/libpython3.12.so.1.0");
}

TEST_CASE("a home whose interpreter is gone is refused, not replaced by an installation further up",
          "[loader]") {
  tree t;
  const std::string prefix = t.prefix("opt/py", "3.12");
  const std::string venv = t.venv("venv", prefix + "/versions/3.12.1/bin", "3.12.1");
  const std::string message = refused(find_libpython(k312, at(venv + "/bin/bluepython")));
  CHECK(message.find("where no CPython 3.12 standard library was found") != std::string::npos);
}
