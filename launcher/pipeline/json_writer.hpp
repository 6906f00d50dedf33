// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bluepython {

class redactor;
struct field_paths;

// Limits applied while encoding. Strings longer than max_string_bytes are cut
// at a UTF-8 boundary and end with a marker naming the original length.
struct json_limits {
  std::size_t max_string_bytes = std::size_t{64} * 1024;
  std::size_t max_depth = 64;
  std::size_t max_items = 10'000;  // per container, for encoders that walk objects
  // Secret redaction (pipeline/redaction.hpp) of keys' values and strings;
  // nullptr: none (the tools re-encoding a spool, policy matching).
  const redactor* redact = nullptr;
};

// Appends JSON text to a caller-owned std::string. Every output is valid JSON
// (RFC 8259) and valid UTF-8 whatever the input: invalid UTF-8 sequences and
// encoded surrogates become U+FFFD, control characters are escaped, NaN and
// infinities become null. The writer does not check structure (the caller
// emits keys and values in order); it only inserts commas. Not thread-safe;
// use one per thread.
class json_writer {
 public:
  explicit json_writer(std::string& out, json_limits limits = {}) noexcept
      : out_(out), limits_(limits) {}

  void begin_object() { open('{'); }
  void end_object() { close('}'); }
  void begin_array() { open('['); }
  void end_array() { close(']'); }

  // Object key; the next call writes its value.
  void key(std::string_view name);
  void string(std::string_view value);
  void integer(std::int64_t value);
  void unsigned_integer(std::uint64_t value);
  void number(double value);
  void boolean(bool value);
  void null();
  // Pre-encoded JSON value, inserted as is (the caller vouches for it).
  void raw(std::string_view json);

  // Per-tool field rules (redaction.fields): the next value is the root the
  // pointers of `paths` start from; `paths` must outlive that value. Only
  // with a redactor.
  void field_scope(const field_paths* paths) noexcept;

  [[nodiscard]] std::size_t depth() const noexcept { return depth_; }
  [[nodiscard]] const json_limits& limits() const noexcept { return limits_; }
  [[nodiscard]] std::string& buffer() noexcept { return out_; }

  // Escapes `value` as the inside of a JSON string (no quotes), applying the
  // UTF-8 repair rules above. Returns the number of input bytes consumed,
  // which is less than value.size() only when max_bytes stopped it.
  static std::size_t append_escaped(std::string& out, std::string_view value,
                                    std::size_t max_bytes);

  // True when `value` is written as it is inside a JSON string: printable
  // ASCII, no '"' or '\\'.
  static bool is_plain(std::string_view value) noexcept;

 private:
  void before_value();
  void open(char bracket);
  void close(char bracket);
  void plain_string(std::string_view value);
  // Redaction of the value about to be written: 1 a secret, 2 kept as it is
  // (a field rule's keep), 0 scanned. Consumes the flags, moves the field path.
  int take_secret() noexcept;
  void secret_marker(std::string_view secret);
  // Field rules: what the value about to be written (a container when
  // `bracket` is '{' or '[') is: 1 redact, 2 keep, 0 neither. Tracks the path.
  int field_value(char bracket);
  void field_close();
  [[nodiscard]] bool keeping() const noexcept { return keep_next_ || keep_depth_ != kNoDepth; }

  static constexpr std::size_t kNoDepth = static_cast<std::size_t>(-1);
  // Programs whose short option takes a password: mysql -pSECRET,
  // sshpass -p SECRET, redis-cli -a SECRET.
  static constexpr std::uint8_t kAttachedP = 1;
  static constexpr std::uint8_t kSeparateP = 2;
  static constexpr std::uint8_t kSeparateA = 3;
  static std::uint8_t program_with_password_option(std::string_view argv0) noexcept;

  std::string& out_;
  json_limits limits_;
  std::size_t depth_ = 0;
  bool need_comma_ = false;
  bool after_key_ = false;
  // Redaction state: the next value is a secret (its key is named like one,
  // or it follows "--password" in an array); inside a container that is a
  // secret's value, every scalar is (secret_depth_: that container's depth).
  bool secret_next_ = false;
  std::size_t secret_depth_ = kNoDepth;
  bool secret_field_ = false;  // the secret is a field rule's (marker label "field")
  // Field rules in effect for the value under way (see field_scope).
  const field_paths* fields_ = nullptr;
  std::size_t field_root_depth_ = kNoDepth;
  std::vector<std::string> field_path_;   // segments of the open containers below the root
  std::vector<std::size_t> field_index_;  // per open container: the next array index, kNoDepth for objects
  std::string field_key_;                 // the last key inside the scope
  bool keep_next_ = false;
  std::size_t keep_depth_ = kNoDepth;
  // An array's first string (argv[0]) names a program with a short password option.
  bool array_first_ = false;
  std::uint8_t argv_program_ = 0;
};

}  // namespace bluepython
