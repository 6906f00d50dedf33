// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace bluepython {

// The event queue's memory: one header page and two regions that producers
// and the writer take turns on. Until attach() succeeds it is anonymous
// memory; after, it is a file mapped MAP_SHARED (the journal), so a record a
// producer has copied in is in the kernel's page cache and outlives the
// process, whatever kills it. A later bluepython process (or `report`)
// recovers the journals of dead processes (pipeline/journal_recovery.hpp).
// Layout, all native-endian: journal_header at 0, region 0 at kHeaderBytes,
// region 1 right after it. docs/ARCHITECTURE.md ("Durable at emit").

struct journal_region {
  std::atomic<std::uint64_t> fill;  // bytes of whole records (producers store it last)
  std::atomic<std::uint64_t> gen;   // when it became the producers' region: older first
};

enum class journal_state : std::uint32_t {
  live = 0,       // the process runs, or died without finishing
  exec = 1,       // drained before an exec: nothing missing unless records follow
  finished = 2,   // sensor_shutdown was written; only a stale file is left
  recovered = 3,  // a sweep appended what was missing
};

// meta.component_id is at most this long (config rejects longer ones).
inline constexpr std::size_t kMaxComponentIdBytes = 256;

struct journal_header {
  std::array<char, 8> magic;
  std::uint32_t version;
  std::uint32_t header_bytes;
  std::uint64_t region_bytes;
  std::int32_t pid;
  std::int32_t ppid;
  std::int32_t sensor_id;
  std::uint32_t reserved;
  std::int64_t start_ns;
  std::array<char, 40> uuid;       // NUL-terminated
  std::array<char, 2048> spool_dir;  // NUL-terminated: where this process's spool files are
  // The highest source_event_id known to be in the spool (stored after each write).
  std::atomic<std::uint64_t> written_id;
  std::atomic<std::uint32_t> state;
  std::uint32_t reserved2;
  std::array<journal_region, 2> regions;
  // NUL-terminated; all zero (empty) in a journal of a release before it was added.
  std::array<char, kMaxComponentIdBytes + 8> component_id;
};

inline constexpr std::array<char, 8> kJournalMagic = {'B', 'P', 'J', 'O', 'U', 'R', 'N', '1'};
inline constexpr std::uint32_t kJournalVersion = 1;
// The header's size: at least this, and a whole number of pages (so that
// every region starts on a page of its own).
inline constexpr std::size_t kJournalHeaderBytes = 4096;
static_assert(sizeof(journal_header) <= kJournalHeaderBytes);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

// Who wrote a journal: copied into its header.
struct journal_owner {
  int pid = 0;
  int ppid = 0;
  int sensor_id = 1;
  std::int64_t start_ns = 0;
  std::string uuid;
  std::string spool_dir;
  std::string component_id;
};

class journal {
 public:
  // Anonymous memory for two regions of `region_bytes` (rounded up to pages).
  // Throws std::bad_alloc when it cannot be mapped.
  explicit journal(std::size_t region_bytes);
  ~journal();
  journal(const journal&) = delete;
  journal& operator=(const journal&) = delete;

  [[nodiscard]] journal_header& header() noexcept { return *header_; }
  [[nodiscard]] char* region(int i) noexcept { return base_ + header_bytes_ + (i * region_bytes_); }
  [[nodiscard]] std::size_t region_bytes() const noexcept { return region_bytes_; }
  // The memory is a file: what producers copy in survives the process.
  [[nodiscard]] bool durable() const noexcept { return shared_.load(std::memory_order_acquire); }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

  // Moves the memory into a new file in `state_dir` (created 0700), locked
  // (flock) for as long as this process or a fork child sharing the
  // descriptor lives, and fills in the header. The caller keeps producers
  // and the consumer out while it runs: the memory moves. False with
  // `fault` set when no file can be made; the memory stays anonymous.
  bool attach(const std::string& state_dir, const journal_owner& owner, std::string& fault) noexcept;
  // In a fork child (one thread): fresh anonymous memory, the parent's file
  // forgotten without touching it. False when no memory could be mapped
  // (then the header is a spare in process memory and the caller must not
  // write any region: the inherited mapping is the parent's).
  bool detach_in_child() noexcept;
  // Clean end: the file is removed and closed; the memory stays mapped
  // (late producers still write into it, and nothing reads it again).
  void finish(journal_state state) noexcept;
  // Bytes at the start of region i that have disk blocks. A store into a
  // mapped hole needs a block, and on a full file system that is a SIGBUS:
  // producers write only below this, growing it first (under the queue lock).
  [[nodiscard]] std::size_t reserved(int i) const noexcept { return reserved_[static_cast<std::size_t>(i)]; }
  // Gives region i blocks up to at least `end` (doubling; fallocate, or
  // zeros written where fallocate is not supported). When the file system
  // cannot (full, quota), the journal degrades: the mapping becomes private
  // (same addresses, same contents, no blocks needed), the file is retired,
  // and degraded() turns true once. False only if even that failed.
  bool reserve(int i, std::size_t end) noexcept;
  // True once after reserve() degraded the journal (for a fault event).
  bool take_degraded() noexcept { return degraded_.exchange(false); }
  // Marks the header (exec: the queue was drained just before).
  void set_state(journal_state state) noexcept;
  // spool.fsync=always: the pages holding [p, p+n) and the header to disk.
  void sync(const char* p, std::size_t n) noexcept;

  // "bluepython-<pid>-<start ms>.journal"
  static std::string file_name(int pid, std::int64_t start_ns);

 private:
  char* base_ = nullptr;
  std::size_t header_bytes_ = kJournalHeaderBytes;
  journal_header* header_ = nullptr;
  journal_header spare_{};
  std::size_t region_bytes_ = 0;
  std::size_t total_bytes_ = 0;
  int fd_ = -1;
  std::string path_;
  std::array<std::size_t, 2> reserved_{};
  std::atomic<bool> degraded_{false};
  std::atomic<bool> shared_{false};  // the memory is the file (any thread may ask)

  std::array<std::uint64_t, 2> inode_{};  // device and inode of the file
  bool degrade_failed_ = false;

  void init_header() noexcept;
  bool allocate(std::size_t offset, std::size_t bytes) noexcept;
  void degrade() noexcept;
  [[nodiscard]] std::size_t block_end(std::size_t region_start, std::size_t bytes) const noexcept;
  static bool suits_a_journal(int fd, std::string& fault) noexcept;
  [[nodiscard]] bool ours(int fd) const noexcept;
};

}  // namespace bluepython
