// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <string>

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

}  // namespace bluepython
