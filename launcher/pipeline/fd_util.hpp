// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <dirent.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace bluepython {

// Descriptors bluepython opens never take the slots of stdin, stdout or
// stderr: when the app was started with one of them closed, python leaves
// sys.stdout (etc.) None and so must we. Every descriptor we open goes
// through these helpers, which move it to 3 or above, close-on-exec.

// Moves `fd` to the lowest free descriptor >= 3 (closing the old one) when it
// is 0, 1 or 2. Returns the descriptor to use, or -1 (errno set).
int move_above_stdio(int fd) noexcept;

// open(2) with O_CLOEXEC added and the result kept above stdio; retries EINTR.
int open_high(const char* path, int flags, unsigned mode = 0) noexcept;

// opendir(3) through open_high. nullptr on failure.
DIR* open_dir_high(const char* path) noexcept;

// Reads a whole regular file of at most max_bytes; nullopt on any failure.
std::optional<std::string> read_small_file(const std::string& path, std::size_t max_bytes) noexcept;

// Writes all of `data` to `fd`, retrying EINTR and partial writes.
bool write_all(int fd, const char* data, std::size_t size) noexcept;

// Replaces `path` with `data` atomically (temporary file in the same
// directory, then rename), mode `mode`, never following a symlink at the
// temporary name. False on any failure (the temporary is removed).
bool write_file_atomically(const std::string& path, std::string_view data, unsigned mode) noexcept;

// The running executable (/proc/self/exe, symlinks resolved), or "".
std::string self_executable();

}  // namespace bluepython
