// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

// Shell-style patterns of the policy, compiled once and matched without
// backtracking (a set of pattern positions is carried along the subject, so
// the cost is at most pattern length x subject length whatever the pattern).
//
// Syntax: `*` any run of characters, `**` any run including `/`, `?` one
// character, `[abc]` `[a-z]` `[!a-z]` a class, `\x` the character x. In
// path patterns `*`, `?` and classes never match `/` (only `**` crosses
// directories); in name patterns (tools, hosts, modules, arguments) `*` and
// `**` are the same. The common shapes (a literal, a literal followed by
// `**`) match by a comparison alone.
namespace bluepython::policy {

enum class glob_kind : std::uint8_t { path, name };

class glob {
 public:
  glob() = default;
  // Throws std::invalid_argument naming what is wrong (unterminated class,
  // trailing backslash, empty pattern).
  glob(std::string_view pattern, glob_kind kind, bool fold_case = false);

  [[nodiscard]] bool matches(std::string_view subject) const noexcept;
  [[nodiscard]] const std::string& text() const noexcept { return text_; }
  // The literal characters before the first wildcard.
  [[nodiscard]] const std::string& prefix() const noexcept { return prefix_; }
  // No wildcard: the pattern matches its prefix() alone.
  [[nodiscard]] bool literal() const noexcept { return shape_ == shape::literal; }

 private:
  enum class shape : std::uint8_t { literal, prefix_any, general };
  struct token {
    enum kind_t : std::uint8_t { chr, any_one, cls, star, globstar } kind = chr;
    bool negate = false;
    char c = 0;
    std::string ranges;  // pairs lo, hi
  };
  [[nodiscard]] bool token_accepts(const token& t, char c) const noexcept;
  [[nodiscard]] bool match_general(std::string_view subject) const noexcept;
  [[nodiscard]] bool match_small(std::string_view subject) const noexcept;
  [[nodiscard]] bool match_large(std::string_view subject) const;

  std::string text_;
  std::string prefix_;
  std::string suffix_;        // the literal characters after the last wildcard
  std::uint64_t stars_ = 0;   // bit i: token i is `*` or `**` (patterns under 64 tokens)
  std::vector<token> tokens_;
  shape shape_ = shape::literal;
  glob_kind kind_ = glob_kind::name;
  bool fold_case_ = false;
};

}  // namespace bluepython::policy
