// SPDX-License-Identifier: Apache-2.0
#include "pipeline/json_view.hpp"

#include <array>
#include <cstring>

namespace bluepython::json_view {
namespace {

bool is_space(char c) noexcept { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

std::size_t skip_space(std::string_view s, std::size_t i) noexcept {
  while (i < s.size() && is_space(s[i])) ++i;
  return i;
}

// One past the closing quote of the string whose opening quote is s[i]:
// memchr to each quote, which ends the string unless an odd run of
// backslashes precedes it.
std::size_t skip_string(std::string_view s, std::size_t i) noexcept {
  std::size_t from = i + 1;
  while (from < s.size()) {
    const void* hit = std::memchr(s.data() + from, '"', s.size() - from);
    if (hit == nullptr) return s.size();
    const auto quote = static_cast<std::size_t>(static_cast<const char*>(hit) - s.data());
    std::size_t backslashes = 0;
    while (quote - backslashes > i + 1 && s[quote - backslashes - 1] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return quote + 1;
    from = quote + 1;
  }
  return s.size();
}

// The bytes skip_value must stop at inside a container.
constexpr std::array<bool, 256> kStructural = [] {
  std::array<bool, 256> t{};
  for (const unsigned char c : {'"', '{', '}', '[', ']'}) t[c] = true;
  return t;
}();

}  // namespace

std::size_t skip_value(std::string_view s, std::size_t i) noexcept {
  i = skip_space(s, i);
  if (i >= s.size()) return s.size();
  if (s[i] == '"') return skip_string(s, i);
  if (s[i] == '{' || s[i] == '[') {
    int depth = 0;
    while (i < s.size()) {
      while (i < s.size() && !kStructural[static_cast<unsigned char>(s[i])]) ++i;
      if (i >= s.size()) break;
      const char c = s[i];
      if (c == '"') {
        i = skip_string(s, i);
        continue;
      }
      if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) return i + 1;
      }
      ++i;
    }
    return s.size();
  }
  // number, true, false, null
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && !is_space(s[i])) ++i;
  return i;
}

std::string_view member(std::string_view object, std::string_view key) noexcept {
  std::string_view found;
  for_each_member(object, [&](std::string_view name, std::string_view value) {
    if (name != key) return true;
    found = value;
    return false;
  });
  return found;
}

bool for_each_member_impl(std::string_view object, bool (*fn)(void*, std::string_view, std::string_view),
                          void* context) noexcept {
  std::size_t i = skip_space(object, 0);
  if (i >= object.size() || object[i] != '{') return false;
  ++i;
  while (true) {
    i = skip_space(object, i);
    if (i < object.size() && object[i] == '}') return true;  // {}
    if (i >= object.size() || object[i] != '"') return false;
    const std::size_t key_end = skip_string(object, i);
    const std::string_view name = object.substr(i + 1, key_end - i - 2);
    i = skip_space(object, key_end);
    if (i >= object.size() || object[i] != ':') return false;
    const std::size_t value_start = skip_space(object, i + 1);
    const std::size_t value_end = skip_value(object, value_start);
    if (!fn(context, name, object.substr(value_start, value_end - value_start))) return true;
    i = skip_space(object, value_end);
    if (i < object.size() && object[i] == '}') return true;
    if (i >= object.size() || object[i] != ',') return false;
    ++i;
  }
}

std::string_view plain_string(std::string_view value, bool& escaped) noexcept {
  escaped = false;
  if (value.size() < 2 || value.front() != '"' || value.back() != '"') return {};
  const std::string_view inside = value.substr(1, value.size() - 2);
  escaped = inside.find('\\') != std::string_view::npos;
  return escaped ? std::string_view{} : inside;
}

}  // namespace bluepython::json_view
