// SPDX-License-Identifier: Apache-2.0
#include "runtime/threads.hpp"

#include <pthread.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

using bluepython::threads::count;
using bluepython::threads::single_but_for_ours;
using bluepython::threads::thread_count;

namespace {

// Runs a thread named `name` until the returned guard is destroyed.
class named_thread {
 public:
  explicit named_thread(const char* name) : name_(name), thread_([this] { run(); }) {
    while (!named_.load()) std::this_thread::yield();
  }
  named_thread(const named_thread&) = delete;
  named_thread& operator=(const named_thread&) = delete;
  ~named_thread() {
    stop_.store(true);
    thread_.join();
  }

 private:
  void run() {
    (void)::pthread_setname_np(::pthread_self(), name_);
    named_.store(true);
    while (!stop_.load()) std::this_thread::yield();
  }
  const char* name_;
  std::atomic<bool> named_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

namespace {

// The count once it stopped changing (10 ms apart, for at most a second): a
// thread an earlier test or a sanitizer's runtime started may still be ending.
thread_count settled() {
  thread_count last = count();
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const thread_count next = count();
    if (next.process == last.process && next.ours == last.ours) return next;
    last = next;
  }
  return last;
}

}  // namespace

TEST_CASE("the kernel's thread count and ours, by name", "[threads]") {
  // A sanitizer's runtime starts a thread of its own with the first thread the
  // process creates (TSan): let that happen before the baseline is counted.
  std::thread([] {}).join();
  // Threads that are not the test's can come and go meanwhile (seen under
  // ASan): the two named threads must show in one of a few clean rounds.
  bool counted = false;
  for (int round = 0; round < 5 && !counted; ++round) {
    const thread_count alone = settled();
    REQUIRE(alone.process >= 1);
    thread_count now{};
    {
      const named_thread writer("bluepython-wr");
      const named_thread app("worker");
      now = count();
    }
    const thread_count after = settled();
    counted = now.process == alone.process + 2 && now.ours == alone.ours + 1 && after.process == alone.process &&
              after.ours == alone.ours;
    if (!counted) WARN("round " << round << ": " << alone.process << "/" << now.process << "/" << after.process);
  }
  CHECK(counted);
}

TEST_CASE("single but for ours: python alone would count one thread", "[threads]") {
  CHECK(single_but_for_ours({2, 1}));
  CHECK(single_but_for_ours({3, 2}));
  CHECK_FALSE(single_but_for_ours({1, 0}));   // one thread: python does not warn either
  CHECK_FALSE(single_but_for_ours({3, 1}));   // the app has a thread of its own
  CHECK_FALSE(single_but_for_ours({2, 0}));   // none of ours
  CHECK_FALSE(single_but_for_ours({-1, 1}));  // unreadable: python falls back to threading's count
}
