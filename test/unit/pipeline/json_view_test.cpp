// SPDX-License-Identifier: Apache-2.0
#include "pipeline/json_view.hpp"

#include <catch2/catch.hpp>
#include <string>

#include <nlohmann/json.hpp>

using bluepython::json_view::member;
using bluepython::json_view::plain_string;
using bluepython::json_view::skip_value;

TEST_CASE("json_view finds members without parsing the others", "[json_view]") {
  const std::string doc =
      R"({"ts":"2026-11-22T03:03:39.720138Z","event":{"meta":{"name":"python_mcp_event","n":-1.5e3},)"
      R"("message":{"params":{"name":"a\"}{,","_meta":{"traceparent":"00-x"}},"list":[1,[2,{"}":"]"}],3]},)"
      R"("empty":{},"t":true,"f":false,"z":null}})";
  const auto event = member(doc, "event");
  CHECK(member(member(event, "meta"), "name") == R"("python_mcp_event")");
  CHECK(member(member(event, "meta"), "n") == "-1.5e3");
  const auto params = member(member(event, "message"), "params");
  CHECK(member(params, "name") == R"("a\"}{,")");
  CHECK(member(member(params, "_meta"), "traceparent") == R"("00-x")");
  CHECK(member(member(event, "message"), "list") == R"([1,[2,{"}":"]"}],3])");
  CHECK(member(event, "empty") == "{}");
  CHECK(member(event, "t") == "true");
  CHECK(member(event, "f") == "false");
  CHECK(member(event, "z") == "null");
  CHECK(member(doc, "ts") == R"("2026-11-22T03:03:39.720138Z")");
  CHECK(member(event, "missing").empty());
  CHECK(member(member(event, "empty"), "x").empty());
  // Every member found is exactly the text nlohmann parses for it.
  const auto parsed = nlohmann::json::parse(doc);
  for (const auto& [key, value] : parsed["event"].items()) {
    CHECK(nlohmann::json::parse(member(event, key)) == value);
  }
}

TEST_CASE("json_view tolerates whitespace and rejects what is not an object", "[json_view]") {
  CHECK(member(" { \"a\" : [ 1 , 2 ] , \"b\" : \"x\" } ", "b") == R"("x")");
  CHECK(member(" { \"a\" : [ 1 , 2 ] , \"b\" : \"x\" } ", "a") == "[ 1 , 2 ]");
  CHECK(member("[1,2]", "a").empty());
  CHECK(member("", "a").empty());
  CHECK(member("{\"a\" 1}", "a").empty());
  CHECK(member("{\"a\":\"unterminated", "b").empty());
  CHECK(skip_value("\"abc", 0) == 4);  // runs to the end, never past it
}

TEST_CASE("plain_string gives the contents unless escapes need decoding", "[json_view]") {
  bool escaped = true;
  CHECK(plain_string(R"("tools/call")", escaped) == "tools/call");
  CHECK_FALSE(escaped);
  CHECK(plain_string(R"("a\nb")", escaped).empty());
  CHECK(escaped);
  CHECK(plain_string("42", escaped).empty());
  CHECK_FALSE(escaped);
}
