// SPDX-License-Identifier: Apache-2.0
#include "pipeline/event_queue.hpp"

#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace bluepython;

namespace {

record_view make(std::string_view name, std::string_view attrs, std::int64_t ts = 1) {
  record_view r;
  r.name = name;
  r.attributes = attrs;
  r.ts_ns = ts;
  return r;
}

}  // namespace

TEST_CASE("records come out in order with every field", "[event_queue]") {
  event_queue q(4096);
  record_view r = make("python_import", "\"a\":1", 42);
  r.kind = record_kind::import;
  r.type = event_type::nonactionable;
  r.context = "\"mcp\":{}";
  r.deferred = "/x/y.py";
  CHECK(q.push(r) != event_queue::push_result::dropped);
  CHECK(q.push(make("second", "")) != event_queue::push_result::dropped);
  const taken_records out = q.take();
  std::vector<std::string> names;
  event_queue::for_each(out.data, out.size, [&](const record_view& v, std::uint64_t&) {
    names.emplace_back(v.name);
    if (v.name == "python_import") {
      CHECK(v.kind == record_kind::import);
      CHECK(v.type == event_type::nonactionable);
      CHECK(v.ts_ns == 42);
      CHECK(v.context == "\"mcp\":{}");
      CHECK(v.attributes == "\"a\":1");
      CHECK(v.deferred == "/x/y.py");
    }
  });
  CHECK(names == std::vector<std::string>{"python_import", "second"});
  CHECK(q.pushed() == 2);
  CHECK(q.dropped() == 0);
}

TEST_CASE("a full queue drops and counts exactly", "[event_queue]") {
  event_queue q(1024);
  const std::string attrs(100, 'x');
  int queued = 0;
  for (int i = 0; i < 100; ++i) {
    if (q.push(make("e", attrs)) != event_queue::push_result::dropped) ++queued;
  }
  CHECK(queued > 0);
  CHECK(queued < 100);
  CHECK(q.pushed() == 100);
  CHECK(q.dropped() == static_cast<std::uint64_t>(100 - queued));
  // Taking the region makes room again.
  (void)q.take();
  CHECK(q.push(make("e", attrs)) != event_queue::push_result::dropped);
}

TEST_CASE("an oversized record is dropped, not truncated", "[event_queue]") {
  event_queue q(256);
  const std::string big(1000, 'x');
  CHECK(q.push(make("e", big)) == event_queue::push_result::dropped);
  CHECK(q.dropped() == 1);
}

TEST_CASE("crossing half full asks for a wake-up once", "[event_queue]") {
  event_queue q(1000);
  const std::string attrs(50, 'x');
  int wakes = 0;
  for (int i = 0; i < 20; ++i) {
    if (q.push(make("e", attrs)) == event_queue::push_result::queued_wake) ++wakes;
  }
  CHECK(wakes == 1);
}

TEST_CASE("concurrent producers lose nothing that was accepted", "[event_queue]") {
  event_queue q(1 << 20);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 5000;
  std::vector<std::thread> producers;
  std::set<std::string> seen;
  std::atomic<bool> done{false};
  std::thread consumer([&] {
    while (true) {
      const bool finished = done.load();
      const taken_records local = q.take();
      event_queue::for_each(local.data, local.size,
                            [&](const record_view& r, std::uint64_t&) { seen.emplace(r.attributes); });
      if (finished) break;
      std::this_thread::yield();
    }
  });
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&q, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string id = std::to_string(t) + ":" + std::to_string(i);
        while (q.push(make("e", id)) == event_queue::push_result::dropped) std::this_thread::yield();
      }
    });
  }
  for (auto& p : producers) p.join();
  done = true;
  consumer.join();
  CHECK(seen.size() == static_cast<std::size_t>(kThreads * kPerThread));
}
