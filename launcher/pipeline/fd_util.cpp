// SPDX-License-Identifier: Apache-2.0
#include "pipeline/fd_util.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <limits.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include <algorithm>
#include <cerrno>

namespace bluepython {

std::string error_text(int err) {
  char buf[128];
  return ::strerror_r(err, buf, sizeof buf);
}

bool make_private_dirs(const std::string& dir, std::string& error) {
  if (dir.empty()) return false;
  struct stat st{};
  // Nearly always there already: one stat instead of a mkdir per component.
  if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return true;
  std::string partial;
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    partial = dir.substr(0, pos);
    if (partial.empty()) continue;
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      error = "cannot create " + partial + ": " + error_text(errno);
      return false;
    }
  }
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    error = dir + " is not a directory";
    return false;
  }
  return true;
}

int high_fd_floor() noexcept {
  // Room left below the soft limit for the few descriptors we hold at once.
  constexpr rlim_t kMargin = 32;
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return kHighFdFloor;
  if (limit.rlim_cur >= static_cast<rlim_t>(kHighFdFloor) + kMargin) return kHighFdFloor;
  return limit.rlim_cur > 3 + kMargin ? static_cast<int>(limit.rlim_cur - kMargin) : 3;
}

int move_high(int fd) noexcept {
  if (fd < 0) return fd;
  const int floor = high_fd_floor();
  if (fd >= floor) return fd;
  int high = ::fcntl(fd, F_DUPFD_CLOEXEC, floor);
  // EMFILE/EINVAL: nothing free up there (the limit changed, or the app
  // filled it); the lowest free number above stdio still keeps 0-2 free.
  if (high < 0 && fd > 2) return fd;
  if (high < 0) high = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  const int saved = errno;
  ::close(fd);
  errno = saved;
  return high;
}

int open_high(const char* path, int flags, unsigned mode) noexcept {
  int fd;
  do {
    fd = ::open(path, flags | O_CLOEXEC, static_cast<mode_t>(mode));
  } while (fd < 0 && errno == EINTR);
  return move_high(fd);
}

DIR* open_dir_high(const char* path) noexcept {
  const int fd = open_high(path, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return nullptr;
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) ::close(fd);
  return dir;
}

std::optional<std::string> read_small_file(const std::string& path, std::size_t max_bytes) noexcept {
  const int fd = open_high(path.c_str(), O_RDONLY | O_NOCTTY);
  if (fd < 0) return std::nullopt;
  std::optional<std::string> result;
  try {
    struct stat st{};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && static_cast<std::size_t>(st.st_size) <= max_bytes) {
      // Read to end of file, not to st_size: /proc files report a size of 0.
      std::string text;
      text.resize(st.st_size > 0 ? static_cast<std::size_t>(st.st_size) : 4096);
      std::size_t got = 0;
      bool ok = true;
      for (;;) {
        if (got == text.size()) {
          if (text.size() >= max_bytes) {
            ok = ::read(fd, &st, 1) == 0;  // more than max_bytes: refuse
            break;
          }
          text.resize(std::min(max_bytes, text.size() * 2));
        }
        const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) ok = false;
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
      }
      if (ok) {
        text.resize(got);
        result = std::move(text);
      }
    }
  } catch (...) {
    result.reset();
  }
  ::close(fd);
  return result;
}

bool write_all(int fd, const char* data, std::size_t size) noexcept {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

bool write_file_atomically(const std::string& path, std::string_view data, unsigned mode) noexcept {
  try {
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    const int fd = open_high(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NOCTTY, mode);
    if (fd < 0) return false;
    const bool ok = write_all(fd, data.data(), data.size());
    ::close(fd);
    if (ok && std::rename(tmp.c_str(), path.c_str()) == 0) return true;
    ::unlink(tmp.c_str());
  } catch (...) {
  }
  return false;
}

std::string self_executable() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace bluepython
