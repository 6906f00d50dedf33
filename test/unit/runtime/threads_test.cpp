// SPDX-License-Identifier: Apache-2.0
#include "runtime/threads.hpp"

#include <pthread.h>

#include <catch2/catch.hpp>

#include <atomic>
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

TEST_CASE("the kernel's thread count and ours, by name", "[threads]") {
  // A sanitizer's runtime starts a thread of its own with the first thread the
  // process creates (TSan): let that happen before the baseline is counted.
  std::thread([] {}).join();
  const thread_count alone = count();
  REQUIRE(alone.process >= 1);
  {
    const named_thread writer("bluepython-wr");
    const named_thread app("worker");
    const thread_count now = count();
    CHECK(now.process == alone.process + 2);
    CHECK(now.ours == alone.ours + 1);
  }
  CHECK(count().process == alone.process);
}

TEST_CASE("single but for ours: python alone would count one thread", "[threads]") {
  CHECK(single_but_for_ours({2, 1}));
  CHECK(single_but_for_ours({3, 2}));
  CHECK_FALSE(single_but_for_ours({1, 0}));   // one thread: python does not warn either
  CHECK_FALSE(single_but_for_ours({3, 1}));   // the app has a thread of its own
  CHECK_FALSE(single_but_for_ours({2, 0}));   // none of ours
  CHECK_FALSE(single_but_for_ours({-1, 1}));  // unreadable: python falls back to threading's count
}
