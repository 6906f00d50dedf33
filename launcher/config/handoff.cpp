// SPDX-License-Identifier: Apache-2.0
#include "config/handoff.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "pipeline/fd_util.hpp"

namespace bluepython::handoff {
namespace {

constexpr std::size_t kMaxHandoffBytes = std::size_t{256} * 1024;

std::string directory() { return fmt::format("/tmp/bluepython-{}", ::getuid()); }

std::string file_for(int pid) { return fmt::format("{}/handoff-{}.json", directory(), pid); }

// The directory must be ours and private, or it is not used at all.
bool trusted_directory(bool create) {
  const std::string dir = directory();
  if (create && ::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return false;
  struct stat st{};
  if (::lstat(dir.c_str(), &st) != 0) return false;
  return S_ISDIR(st.st_mode) && st.st_uid == ::getuid() && (st.st_mode & 0077) == 0;
}

}  // namespace

unsigned long long process_start_ticks(int pid) noexcept {
  try {
    const auto stat_text = read_small_file(fmt::format("/proc/{}/stat", pid), 4096);
    if (!stat_text) return 0;
    const std::string& text = *stat_text;
    // Field 2 (comm) may contain spaces and parentheses: skip past the last ')'.
    const auto close = text.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream fields(text.substr(close + 2));
    std::string field;
    // After comm: state is field 3; starttime is field 22.
    for (int i = 3; i < 22; ++i) fields >> field;
    unsigned long long ticks = 0;
    fields >> ticks;
    return ticks;
  } catch (...) {
    return 0;
  }
}

int remove_stale() noexcept {
  int removed = 0;
  try {
    if (!trusted_directory(false)) return 0;
    const std::string dir = directory();
    DIR* d = open_dir_high(dir.c_str());
    if (d == nullptr) return 0;
    while (const dirent* entry = ::readdir(d)) {
      const std::string_view name(entry->d_name);
      if (!name.starts_with("handoff-")) continue;
      int pid = 0;
      for (const char c : name.substr(8)) {
        if (c < '0' || c > '9') break;
        pid = pid * 10 + (c - '0');
      }
      if (pid <= 0 || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
      if (::unlinkat(::dirfd(d), entry->d_name, 0) == 0) ++removed;
    }
    ::closedir(d);
  } catch (...) {
  }
  return removed;
}

void publish(std::string_view settings_json, int pid, const std::string& uuid) noexcept {
  try {
    if (!trusted_directory(true)) return;
    // Files of killed processes would pile up: now and then, sweep them.
    if ((static_cast<unsigned>(pid) * 2654435761U) % 64U == 0) remove_stale();
    const std::string text = fmt::format(R"({{"pid":{},"uuid":"{}","start_ticks":{},"config":{}}})", pid, uuid,
                                         process_start_ticks(pid), settings_json);
    (void)write_file_atomically(file_for(pid), text, 0600);
  } catch (...) {
  }
}

void retract(int pid) noexcept {
  try {
    ::unlink(file_for(pid).c_str());
  } catch (...) {
  }
}

std::optional<parent_handoff> find_for_parent() noexcept {
  try {
    const int ppid = ::getppid();
    if (ppid <= 1 || !trusted_directory(false)) return std::nullopt;
    const std::string path = file_for(ppid);
    const int fd = open_high(path.c_str(), O_RDONLY | O_NOFOLLOW);
    if (fd < 0) return std::nullopt;
    struct stat st{};
    std::string text;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::getuid() &&
        static_cast<std::size_t>(st.st_size) <= kMaxHandoffBytes) {
      text.resize(static_cast<std::size_t>(st.st_size));
      if (::read(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) text.clear();
    }
    ::close(fd);
    if (text.empty()) return std::nullopt;
    const auto doc = nlohmann::json::parse(text);
    // A file left by a dead process whose pid was reused is not our parent's.
    if (doc.at("pid").get<int>() != ppid ||
        doc.at("start_ticks").get<unsigned long long>() != process_start_ticks(ppid)) {
      return std::nullopt;
    }
    parent_handoff out;
    out.pid = ppid;
    out.uuid = doc.at("uuid").get<std::string>();
    out.config = doc.at("config");
    return out;
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace bluepython::handoff
