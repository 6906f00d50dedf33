// SPDX-License-Identifier: Apache-2.0
// Issue 14, defect 5: a shutdown() racing a fork. The fork handlers used to
// check shut_down_ each on their own, so prepare could lock io_mutex_ and the
// parent (or child) handler, seeing the pipeline shut down in between, leave
// it locked: shutdown() and the writer then wait for it forever.
#include "pipeline/event_pipeline.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <thread>

#include "pipeline/clock.hpp"
#include "pipeline/test_sink.hpp"

using namespace bluepython;
using bluepython::testing::test_sink;
using namespace std::chrono_literals;

namespace {

// A bound, not a timing assertion: the operations below finish in
// microseconds when nothing deadlocks; a deadlock fails after this instead of
// hanging the run.
constexpr auto kDeadlockBound = 10s;

template <typename Done>
bool wait_until(Done done) {
  const auto deadline = std::chrono::steady_clock::now() + kDeadlockBound;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// Waits for a child for at most kDeadlockBound; kills it after that.
int wait_child(pid_t child) {
  int status = 0;
  const bool exited = wait_until([&] { return ::waitpid(child, &status, WNOHANG) == child; });
  if (!exited) {
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
    return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

process_identity parent_identity() {
  process_identity id;
  id.pid = ::getpid();
  id.ppid = ::getppid();
  id.uuid = "00000000-0000-4000-8000-000000000000";
  id.start_ns = wall_time_ns();
  return id;
}

bool emit(event_pipeline& pipeline, std::string_view name) {
  record_view r;
  r.name = name;
  r.ts_ns = wall_time_ns();
  return pipeline.emit(r);
}

}  // namespace

TEST_CASE("fork: a shutdown between prepare and the parent handler still gets io_mutex_",
          "[event_pipeline][fork]") {
  auto owned = std::make_unique<test_sink>();
  test_sink* sink = owned.get();
  auto pipeline = std::make_unique<event_pipeline>(pipeline_options{}, std::move(owned), parent_identity(),
                                                   nullptr, nullptr);
  pipeline->start();
  REQUIRE(emit(*pipeline, "before"));

  pipeline->prepare_fork();  // the pipeline is running: io_mutex_ is taken
  std::atomic<bool> shutdown_returned{false};
  std::thread stopper([&] {
    (void)pipeline->shutdown(5s, "exit");
    shutdown_returned.store(true);
  });
  // shutdown() marks the pipeline shut down before it waits for io_mutex_.
  REQUIRE(wait_until([&] { return pipeline->shut_down(); }));

  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The child must get usable locks: a synchronous drain takes io_mutex_.
    process_identity id = parent_identity();
    id.ppid = id.pid;
    id.pid = ::getpid();
    const bool reset = pipeline->after_fork_child(id);
    const bool flushed = pipeline->flush(1s);
    ::_exit(reset && flushed ? 0 : 1);
  }
  pipeline->after_fork_parent();

  const bool stopped = wait_until([&] { return shutdown_returned.load(); });
  const int child_status = wait_child(child);
  if (!stopped) {
    // io_mutex_ stays held: the thread and the pipeline can never finish.
    stopper.detach();
    (void)pipeline.release();
    FAIL("shutdown() did not get io_mutex_ after the parent's fork handler");
  }
  stopper.join();
  CHECK(child_status == 0);
  const auto lines = sink->lines();
  REQUIRE(lines.size() == 2);
  CHECK(lines.back().find("sensor_shutdown") != std::string::npos);
}

TEST_CASE("fork: after shutdown the handlers touch nothing and forks keep working", "[event_pipeline][fork]") {
  auto pipeline = std::make_unique<event_pipeline>(pipeline_options{}, std::make_unique<test_sink>(),
                                                   parent_identity(), nullptr, nullptr);
  pipeline->start();
  REQUIRE(pipeline->shutdown(5s, "exit"));
  pipeline->prepare_fork();
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    process_identity id = parent_identity();
    id.pid = ::getpid();
    ::_exit(pipeline->after_fork_child(id) ? 1 : 0);
  }
  pipeline->after_fork_parent();
  CHECK(wait_child(child) == 0);
  // A second fork cycle, now that the pipeline is shut down, is as harmless.
  pipeline->prepare_fork();
  pipeline->after_fork_parent();
  CHECK(pipeline->flush(1s));
}
