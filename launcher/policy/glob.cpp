// SPDX-License-Identifier: Apache-2.0
#include "policy/glob.hpp"

#include <stdexcept>

namespace bluepython::policy {
namespace {

char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

glob::glob(std::string_view pattern, glob_kind kind, bool fold_case)
    : text_(pattern), kind_(kind), fold_case_(fold_case) {
  if (pattern.empty()) throw std::invalid_argument("empty pattern");
  bool wild = false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    token t;
    if (c == '\\') {
      if (i + 1 >= pattern.size()) throw std::invalid_argument("pattern ends with a backslash");
      t.c = fold_case ? lower(pattern[++i]) : pattern[++i];
    } else if (c == '*') {
      const bool twice = i + 1 < pattern.size() && pattern[i + 1] == '*';
      t.kind = (twice || kind == glob_kind::name) ? token::globstar : token::star;
      while (i + 1 < pattern.size() && pattern[i + 1] == '*') ++i;
      if (!tokens_.empty() && tokens_.back().kind == t.kind) continue;  // `***` is one `**`
    } else if (c == '?') {
      t.kind = token::any_one;
    } else if (c == '[') {
      t.kind = token::cls;
      std::size_t j = i + 1;
      if (j < pattern.size() && (pattern[j] == '!' || pattern[j] == '^')) {
        t.negate = true;
        ++j;
      }
      const std::size_t first = j;
      bool closed = false;
      while (j < pattern.size()) {
        char lo = pattern[j];
        if (lo == ']' && j > first) {
          closed = true;
          break;
        }
        if (lo == '\\' && j + 1 < pattern.size()) lo = pattern[++j];
        char hi = lo;
        if (j + 2 < pattern.size() && pattern[j + 1] == '-' && pattern[j + 2] != ']') {
          hi = pattern[j + 2];
          if (hi == '\\' && j + 3 < pattern.size()) {
            hi = pattern[j + 3];
            ++j;
          }
          j += 2;
          if (static_cast<unsigned char>(hi) < static_cast<unsigned char>(lo)) {
            throw std::invalid_argument("character class with a reversed range");
          }
        }
        if (fold_case) {
          lo = lower(lo);
          hi = lower(hi);
        }
        t.ranges += lo;
        t.ranges += hi;
        ++j;
      }
      if (!closed) throw std::invalid_argument("unterminated character class '['");
      i = j;
    } else {
      t.c = fold_case ? lower(c) : c;
    }
    if (t.kind != token::chr) wild = true;
    if (!wild) prefix_ += t.c;
    tokens_.push_back(std::move(t));
  }
  for (std::size_t i = tokens_.size(); i > 0 && tokens_[i - 1].kind == token::chr; --i) {
    suffix_.insert(suffix_.begin(), tokens_[i - 1].c);
  }
  for (std::size_t i = 0; i < tokens_.size() && i < 64; ++i) {
    if (tokens_[i].kind == token::star || tokens_[i].kind == token::globstar) stars_ |= std::uint64_t{1} << i;
  }
  if (!wild) {
    shape_ = shape::literal;
  } else if (tokens_.size() == prefix_.size() + 1 && tokens_.back().kind == token::globstar) {
    shape_ = shape::prefix_any;
  } else {
    shape_ = shape::general;
  }
}

bool glob::token_accepts(const token& t, char c) const noexcept {
  switch (t.kind) {
    case token::chr: return t.c == c;
    case token::any_one: return kind_ == glob_kind::name || c != '/';
    case token::cls: {
      if (kind_ == glob_kind::path && c == '/') return false;
      bool in = false;
      for (std::size_t k = 0; k + 1 < t.ranges.size(); k += 2) {
        if (static_cast<unsigned char>(c) >= static_cast<unsigned char>(t.ranges[k]) &&
            static_cast<unsigned char>(c) <= static_cast<unsigned char>(t.ranges[k + 1])) {
          in = true;
          break;
        }
      }
      return in != t.negate;
    }
    case token::star: return c != '/';
    case token::globstar: return true;
  }
  return false;
}

// Patterns of under 64 tokens: the set of positions is one word.
bool glob::match_small(std::string_view subject) const noexcept {
  const std::size_t n = tokens_.size();
  // Closed over stars: a star (or a run of them) may match nothing.
  auto close = [this](std::uint64_t set) {
    for (std::uint64_t grown = set | ((set & stars_) << 1U); grown != set; grown = set | ((set & stars_) << 1U)) {
      set = grown;
    }
    return set;
  };
  std::uint64_t cur = close(1);
  for (const char raw : subject) {
    const char c = fold_case_ ? lower(raw) : raw;
    std::uint64_t next = 0;
    for (std::uint64_t left = cur & ((std::uint64_t{1} << n) - 1); left != 0; left &= left - 1) {
      const auto i = static_cast<std::size_t>(__builtin_ctzll(left));
      if (!token_accepts(tokens_[i], c)) continue;
      next |= ((stars_ >> i) & 1U) != 0 ? (std::uint64_t{1} << i) : (std::uint64_t{1} << (i + 1));
    }
    if (next == 0) return false;
    cur = close(next);
  }
  return ((cur >> n) & 1U) != 0;
}

bool glob::match_general(std::string_view subject) const noexcept {
  // What the pattern starts and ends with decides most subjects at once.
  if (subject.size() < prefix_.size() + suffix_.size()) return false;
  for (std::size_t i = 0; i < prefix_.size(); ++i) {
    if ((fold_case_ ? lower(subject[i]) : subject[i]) != prefix_[i]) return false;
  }
  const std::size_t tail = subject.size() - suffix_.size();
  for (std::size_t i = 0; i < suffix_.size(); ++i) {
    if ((fold_case_ ? lower(subject[tail + i]) : subject[tail + i]) != suffix_[i]) return false;
  }
  if (tokens_.size() < 64) return match_small(subject);
  try {
    return match_large(subject);
  } catch (...) {
    return false;  // out of memory
  }
}

bool glob::match_large(std::string_view subject) const {
  // The set of pattern positions reached so far, closed over stars (a star
  // may match nothing).
  const std::size_t n = tokens_.size();
  std::vector<unsigned char> cur(n + 1, 0);
  std::vector<unsigned char> next(n + 1, 0);
  auto close = [this, n](std::vector<unsigned char>& set) {
    for (std::size_t i = 0; i < n; ++i) {
      if (set[i] != 0 && (tokens_[i].kind == token::star || tokens_[i].kind == token::globstar)) set[i + 1] = 1;
    }
  };
  cur[0] = 1;
  close(cur);
  for (char raw : subject) {
    const char c = fold_case_ ? lower(raw) : raw;
    std::fill(next.begin(), next.end(), 0);
    bool any = false;
    for (std::size_t i = 0; i < n; ++i) {
      if (cur[i] == 0) continue;
      const token& t = tokens_[i];
      if (!token_accepts(t, c)) continue;
      if (t.kind == token::star || t.kind == token::globstar) {
        next[i] = 1;
      } else {
        next[i + 1] = 1;
      }
      any = true;
    }
    if (!any) return false;
    close(next);
    cur.swap(next);
  }
  return cur[n] != 0;
}

bool glob::matches(std::string_view subject) const noexcept {
  switch (shape_) {
    case shape::literal:
      if (subject.size() != prefix_.size()) return false;
      if (!fold_case_) return subject == prefix_;
      for (std::size_t i = 0; i < subject.size(); ++i) {
        if (lower(subject[i]) != prefix_[i]) return false;
      }
      return true;
    case shape::prefix_any:
      if (subject.size() < prefix_.size()) return false;
      if (!fold_case_) return subject.starts_with(prefix_);
      for (std::size_t i = 0; i < prefix_.size(); ++i) {
        if (lower(subject[i]) != prefix_[i]) return false;
      }
      return true;
    case shape::general: return match_general(subject);
  }
  return false;
}

}  // namespace bluepython::policy
