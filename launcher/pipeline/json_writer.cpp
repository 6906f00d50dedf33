// SPDX-License-Identifier: Apache-2.0
#include "pipeline/json_writer.hpp"

#include "pipeline/redaction.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <cstring>

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

// 1 for the bytes copied as they are: printable ASCII except '"' and '\\'.
constexpr std::array<std::uint8_t, 256> kPlain = [] {
  std::array<std::uint8_t, 256> t{};
  for (unsigned c = 0x20U; c < 0x80U; ++c) t[c] = (c == '"' || c == '\\') ? 0 : 1;
  return t;
}();

// Nonzero when some byte of the 8-byte word `x` may need attention: below
// 0x20, '"', '\\' or at or above 0x80. Word-at-a-time zero-byte test: it can
// report a false positive (a borrow past a byte that really matched), never a
// false negative; the caller rechecks byte by byte.
constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
constexpr std::uint64_t has_zero_byte(std::uint64_t x) noexcept { return (x - kOnes) & ~x & kHighs; }
constexpr std::uint64_t needs_attention(std::uint64_t x) noexcept {
  return (x & kHighs) | ((x - kOnes * 0x20U) & ~x & kHighs) | has_zero_byte(x ^ (kOnes * '"')) |
         has_zero_byte(x ^ (kOnes * '\\'));
}

// Strings up to this many bytes are written with a single append.
constexpr std::size_t kShort = 96;

// End of the run of plain bytes that starts at `i`.
std::size_t plain_run_end(std::string_view s, std::size_t i) noexcept {
  const std::size_t n = s.size();
  while (i + 8 <= n) {
    std::uint64_t word = 0;
    std::memcpy(&word, s.data() + i, sizeof word);
    if (needs_attention(word) != 0) break;
    i += 8;
  }
  if (i < n && n >= 8 && i + 8 > n) {
    // A tail shorter than a word: the last 8 bytes (overlapping bytes already
    // known plain) settle it in one test when they are all plain.
    std::uint64_t word = 0;
    std::memcpy(&word, s.data() + n - 8, sizeof word);
    if (needs_attention(word) == 0) return n;
  }
  while (i < n && kPlain[static_cast<unsigned char>(s[i])] != 0) ++i;
  return i;
}

}  // namespace

bool json_writer::is_plain(std::string_view value) noexcept { return plain_run_end(value, 0) == value.size(); }

std::size_t json_writer::append_escaped(std::string& out, std::string_view value,
                                        std::size_t max_bytes) {
  static constexpr std::array<char, 16> hex = {'0', '1', '2', '3', '4', '5', '6', '7',
                                               '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
  std::size_t i = 0;
  std::size_t produced = 0;
  const std::size_t n = value.size();
  while (i < n) {
    // Fast path: a run of plain printable ASCII is copied in one go.
    const std::size_t run = plain_run_end(value, i);
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

std::uint8_t json_writer::program_with_password_option(std::string_view argv0) noexcept {
  const std::size_t slash = argv0.rfind('/');
  const std::string_view name = slash == std::string_view::npos ? argv0 : argv0.substr(slash + 1);
  for (const std::string_view p : {"mysql", "mysqldump", "mysqladmin", "mysqlimport", "mysqlshow", "mysqlcheck",
                                   "mysqlpump", "mariadb", "mariadb-dump", "mariadb-admin", "mariadb-import"}) {
    if (name == p) return kAttachedP;
  }
  if (name == "sshpass") return kSeparateP;
  if (name == "redis-cli" || name == "valkey-cli" || name == "keydb-cli") return kSeparateA;
  return 0;
}

void json_writer::open(char bracket) {
  if (limits_.redact != nullptr) {
    array_first_ = bracket == '[';
    argv_program_ = 0;
  }
  if (fields_ != nullptr) (void)field_value(bracket);
  if (keep_next_) {
    keep_next_ = false;
    if (keep_depth_ == kNoDepth) keep_depth_ = depth_;
  }
  if (secret_next_) {
    secret_next_ = false;
    if (secret_depth_ == kNoDepth) secret_depth_ = depth_;
  }
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
  secret_next_ = false;
  if (depth_ == secret_depth_) {
    secret_depth_ = kNoDepth;
    secret_field_ = false;
  }
  if (depth_ == keep_depth_) keep_depth_ = kNoDepth;
  array_first_ = false;
  argv_program_ = 0;
  if (fields_ != nullptr) field_close();
}

void json_writer::field_scope(const field_paths* paths) noexcept {
  if (limits_.redact == nullptr || paths == nullptr || paths->empty()) return;
  fields_ = paths;
  field_root_depth_ = depth_;
  field_path_.clear();
  field_index_.clear();
  field_key_.clear();
}

namespace {

bool path_matches(const std::vector<std::string>& pointer, const std::vector<std::string>& path,
                  const std::string* last) {
  if (pointer.size() != path.size() + (last != nullptr ? 1 : 0)) return false;
  auto same = [](const std::string& want, const std::string& seg) { return want == "*" || want == seg; };
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (!same(pointer[i], path[i])) return false;
  }
  return last == nullptr || same(pointer.back(), *last);
}

}  // namespace

int json_writer::field_value(char bracket) {
  // The segment of this value: the root has none.
  std::string segment;
  const bool root = field_index_.empty();
  if (!root) {
    if (field_index_.back() != kNoDepth) {
      segment = std::to_string(field_index_.back()++);
    } else {
      segment = field_key_;
    }
  }
  int verdict = 0;
  const std::string* last = root ? nullptr : &segment;
  for (const auto& p : fields_->keep) {
    if (path_matches(p, field_path_, last)) verdict = 2;
  }
  if (verdict == 0) {
    for (const auto& p : fields_->redact) {
      if (path_matches(p, field_path_, last)) verdict = 1;
    }
  }
  if (verdict == 2) {
    keep_next_ = true;
    secret_next_ = false;
  } else if (verdict == 1 && !keeping()) {
    secret_next_ = true;
    if (secret_depth_ == kNoDepth) secret_field_ = true;
  }
  if (bracket == '{' || bracket == '[') {
    if (!root) field_path_.push_back(std::move(segment));
    field_index_.push_back(bracket == '[' ? 0 : kNoDepth);
  } else if (root) {
    fields_ = nullptr;  // a scalar root: the scope ends with it
  }
  return verdict;
}

void json_writer::field_close() {
  if (!field_index_.empty()) field_index_.pop_back();
  if (depth_ == field_root_depth_) {
    fields_ = nullptr;
    return;
  }
  if (!field_path_.empty()) field_path_.pop_back();
}

int json_writer::take_secret() noexcept {
  if (fields_ != nullptr) (void)field_value('\0');
  if (keeping()) {
    keep_next_ = false;
    secret_next_ = false;
    return 2;
  }
  if (secret_depth_ != kNoDepth) return 1;
  const bool secret = secret_next_;
  secret_next_ = false;
  return secret ? 1 : 0;
}

void json_writer::secret_marker(std::string_view secret) {
  std::string marker;
  const bool field = secret_field_;
  if (secret_depth_ == kNoDepth) secret_field_ = false;
  limits_.redact->append_marker(marker, field ? secret_rule::field : limits_.redact->label_of(secret), secret);
  plain_string(marker);
}

void json_writer::key(std::string_view name) {
  if (limits_.redact != nullptr) {
    if (fields_ != nullptr) field_key_.assign(name);
    if (secret_depth_ == kNoDepth && !keeping()) secret_next_ = limits_.redact->secret_key(name);
  }
  // Short plain names (nearly all): the separator, quotes and colon are put
  // together and appended once.
  if (name.size() <= kShort && plain_run_end(name, 0) == name.size()) {
    std::array<char, kShort + 4> piece;  // NOLINT(cppcoreguidelines-pro-type-member-init): filled below
    std::size_t k = 0;
    if (need_comma_) piece[k++] = ',';
    piece[k++] = '"';
    std::memcpy(piece.data() + k, name.data(), name.size());
    k += name.size();
    piece[k++] = '"';
    piece[k++] = ':';
    out_.append(piece.data(), k);
    need_comma_ = true;
    after_key_ = true;
    return;
  }
  if (need_comma_) out_ += ',';
  out_ += '"';
  append_escaped(out_, name, limits_.max_string_bytes);
  out_ += "\":";
  need_comma_ = true;
  after_key_ = true;
}

void json_writer::string(std::string_view value) {
  if (limits_.redact == nullptr) {
    plain_string(value);
    return;
  }
  // "--password" "value" in an array (argv): the next string is the secret
  // (also when this one was redacted itself: never fewer secrets).
  const bool in_array = !after_key_;
  const int verdict = take_secret();
  bool option = false;
  if (in_array && verdict != 2 && value.size() > 2 && value[0] == '-' && value.find('=') == std::string_view::npos) {
    option = limits_.redact->secret_key(value.substr(value[1] == '-' ? 2 : 1));
  }
  // Short password options of the programs that have them: argv[0] says which.
  const bool first = array_first_;
  array_first_ = false;
  if (in_array && first) {
    argv_program_ = program_with_password_option(value);
  } else if (in_array && verdict == 0 && argv_program_ != 0) {
    if (argv_program_ == kAttachedP && value.size() > 2 && value[0] == '-' && value[1] == 'p') {
      // mysql -pSECRET
      std::string marked = "-p";
      limits_.redact->append_marker(marked, secret_rule::key, value.substr(2));
      plain_string(marked);
      return;
    }
    if ((argv_program_ == kSeparateP && value == "-p") || (argv_program_ == kSeparateA && value == "-a")) option = true;
  }
  if (verdict == 1) {
    secret_marker(value);
    if (secret_depth_ == kNoDepth) secret_next_ = option;
    return;
  }
  if (verdict == 2) {
    plain_string(value);
    return;
  }
  std::string redacted;
  // A secret that starts before the cut is found whole (the longest shapes
  // are well under the margin; a private key still open runs to the end).
  constexpr std::size_t kMargin = 8192;
  const std::size_t limit = limits_.max_string_bytes > SIZE_MAX - kMargin ? SIZE_MAX : limits_.max_string_bytes + kMargin;
  if (limits_.redact->redact(value, redacted, limit) != 0) {
    plain_string(redacted);
  } else {
    plain_string(value);
  }
  secret_next_ = option;
}

void json_writer::plain_string(std::string_view value) {
  if (value.size() <= kShort && value.size() <= limits_.max_string_bytes && plain_run_end(value, 0) == value.size()) {
    std::array<char, kShort + 3> piece;  // NOLINT(cppcoreguidelines-pro-type-member-init): filled below
    std::size_t k = 0;
    if (after_key_) {
      after_key_ = false;
    } else {
      if (need_comma_) piece[k++] = ',';
      need_comma_ = true;
    }
    piece[k++] = '"';
    std::memcpy(piece.data() + k, value.data(), value.size());
    k += value.size();
    piece[k++] = '"';
    out_.append(piece.data(), k);
    return;
  }
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
  char digits[24];
  auto res = std::to_chars(std::begin(digits), std::end(digits), value);
  if (limits_.redact != nullptr && take_secret() == 1) {
    secret_marker(std::string_view(digits, static_cast<std::size_t>(res.ptr - digits)));
    return;
  }
  before_value();
  out_.append(digits, res.ptr);
}

void json_writer::unsigned_integer(std::uint64_t value) {
  char digits[24];
  auto res = std::to_chars(std::begin(digits), std::end(digits), value);
  if (limits_.redact != nullptr && take_secret() == 1) {
    secret_marker(std::string_view(digits, static_cast<std::size_t>(res.ptr - digits)));
    return;
  }
  before_value();
  out_.append(digits, res.ptr);
}

void json_writer::number(double value) {
  const int verdict = limits_.redact != nullptr ? take_secret() : 0;
  if (!std::isfinite(value)) {
    before_value();
    out_ += "null";
    return;
  }
  char digits[32];
  auto res = std::to_chars(std::begin(digits), std::end(digits), value);
  if (verdict == 1) {
    secret_marker(std::string_view(digits, static_cast<std::size_t>(res.ptr - digits)));
    return;
  }
  before_value();
  out_.append(digits, res.ptr);
}

void json_writer::boolean(bool value) {
  if (limits_.redact != nullptr) (void)take_secret();  // kept as they are; the path moves on
  before_value();
  out_ += value ? "true" : "false";
}

void json_writer::null() {
  if (limits_.redact != nullptr) (void)take_secret();  // kept as they are; the path moves on
  before_value();
  out_ += "null";
}

void json_writer::raw(std::string_view json) {
  if (limits_.redact != nullptr) (void)take_secret();  // kept as they are; the path moves on
  before_value();
  out_ += json;
}

}  // namespace bluepython
