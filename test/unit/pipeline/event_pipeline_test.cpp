// SPDX-License-Identifier: Apache-2.0
#include "pipeline/event_pipeline.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "pipeline/clock.hpp"
#include "pipeline/spool_writer.hpp"
#include "pipeline/test_sink.hpp"

using namespace bluepython;
using bluepython::testing::test_sink;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

process_identity identity() {
  process_identity id;
  id.pid = 1234;
  id.ppid = 1;
  id.uuid = "00000000-0000-4000-8000-000000000000";
  id.start_ns = wall_time_ns();
  return id;
}

struct fixture {
  explicit fixture(pipeline_options options = {}) {
    auto owned = std::make_unique<test_sink>();
    sink = owned.get();
    pipeline = std::make_unique<event_pipeline>(options, std::move(owned), identity(), nullptr, nullptr);
  }
  bool emit(std::string_view name, std::string_view attrs) {
    record_view r;
    r.name = name;
    r.attributes = attrs;
    r.ts_ns = wall_time_ns();
    return pipeline->emit(r);
  }
  test_sink* sink;
  std::unique_ptr<event_pipeline> pipeline;
};

}  // namespace

TEST_CASE("the writer composes the envelope around each record", "[event_pipeline]") {
  fixture f;
  f.pipeline->start();
  record_view r;
  r.name = "python_test";
  r.attributes = "\"answer\":42";
  r.context = "\"mcp\":{\"call_id\":\"c1\"}";
  r.ts_ns = 1'795'000'000'123'456'789;
  f.pipeline->emit(r);
  REQUIRE(f.pipeline->flush(2s));
  const auto lines = f.sink->lines();
  REQUIRE(lines.size() == 1);
  const auto e = json::parse(lines[0]);
  CHECK(e["ts"] == "2026-11-18T11:06:40.123456Z");  // date -u -d @1795000000
  CHECK(e["event"]["meta"]["name"] == "python_test");
  CHECK(e["event"]["meta"]["type"] == "event");
  CHECK(e["event"]["meta"]["origin"] == "bluepython");
  CHECK(e["event"]["meta"]["sensor_id"] == 1);
  CHECK(e["event"]["meta"]["source_event_id"] == 1);
  CHECK(e["event"]["meta"]["uuid"] == "00000000-0000-4000-8000-000000000000");
  CHECK(e["event"]["context"]["process"]["pid"] == 1234);
  CHECK(e["event"]["context"]["mcp"]["call_id"] == "c1");
  CHECK(e["event"]["answer"] == 42);
}

TEST_CASE("shutdown drains everything and ends with sensor_shutdown counters", "[event_pipeline]") {
  fixture f;
  f.pipeline->start();
  for (int i = 0; i < 1000; ++i) f.emit("e", "\"i\":" + std::to_string(i));
  REQUIRE(f.pipeline->shutdown(5s, "exit"));
  CHECK(f.pipeline->shutdown(5s, "again"));  // second call is a no-op
  const auto lines = f.sink->lines();
  REQUIRE(lines.size() == 1001);
  for (int i = 0; i < 1000; ++i) {
    const auto e = json::parse(lines[static_cast<std::size_t>(i)]);
    CHECK(e["event"]["i"] == i);
    CHECK(e["event"]["meta"]["source_event_id"] == i + 1);
  }
  const auto last = json::parse(lines.back())["event"];
  CHECK(last["meta"]["name"] == "sensor_shutdown");
  CHECK(last["meta"]["type"] == "sensor_lifecycle");
  CHECK(last["reason"] == "exit");
  CHECK(last["emitted"] == 1000);
  CHECK(last["written"] == 1000);
  CHECK(last["dropped"] == 0);
}

TEST_CASE("shutdown without a writer thread drains synchronously", "[event_pipeline]") {
  fixture f;
  f.emit("a", "");
  f.emit("b", "");
  REQUIRE(f.pipeline->flush(1s));
  CHECK(f.sink->lines().size() == 2);
  f.pipeline->shutdown(1s, "exit");
  CHECK(f.sink->lines().size() == 3);
}

TEST_CASE("a slow sink makes the queue drop, and drops are counted exactly", "[event_pipeline]") {
  pipeline_options options;
  options.queue_bytes = 64 * 1024;
  fixture f(options);
  f.sink->delay_ms = 50;
  f.pipeline->start();
  int accepted = 0;
  const std::string attrs = "\"pad\":\"" + std::string(200, 'x') + "\"";
  for (int i = 0; i < 5000; ++i) accepted += f.emit("e", attrs) ? 1 : 0;
  f.sink->delay_ms = 0;
  REQUIRE(f.pipeline->shutdown(10s, "exit"));
  const auto lines = f.sink->lines();
  const auto last = json::parse(lines.back())["event"];
  CHECK(accepted < 5000);
  CHECK(last["emitted"] == 5000);
  CHECK(last["dropped_queue_full"] == 5000 - accepted);
  CHECK(last["written"] == accepted);
  CHECK(lines.size() == static_cast<std::size_t>(accepted) + 1);
}

TEST_CASE("sink faults are counted, reported once, and become events", "[event_pipeline]") {
  static std::atomic<int> reported{0};
  reported = 0;
  auto owned = std::make_unique<test_sink>();
  test_sink* sink = owned.get();
  event_pipeline p({}, std::move(owned), identity(), nullptr,
                   [](const std::string&) noexcept { reported.fetch_add(1); });
  sink->fail = true;
  record_view r;
  r.name = "lost";
  r.ts_ns = wall_time_ns();
  p.emit(r);
  p.flush(1s);
  CHECK(reported == 1);
  sink->fail = false;
  r.name = "kept";
  p.emit(r);
  p.shutdown(1s, "exit");
  const auto lines = sink->lines();
  REQUIRE(lines.size() == 3);
  CHECK(json::parse(lines[0])["event"]["meta"]["name"] == "python_internal_exception");
  CHECK(json::parse(lines[0])["event"]["where"] == "spool");
  CHECK(json::parse(lines[1])["event"]["meta"]["name"] == "kept");
  const auto last = json::parse(lines[2])["event"];
  CHECK(last["dropped_spool"] == 1);
  // The fault event the writer made counts as emitted: the counters add up.
  CHECK(last["emitted"] == 3);
  CHECK(last["written"] == 2);
  CHECK(last["emitted"].get<int>() == last["written"].get<int>() + last["dropped"].get<int>());
}

TEST_CASE("many threads emitting while flushing lose nothing", "[event_pipeline]") {
  pipeline_options options;
  options.queue_bytes = 4 << 20;
  options.flush_interval = 5ms;
  fixture f(options);
  f.pipeline->start();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&f, t] {
      for (int i = 0; i < 2000; ++i) {
        f.emit("e", "\"t\":" + std::to_string(t) + ",\"i\":" + std::to_string(i));
        if (i % 500 == 0) f.pipeline->flush(1s);
      }
    });
  }
  for (auto& t : threads) t.join();
  REQUIRE(f.pipeline->shutdown(5s, "exit"));
  const auto lines = f.sink->lines();
  CHECK(lines.size() == 8001);
  std::int64_t previous = 0;
  for (const auto& line : lines) {
    const auto id = json::parse(line)["event"]["meta"]["source_event_id"].get<std::int64_t>();
    CHECK(id == previous + 1);
    previous = id;
  }
}

TEST_CASE("fork: the child writes its own file; nothing is duplicated or lost", "[event_pipeline]") {
  char dir_template[] = "/tmp/bp_fork_XXXXXX";
  const std::string dir = ::mkdtemp(dir_template);
  spool_options spool;
  spool.dir = dir;
  process_identity parent_id = identity();
  parent_id.pid = ::getpid();
  auto pipeline = std::make_unique<event_pipeline>(
      pipeline_options{}, std::make_unique<spool_writer>(spool, parent_id.pid, parent_id.start_ns), parent_id,
      nullptr, nullptr);
  pipeline->start();
  auto emit = [&](std::string_view name) {
    record_view r;
    r.name = name;
    r.ts_ns = wall_time_ns();
    pipeline->emit(r);
  };
  emit("before");
  pipeline->prepare_fork();
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    pipeline->after_fork_child(process_identity{::getpid(), parent_id.pid, "child-uuid", 1, wall_time_ns()});
    emit("in_child");
    pipeline->start();
    const bool ok = pipeline->shutdown(5s, "exit");
    ::_exit(ok ? 0 : 1);
  }
  pipeline->after_fork_parent();
  emit("after");
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  REQUIRE(pipeline->shutdown(5s, "exit"));

  std::map<int, std::vector<std::string>> names_by_pid;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path());
    std::string line;
    while (std::getline(in, line)) {
      const auto e = json::parse(line)["event"];
      names_by_pid[e["context"]["process"]["pid"].get<int>()].push_back(e["meta"]["name"]);
    }
  }
  std::filesystem::remove_all(dir);
  CHECK(names_by_pid[parent_id.pid] == std::vector<std::string>{"before", "after", "sensor_shutdown"});
  CHECK(names_by_pid[child] == std::vector<std::string>{"in_child", "sensor_shutdown"});
}
