// SPDX-License-Identifier: Apache-2.0
#include "pipeline/event_queue.hpp"

#include <cstring>
#include <new>

namespace bluepython {

event_queue::event_queue(std::size_t capacity_bytes) : journal_(capacity_bytes), capacity_(capacity_bytes) {}

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
  h.type = static_cast<std::uint8_t>(r.type);
  h.name_len = static_cast<std::uint16_t>(r.name.size());
  h.ts_ns = r.ts_ns;
  h.context_len = static_cast<std::uint32_t>(r.context.size());
  h.attributes_len = static_cast<std::uint32_t>(r.attributes.size());
  h.deferred_len = static_cast<std::uint32_t>(r.deferred.size());

  char* start = nullptr;
  std::size_t before = 0;
  {
    std::lock_guard lock(mutex_);
    journal_region& region = journal_.header().regions[active_];
    before = region.fill.load(std::memory_order_relaxed);
    if (before + size > capacity_ ||
        (before + size > journal_.reserved(active_) && !journal_.reserve(active_, before + size))) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return push_result::dropped;
    }
    start = journal_.region(active_) + before;
    char* p = start;
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
    // Last: a recovery reads records up to the fill, so a producer killed
    // inside the copy leaves nothing half-made behind.
    region.fill.store(before + size, std::memory_order_release);
  }
  // The region cannot be handed back to producers before the consumer has
  // taken it, and this thread's record is in it: syncing outside the lock is
  // safe, and concurrent producers sync concurrently.
  if (sync_every_push_) journal_.sync(start, size);
  const std::size_t half = capacity_ / 2;
  return (before < half && before + size >= half) ? push_result::queued_wake : push_result::queued;
}

taken_records event_queue::take() noexcept {
  std::lock_guard lock(mutex_);
  const int taken = active_;
  const int next = 1 - active_;
  journal_region& fresh = journal_.header().regions[next];
  // The region producers get next was written out by the consumer already
  // (it calls take() only when done with the last one): empty it, then
  // order it after the one taken.
  fresh.fill.store(0, std::memory_order_release);
  fresh.gen.store(next_gen_++, std::memory_order_release);
  active_ = next;
  return {journal_.region(taken), journal_.header().regions[taken].fill.load(std::memory_order_acquire)};
}

bool event_queue::attach_journal(const std::string& state_dir, const journal_owner& owner,
                                 std::string& fault) noexcept {
  std::lock_guard lock(mutex_);
  return journal_.attach(state_dir, owner, fault);
}

void event_queue::finish_journal(journal_state state) noexcept {
  std::lock_guard lock(mutex_);
  journal_.finish(state);
}

void event_queue::reset_in_child() noexcept {
  // Only one thread exists in the child, and the prepare handler held the
  // mutex, so rebuilding it in place is safe.
  new (&mutex_) std::mutex();
  if (!journal_.detach_in_child()) capacity_ = 0;  // no memory of our own: every push is dropped
  auto& h = journal_.header();
  for (auto& region : h.regions) {
    region.fill.store(0, std::memory_order_relaxed);
    region.gen.store(0, std::memory_order_relaxed);
  }
  h.regions[0].gen.store(1, std::memory_order_relaxed);
  active_ = 0;
  next_gen_ = 2;
  pushed_.store(0, std::memory_order_relaxed);
  dropped_.store(0, std::memory_order_relaxed);
}

}  // namespace bluepython
