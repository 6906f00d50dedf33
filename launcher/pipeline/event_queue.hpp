// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <cstddef>
#include <cstring>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "pipeline/journal.hpp"

namespace bluepython {

// What a producer hands over: the event name, its wall-clock time, and two
// pre-encoded JSON fragments (members without braces): extra context members
// and the event's attributes. `deferred` carries data the writer completes
// the event from (for imports: the module file to hash).
// `startup`: sensor_startup; the writer appends config_digest, the SHA-256 of
// `deferred` (the effective settings), so OpenSSL never runs on the app's
// threads at start-up.
enum class record_kind : std::uint8_t { event = 0, import = 1, startup = 2 };

// meta.type of the event (docs/events.md): what it reports happened in the app
// ("event"), the sensor's own records ("nonactionable"), or the sensor's start
// and end ("sensor_lifecycle"). The values are the journal's: 0 and 1 are what
// a journal of an earlier release held as its actionable flag.
enum class event_type : std::uint8_t { nonactionable = 0, event = 1, sensor_lifecycle = 2 };

struct record_view {
  record_kind kind = record_kind::event;
  event_type type = event_type::event;
  std::string_view name;
  std::int64_t ts_ns = 0;
  std::string_view context;
  std::string_view attributes;
  std::string_view deferred;
};

// A run of records the consumer took from the queue (in the journal's memory).
struct taken_records {
  char* data = nullptr;
  std::size_t size = 0;
  [[nodiscard]] bool empty() const noexcept { return size == 0; }
};

// Bounded multi-producer, single-consumer queue of event records, held in the
// two regions of a journal (pipeline/journal.hpp): producers fill one while
// the consumer works through the other. push() never allocates or waits on
// I/O: its critical section is one memcpy and a store of the region's fill,
// and when the region is full the record is dropped and counted. Once the
// journal is a file, a record is durable when push() returns. Thread-safe
// for any number of producers and one consumer.
class event_queue {
 public:
  explicit event_queue(std::size_t capacity_bytes);

  enum class push_result : std::uint8_t { queued, queued_wake, dropped };
  // queued_wake: the region just crossed half full; the caller should wake
  // the consumer.
  push_result push(const record_view& record) noexcept;

  // Hands the producers the other region and returns the records of the one
  // they filled; valid until the next take(). Consumer thread only.
  taken_records take() noexcept;

  // Iterates the records of a region (taken, or read back by a recovery).
  // `fn(record_view, std::uint64_t& event_id)`: the id slot lives in the
  // record (0: not written yet; kFilteredId: left out on purpose).
  template <typename Fn>
  static void for_each(char* data, std::size_t size, Fn&& fn);
  static constexpr std::uint64_t kFilteredId = ~std::uint64_t{0};

  // See journal::attach; producers are held off while the memory moves.
  bool attach_journal(const std::string& state_dir, const journal_owner& owner, std::string& fault) noexcept;
  // journal::finish under the queue lock (a producer may be growing it).
  void finish_journal(journal_state state) noexcept;
  // spool.fsync=always: push() returns once the record is on disk.
  void set_sync_every_push(bool on) noexcept { sync_every_push_ = on; }
  [[nodiscard]] journal& memory() noexcept { return journal_; }

  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] std::uint64_t pushed() const noexcept { return pushed_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }

  // fork(2) protocol: lock in the prepare handler, unlock in the parent;
  // in the child reset() gives a fresh, empty, unlocked queue in anonymous
  // memory (the parent's journal is left alone).
  void lock_for_fork() noexcept { mutex_.lock(); }
  void unlock_after_fork() noexcept { mutex_.unlock(); }
  void reset_in_child() noexcept;

  struct header {
    std::uint32_t size;  // whole record, header included
    std::uint8_t kind;
    std::uint8_t type;  // event_type
    std::uint16_t name_len;
    std::int64_t ts_ns;
    std::uint64_t event_id;  // set by the consumer as it composes the record
    std::uint32_t context_len;
    std::uint32_t attributes_len;
    std::uint32_t deferred_len;
  };

 private:
  std::mutex mutex_;
  journal journal_;
  std::size_t capacity_;
  int active_ = 0;           // the producers' region; guarded by mutex_
  std::uint64_t next_gen_ = 2;  // guarded by mutex_
  bool sync_every_push_ = false;
  std::atomic<std::uint64_t> pushed_{0};
  std::atomic<std::uint64_t> dropped_{0};
};

template <typename Fn>
void event_queue::for_each(char* data, std::size_t size, Fn&& fn) {
  std::size_t offset = 0;
  while (offset + sizeof(header) <= size) {
    header h{};
    std::memcpy(&h, data + offset, sizeof h);
    if (h.size < sizeof h || h.size > size - offset) return;  // not a record (a damaged journal)
    const std::size_t body = std::size_t{h.name_len} + h.context_len + h.attributes_len + h.deferred_len;
    if (body > h.size - sizeof h) return;
    const char* p = data + offset + sizeof h;
    record_view r;
    r.kind = static_cast<record_kind>(h.kind);
    r.type = h.type <= static_cast<std::uint8_t>(event_type::sensor_lifecycle) ? static_cast<event_type>(h.type)
                                                                               : event_type::nonactionable;
    r.ts_ns = h.ts_ns;
    r.name = {p, h.name_len};
    p += h.name_len;
    r.context = {p, h.context_len};
    p += h.context_len;
    r.attributes = {p, h.attributes_len};
    p += h.attributes_len;
    r.deferred = {p, h.deferred_len};
    std::uint64_t id = h.event_id;
    fn(r, id);
    if (id != h.event_id) std::memcpy(data + offset + offsetof(header, event_id), &id, sizeof id);
    offset += h.size;
  }
}

}  // namespace bluepython
