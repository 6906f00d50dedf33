// SPDX-License-Identifier: Apache-2.0
#include "capture/filters.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <string>
#include <vector>

#include "python_fixture.hpp"
#include "pyapi/py_ref.hpp"

using bluepython::pattern_filter;
using bluepython::py_ref;
using bluepython::category;
using bluepython::capture::find_audit_event;
using bluepython::capture::passes;

namespace {

bool text_passes(const pattern_filter& f, std::vector<std::string> subjects) { return passes(f, subjects); }

}  // namespace

TEST_CASE("no patterns: every event passes", "[filters]") {
  const pattern_filter none;
  CHECK(text_passes(none, {}));
  CHECK(text_passes(none, {"/anything"}));
}

TEST_CASE("an excluded subject filters the event out, whichever subject it is", "[filters]") {
  const pattern_filter f{{}, {"/etc/*", "*.secret"}};
  CHECK_FALSE(text_passes(f, {"/etc/passwd"}));
  CHECK_FALSE(text_passes(f, {"/tmp/ok", "/home/a.secret"}));
  CHECK(text_passes(f, {"/tmp/ok", "/home/a.txt"}));
  CHECK(text_passes(f, {"etc/passwd"}));  // patterns are anchored
  // fnmatch without FNM_PATHNAME: `*` also matches `/`.
  CHECK_FALSE(text_passes(f, {"/etc/ssl/certs/x"}));
}

TEST_CASE("with include patterns one subject must match", "[filters]") {
  const pattern_filter f{{"localhost", "127.0.0.*"}, {}};
  CHECK(text_passes(f, {"localhost"}));
  CHECK(text_passes(f, {"example.com", "127.0.0.1"}));
  CHECK_FALSE(text_passes(f, {"example.com"}));
  CHECK_FALSE(text_passes(f, {"LOCALHOST"}));  // case matters
}

TEST_CASE("exclude wins over include", "[filters]") {
  const pattern_filter f{{"/srv/*"}, {"/srv/private/*"}};
  CHECK(text_passes(f, {"/srv/app/x"}));
  CHECK_FALSE(text_passes(f, {"/srv/private/x"}));
  CHECK_FALSE(text_passes(f, {"/srv/app/x", "/srv/private/y"}));
}

TEST_CASE("an event that names nothing is never filtered out", "[filters]") {
  const pattern_filter f{{"/srv/*"}, {"*"}};
  CHECK(text_passes(f, {}));
  CHECK(text_passes(f, {"", ""}));
  CHECK_FALSE(text_passes(f, {"", "/srv/x"}));
}

TEST_CASE("matches_any is shell-style matching", "[filters]") {
  using bluepython::capture::matches_any;
  CHECK(matches_any({"*.py"}, "a/b.py"));
  CHECK(matches_any({"[ab]?"}, "bz"));
  CHECK_FALSE(matches_any({"[ab]?"}, "cz"));
  CHECK_FALSE(matches_any({}, "x"));
}

// The fixture's sensor has process patterns include "*/bin/*", exclude "*/bin/false".
TEST_CASE("Python subjects: str, bytes and path-likes are read as text", "[filters][python]") {
  bluepython::test::run_python(
      "import pathlib\n"
      "class Raises:\n"
      "    def __fspath__(self):\n"
      "        raise RuntimeError('no path')\n"
      "subjects = ['/bin/true', b'/bin/false', pathlib.Path('/bin/ls'), '/usr/local/x', None, 5, Raises(),\n"
      "            pathlib.Path('/bin/false')]\n");
  const py_ref subjects(bluepython::test::main_object("subjects"));
  REQUIRE(subjects);
  auto one = [&](Py_ssize_t i) {
    const std::array<PyObject*, 1> s{PyList_GET_ITEM(subjects.get(), i)};
    return passes(category::process, s);
  };
  CHECK(one(0));
  CHECK_FALSE(one(1));
  CHECK(one(2));
  CHECK_FALSE(one(3));  // not included
  CHECK(one(4));        // names nothing
  CHECK(one(5));
  CHECK(one(6));  // a path-like that raises names nothing; the error is not left pending
  CHECK(PyErr_Occurred() == nullptr);
  CHECK_FALSE(one(7));
  const std::array<PyObject*, 2> pair{PyList_GET_ITEM(subjects.get(), 0), PyList_GET_ITEM(subjects.get(), 1)};
  CHECK_FALSE(passes(category::process, pair));
  // Categories without patterns pass everything.
  const std::array<PyObject*, 1> files{PyList_GET_ITEM(subjects.get(), 3)};
  CHECK(passes(category::files, files));
}

TEST_CASE("audit event arguments are filtered as their row says", "[filters][python]") {
  bluepython::test::run_python(
      "class Emptying:\n"
      "    def __fspath__(self):\n"
      "        argv.clear()\n"
      "        return '/bin/false'\n"
      "argv = [Emptying()] + [str(i) for i in range(20)]\n"
      "exec_false = ('/bin/false', ['false'], None)\n"
      "exec_true = ('/bin/true', ['true'], None)\n"
      "popen_false = (None, ['/bin/false', 'x'], None, None)\n"
      "popen_program = ('/bin/true', ['/bin/false'], None, None)\n"
      "popen_hostile = (None, argv, None, None)\n");
  const auto* exec = find_audit_event("os.exec");
  const auto* popen = find_audit_event("subprocess.Popen");
  REQUIRE(exec != nullptr);
  REQUIRE(popen != nullptr);
  auto args = [](const char* name) { return py_ref(bluepython::test::main_object(name)); };
  CHECK_FALSE(passes(*exec, args("exec_false").get()));
  CHECK(passes(*exec, args("exec_true").get()));
  CHECK_FALSE(passes(*popen, args("popen_false").get()));
  CHECK_FALSE(passes(*popen, args("popen_program").get()));  // either subject excluded
  // The first argv item is held while its __fspath__ empties the list.
  CHECK_FALSE(passes(*popen, args("popen_hostile").get()));
  CHECK(passes(*popen, nullptr));  // no arguments: names nothing
}
