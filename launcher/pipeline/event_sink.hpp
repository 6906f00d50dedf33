// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bluepython {

// Where the writer thread puts complete NDJSON lines. Called from the writer
// thread only (or from the thread draining synchronously at exit), never
// concurrently. write() must not throw.
class event_sink {
 public:
  event_sink() = default;
  event_sink(const event_sink&) = delete;
  event_sink& operator=(const event_sink&) = delete;
  virtual ~event_sink() = default;

  struct result {
    std::size_t written_lines = 0;  // lines now durably handed to the kernel
    std::size_t dropped_lines = 0;  // lines lost to a fault (quota, I/O)
    std::string fault;              // non-empty: a new fault to report once
  };

  // `data` is `lines` complete lines, each ending in '\n'.
  virtual result write(std::string_view data, std::size_t lines) noexcept = 0;

  // Called in a forked child before it writes: forget the parent's file
  // (without writing to it) and start anew for `pid`.
  virtual void reset_in_child(int pid, std::int64_t start_ns) noexcept = 0;

  // spool.fsync: what was written so far to stable storage.
  virtual void sync() noexcept {}

  // Describes where events go, for messages ("/path/to/spool/file").
  [[nodiscard]] virtual std::string location() const = 0;
};

}  // namespace bluepython
