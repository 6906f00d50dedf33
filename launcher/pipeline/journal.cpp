// SPDX-License-Identifier: Apache-2.0
#include "pipeline/journal.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <new>

#include <fmt/format.h>

#include "pipeline/fd_util.hpp"

namespace bluepython {
namespace {

std::size_t page_size() noexcept {
  static const std::size_t size = [] {
    const long n = ::sysconf(_SC_PAGESIZE);
    return n > 0 ? static_cast<std::size_t>(n) : std::size_t{4096};
  }();
  return size;
}

// Blocks given to each region when the journal is made.
constexpr std::size_t kInitialReserve = std::size_t{64} * 1024;

std::size_t round_to_pages(std::size_t n) noexcept {
  const std::size_t page = page_size();
  return (n + page - 1) / page * page;
}

char* map_anonymous(std::size_t bytes) noexcept {
  // NORESERVE: untouched pages cost nothing, as the reserved vectors of the
  // queue did before.
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<char*>(p);
}

bool write_range(int fd, const char* p, std::size_t n, off_t at) noexcept {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, at);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
    at += w;
  }
  return true;
}

template <std::size_t N>
void copy_text(std::array<char, N>& to, const std::string& from) noexcept {
  const std::size_t n = std::min(from.size(), N - 1);
  std::memcpy(to.data(), from.data(), n);
  to[n] = '\0';
}

}  // namespace

std::string journal::file_name(int pid, std::int64_t start_ns) {
  return fmt::format("bluepython-{}-{}.journal", pid, start_ns / 1'000'000);
}

journal::journal(std::size_t region_bytes)
    : header_bytes_(round_to_pages(kJournalHeaderBytes)),
      region_bytes_(round_to_pages(std::max<std::size_t>(region_bytes, 1))),
      total_bytes_(header_bytes_ + (2 * region_bytes_)),
      reserved_{region_bytes_, region_bytes_} {
  static_assert(kJournalHeaderBytes % 4096 == 0);
  base_ = map_anonymous(total_bytes_);
  if (base_ == nullptr) throw std::bad_alloc();
  init_header();
}

void journal::init_header() noexcept {
  header_ = new (base_) journal_header{};
  header_->magic = kJournalMagic;
  header_->version = kJournalVersion;
  header_->header_bytes = static_cast<std::uint32_t>(header_bytes_);
  header_->region_bytes = region_bytes_;
  header_->regions[0].gen.store(1);
}

journal::~journal() {
  if (fd_ >= 0) ::close(fd_);
  if (base_ != nullptr) ::munmap(base_, total_bytes_);
}

bool journal::attach(const std::string& state_dir, const journal_owner& owner, std::string& fault) noexcept {
  if (fd_ >= 0) return true;
  if (header_ != reinterpret_cast<journal_header*>(base_)) {
    fault = "no memory of its own for the journal";  // a fork child whose memory could not be replaced
    return false;
  }
  try {
    if (!make_private_dirs(state_dir, fault)) {
      if (fault.empty()) fault = "no state directory";
      return false;
    }
    const std::string final_path = state_dir + "/" + file_name(owner.pid, owner.start_ns);
    // Made under a name no sweep recovers from, locked, then renamed: a sweep
    // never mistakes a journal being made for a dead one.
    const std::string temporary = final_path + ".new";
    const int fd = open_high(temporary.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    if (fd < 0) {
      fault = fmt::format("cannot create {}: {}", temporary, error_text(errno));
      return false;
    }
    auto fail = [&](const char* what) {
      fault = fmt::format("cannot {} {}: {}", what, temporary, error_text(errno));
      ::unlink(temporary.c_str());
      ::close(fd);
      return false;
    };
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) return fail("lock");
    struct stat st{};
    if (::fstat(fd, &st) != 0 || st.st_nlink == 0) return fail("keep");  // a sweep took it before our lock
    if (!suits_a_journal(fd, fault)) {
      ::unlink(temporary.c_str());
      ::close(fd);
      return false;
    }
    if (::ftruncate(fd, static_cast<off_t>(total_bytes_)) != 0) return fail("size");
    auto& h = header();
    h.pid = owner.pid;
    h.ppid = owner.ppid;
    h.sensor_id = owner.sensor_id;
    h.start_ns = owner.start_ns;
    copy_text(h.uuid, owner.uuid);
    copy_text(h.spool_dir, owner.spool_dir);
    copy_text(h.component_id, owner.component_id);
    h.state.store(static_cast<std::uint32_t>(journal_state::live));
    // What producers wrote so far goes along (only the used parts), then
    // blocks for the rest of each region's start (what a quiet process ever
    // uses; more as producers need them: reserve).
    fd_ = fd;  // for allocate()
    std::array<std::size_t, 2> reserved{};
    bool written = write_range(fd, base_, header_bytes_, 0);
    for (std::size_t i = 0; written && i < 2; ++i) {
      const std::size_t fill = h.regions[i].fill.load();
      const std::size_t start = header_bytes_ + (i * region_bytes_);
      reserved[i] = block_end(start, std::max(fill, kInitialReserve));
      written = (fill == 0 || write_range(fd, base_ + start, fill, static_cast<off_t>(start))) &&
                allocate(start + fill, reserved[i] - fill);
    }
    fd_ = -1;
    if (!written) return fail("write");
    // Mapped at a new place first, then moved over the queue's memory in one
    // step: a failure leaves the queue's memory as it was.
    void* mapped = ::mmap(nullptr, total_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (mapped == MAP_FAILED) return fail("map");
    if (::mremap(mapped, total_bytes_, total_bytes_, MREMAP_MAYMOVE | MREMAP_FIXED, base_) == MAP_FAILED) {
      ::munmap(mapped, total_bytes_);
      return fail("map");
    }
    if (::rename(temporary.c_str(), final_path.c_str()) != 0) {
      // Mapped already: keep it (durable, just not recoverable by a sweep).
      path_ = temporary;
    } else {
      path_ = final_path;
    }
    fd_ = fd;
    inode_ = {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
    reserved_ = reserved;
    shared_.store(true, std::memory_order_release);
    return true;
  } catch (...) {
    fault = "out of memory creating the journal";
    return false;
  }
}

std::size_t journal::block_end(std::size_t region_start, std::size_t bytes) const noexcept {
  // Ends on a page boundary of the file: a write fault gives a whole page
  // its blocks (64 KiB pages on some arm64 and ppc64le kernels).
  const std::size_t end = round_to_pages(region_start + bytes) - region_start;
  return std::min(region_bytes_, end);
}

bool journal::suits_a_journal(int fd, std::string& fault) noexcept {
  // Copy-on-write file systems need new blocks for every rewrite of a page,
  // allocated or not: a store into the mapping on a full one is a SIGBUS.
  // btrfs can be told not to for this file; ZFS cannot.
  struct statfs fs{};
  if (::fstatfs(fd, &fs) != 0) return true;
  constexpr long kBtrfs = 0x9123683e;
  constexpr long kZfs = 0x2fc12fc1;
  if (static_cast<long>(fs.f_type) == kZfs) {
    fault = "the state directory is on ZFS (copy-on-write: a full pool would crash a mapped journal)";
    return false;
  }
  if (static_cast<long>(fs.f_type) == kBtrfs) {
    int flags = 0;
    if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0 || (flags |= FS_NOCOW_FL, ::ioctl(fd, FS_IOC_SETFLAGS, &flags)) != 0) {
      fault = "the state directory is on btrfs and the journal cannot be made NOCOW";
      return false;
    }
  }
  return true;
}

bool journal::ours(int fd) const noexcept {
  // The app may have closed our descriptor (closerange) and reused the
  // number: never allocate, write or close through someone else's file.
  struct stat st{};
  return fd >= 0 && ::fstat(fd, &st) == 0 && static_cast<std::uint64_t>(st.st_dev) == inode_[0] &&
         static_cast<std::uint64_t>(st.st_ino) == inode_[1];
}

bool journal::detach_in_child() noexcept {
  if (fd_ < 0) return true;
  shared_.store(false);
  // The inherited descriptor shares the parent's lock: closing it here does
  // not release the lock (the parent's descriptor holds it too).
  if (ours(fd_)) ::close(fd_);
  fd_ = -1;
  path_.clear();
  void* p = ::mmap(base_, total_bytes_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  reserved_ = {region_bytes_, region_bytes_};
  if (p == MAP_FAILED) {
    header_ = &spare_;
    return false;
  }
  init_header();
  return true;
}

bool journal::allocate(std::size_t offset, std::size_t bytes) noexcept {
  if (bytes == 0) return true;
  int rc = 0;
  do {
    rc = ::fallocate(fd_, 0, static_cast<off_t>(offset), static_cast<off_t>(bytes));
  } while (rc != 0 && errno == EINTR);
  if (rc == 0) return true;
  if (errno != EOPNOTSUPP && errno != ENOSYS) return false;
  // No fallocate here: zeros give the range its blocks (it was never
  // written, so it holds zeros already).
  static const std::array<char, 65536> zeros{};
  while (bytes > 0) {
    const std::size_t n = std::min(bytes, zeros.size());
    if (!write_range(fd_, zeros.data(), n, static_cast<off_t>(offset))) return false;
    offset += n;
    bytes -= n;
  }
  return true;
}

bool journal::reserve(int i, std::size_t end) noexcept {
  const auto at = static_cast<std::size_t>(i);
  if (end <= reserved_[at]) return true;
  if (end > region_bytes_ || degrade_failed_ || fd_ < 0) return false;
  const std::size_t target = std::min(region_bytes_, round_to_pages(std::max(end, 2 * reserved_[at])));
  const std::size_t from = header_bytes_ + (at * region_bytes_) + reserved_[at];
  if (ours(fd_) && allocate(from, target - reserved_[at])) {
    reserved_[at] = target;
    return true;
  }
  degrade();
  return fd_ < 0 && reserved_[at] >= end;
}

void journal::degrade() noexcept {
  // The file cannot grow (or is not ours any more). The memory moves to
  // anonymous pages at the same addresses. Only what has blocks is copied:
  // touching a hole of a full tmpfs is a SIGBUS even for a read, and a
  // private mapping of the file would fault the same way. Producers are
  // held off by the caller (the queue lock); the writer may be reading the
  // region it took, which reads the same bytes before and after the move
  // (an id it stamps meanwhile is lost: ids in the journal matter only to a
  // recovery, and there will be none: the file is retired after the move).
  char* copy = map_anonymous(total_bytes_);
  if (copy == nullptr) {
    degrade_failed_ = true;  // still the file: reserve() refuses what has no block
    return;
  }
  std::memcpy(copy, base_, header_bytes_);
  for (std::size_t i = 0; i < 2; ++i) {
    const std::size_t offset = header_bytes_ + (i * region_bytes_);
    std::memcpy(copy + offset, base_ + offset, reserved_[i]);
  }
  void* moved = ::mremap(copy, total_bytes_, total_bytes_, MREMAP_MAYMOVE | MREMAP_FIXED, base_);
  if (moved == MAP_FAILED) {
    ::munmap(copy, total_bytes_);
    degrade_failed_ = true;
    return;
  }
  shared_.store(false, std::memory_order_release);
  if (ours(fd_)) {
    // A sweep that has it open already must not read it: the records from
    // here on are not in it.
    const auto state = static_cast<std::uint32_t>(journal_state::finished);
    (void)write_range(fd_, reinterpret_cast<const char*>(&state), sizeof state,
                      static_cast<off_t>(offsetof(journal_header, state)));
    ::close(fd_);
  }
  if (!path_.empty()) ::unlink(path_.c_str());
  fd_ = -1;
  path_.clear();
  reserved_ = {region_bytes_, region_bytes_};
  degraded_.store(true);
}

void journal::set_state(journal_state state) noexcept {
  header().state.store(static_cast<std::uint32_t>(state), std::memory_order_release);
}

void journal::finish(journal_state state) noexcept {
  set_state(state);
  if (fd_ < 0) return;
  // Still mapped and shared: late producers write into the page cache of a
  // file no one will read, which is harmless.
  if (!path_.empty()) ::unlink(path_.c_str());
  if (ours(fd_)) ::close(fd_);
  fd_ = -1;
  path_.clear();
}

void journal::sync(const char* p, std::size_t n) noexcept {
  if (!durable()) return;
  const auto page = static_cast<std::uintptr_t>(page_size());
  const auto first = reinterpret_cast<std::uintptr_t>(p) / page * page;
  const auto last = reinterpret_cast<std::uintptr_t>(p) + n;
  (void)::msync(reinterpret_cast<void*>(first), last - first, MS_SYNC);
  (void)::msync(base_, header_bytes_, MS_SYNC);
}

}  // namespace bluepython
