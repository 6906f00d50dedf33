// SPDX-License-Identifier: Apache-2.0
#include "pipeline/event_queue.hpp"

#include <cstring>
#include <new>

namespace bluepython {

event_queue::event_queue(std::size_t capacity_bytes) : capacity_(capacity_bytes) {
  buffer_.reserve(capacity_);
}

event_queue::push_result event_queue::push(const record_view& r) noexcept {
  pushed_.fetch_add(1, std::memory_order_relaxed);
  const std::size_t size = sizeof(header) + r.name.size() + r.context.size() + r.attributes.size() +
                           r.deferred.size();
  if (size > capacity_ || r.name.size() > 0xFFFFU) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return push_result::dropped;
  }
  header h{};
  h.size = static_cast<std::uint32_t>(size);
  h.kind = static_cast<std::uint8_t>(r.kind);
  h.actionable = r.actionable ? 1 : 0;
  h.name_len = static_cast<std::uint16_t>(r.name.size());
  h.ts_ns = r.ts_ns;
  h.context_len = static_cast<std::uint32_t>(r.context.size());
  h.attributes_len = static_cast<std::uint32_t>(r.attributes.size());
  h.deferred_len = static_cast<std::uint32_t>(r.deferred.size());

  std::lock_guard lock(mutex_);
  const std::size_t before = buffer_.size();
  if (before + size > capacity_) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return push_result::dropped;
  }
  // Within the reserved capacity: resize never reallocates, so never throws.
  buffer_.resize(before + size);
  char* p = buffer_.data() + before;
  std::memcpy(p, &h, sizeof h);
  p += sizeof h;
  auto put = [&p](std::string_view s) {
    if (!s.empty()) std::memcpy(p, s.data(), s.size());
    p += s.size();
  };
  put(r.name);
  put(r.context);
  put(r.attributes);
  put(r.deferred);
  const std::size_t half = capacity_ / 2;
  return (before < half && before + size >= half) ? push_result::queued_wake : push_result::queued;
}

void event_queue::take(byte_buffer& out) noexcept {
  std::lock_guard lock(mutex_);
  buffer_.swap(out);
  if (buffer_.capacity() < capacity_) {
    try {
      buffer_.reserve(capacity_);
    } catch (...) {
      // Out of memory: the queue keeps whatever capacity it has; pushes
      // beyond it are dropped and counted.
    }
  }
}

void event_queue::reset_in_child() noexcept {
  // Only one thread exists in the child, and the prepare handler held the
  // mutex, so rebuilding it in place is safe.
  new (&mutex_) std::mutex();
  buffer_.clear();
  pushed_.store(0, std::memory_order_relaxed);
  dropped_.store(0, std::memory_order_relaxed);
}

}  // namespace bluepython
