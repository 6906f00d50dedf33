// SPDX-License-Identifier: Apache-2.0
#pragma once

// The threads of this process as the kernel counts them, and how many of them
// are bluepython's own (the writer, the exporter and whatever those start:
// their names begin with "bluepython-", and a new thread inherits its
// creator's name). CPython 3.12+ counts the first to decide whether os.fork()
// warns that the process is multi-threaded (Linux: /proc/self/stat).
namespace bluepython::threads {

struct thread_count {
  int process = -1;  // /proc/self/stat's num_threads; -1 when unreadable
  int ours = 0;      // threads named bluepython-*
};

[[nodiscard]] thread_count count() noexcept;

// Whether python alone would see a single thread where we see more only
// because of ours.
[[nodiscard]] constexpr bool single_but_for_ours(const thread_count& c) noexcept {
  return c.process > 1 && c.ours > 0 && c.process - c.ours <= 1;
}

}  // namespace bluepython::threads
