// SPDX-License-Identifier: Apache-2.0
#include "tools/tail.hpp"

#include <catch2/catch.hpp>

using namespace bluepython;
using json = nlohmann::json;

namespace {

json file_open_in_call() {
  return json::parse(R"({"ts":"2025-01-01T10:20:30.456789Z","event":{
    "meta":{"name":"python_file_open","uuid":"u"},
    "context":{"process":{"pid":42},"scope":"call",
               "mcp":{"call_id":"u:7","session_id":"s1","request_id":7,"method":"tools/call","target":"touch"}},
    "access":"write","path":"notes.txt"}})");
}

}  // namespace

TEST_CASE("a tail line shows time, pid, event, call and summary", "[tail]") {
  const tail::view v = tail::view_of(file_open_in_call());
  CHECK(v.ts == "10:20:30.456");
  CHECK(v.pid == 42);
  CHECK(v.tool == "touch");
  CHECK(v.summary == "write notes.txt");
  CHECK(tail::format(v, false) == "10:20:30.456      42 python_file_open         [touch#7] write notes.txt");
}

TEST_CASE("tail filters match names by pattern and fields exactly or by text", "[tail]") {
  const tail::view v = tail::view_of(file_open_in_call());
  CHECK(tail::matches(v, {tail::parse_filter("name=python_file_*")}));
  CHECK(tail::matches(v, {tail::parse_filter("tool=touch"), tail::parse_filter("pid=42")}));
  CHECK_FALSE(tail::matches(v, {tail::parse_filter("tool!=touch")}));
  CHECK(tail::matches(v, {tail::parse_filter("session~s")}));
  CHECK_THROWS(tail::parse_filter("colour=red"));
  CHECK_THROWS(tail::parse_filter("tool"));
}

TEST_CASE("tail names a call by its request id and shows a folded repeat with its count", "[tail]") {
  json line = file_open_in_call();
  line["event"]["context"]["mcp"]["call_id"] = "u:3";  // the third call of the process, request id 7
  CHECK(tail::format(tail::view_of(line), false) ==
        "10:20:30.456      42 python_file_open         [touch#7] write notes.txt");
  line["event"]["repeated"] = 2;
  CHECK(tail::format(tail::view_of(line), false) ==
        "10:20:30.456      42 python_file_open         [touch#7] write notes.txt (repeated 2 more times in this call)");
  line["event"]["repeated"] = 1;
  CHECK_THAT(tail::format(tail::view_of(line), false), Catch::Matchers::EndsWith("(repeated 1 more time in this call)"));
}
