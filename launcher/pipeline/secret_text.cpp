// SPDX-License-Identifier: Apache-2.0
#include "pipeline/secret_text.hpp"

#include <cmath>
#include <string_view>

namespace bluepython::secret_text {
namespace {

std::size_t fixed_then(std::string_view s, std::size_t i, std::size_t prefix, std::size_t min_len,
                       bool (*pred)(unsigned char)) noexcept {
  const std::size_t end = run_end(s, i + prefix, pred);
  return end - (i + prefix) >= min_len ? end : 0;
}

bool upper_or_digit(unsigned char c) noexcept { return is_upper(c) || is_digit(c); }
bool alnum(unsigned char c) noexcept { return is_alnum(c); }
bool token_char(unsigned char c) noexcept { return is_token_char(c); }
bool token_or_dot(unsigned char c) noexcept { return is_token_char(c) || c == '.'; }
bool alnum_or_underscore(unsigned char c) noexcept { return is_alnum(c) || c == '_'; }
bool hex_lower(unsigned char c) noexcept { return is_digit(c) || (c >= 'a' && c <= 'f'); }

shape_match jwt_at(std::string_view s, std::size_t i) noexcept {
  // header.payload.signature, each base64url; the header is JSON ("eyJ").
  const std::size_t h = run_end(s, i, token_char);
  if (h - i < 10 || h >= s.size() || s[h] != '.') return {};
  const std::size_t p = run_end(s, h + 1, token_char);
  if (p - h - 1 < 10 || p >= s.size() || s[p] != '.') return {};
  const std::size_t sig = run_end(s, p + 1, token_char);
  return {sig, secret_rule::jwt};
}

// Shannon entropy, bits per character.
double entropy_of(std::string_view s) noexcept {
  std::array<std::uint32_t, 256> counts{};
  for (const char c : s) ++counts[static_cast<unsigned char>(c)];
  double h = 0;
  const auto n = static_cast<double>(s.size());
  for (const auto c : counts) {
    if (c == 0) continue;
    const double p = c / n;
    h -= p * std::log2(p);
  }
  return h;
}

}  // namespace

shape_match shape_at(std::string_view s, std::size_t i) noexcept {
  std::size_t e = 0;
  switch (s[i]) {
    case 'A':
      for (const auto p : {"AKIA", "ASIA", "AGPA", "AIDA", "AROA", "AIPA", "ANPA", "ANVA", "ABIA", "ACCA"}) {
        if (starts_with_at(s, i, p)) {
          e = run_end(s, i + 4, upper_or_digit);
          if (e - i == 20 && (e == s.size() || !is_alnum(static_cast<unsigned char>(s[e])))) {
            return {e, secret_rule::aws_access_key_id};
          }
          return {};
        }
      }
      if (starts_with_at(s, i, "AIza") && (e = fixed_then(s, i, 4, 30, token_char)) != 0) {
        return {e, secret_rule::google_api_key};
      }
      return {};
    case 'g':
      if (s.size() - i > 4 && s[i + 1] == 'h' && s[i + 3] == '_' &&
          std::string_view("pousr").find(s[i + 2]) != std::string_view::npos &&
          (e = fixed_then(s, i, 4, 30, alnum)) != 0) {
        return {e, secret_rule::github_token};
      }
      if (starts_with_at(s, i, "github_pat_") && (e = fixed_then(s, i, 11, 30, alnum_or_underscore)) != 0) {
        return {e, secret_rule::github_token};
      }
      if (starts_with_at(s, i, "gl")) {
        for (const std::string_view p : {"glpat-", "gldt-", "glrt-", "glptt-", "glcbt-", "gloas-", "glimt-", "glft-",
                                         "glsoat-", "glagent-", "glffct-"}) {
          if (starts_with_at(s, i, p) && (e = fixed_then(s, i, p.size(), 20, token_or_dot)) != 0) {
            return {e, secret_rule::gitlab_token};
          }
        }
      }
      return {};
    case 'x':
      if (starts_with_at(s, i, "xox") && s.size() - i > 4 && s[i + 4] == '-' &&
          std::string_view("abposre").find(s[i + 3]) != std::string_view::npos &&
          (e = fixed_then(s, i, 5, 10, token_char)) != 0) {
        return {e, secret_rule::slack_token};
      }
      if (starts_with_at(s, i, "xapp-") && (e = fixed_then(s, i, 5, 10, token_char)) != 0) {
        return {e, secret_rule::slack_token};
      }
      return {};
    case 's':
      if (starts_with_at(s, i, "sk-ant-") && (e = fixed_then(s, i, 7, 20, token_char)) != 0) {
        return {e, secret_rule::anthropic_key};
      }
      if (starts_with_at(s, i, "sk-") && (e = fixed_then(s, i, 3, 20, token_char)) != 0) {
        return {e, secret_rule::openai_key};
      }
      if ((starts_with_at(s, i, "sk_live_") || starts_with_at(s, i, "sk_test_")) &&
          (e = fixed_then(s, i, 8, 16, alnum)) != 0) {
        return {e, secret_rule::stripe_key};
      }
      return {};
    case 'r':
      if ((starts_with_at(s, i, "rk_live_") || starts_with_at(s, i, "rk_test_")) &&
          (e = fixed_then(s, i, 8, 16, alnum)) != 0) {
        return {e, secret_rule::stripe_key};
      }
      return {};
    case 'w':
      if (starts_with_at(s, i, "whsec_") && (e = fixed_then(s, i, 6, 20, alnum)) != 0) {
        return {e, secret_rule::stripe_key};
      }
      return {};
    case 'e':
      if (starts_with_at(s, i, "eyJ")) return jwt_at(s, i);
      return {};
    case 'n':
      if (starts_with_at(s, i, "npm_") && (e = fixed_then(s, i, 4, 36, alnum)) != 0) {
        return {e, secret_rule::npm_token};
      }
      return {};
    case 'p':
      if (starts_with_at(s, i, "pypi-AgE") && (e = fixed_then(s, i, 8, 40, token_char)) != 0) {
        return {e, secret_rule::pypi_token};
      }
      return {};
    case 'h':
      if (starts_with_at(s, i, "hf_") && (e = fixed_then(s, i, 3, 30, alnum)) != 0) {
        return {e, secret_rule::huggingface_token};
      }
      return {};
    case 'S':
      if (starts_with_at(s, i, "SG.")) {
        const std::size_t a = run_end(s, i + 3, token_char);
        if (a - i - 3 >= 16 && a < s.size() && s[a] == '.' && (e = fixed_then(s, a, 1, 30, token_char)) != 0) {
          return {e, secret_rule::sendgrid_key};
        }
      }
      return {};
    case 'G':
      if (starts_with_at(s, i, "GOCSPX-") && (e = fixed_then(s, i, 7, 20, token_char)) != 0) {
        return {e, secret_rule::google_oauth};
      }
      return {};
    case 'y':
      if (starts_with_at(s, i, "ya29.") && (e = fixed_then(s, i, 5, 20, token_or_dot)) != 0) {
        return {e, secret_rule::google_oauth};
      }
      return {};
    case 'd':
      if (starts_with_at(s, i, "dop_v1_") && (e = fixed_then(s, i, 7, 64, hex_lower)) != 0) {
        return {e, secret_rule::digitalocean_token};
      }
      return {};
    default:
      return {};
  }
}

// Decoded base64 contains ':' (user:password), as Basic credentials do.
bool base64_has_colon(std::string_view b64) noexcept {
  auto value = [](unsigned char c) -> int {
    if (is_upper(c)) return c - 'A';
    if (is_lower(c)) return c - 'a' + 26;
    if (is_digit(c)) return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char ch : b64) {
    const int v = value(static_cast<unsigned char>(ch));
    if (v < 0) break;
    acc = (acc << 6U) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (((acc >> static_cast<unsigned>(bits)) & 0xFFU) == ':') return true;
    }
  }
  return false;
}


bool looks_random(std::string_view t) noexcept {
  if (t.size() < 24 || t.size() > 512) return false;
  bool upper = false;
  bool low = false;
  bool digit = false;
  for (const char ch : t) {
    const auto c = static_cast<unsigned char>(ch);
    upper = upper || is_upper(c);
    low = low || is_lower(c);
    digit = digit || is_digit(c);
  }
  return upper && low && digit && entropy_of(t) >= 4.2;
}

// The value after a key name at [key_begin, key_end): `= value`, `: value`,
// `"key": "value"` and `--key value` (when `dashes`). Returns {begin, end}
// of the value, or {0, 0}.
std::pair<std::size_t, std::size_t> value_after_key(std::string_view s, std::size_t key_begin, std::size_t key_end,
                                                    bool dashes) noexcept {
  const std::size_t n = s.size();
  std::size_t j = key_end;
  const std::size_t name_begin = dashes ? key_begin - 2 : key_begin;  // "--password" starts at its dashes
  const char open_quote = name_begin > 0 ? s[name_begin - 1] : '\0';
  if ((open_quote == '"' || open_quote == '\'') && j < n && s[j] == open_quote) ++j;
  const std::size_t after_key = j;
  while (j < n && is_space(static_cast<unsigned char>(s[j]))) ++j;
  bool separated = false;
  if (j < n && (s[j] == '=' || s[j] == ':')) {
    if (s[j] == '=' && j + 1 < n && s[j + 1] == '=') return {0, 0};   // a comparison
    if (s[j] == ':' && starts_with_at(s, j, "://")) return {0, 0};   // a URL scheme
    ++j;
    separated = true;
  } else if (dashes && j == after_key + 1 && j > after_key && s[after_key] == ' ') {
    separated = true;  // --password value
  } else if (dashes && after_key > key_end && j < n && s[j] == ',') {
    ++j;
    separated = true;  // "--password", "value" (an argv as JSON text)
  }
  if (!separated) return {0, 0};
  while (j < n && is_space(static_cast<unsigned char>(s[j]))) ++j;
  if (j >= n) return {0, 0};
  const char q = s[j];
  if (q == '"' || q == '\'') {
    const std::size_t begin = j + 1;
    std::size_t end = begin;
    while (end < n && s[end] != q) {
      if (s[end] == '\\' && end + 1 < n) ++end;
      ++end;
    }
    return {begin, std::min(end, n)};
  }
  std::size_t begin = j;
  // An authorization scheme stays readable: "Authorization: Bearer <secret>".
  const std::size_t word = run_end(s, begin, [](unsigned char c) { return is_alnum(c); });
  if (word > begin && word < n && s[word] == ' ' && word + 1 < n && !is_space(static_cast<unsigned char>(s[word + 1]))) {
    for (const std::string_view scheme : {"bearer", "basic", "token", "digest", "negotiate", "apikey", "ntlm"}) {
      if (word - begin == scheme.size() && starts_with_nocase(s, begin, scheme)) {
        begin = word + 1;
        break;
      }
    }
  }
  std::size_t end = begin;
  while (end < n) {
    const auto c = static_cast<unsigned char>(s[end]);
    if (c <= ' ' || c == '&' || c == ';' || c == ',' || c == '"' || c == '\'' || c == ')' || c == '}' || c == ']' ||
        c == '<' || c == '>' || c == '\\') {
      break;
    }
    ++end;
  }
  return {begin, end};
}


}  // namespace bluepython::secret_text
