// SPDX-License-Identifier: Apache-2.0
#include "fd_util.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace bluepython {

int move_above_stdio(int fd) noexcept {
  if (fd < 0 || fd > 2) return fd;
  const int high = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
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
  return move_above_stdio(fd);
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
      std::string text;
      text.resize(static_cast<std::size_t>(st.st_size));
      std::size_t got = 0;
      while (got < text.size()) {
        const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
      }
      text.resize(got);
      result = std::move(text);
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

}  // namespace bluepython
