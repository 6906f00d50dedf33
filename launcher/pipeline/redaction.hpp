// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pipeline/options.hpp"

// Secret redaction (docs/redaction.md). Values are redacted while events are
// encoded, before they are queued: the JSON writer asks the redactor about
// every object key (key-name rules) and every string (value-shape rules).
// Plain values in and out, no Python: the fuzz target and the unit tests
// drive it directly.
namespace bluepython {

// What found a secret. The names are the labels in markers and counters.
enum class secret_rule : std::uint8_t {
  key,  // the value of a key named like a secret (JSON key, key=value, --key value)
  aws_access_key_id,
  github_token,
  gitlab_token,
  slack_token,
  slack_webhook,
  stripe_key,
  openai_key,
  anthropic_key,
  google_api_key,
  google_oauth,
  npm_token,
  pypi_token,
  huggingface_token,
  sendgrid_key,
  digitalocean_token,
  jwt,
  private_key,
  bearer_token,
  basic_auth,
  url_password,
  high_entropy,
  field,  // a JSON pointer of a per-tool rule
};
inline constexpr std::size_t secret_rule_count = static_cast<std::size_t>(secret_rule::field) + 1;

std::string_view secret_rule_name(secret_rule r) noexcept;
// The value-shape rules a config may turn off (every rule but key and field).
bool secret_rule_from_name(std::string_view name, secret_rule& out) noexcept;

// One secret in a text: bytes [begin, end) and the rule that found it.
struct secret_span {
  std::size_t begin = 0;
  std::size_t end = 0;
  secret_rule rule = secret_rule::key;
};

// The field rules that apply to one message: pointers split into segments
// (unescaped), relative to the value they are applied to.
struct field_paths {
  std::vector<std::vector<std::string>> redact;
  std::vector<std::vector<std::string>> keep;
  [[nodiscard]] bool empty() const noexcept { return redact.empty() && keep.empty(); }
};

// "/a/b~1c/0" -> {"a", "b/c", "0"}; false unless it starts with '/'.
bool split_pointer(std::string_view pointer, std::vector<std::string>& out);

class redactor {
 public:
  // `fingerprint_key`: the HMAC key; empty: markers carry no fingerprint.
  explicit redactor(const redaction_options& options, std::string fingerprint_key = {});

  [[nodiscard]] bool enabled() const noexcept { return enabled_; }
  [[nodiscard]] bool fingerprints() const noexcept { return !fingerprint_key_.empty(); }

  // True when the value of a key with this name is a secret: compared
  // case-insensitively with '-', '_', '.' and spaces ignored (docs/redaction.md).
  [[nodiscard]] bool secret_key(std::string_view name) const noexcept;

  // The secrets in `text`, in order and not overlapping. Only the first
  // `scan_limit` bytes are searched; a secret still open there runs to the end.
  void scan(std::string_view text, std::vector<secret_span>& out, std::size_t scan_limit) const;

  // `text` with every secret replaced by its marker, into `out`; returns how
  // many were replaced (0: `out` is untouched). Counts them.
  std::size_t redact(std::string_view text, std::string& out, std::size_t scan_limit = SIZE_MAX) const;

  // Appends the marker for `secret` found by `rule` and counts it:
  // [REDACTED:rule:bytes] or, with a fingerprint key, [REDACTED:rule:bytes:hmac16].
  void append_marker(std::string& out, secret_rule rule, std::string_view secret) const;

  // The rule that names a whole value redacted by its key: its shape's when
  // it has one ("api_key": "sk-…" is an openai_key), else key.
  [[nodiscard]] secret_rule label_of(std::string_view value) const noexcept;

  [[nodiscard]] bool has_fields() const noexcept { return !fields_.empty(); }
  // The field rules for a tools/call of `tool` on `server`: of its arguments
  // (`result` false) or of its result. `prefix`: a segment the message
  // value's root adds above them ("params", "result"), or empty.
  void fields_for(std::string_view server, std::string_view tool, bool result, std::string_view prefix,
                  field_paths& out) const;

  // Redactions so far, by rule (only rules that redacted something).
  [[nodiscard]] std::vector<std::pair<secret_rule, std::uint64_t>> counts() const;
  // A fork child starts its own counts.
  void reset_counts() noexcept;

 private:
  bool enabled_ = true;
  bool entropy_ = false;
  std::array<bool, secret_rule_count> rule_on_{};
  std::vector<std::string> extra_keys_;  // normalized
  std::vector<std::string> keep_keys_;   // normalized
  std::string fingerprint_key_;
  struct compiled_field {
    std::string server;
    std::string tool;
    field_paths arguments;  // relative to params ("arguments", ...)
    field_paths result;     // relative to the result
  };
  std::vector<compiled_field> fields_;
  mutable std::array<std::atomic<std::uint64_t>, secret_rule_count> counts_{};
};

// The process's redactor: with its fingerprint key when asked for (read or
// created). `warning`: set to the one stderr line to print, if any (no key
// for fingerprints; redaction off, when `root`: a child does not repeat it).
std::unique_ptr<redactor> make_redactor(const redaction_options& options, bool root, std::string& warning);

// The per-installation fingerprint key: read from `path`, or created there
// (32 random bytes, hex, mode 0600, its folder 0700) when absent. Empty on
// any failure, with the reason in `error`.
std::string load_fingerprint_key(const std::string& path, std::string& error);

}  // namespace bluepython
