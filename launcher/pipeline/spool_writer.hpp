// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "pipeline/options.hpp"
#include "pipeline/event_sink.hpp"

namespace bluepython {

// Spool file names: python-bluepython-<pid>-<start ms>-<seq>.ndjson. They begin
// with "python-" so that the glob log shippers are given for BlueRock's sensor
// (python-*.ndjson) takes them; "bluepython-" keeps them apart from another
// sensor's files in a shared directory. Earlier releases wrote
// bluepython-<pid>-<start ms>-<seq>.ndjson, which the readers and the quota
// still take.
inline constexpr std::string_view kSpoolFilePrefix = "python-bluepython-";
inline constexpr std::string_view kLegacySpoolFilePrefix = "bluepython-";
inline constexpr std::string_view kSpoolFileSuffix = ".ndjson";

// The part of a spool file's name after its prefix ("<pid>-<start ms>-<seq>.ndjson"),
// or empty when `name` is not a spool file's.
std::string_view spool_file_rest(std::string_view name) noexcept;

// The local NDJSON spool: one file per process named
// python-bluepython-<pid>-<start ms>-<seq>.ndjson in a 0700 directory, files 0600,
// opened O_CLOEXEC|O_APPEND. Rotates at max_file_bytes; keeps the directory's
// spool files under max_total_bytes by removing the oldest files of finished
// processes (and this process's own rotated files); when that is not enough
// the batch is dropped and counted. The directory is rescanned at rotation,
// every max(1 MiB, quota/64) written, when the estimate says the quota is
// reached, and when a file is opened if the directory is small (else one
// time in 32): enforcement is exact for one process and approximate, by at
// most those intervals, across many. Every batch is written whole or not at
// all (a failed write is truncated away), so lines are never torn.
// A deleted file is noticed and replaced by a new one. Not thread-safe: used
// by the writer thread only, except location(), which any thread may call.
class spool_writer final : public event_sink {
 public:
  spool_writer(spool_options options, int pid, std::int64_t start_ns);
  ~spool_writer() override;

  result write(std::string_view data, std::size_t lines) noexcept override;
  void reset_in_child(int pid, std::int64_t start_ns) noexcept override;
  // fdatasync of the open file (spool.fsync interval/always; a new file's
  // directory entry is synced when it is made, under those modes).
  void sync() noexcept override;
  // Thread-safe (a copy taken under path_mutex_): app threads ask for it
  // while the writer thread rotates.
  [[nodiscard]] std::string location() const override;

  // Writer thread only.
  [[nodiscard]] const std::string& current_path() const noexcept { return path_; }
  [[nodiscard]] std::uint64_t files_opened() const noexcept { return files_opened_; }

 private:
  bool ensure_open(std::string& fault) noexcept;
  void close_file() noexcept;
  std::uint64_t scan_total() noexcept;
  bool make_room(std::uint64_t needed) noexcept;
  bool scan_is_cheap_or_due() noexcept;
  void set_path(std::string path) noexcept;

  spool_options options_;
  int pid_;
  std::int64_t start_ns_;
  int fd_ = -1;
  unsigned seq_ = 0;
  // Written by the writer thread under path_mutex_; the writer reads it
  // without the lock (it is the only writer), other threads with it.
  mutable std::mutex path_mutex_;
  std::string path_;
  std::uint64_t file_bytes_ = 0;
  std::uint64_t others_bytes_ = 0;  // other spool files, as of the last scan
  std::uint64_t bytes_since_scan_ = 0;
  std::uint64_t files_opened_ = 0;
  std::int64_t next_open_attempt_ns_ = 0;
  bool quota_fault_reported_ = false;
};

}  // namespace bluepython
