// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <string>
#include <vector>

// The pipeline's settings (config/ fills them from the config file, the
// environment and flags; the pipeline never reads configuration itself).
namespace bluepython {

struct spool_options {
  std::string dir;  // empty until resolved: ~/.bluepython/spool
  std::uint64_t max_file_bytes = 32ULL << 20U;
  std::uint64_t max_total_bytes = 256ULL << 20U;
  std::uint32_t flush_interval_ms = 50;
};

struct queue_options {
  std::uint64_t max_bytes = 4ULL << 20U;  // per buffer; two buffers alternate
};

struct import_options {
  bool stdlib = true;     // report standard-library modules too
  bool hash = true;       // SHA-256 of module files (writer side)
  bool fileslist = true;  // BlueRock: false = one event per distribution
  bool baseline = true;   // keep per-spool hashes for hash_changed
  bool hash_cache = true; // reuse a baseline hash when dev/inode/size/mtime/ctime match
};

// A per-tool field rule (redaction.fields): JSON pointers into a tools/call's
// arguments ("/arguments/...") or its result ("/result/..."); "*" matches
// any one key or index.
struct redaction_field_rule {
  std::string server = "*";  // shell pattern on the server's name
  std::string tool = "*";    // shell pattern on the tool's name
  std::vector<std::string> redact;
  std::vector<std::string> keep;
};

// Secret redaction (docs/redaction.md): on unless turned off.
struct redaction_options {
  bool enable = true;
  std::vector<std::string> keys;        // more key names whose values are secrets
  std::vector<std::string> keep_keys;   // built-in key names not to treat as secrets
  std::vector<std::string> disable;     // value-shape rules turned off, by name
  bool entropy = false;                 // opt-in: long random-looking tokens
  bool fingerprint = false;             // markers carry a keyed HMAC of the secret
  std::string fingerprint_key_file;     // empty: ~/.bluepython/fingerprint.key
  std::vector<redaction_field_rule> fields;

  [[nodiscard]] bool configured() const noexcept {
    return !enable || !keys.empty() || !keep_keys.empty() || !disable.empty() || entropy || fingerprint ||
           !fingerprint_key_file.empty() || !fields.empty();
  }
};

}  // namespace bluepython
