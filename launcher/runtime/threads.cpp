// SPDX-License-Identifier: Apache-2.0
#include "runtime/threads.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <string_view>

namespace bluepython::threads {
namespace {

constexpr std::string_view kOwnPrefix = "bluepython-";

// Reads up to size - 1 bytes of a small /proc file; the length read, or -1.
ssize_t read_small(const char* path, char* buf, std::size_t size) noexcept {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n;
  do {
    n = ::read(fd, buf, size - 1);
  } while (n < 0 && errno == EINTR);
  ::close(fd);
  return n;
}

// Field 20 of /proc/self/stat (num_threads). The command name (field 2) may
// hold spaces and parentheses: counting starts after its last ')'.
int process_threads() noexcept {
  char buf[1024];
  const ssize_t n = read_small("/proc/self/stat", buf, sizeof buf);
  if (n <= 0) return -1;
  const std::string_view text(buf, static_cast<std::size_t>(n));
  const auto close = text.rfind(')');
  if (close == std::string_view::npos) return -1;
  std::size_t at = close + 1;
  for (int field = 2; field < 20; ++field) {  // fields 3..20 follow, space-separated
    at = text.find(' ', at);
    if (at == std::string_view::npos) return -1;
    ++at;
  }
  int value = -1;
  const auto [end, error] = std::from_chars(text.data() + at, text.data() + text.size(), value);
  return error == std::errc{} && end != text.data() + at ? value : -1;
}

bool is_ours(std::string_view tid) noexcept {
  constexpr std::string_view head = "/proc/self/task/";
  constexpr std::string_view tail = "/comm";
  std::array<char, 64> path{};  // zero-filled: the copies below leave it terminated
  if (head.size() + tid.size() + tail.size() >= path.size()) return false;
  char* out = std::copy(head.begin(), head.end(), path.data());
  out = std::copy(tid.begin(), tid.end(), out);
  std::copy(tail.begin(), tail.end(), out);
  char name[32];
  const ssize_t n = read_small(path.data(), name, sizeof name);
  return n > 0 && std::string_view(name, static_cast<std::size_t>(n)).starts_with(kOwnPrefix);
}

int own_threads() noexcept {
  DIR* dir = ::opendir("/proc/self/task");
  if (dir == nullptr) return 0;
  int ours = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.' && is_ours(entry->d_name)) ++ours;
  }
  ::closedir(dir);
  return ours;
}

}  // namespace

thread_count count() noexcept { return {process_threads(), own_threads()}; }

}  // namespace bluepython::threads
