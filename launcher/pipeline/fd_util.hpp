// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <dirent.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace bluepython {

// Descriptors bluepython opens stay out of the app's way. Never 0, 1 or 2:
// when the app was started with one of them closed, python leaves sys.stdout
// (etc.) None and so must we. And not among the low numbers the app's own
// open() calls get (the lowest free one): os.open() must return the same
// numbers under bluepython as under python. Every descriptor we open goes
// through these helpers, which move it to kHighFdFloor or above (or, when
// RLIMIT_NOFILE leaves no room up there, to the lowest free one >= 3),
// close-on-exec. The low number is taken only for the moment of the move.

// Where our descriptors go when the soft RLIMIT_NOFILE allows it: far above
// what apps use, low enough not to grow the kernel's descriptor table much.
inline constexpr int kHighFdFloor = 1000;

// The lowest number move_high() aims for now: kHighFdFloor, less when the
// soft RLIMIT_NOFILE is lower (then a margin below it), never under 3.
int high_fd_floor() noexcept;

// Moves `fd` to a free descriptor >= high_fd_floor(), else to the lowest
// free one >= 3, closing the old one; an fd already >= the floor (or >= 3
// when nothing is free up there) stays where it is. `fd` must be opened
// close-on-exec; a moved copy is too. Returns the descriptor to use, or -1
// (errno set; `fd` is closed then too). Thread-safe.
int move_high(int fd) noexcept;

// open(2) with O_CLOEXEC added and the result moved by move_high(); retries
// EINTR.
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

// strerror(3) for any thread (GNU strerror_r).
std::string error_text(int err);

// mkdir -p, mode 0700 for what it creates; one stat when `dir` exists. False
// with `error` set ("cannot create /x: Permission denied").
bool make_private_dirs(const std::string& dir, std::string& error);

// The running executable (/proc/self/exe, symlinks resolved), or "".
std::string self_executable();

}  // namespace bluepython
