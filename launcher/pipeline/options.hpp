// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// The pipeline's settings (config/ fills them from the config file, the
// environment and flags; the pipeline never reads configuration itself).
namespace bluepython {

// spool.fsync: when the spool reaches the disk (a power loss, not a process
// death: that the page cache survives).
enum class spool_fsync : std::uint8_t { never, interval, always };

inline std::optional<spool_fsync> parse_fsync(std::string_view text) noexcept {
  if (text == "never") return spool_fsync::never;
  if (text == "interval") return spool_fsync::interval;
  if (text == "always") return spool_fsync::always;
  return std::nullopt;
}

inline std::string_view fsync_name(spool_fsync mode) noexcept {
  switch (mode) {
    case spool_fsync::interval: return "interval";
    case spool_fsync::always: return "always";
    case spool_fsync::never: break;
  }
  return "never";
}

struct spool_options {
  std::string dir;  // empty until resolved: ~/.bluepython/spool
  std::uint64_t max_file_bytes = 32ULL << 20U;
  std::uint64_t max_total_bytes = 256ULL << 20U;
  std::uint32_t flush_interval_ms = 50;
  // Journals of running processes; empty until resolved: <dir>.state
  std::string state_dir;
  spool_fsync fsync = spool_fsync::never;
  std::uint32_t fsync_interval_ms = 1000;
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
