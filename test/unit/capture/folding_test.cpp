// SPDX-License-Identifier: Apache-2.0
#include "capture/folding.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "python_fixture.hpp"
#include "pyapi/call_context.hpp"
#include "pyapi/py_ref.hpp"

using bluepython::py_ref;
using bluepython::capture::call_ends;
using bluepython::capture::call_id_of;
using bluepython::capture::report;

TEST_CASE("call_id_of finds the call_id member of a call's JSON", "[folding]") {
  CHECK(call_id_of(R"("mcp":{"call_id":"u:1","method":"tools/call"})") == "u:1");
  CHECK(call_id_of(R"({"method":"x","call_id":"abc"})") == "abc");
  CHECK(call_id_of(R"({"call_id":""})").empty());
  CHECK(call_id_of(R"({"method":"tools/call"})").empty());
  CHECK(call_id_of(R"({"call_id":"unterminated)").empty());
  CHECK(call_id_of("").empty());
  CHECK(call_id_of(R"({"call_id":"first","call_id":"second"})") == "first");
}

namespace {

// Makes a call current (as the hooks' enter_call does) for the guard's life.
class in_call {
 public:
  explicit in_call(const std::string& json) {
    bluepython::test::python();
    const py_ref dict(PyDict_New());
    const py_ref value(Py_BuildValue("(s#O)", json.data(), static_cast<Py_ssize_t>(json.size()), dict.get()));
    token_.reset(PyContextVar_Set(bluepython::call_context::variable(), value.get()));
    REQUIRE(token_);
  }
  in_call(const in_call&) = delete;
  in_call& operator=(const in_call&) = delete;
  ~in_call() {
    if (PyContextVar_Reset(bluepython::call_context::variable(), token_.get()) < 0) PyErr_Clear();
  }

 private:
  py_ref token_;
};

std::vector<std::string> lines_with(const std::string& marker) {
  std::vector<std::string> found;
  for (const auto& line : bluepython::test::spool_lines()) {
    if (line.find(marker) != std::string::npos) found.push_back(line);
  }
  return found;
}

}  // namespace

TEST_CASE("repeats within a call are written once, then counted when it ends", "[folding][python]") {
  {
    const in_call call(R"({"call_id":"unit-fold:1","method":"tools/call"})");
    for (int i = 0; i < 3; ++i) report("python_file_open", R"("path":"fold-repeated")");
    report("python_file_open", R"("path":"fold-once")");
    auto repeated = lines_with("fold-repeated");
    REQUIRE(repeated.size() == 1);
    CHECK(repeated[0].find("\"repeated\"") == std::string::npos);
    CHECK(repeated[0].find(R"("scope":"call")") != std::string::npos);
    CHECK(repeated[0].find("unit-fold:1") != std::string::npos);
    call_ends(R"({"call_id":"unit-fold:1"})");
  }
  const auto repeated = lines_with("fold-repeated");
  REQUIRE(repeated.size() == 2);
  CHECK(repeated[1].find(R"("repeated":2)") != std::string::npos);
  CHECK(repeated[1].find("unit-fold:1") != std::string::npos);  // the call's context, kept
  CHECK(lines_with("fold-once").size() == 1);                     // nothing to add for it
  call_ends(R"({"call_id":"unit-fold:1"})");                      // again: nothing more
  CHECK(lines_with("fold-repeated").size() == 2);
}

TEST_CASE("each call folds its own events", "[folding][python]") {
  {
    const in_call a(R"({"call_id":"unit-fold:a"})");
    report("python_file_open", R"("path":"fold-per-call")");
    report("python_file_open", R"("path":"fold-per-call")");
  }
  {
    const in_call b(R"({"call_id":"unit-fold:b"})");
    report("python_file_open", R"("path":"fold-per-call")");
    call_ends(R"({"call_id":"unit-fold:b"})");  // b saw it once: no repeat line
  }
  CHECK(lines_with("fold-per-call").size() == 2);
  call_ends(R"({"call_id":"unit-fold:a"})");
  const auto lines = lines_with("fold-per-call");
  REQUIRE(lines.size() == 3);
  CHECK(lines[2].find(R"("repeated":1)") != std::string::npos);
  CHECK(lines[2].find("unit-fold:a") != std::string::npos);
}

TEST_CASE("outside a call nothing is folded", "[folding][python]") {
  bluepython::test::python();
  report("python_file_open", R"("path":"fold-outside")");
  report("python_file_open", R"("path":"fold-outside")");
  const auto lines = lines_with("fold-outside");
  REQUIRE(lines.size() == 2);
  CHECK(std::none_of(lines.begin(), lines.end(),
                     [](const std::string& l) { return l.find("\"repeated\"") != std::string::npos; }));
  CHECK(lines[0].find(R"("scope":"call")") == std::string::npos);
  call_ends("");  // no call id: nothing
  call_ends(R"({"call_id":"never-seen"})");
  CHECK(lines_with("fold-outside").size() == 2);
}
