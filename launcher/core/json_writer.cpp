// SPDX-License-Identifier: Apache-2.0
#include "json_writer.hpp"

#include <array>
#include <charconv>
#include <cmath>

namespace bluepython {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid
// (overlong forms, surrogates, code points above U+10FFFF, truncation).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept {
  const auto b0 = static_cast<unsigned char>(s[i]);
  const std::size_t left = s.size() - i;
  auto cont = [&](std::size_t k) { return (static_cast<unsigned char>(s[i + k]) & 0xC0U) == 0x80U; };
  if (b0 < 0x80U) return 1;
  if (b0 >= 0xC2U && b0 <= 0xDFU) return (left >= 2 && cont(1)) ? 2 : 0;
  if (b0 >= 0xE0U && b0 <= 0xEFU) {
    if (left < 3 || !cont(1) || !cont(2)) return 0;
    const auto b1 = static_cast<unsigned char>(s[i + 1]);
    if (b0 == 0xE0U && b1 < 0xA0U) return 0;   // overlong
    if (b0 == 0xEDU && b1 >= 0xA0U) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (b0 >= 0xF0U && b0 <= 0xF4U) {
    if (left < 4 || !cont(1) || !cont(2) || !cont(3)) return 0;
    const auto b1 = static_cast<unsigned char>(s[i + 1]);
    if (b0 == 0xF0U && b1 < 0x90U) return 0;  // overlong
    if (b0 == 0xF4U && b1 >= 0x90U) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

}  // namespace

std::size_t json_writer::append_escaped(std::string& out, std::string_view value,
                                        std::size_t max_bytes) {
  static constexpr std::array<char, 16> hex = {'0', '1', '2', '3', '4', '5', '6', '7',
                                               '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
  std::size_t i = 0;
  std::size_t produced = 0;
  const std::size_t n = value.size();
  while (i < n) {
    // Fast path: a run of plain printable ASCII is copied in one go.
    std::size_t run = i;
    while (run < n) {
      const auto c = static_cast<unsigned char>(value[run]);
      if (c < 0x20U || c == '"' || c == '\\' || c >= 0x80U) break;
      ++run;
    }
    if (run > i) {
      std::size_t take = run - i;
      if (produced + take > max_bytes) take = max_bytes - produced;
      out.append(value.data() + i, take);
      produced += take;
      i += take;
      if (produced >= max_bytes) return i;
      continue;
    }
    const auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x80U) {
      if (produced + 1 > max_bytes) return i;
      switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        default: {
          const char esc[] = {'\\', 'u', '0', '0', hex[c >> 4U], hex[c & 0xFU]};
          out.append(esc, sizeof esc);
        }
      }
      ++produced;
      ++i;
      continue;
    }
    const std::size_t len = utf8_sequence_length(value, i);
    if (len == 0) {
      if (produced + 1 > max_bytes) return i;
      out += kReplacement;
      ++produced;
      ++i;
      continue;
    }
    if (produced + len > max_bytes) return i;
    out.append(value.data() + i, len);
    produced += len;
    i += len;
  }
  return i;
}

void json_writer::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (need_comma_) out_ += ',';
  need_comma_ = true;
}

void json_writer::open(char bracket) {
  before_value();
  out_ += bracket;
  ++depth_;
  need_comma_ = false;
}

void json_writer::close(char bracket) {
  out_ += bracket;
  if (depth_ > 0) --depth_;
  need_comma_ = true;
  after_key_ = false;
}

void json_writer::key(std::string_view name) {
  if (need_comma_) out_ += ',';
  out_ += '"';
  append_escaped(out_, name, limits_.max_string_bytes);
  out_ += "\":";
  need_comma_ = true;
  after_key_ = true;
}

void json_writer::string(std::string_view value) {
  before_value();
  out_ += '"';
  const std::size_t consumed = append_escaped(out_, value, limits_.max_string_bytes);
  if (consumed < value.size()) {
    out_ += "...[truncated by bluepython; original ";
    char digits[24];
    auto res = std::to_chars(std::begin(digits), std::end(digits), value.size());
    out_.append(digits, res.ptr);
    out_ += " bytes]";
  }
  out_ += '"';
}

void json_writer::integer(std::int64_t value) {
  before_value();
  char digits[24];
  auto res = std::to_chars(std::begin(digits), std::end(digits), value);
  out_.append(digits, res.ptr);
}

void json_writer::unsigned_integer(std::uint64_t value) {
  before_value();
  char digits[24];
  auto res = std::to_chars(std::begin(digits), std::end(digits), value);
  out_.append(digits, res.ptr);
}

void json_writer::number(double value) {
  before_value();
  if (!std::isfinite(value)) {
    out_ += "null";
    return;
  }
  char digits[32];
  auto res = std::to_chars(std::begin(digits), std::end(digits), value);
  out_.append(digits, res.ptr);
}

void json_writer::boolean(bool value) {
  before_value();
  out_ += value ? "true" : "false";
}

void json_writer::null() {
  before_value();
  out_ += "null";
}

void json_writer::raw(std::string_view json) {
  before_value();
  out_ += json;
}

}  // namespace bluepython
