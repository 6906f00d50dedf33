// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <cstring>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <utility>
#include <vector>

namespace bluepython {

// What a producer hands over: the event name, its wall-clock time, and two
// pre-encoded JSON fragments (members without braces): extra context members
// and the event's attributes. `deferred` carries data the writer completes
// the event from (for imports: the module file to hash).
// `startup`: sensor_startup; the writer appends config_digest, the SHA-256 of
// `deferred` (the effective settings), so OpenSSL never runs on the app's
// threads at start-up.
enum class record_kind : std::uint8_t { event = 0, import = 1, startup = 2 };

struct record_view {
  record_kind kind = record_kind::event;
  bool actionable = true;
  std::string_view name;
  std::int64_t ts_ns = 0;
  std::string_view context;
  std::string_view attributes;
  std::string_view deferred;
};

// Allocator whose value-less construct() leaves the bytes uninitialized, so
// that growing a byte buffer within its reserved capacity (resize) does not
// zero what push() is about to overwrite anyway.
template <typename T>
struct uninitialized_allocator : std::allocator<T> {
  using std::allocator<T>::allocator;
  template <typename U>
  struct rebind {
    using other = uninitialized_allocator<U>;
  };
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

using byte_buffer = std::vector<char, uninitialized_allocator<char>>;

// Bounded multi-producer, single-consumer queue of event records, held in a
// pre-reserved byte buffer that the consumer swaps out whole. push() never
// allocates or waits on I/O: its critical section is one memcpy, and when the
// buffer is full the record is dropped and counted. Thread-safe for any number
// of producers and one consumer.
class event_queue {
 public:
  explicit event_queue(std::size_t capacity_bytes);

  enum class push_result : std::uint8_t { queued, queued_wake, dropped };
  // queued_wake: the buffer just crossed half full; the caller should wake
  // the consumer.
  push_result push(const record_view& record) noexcept;

  // Swaps the filled buffer with `out` (which the consumer cleared and keeps
  // reserved). Consumer thread only.
  void take(byte_buffer& out) noexcept;

  // Iterates the records in a buffer obtained from take().
  template <typename Fn>
  static void for_each(const byte_buffer& buffer, Fn&& fn);

  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] std::uint64_t pushed() const noexcept { return pushed_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }

  // fork(2) protocol: lock in the prepare handler, unlock in the parent;
  // in the child reset() gives a fresh, empty, unlocked queue.
  void lock_for_fork() noexcept { mutex_.lock(); }
  void unlock_after_fork() noexcept { mutex_.unlock(); }
  void reset_in_child() noexcept;

 private:
  struct header {
    std::uint32_t size;  // whole record, header included
    std::uint8_t kind;
    std::uint8_t actionable;
    std::uint16_t name_len;
    std::int64_t ts_ns;
    std::uint32_t context_len;
    std::uint32_t attributes_len;
    std::uint32_t deferred_len;
  };

  std::mutex mutex_;
  byte_buffer buffer_;
  std::size_t capacity_;
  std::atomic<std::uint64_t> pushed_{0};
  std::atomic<std::uint64_t> dropped_{0};
};

template <typename Fn>
void event_queue::for_each(const byte_buffer& buffer, Fn&& fn) {
  std::size_t offset = 0;
  while (offset + sizeof(header) <= buffer.size()) {
    header h{};
    std::memcpy(&h, buffer.data() + offset, sizeof h);
    const char* p = buffer.data() + offset + sizeof h;
    record_view r;
    r.kind = static_cast<record_kind>(h.kind);
    r.actionable = h.actionable != 0;
    r.ts_ns = h.ts_ns;
    r.name = {p, h.name_len};
    p += h.name_len;
    r.context = {p, h.context_len};
    p += h.context_len;
    r.attributes = {p, h.attributes_len};
    p += h.attributes_len;
    r.deferred = {p, h.deferred_len};
    fn(r);
    offset += h.size;
  }
}

}  // namespace bluepython
