// SPDX-License-Identifier: Apache-2.0
#include "pipeline/json_writer.hpp"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

using bluepython::json_limits;
using bluepython::json_writer;

namespace {

std::string encode_string(std::string_view s, json_limits limits = {}) {
  std::string out;
  json_writer w(out, limits);
  w.string(s);
  return out;
}

bool is_valid_utf8_json(const std::string& text) {
  try {
    const auto parsed = nlohmann::json::parse(text);  // strict: rejects invalid UTF-8
    return !parsed.is_discarded();
  } catch (...) {
    return false;
  }
}

}  // namespace

TEST_CASE("plain strings pass through unchanged", "[json_writer]") {
  CHECK(encode_string("hello") == "\"hello\"");
  CHECK(encode_string("") == "\"\"");
  CHECK(encode_string("h\xC3\xA9llo \xF0\x9F\x98\x80") == "\"h\xC3\xA9llo \xF0\x9F\x98\x80\"");
}

TEST_CASE("quotes, backslashes and control characters are escaped", "[json_writer]") {
  CHECK(encode_string("a\"b\\c") == R"("a\"b\\c")");
  CHECK(encode_string("\n\r\t\b\f") == R"("\n\r\t\b\f")");
  CHECK(encode_string(std::string_view("\x00\x01\x1f", 3)) == R"("\u0000\u0001\u001f")");
  CHECK(encode_string("\x7f") == "\"\x7f\"");
}

TEST_CASE("invalid UTF-8 becomes U+FFFD and the result parses", "[json_writer]") {
  const std::string replacement = "\xEF\xBF\xBD";
  CHECK(encode_string("\xFF") == "\"" + replacement + "\"");
  CHECK(encode_string("a\xC3") == "\"a" + replacement + "\"");        // truncated sequence
  CHECK(encode_string("\xC0\xAF") == "\"" + replacement + replacement + "\"");  // overlong
  CHECK(encode_string("\xED\xA0\x80") == "\"" + replacement + replacement + replacement + "\"");  // lone surrogate
  CHECK(encode_string("\xF4\x90\x80\x80").find(replacement) != std::string::npos);  // > U+10FFFF
  for (const char* bad : {"\x80", "\xBF\xBF", "\xE2\x82", "\xF0\x9F\x98", "\xFE\xFF", "\xED\xBF\xBF"}) {
    CHECK(is_valid_utf8_json(encode_string(bad)));
  }
}

TEST_CASE("every byte string encodes to valid JSON", "[json_writer]") {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (int i = 0; i < 256; ++i) all += static_cast<char>(255 - i);
  CHECK(is_valid_utf8_json(encode_string(all)));
}

TEST_CASE("long strings are truncated with a marker naming the original length", "[json_writer]") {
  json_limits limits;
  limits.max_string_bytes = 16;
  const std::string input(1000, 'x');
  const std::string out = encode_string(input, limits);
  CHECK(out.starts_with("\"xxxxxxxxxxxxxxxx...[truncated by bluepython; original 1000 bytes]\""));
  CHECK(is_valid_utf8_json(out));
  // Truncation never splits a multi-byte character.
  std::string multi;
  for (int i = 0; i < 20; ++i) multi += "\xE2\x82\xAC";  // euro sign, 3 bytes
  const std::string cut = encode_string(multi, limits);
  CHECK(is_valid_utf8_json(cut));
  CHECK(cut.find("\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC\xE2\x82\xAC...") != std::string::npos);
}

TEST_CASE("numbers: NaN and infinities become null", "[json_writer]") {
  std::string out;
  json_writer w(out);
  w.begin_array();
  w.number(1.5);
  w.number(std::nan(""));
  w.number(std::numeric_limits<double>::infinity());
  w.number(-std::numeric_limits<double>::infinity());
  w.integer(-42);
  w.unsigned_integer(18446744073709551615ULL);
  w.end_array();
  CHECK(out == "[1.5,null,null,null,-42,18446744073709551615]");
}

TEST_CASE("objects and arrays get commas in the right places", "[json_writer]") {
  std::string out;
  json_writer w(out);
  w.begin_object();
  w.key("a");
  w.integer(1);
  w.key("b");
  w.begin_array();
  w.string("x");
  w.null();
  w.begin_object();
  w.end_object();
  w.end_array();
  w.key("c");
  w.boolean(true);
  w.end_object();
  CHECK(out == R"({"a":1,"b":["x",null,{}],"c":true})");
  const auto parsed = nlohmann::json::parse(out);
  CHECK(parsed["b"].size() == 3);
}

TEST_CASE("keys are escaped too", "[json_writer]") {
  std::string out;
  json_writer w(out);
  w.begin_object();
  w.key("we\"ird\xFF");
  w.null();
  w.end_object();
  CHECK(is_valid_utf8_json(out));
}

// The copy loop scans 8 bytes at a time: a byte that needs escaping must be
// found at every offset in the word and in the tail after the last word.
TEST_CASE("a byte needing an escape is found at every offset", "[json_writer]") {
  const std::string specials[] = {"\"", "\\", "\n", std::string(1, '\0'), "\x1f", "\x7f", "\xc3\xa9", "\xff"};
  const std::string expected[] = {"\\\"", "\\\\", "\\n", "\\u0000", "\\u001f", "\x7f", "\xc3\xa9", "\xEF\xBF\xBD"};
  for (std::size_t k = 0; k < std::size(specials); ++k) {
    for (std::size_t length = 1; length <= 26; ++length) {
      for (std::size_t at = 0; at < length; ++at) {
        std::string input(length, 'a');
        input.replace(at, 1, specials[k]);
        std::string want = "\"" + std::string(at, 'a') + expected[k] + std::string(length - at - 1, 'a') + "\"";
        INFO("special #" << k << " at " << at << " of " << length);
        REQUIRE(encode_string(input) == want);
      }
    }
  }
}

TEST_CASE("bytes just inside the plain range are copied as they are", "[json_writer]") {
  // 0x20 (space), 0x21, 0x23, 0x5b, 0x5d and 0x7e border the escaped bytes.
  const std::string plain = " !#[]~ !#[]~ !#[]~";
  REQUIRE(encode_string(plain) == "\"" + plain + "\"");
}
