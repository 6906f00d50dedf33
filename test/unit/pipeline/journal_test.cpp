// SPDX-License-Identifier: Apache-2.0
// The journal and its recovery. A "dead process" is a real one: a fork child
// that builds a pipeline, emits, and dies by SIGKILL (the pipeline never
// starts its writer thread, so the child stays single-threaded and its
// flushes drain synchronously).
#include "pipeline/journal.hpp"

#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/clock.hpp"
#include "pipeline/event_pipeline.hpp"
#include "pipeline/journal_recovery.hpp"
#include "pipeline/spool_writer.hpp"
#include "spool_dir.hpp"

using namespace bluepython;
namespace fs = std::filesystem;

namespace {

struct world {
  testing::spool_dir root{"bp_journal"};
  std::string spool = (root.path / "spool").string();
  std::string state = (root.path / "spool.state").string();

  [[nodiscard]] std::unique_ptr<event_pipeline> pipeline(spool_fsync fsync = spool_fsync::never) const {
    spool_options so;
    so.dir = spool;
    pipeline_options po;
    po.queue_bytes = 64U << 10U;
    po.state_dir = state;
    po.spool_dir = spool;
    po.fsync = fsync;
    process_identity id;
    id.pid = ::getpid();
    id.ppid = ::getppid();
    id.uuid = "uuid-" + std::to_string(::getpid());
    id.start_ns = 1'700'000'000'000'000'000 + ::getpid();
    id.component_id = "notes \"mcp\"";
    return std::make_unique<event_pipeline>(po, std::make_unique<spool_writer>(so, id.pid, id.start_ns), id,
                                            nullptr, nullptr);
  }

  [[nodiscard]] std::vector<nlohmann::json> events() const {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(spool)) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    std::vector<nlohmann::json> out;
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      const std::string text{std::istreambuf_iterator<char>(in), {}};
      REQUIRE(text.find('\0') == std::string::npos);
      REQUIRE((text.empty() || text.back() == '\n'));
      std::size_t start = 0;
      for (std::size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
        out.push_back(nlohmann::json::parse(text.substr(start, nl - start)));
        start = nl + 1;
      }
    }
    return out;
  }

  [[nodiscard]] std::size_t journals() const {
    std::size_t n = 0;
    if (!fs::exists(state)) return 0;
    for (const auto& e : fs::directory_iterator(state)) n += e.path().extension() == ".journal" ? 1 : 0;
    return n;
  }
};

void emit_numbered(event_pipeline& p, int from, int to) {
  for (int i = from; i < to; ++i) {
    const std::string attrs = "\"i\":" + std::to_string(i);
    record_view r;
    r.name = "app_event";
    r.ts_ns = 1'700'000'000'000'000'000 + i;
    r.attributes = attrs;
    REQUIRE(p.emit(r));
  }
}

// Runs `body` in a child that then dies by SIGKILL; returns its pid.
int die_after(const std::function<void()>& body) {
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    body();
    ::raise(SIGKILL);
    ::_exit(99);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(WTERMSIG(status) == SIGKILL);
  return child;
}

std::vector<int> app_indexes(const std::vector<nlohmann::json>& events) {
  std::vector<int> out;
  for (const auto& ev : events) {
    if (ev["event"]["meta"]["name"] == "app_event") out.push_back(ev["event"]["i"].get<int>());
  }
  return out;
}

void check_ids(const std::vector<nlohmann::json>& events) {
  for (std::size_t i = 0; i < events.size(); ++i) {
    CHECK(events[i]["event"]["meta"]["source_event_id"].get<std::uint64_t>() == i + 1);
  }
}

std::vector<int> range(int n) {
  std::vector<int> out(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) out[static_cast<std::size_t>(i)] = i;
  return out;
}

}  // namespace

TEST_CASE("what was emitted but never written is recovered after a SIGKILL", "[journal]") {
  world w;
  die_after([&] {
    auto* p = w.pipeline().release();  // never destroyed: the process dies
    if (!p->attach_journal()) ::_exit(3);
    emit_numbered(*p, 0, 10);
    (void)p->flush(std::chrono::milliseconds(100));  // 0-9 on disk
    emit_numbered(*p, 10, 25);                       // only in the journal
  });
  CHECK(w.journals() == 1);
  CHECK(app_indexes(w.events()) == range(10));
  const recovery_report report = recover_journals(w.state, w.spool);
  CHECK(report.journals == 1);
  CHECK(report.events == 15);
  CHECK(report.faults.empty());
  const auto events = w.events();
  CHECK(app_indexes(events) == range(25));
  check_ids(events);
  // Composed by the recovery with the dead process's identity, component_id included.
  for (const auto& ev : events) CHECK(ev["event"]["meta"]["component_id"] == "notes \"mcp\"");
  const auto& last = events.back()["event"];
  CHECK(last["meta"]["name"] == "sensor_shutdown");
  CHECK(last["meta"]["type"] == "sensor_lifecycle");
  CHECK(last["reason"] == "killed");
  CHECK(last["recovered"] == 15);
  CHECK(w.journals() == 0);
  // A second sweep finds nothing to do.
  CHECK(recover_journals(w.state, w.spool).journals == 0);
  CHECK(w.events().size() == events.size());
}

TEST_CASE("a process killed before its first write gets its spool file from the recovery", "[journal]") {
  world w;
  const int pid = die_after([&] {
    auto* p = w.pipeline().release();
    if (!p->attach_journal()) ::_exit(3);
    emit_numbered(*p, 0, 7);
  });
  CHECK_FALSE(fs::exists(w.spool));
  CHECK(recover_journals(w.state, w.spool).events == 7);
  const auto events = w.events();
  CHECK(app_indexes(events) == range(7));
  check_ids(events);
  CHECK(events.front()["event"]["context"]["process"]["pid"] == pid);
}

TEST_CASE("records emitted before the journal existed are carried into it", "[journal]") {
  world w;
  die_after([&] {
    auto* p = w.pipeline().release();  // never destroyed: the process dies
    emit_numbered(*p, 0, 5);  // anonymous memory still
    if (!p->attach_journal()) ::_exit(3);
    emit_numbered(*p, 5, 9);
  });
  CHECK(recover_journals(w.state, w.spool).events == 9);
  CHECK(app_indexes(w.events()) == range(9));
}

TEST_CASE("a half line a kill left is cut and its events written whole", "[journal]") {
  world w;
  die_after([&] {
    auto* p = w.pipeline().release();  // never destroyed: the process dies
    if (!p->attach_journal()) ::_exit(3);
    emit_numbered(*p, 0, 4);
    (void)p->flush(std::chrono::milliseconds(100));
    emit_numbered(*p, 4, 8);
  });
  // What a write cut short by the kill looks like: the start of the next line.
  const fs::path file = *fs::directory_iterator(w.spool);
  {
    std::ofstream out(file, std::ios::app | std::ios::binary);
    out << R"({"ts":"2026-01-01T00:00:00.000000Z","event":{"meta":{"na)";
  }
  const recovery_report report = recover_journals(w.state, w.spool);
  CHECK(report.repaired == 1);
  const auto events = w.events();
  CHECK(app_indexes(events) == range(8));
  check_ids(events);
}

TEST_CASE("the journal of a live process is left alone", "[journal]") {
  world w;
  int ready[2];
  int go[2];
  REQUIRE(::pipe(ready) == 0);
  REQUIRE(::pipe(go) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto p = w.pipeline();
    if (!p->attach_journal()) ::_exit(3);
    emit_numbered(*p, 0, 3);
    char c = 'r';
    (void)::write(ready[1], &c, 1);
    (void)::read(go[0], &c, 1);
    ::raise(SIGKILL);
    ::_exit(99);
  }
  char c = 0;
  REQUIRE(::read(ready[0], &c, 1) == 1);
  CHECK(recover_journals(w.state, w.spool).journals == 0);
  CHECK(w.journals() == 1);
  REQUIRE(::write(go[1], &c, 1) == 1);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(recover_journals(w.state, w.spool).events == 3);
  for (const int fd : {ready[0], ready[1], go[0], go[1]}) ::close(fd);
}

TEST_CASE("a clean shutdown removes the journal; an exec'd process adds no shutdown event", "[journal]") {
  world w;
  {
    auto p = w.pipeline();
    REQUIRE(p->attach_journal());
    CHECK(w.journals() == 1);
    emit_numbered(*p, 0, 3);
    p->shutdown(std::chrono::milliseconds(100), "test");
    CHECK(w.journals() == 0);
  }
  const std::size_t before = w.events().size();
  die_after([&] {
    auto* p = w.pipeline().release();  // never destroyed: the process dies
    if (!p->attach_journal()) ::_exit(3);
    emit_numbered(*p, 0, 3);
    p->flush_for_exec(std::chrono::milliseconds(100));
  });
  const recovery_report report = recover_journals(w.state, w.spool);
  CHECK(report.journals == 1);
  CHECK(report.events == 0);
  const auto events = w.events();
  CHECK(events.size() == before + 3);
  CHECK(events.back()["event"]["meta"]["name"] == "app_event");
}

TEST_CASE("spool.fsync=always: every push reaches the disk, and nothing changes for readers", "[journal]") {
  world w;
  die_after([&] {
    auto* p = w.pipeline(spool_fsync::always).release();
    if (!p->attach_journal()) ::_exit(3);
    emit_numbered(*p, 0, 20);
    (void)p->flush(std::chrono::milliseconds(100));
    emit_numbered(*p, 20, 30);
  });
  CHECK(recover_journals(w.state, w.spool).events == 10);
  CHECK(app_indexes(w.events()) == range(30));
}

TEST_CASE("a state directory that cannot be made leaves the queue in memory, reported as one event", "[journal]") {
  world w;
  std::ofstream(w.root.path / "blocker") << "x";
  spool_options so;
  so.dir = w.spool;
  pipeline_options po;
  po.queue_bytes = 64U << 10U;
  po.state_dir = (w.root.path / "blocker" / "state").string();
  po.spool_dir = w.spool;
  static std::vector<std::string> faults;
  faults.clear();
  process_identity id;
  id.pid = ::getpid();
  id.uuid = "u";
  event_pipeline p(po, std::make_unique<spool_writer>(so, id.pid, 1), id, nullptr,
                   [](const std::string& m) noexcept { faults.push_back(m); });
  CHECK_FALSE(p.attach_journal());
  CHECK_FALSE(p.attach_journal());
  CHECK(faults.empty());  // the spool works: no warning
  emit_numbered(p, 0, 3);
  p.shutdown(std::chrono::milliseconds(100), "test");
  const auto events = w.events();
  CHECK(app_indexes(events) == range(3));
  const auto& fault = events.front()["event"];
  CHECK(fault["meta"]["name"] == "python_internal_exception");
  CHECK(fault["message"].get<std::string>().find("blocker") != std::string::npos);
  CHECK(std::count_if(events.begin(), events.end(), [](const nlohmann::json& e) {
          return e["event"]["meta"]["name"] == "python_internal_exception";
        }) == 1);
}

TEST_CASE("a copied spool's journals are recovered into the copy, not the original", "[journal]") {
  world original;
  die_after([&] {
    auto* p = original.pipeline().release();
    if (!p->attach_journal()) ::_exit(3);
    emit_numbered(*p, 0, 4);
    (void)p->flush(std::chrono::milliseconds(100));
    emit_numbered(*p, 4, 6);
  });
  world copy;
  fs::copy(original.spool, copy.spool, fs::copy_options::recursive);
  fs::copy(original.state, copy.state, fs::copy_options::recursive);
  CHECK(recover_journals(copy.state, copy.spool).events == 2);
  CHECK(app_indexes(copy.events()) == range(6));
  CHECK(app_indexes(original.events()) == range(4));  // untouched until its own sweep
  CHECK(recover_journals(original.state, original.spool).events == 2);
  CHECK(app_indexes(original.events()) == range(6));
}

TEST_CASE("the shutdown a recovery adds is dated at the last sign of life, never before the last event",
          "[journal]") {
  world w;
  die_after([&] {
    auto* p = w.pipeline().release();
    if (!p->attach_journal()) ::_exit(3);
    record_view r;
    r.name = "app_event";
    r.attributes = "\"i\":0";
    r.ts_ns = wall_time_ns() + 3'600'000'000'000;  // an hour ahead of the file's mtime
    REQUIRE(p->emit(r));
    (void)p->flush(std::chrono::milliseconds(100));
  });
  CHECK(recover_journals(w.state, w.spool).events == 0);
  const auto events = w.events();
  REQUIRE(events.size() == 2);
  CHECK(events[1]["event"]["meta"]["name"] == "sensor_shutdown");
  CHECK(events[1]["ts"] == events[0]["ts"]);
}

TEST_CASE("a free lock is not enough: a journal named after a live, older process is left alone", "[journal]") {
  // What a process that closed our descriptor (closerange) or exec'd leaves:
  // its lock is gone, the process is not. Made here from a dead child's
  // journal renamed after this (live) test process.
  world w;
  die_after([&] {
    auto* p = w.pipeline().release();
    if (!p->attach_journal()) ::_exit(3);
    emit_numbered(*p, 0, 3);
  });
  const fs::path dead = *fs::directory_iterator(w.state);
  const fs::path live = fs::path(w.state) / journal::file_name(::getpid(), wall_time_ns());
  fs::rename(dead, live);
  CHECK(recover_journals(w.state, w.spool).journals == 0);
  CHECK(fs::exists(live));
  // The same pid, but a journal older than this process: the pid was reused.
  fs::rename(live, fs::path(w.state) / journal::file_name(::getpid(), 1'000'000'000));
  const recovery_report report = recover_journals(w.state, w.spool);
  CHECK(report.journals == 1);
  CHECK(report.events == 3);
}
