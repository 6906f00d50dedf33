// SPDX-License-Identifier: Apache-2.0
#include "pipeline/spool_writer.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <vector>

#include <fmt/format.h>

#include "pipeline/clock.hpp"
#include "pipeline/fd_util.hpp"

namespace bluepython {
namespace {

constexpr std::int64_t kReopenBackoffNs = 1'000'000'000;

bool is_spool_file(const char* name) { return !spool_file_rest(name).empty(); }

int owner_pid(const char* name) {
  int pid = 0;
  for (const char c : spool_file_rest(name)) {  // <pid>-...
    if (c < '0' || c > '9') break;
    pid = pid * 10 + (c - '0');
  }
  return pid;
}

}  // namespace

std::string_view spool_file_rest(std::string_view name) noexcept {
  if (!name.ends_with(kSpoolFileSuffix)) return {};
  for (const std::string_view prefix : {kSpoolFilePrefix, kLegacySpoolFilePrefix}) {
    if (name.starts_with(prefix) && name.size() > prefix.size() + kSpoolFileSuffix.size()) {
      return name.substr(prefix.size());
    }
  }
  return {};
}

spool_writer::spool_writer(spool_options options, int pid, std::int64_t start_ns)
    : options_(std::move(options)), pid_(pid), start_ns_(start_ns) {}

spool_writer::~spool_writer() { close_file(); }

std::string spool_writer::location() const {
  std::lock_guard lock(path_mutex_);
  return path_.empty() ? options_.dir : path_;
}

void spool_writer::set_path(std::string path) noexcept {
  {
    std::lock_guard lock(path_mutex_);
    path_.swap(path);
  }
  // The old name is freed here, outside the lock.
}

void spool_writer::close_file() noexcept {
  if (fd_ >= 0) {
    // A rotated file is complete: on disk before its successor takes over.
    if (options_.fsync != spool_fsync::never) (void)::fdatasync(fd_);
    ::close(fd_);
  }
  fd_ = -1;
}

void spool_writer::sync() noexcept {
  if (fd_ >= 0) (void)::fdatasync(fd_);
}

void spool_writer::reset_in_child(int pid, std::int64_t start_ns) noexcept {
  // The inherited descriptor shares the parent's file offset; drop it unused
  // (no sync either: the file is the parent's).
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  pid_ = pid;
  start_ns_ = start_ns;
  seq_ = 0;
  // An app thread may have been inside location() at the fork: the child's
  // copy of the lock would stay held. path_ itself is intact (readers only
  // copy it; the writer was parked by the pipeline's fork handler).
  new (&path_mutex_) std::mutex();
  path_.clear();
  file_bytes_ = 0;
  next_open_attempt_ns_ = 0;
  quota_fault_reported_ = false;
}

bool spool_writer::ensure_open(std::string& fault) noexcept {
  if (fd_ >= 0) {
    // A spool file removed under us keeps accepting writes into the void:
    // notice it and move to a new file.
    struct stat st{};
    if (::fstat(fd_, &st) == 0 && st.st_nlink > 0) return true;
    fault = fmt::format("spool file {} was removed while in use; continuing in a new file", path_);
    close_file();
    ++seq_;
  }
  const std::int64_t now = monotonic_ns();
  if (now < next_open_attempt_ns_) return false;
  // Until this attempt succeeds, wait a second before the next one.
  next_open_attempt_ns_ = now + kReopenBackoffNs;
  try {
    std::string error;
    if (!make_private_dirs(options_.dir, error)) {
      if (fault.empty()) fault = error;
      return false;
    }
    for (int attempt = 0; attempt < 100; ++attempt) {
      set_path(fmt::format("{}/{}{}-{}-{}{}", options_.dir, kSpoolFilePrefix, pid_, start_ns_ / 1'000'000, seq_,
                           kSpoolFileSuffix));
      const int fd = open_high(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_NOCTTY, 0600);
      if (fd >= 0) {
        fd_ = fd;
        if (options_.fsync != spool_fsync::never) {
          // The new name, so that a power loss cannot orphan the data synced into it.
          const int dir = open_high(options_.dir.c_str(), O_RDONLY | O_DIRECTORY);
          if (dir >= 0) {
            (void)::fsync(dir);
            ::close(dir);
          }
        }
        next_open_attempt_ns_ = 0;
        file_bytes_ = 0;
        ++files_opened_;
        if (scan_is_cheap_or_due()) {
          others_bytes_ = scan_total();
          bytes_since_scan_ = 0;
        }
        return true;
      }
      if (errno != EEXIST) {
        if (fault.empty()) fault = fmt::format("cannot create {}: {}", path_, error_text(errno));
        return false;
      }
      ++seq_;
    }
    if (fault.empty()) fault = fmt::format("cannot create a spool file in {}", options_.dir);
  } catch (...) {
    if (fault.empty()) fault = "out of memory opening the spool";
  }
  return false;
}

std::uint64_t spool_writer::scan_total() noexcept {
  std::uint64_t total = 0;
  DIR* dir = open_dir_high(options_.dir.c_str());
  if (dir == nullptr) return 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (!is_spool_file(entry->d_name)) continue;
    struct stat st{};
    if (::fstatat(::dirfd(dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    total += static_cast<std::uint64_t>(st.st_size);
  }
  ::closedir(dir);
  // Our own open file is counted separately in file_bytes_.
  return total >= file_bytes_ ? total - file_bytes_ : 0;
}

bool spool_writer::scan_is_cheap_or_due() noexcept {
  // A small directory is scanned at once; a big one (thousands of files from
  // earlier processes) by one new file in 32 and after every scan interval
  // of writes, so a short-lived process does not pay O(files) each time.
  struct stat st{};
  if (::stat(options_.dir.c_str(), &st) == 0 && st.st_size <= off_t{16} * 1024) return true;
  const auto seed = static_cast<std::uint64_t>(monotonic_ns()) ^ (static_cast<std::uint64_t>(pid_) << 20U);
  return (seed >> 7U) % 32 == 0;
}

bool spool_writer::make_room(std::uint64_t needed) noexcept {
  bytes_since_scan_ += needed;
  const std::uint64_t interval = std::max<std::uint64_t>(1U << 20U, options_.max_total_bytes / 64);
  if (others_bytes_ + file_bytes_ + needed <= options_.max_total_bytes && bytes_since_scan_ < interval) {
    return true;
  }
  bytes_since_scan_ = 0;
  others_bytes_ = scan_total();
  if (others_bytes_ + file_bytes_ + needed <= options_.max_total_bytes) return true;
  struct candidate {
    std::string path;
    std::int64_t mtime_ns;
    std::uint64_t size;
  };
  std::vector<candidate> candidates;
  try {
    DIR* dir = open_dir_high(options_.dir.c_str());
    if (dir != nullptr) {
      const std::string current = path_.substr(path_.find_last_of('/') + 1);
      while (const dirent* entry = ::readdir(dir)) {
        if (!is_spool_file(entry->d_name) || current == entry->d_name) continue;
        const int owner = owner_pid(entry->d_name);
        // Never remove a file another live process may still be writing.
        if (owner != pid_ && owner > 0 && (::kill(owner, 0) == 0 || errno == EPERM)) continue;
        struct stat st{};
        if (::fstatat(::dirfd(dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        candidates.push_back({options_.dir + "/" + entry->d_name,
                              static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
                              static_cast<std::uint64_t>(st.st_size)});
      }
      ::closedir(dir);
    }
    std::sort(candidates.begin(), candidates.end(),
              [](const candidate& a, const candidate& b) { return a.mtime_ns < b.mtime_ns; });
  } catch (...) {
    return false;
  }
  for (const auto& c : candidates) {
    if (others_bytes_ + file_bytes_ + needed <= options_.max_total_bytes) break;
    if (::unlink(c.path.c_str()) == 0) others_bytes_ = others_bytes_ >= c.size ? others_bytes_ - c.size : 0;
  }
  return others_bytes_ + file_bytes_ + needed <= options_.max_total_bytes;
}

event_sink::result spool_writer::write(std::string_view data, std::size_t lines) noexcept {
  result res;
  if (lines == 0) return res;
  if (!ensure_open(res.fault)) {
    res.dropped_lines = lines;
    return res;
  }
  if (file_bytes_ > 0 && file_bytes_ + data.size() > options_.max_file_bytes) {
    close_file();
    ++seq_;
    next_open_attempt_ns_ = 0;
    if (!ensure_open(res.fault)) {
      res.dropped_lines = lines;
      return res;
    }
    others_bytes_ = scan_total();  // rotation: a good moment to look again
    bytes_since_scan_ = 0;
  }
  if (!make_room(data.size())) {
    if (!quota_fault_reported_) {
      quota_fault_reported_ = true;
      res.fault = fmt::format("spool quota of {} bytes in {} is used up; events are dropped",
                              options_.max_total_bytes, options_.dir);
    }
    res.dropped_lines = lines;
    return res;
  }
  quota_fault_reported_ = false;
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      // Keep the file line-aligned: cut off whatever part of the batch landed.
      const std::size_t landed = data.size() - left;
      if (landed > 0 && ::ftruncate(fd_, static_cast<off_t>(file_bytes_)) != 0) {
        // Nothing more can be done; the next write starts a new line anyway.
      }
      try {
        res.fault = fmt::format("cannot write to {}: {}", path_, error_text(err));
      } catch (...) {
      }
      res.dropped_lines = lines;
      return res;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  file_bytes_ += data.size();
  res.written_lines = lines;
  return res;
}

}  // namespace bluepython
