// SPDX-License-Identifier: Apache-2.0
#pragma once

// The text side of redaction (pipeline/redaction.cpp's scan): character
// classes, the provider token shapes and the value after a key name. Internal
// to pipeline/.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

#include "pipeline/redaction.hpp"

namespace bluepython::secret_text {

// A value already replaced: our marker, or the hooks' cleaning of URLs
// ("[REDACTED]", "REDACTED").
constexpr bool already_redacted(std::string_view v) noexcept {
  return v.starts_with("[REDACTED") || v == "REDACTED";
}


// Character classes, one table lookup per byte in the scan.
enum : std::uint8_t { kAlnum = 1, kToken = 2, kKey = 4, kB64 = 8 };
constexpr std::array<std::uint8_t, 256> kClass = [] {
  std::array<std::uint8_t, 256> t{};
  for (unsigned c = 0; c < 256; ++c) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    std::uint8_t v = 0;
    if (alnum) v |= kAlnum | kToken | kKey | kB64;
    if (c == '_' || c == '-') v |= kToken | kKey;
    if (c == '.') v |= kKey;
    if (c == '+' || c == '/' || c == '=') v |= kB64;
    t[c] = v;
  }
  return t;
}();

constexpr bool is_alnum(unsigned char c) noexcept { return (kClass[c] & kAlnum) != 0; }
constexpr bool is_upper(unsigned char c) noexcept { return c >= 'A' && c <= 'Z'; }
constexpr bool is_lower(unsigned char c) noexcept { return c >= 'a' && c <= 'z'; }
constexpr bool is_digit(unsigned char c) noexcept { return c >= '0' && c <= '9'; }
// Characters of a token (what provider keys, JWT parts and base64url use).
constexpr bool is_token_char(unsigned char c) noexcept { return (kClass[c] & kToken) != 0; }
// Characters of a key name in key=value text.
constexpr bool is_key_char(unsigned char c) noexcept { return (kClass[c] & kKey) != 0; }
constexpr bool is_b64_char(unsigned char c) noexcept { return (kClass[c] & kB64) != 0; }
constexpr bool is_space(unsigned char c) noexcept { return c == ' ' || c == '\t'; }

constexpr unsigned char lower(unsigned char c) noexcept { return is_upper(c) ? static_cast<unsigned char>(c + 32) : c; }

// Byte loops, not memcmp: the prefixes are a few bytes and a call costs more.
inline bool starts_with_at(std::string_view s, std::size_t i, std::string_view prefix) noexcept {
  if (i > s.size() || s.size() - i < prefix.size()) return false;
  for (std::size_t k = 0; k < prefix.size(); ++k) {
    if (s[i + k] != prefix[k]) return false;
  }
  return true;
}

inline bool ends_with(std::string_view s, std::string_view ending) noexcept {
  if (s.size() < ending.size()) return false;
  const std::size_t at = s.size() - ending.size();
  for (std::size_t k = ending.size(); k-- > 0;) {
    if (s[at + k] != ending[k]) return false;
  }
  return true;
}

inline bool starts_with_nocase(std::string_view s, std::size_t i, std::string_view prefix) noexcept {
  if (s.size() - i < prefix.size()) return false;
  for (std::size_t k = 0; k < prefix.size(); ++k) {
    if (lower(static_cast<unsigned char>(s[i + k])) != static_cast<unsigned char>(prefix[k])) return false;
  }
  return true;
}

// End of the run from `i` of characters `pred` accepts.
template <class Pred>
std::size_t run_end(std::string_view s, std::size_t i, Pred pred) noexcept {
  while (i < s.size() && pred(static_cast<unsigned char>(s[i]))) ++i;
  return i;
}


// A provider token shape found at a token's start: where it ends (0: none).
struct shape_match {
  std::size_t end = 0;
  secret_rule rule = secret_rule::key;
};

// Provider token shapes, tried at the start of a token (the character before
// is not a token character).
shape_match shape_at(std::string_view s, std::size_t i) noexcept;

// Decoded base64 contains ':' (user:password), as Basic credentials do.
bool base64_has_colon(std::string_view b64) noexcept;

// The opt-in entropy rule: 24-512 characters of mixed case and digits, at
// least 4.2 bits per character.
bool looks_random(std::string_view t) noexcept;

// The value after a key name at [key_begin, key_end): `= value`, `: value`,
// `"key": "value"` and `--key value` (when `dashes`). Returns {begin, end}
// of the value, or {0, 0}.
std::pair<std::size_t, std::size_t> value_after_key(std::string_view s, std::size_t key_begin, std::size_t key_end,
                                                    bool dashes) noexcept;

}  // namespace bluepython::secret_text
