// SPDX-License-Identifier: Apache-2.0
// Native emit to disk: how many events per second the event pipeline takes
// from a producer and writes to a real spool (envelope composed, RFC 3339
// time, NDJSON lines, rotation and quota as configured), with the producer and
// the writer thread pinned to ONE CPU, the budget's "on one core".
//
//   bluepython_pipeline_bench [--events N] [--dir DIR] [--no-pin]
//                             [--fsync never|interval|always] [--no-journal]
//
// The queue lives in a journal (DIR.state), as under bluepython: every
// emit's record is in a MAP_SHARED file when emit returns. --no-journal
// keeps it in process memory (the pipeline before issue 19), for comparison.
//
// Prints one JSON line: events, written, retries (pushes refused because the
// queue was full; the producer yields and retries, so every event is written
// and the figure is the sustained rate to disk), seconds, events_per_second,
// bytes (spool bytes written), cpu (process user+sys seconds). Run by
// bench/compare.py; the spool directory is emptied first and left behind.
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "pipeline/clock.hpp"
#include "pipeline/event_pipeline.hpp"
#include "pipeline/spool_writer.hpp"

namespace {

using namespace bluepython;

[[noreturn]] void usage(const char* problem) {
  (void)std::fprintf(stderr,
                     "bluepython_pipeline_bench: %s\nusage: bluepython_pipeline_bench [--events N] [--dir DIR] "
                     "[--no-pin] [--fsync never|interval|always] [--no-journal]\n",
                     problem);
  std::exit(2);
}

double cpu_seconds() {
  rusage ru{};
  (void)::getrusage(RUSAGE_SELF, &ru);
  const auto secs = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

bool pin_to_one_cpu() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (::sched_getaffinity(0, sizeof allowed, &allowed) != 0) return false;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &allowed)) {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      return ::sched_setaffinity(0, sizeof one, &one) == 0;  // inherited by the writer thread
    }
  }
  return false;
}

std::uint64_t spool_bytes(const std::filesystem::path& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec)) total += entry.file_size(ec);
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t events = 5'000'000;
  std::string dir = "/tmp/bluepython-pipeline-bench";
  bool pin = true;
  bool journal = true;
  spool_fsync fsync = spool_fsync::never;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--events" && i + 1 < argc) {
      char* end = nullptr;
      events = std::strtoull(argv[++i], &end, 10);
      if (end == nullptr || *end != '\0' || events == 0) usage("--events wants a positive integer");
    } else if (arg == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else if (arg == "--no-pin") {
      pin = false;
    } else if (arg == "--no-journal") {
      journal = false;
    } else if (arg == "--fsync" && i + 1 < argc) {
      const auto mode = parse_fsync(argv[++i]);
      if (!mode) usage("--fsync wants never, interval or always");
      fsync = *mode;
    } else {
      usage("unknown argument");
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::remove_all(dir + ".state", ec);
  if (pin && !pin_to_one_cpu()) usage("could not pin to one CPU (sched_setaffinity)");

  spool_options spool;
  spool.dir = dir;
  // Real rotation and quota: the spool on disk stays bounded however many
  // events go through, and every byte is still written with write(2).
  spool.max_file_bytes = 32ULL << 20U;
  spool.max_total_bytes = 256ULL << 20U;
  spool.fsync = fsync;
  pipeline_options options;  // queue and flush interval as the defaults of docs/configuration.md
  options.queue_bytes = 4ULL << 20U;
  options.fsync = fsync;
  if (journal) {
    options.state_dir = dir + ".state";
    options.spool_dir = dir;
  }
  process_identity id;
  id.pid = static_cast<int>(::getpid());
  id.ppid = static_cast<int>(::getppid());
  id.uuid = "00000000-0000-4000-8000-00000000be4c";
  id.start_ns = wall_time_ns();
  event_pipeline pipeline(options, std::make_unique<spool_writer>(spool, id.pid, id.start_ns), id, nullptr, nullptr);
  if (journal && !pipeline.attach_journal()) usage("could not create the journal");

  // About the size of a python_file_open event's own members, encoded before
  // the clock starts (a producer's own encoding is not the pipeline's cost:
  // the `_bluepython.emit` loop of docs/performance.md measures it with the
  // rest of a real emit).
  constexpr std::size_t kVariants = 100000;
  std::vector<std::string> variants;
  variants.reserve(kVariants);
  for (std::size_t v = 0; v < kVariants; ++v) {
    char attrs[128];
    const int n = std::snprintf(attrs, sizeof attrs, R"("path":"/srv/app/data/file-%zu.json","mode":"r","flags":524288)", v);
    variants.emplace_back(attrs, static_cast<std::size_t>(n));
  }
  std::uint64_t retries = 0;
  const double cpu0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  pipeline.start();
  for (std::uint64_t i = 0; i < events; ++i) {
    record_view r;
    r.name = "bench_event";
    r.ts_ns = wall_time_ns();
    r.attributes = variants[i % kVariants];
    while (!pipeline.emit(r)) {
      ++retries;
      std::this_thread::yield();
    }
  }
  pipeline.shutdown(std::chrono::milliseconds(60000), "exit");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  const pipeline_counters c = pipeline.counters();
  (void)std::printf(
      R"({"events":%llu,"written":%llu,"retries":%llu,"seconds":%.6f,"events_per_second":%.0f,"bytes":%llu,"cpu":%.6f,"pinned":%s,"journal":%s,"fsync":"%s"})"
      "\n",
      static_cast<unsigned long long>(events), static_cast<unsigned long long>(c.written),
      static_cast<unsigned long long>(retries), seconds, static_cast<double>(events) / seconds,
      static_cast<unsigned long long>(spool_bytes(dir)), cpu, pin ? "true" : "false", journal ? "true" : "false",
      std::string(fsync_name(fsync)).c_str());
  return c.written >= events ? 0 : 1;
}
