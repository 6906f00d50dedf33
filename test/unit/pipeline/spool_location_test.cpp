// SPDX-License-Identifier: Apache-2.0
// Issue 14, defect 4: _bluepython.spool_location() reads the spool file's
// path on an app thread while the writer thread replaces it on open and on
// rotation. These tests race the two on purpose; under ThreadSanitizer
// (preset tsan) the unfixed code reports a data race here.
#include "pipeline/spool_writer.hpp"

#include <stdlib.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <thread>

#include "pipeline/clock.hpp"
#include "pipeline/event_pipeline.hpp"

using namespace bluepython;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
  temp_dir() {
    char tmpl[] = "/tmp/bp_location_XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~temp_dir() { fs::remove_all(path); }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  std::string path;
};

// Calls `read` in a loop on its own thread until stopped; counts the answers
// that are not the directory or a spool file inside it.
class location_reader {
 public:
  template <typename Read>
  location_reader(std::string dir, Read read)
      : dir_(std::move(dir)), thread_([this, read] {
          // At least one read, whatever the scheduler does.
          do {
            const std::string where = read();
            ++reads_;
            if (where != dir_ && !(where.starts_with(dir_ + "/python-bluepython-") && where.ends_with(".ndjson"))) {
              ++bad_;
            }
            started_.store(true);
          } while (!stop_.load());
        }) {
    while (!started_.load()) std::this_thread::yield();
  }
  ~location_reader() { stop(); }
  location_reader(const location_reader&) = delete;
  location_reader& operator=(const location_reader&) = delete;

  void stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  [[nodiscard]] long reads() const { return reads_; }
  [[nodiscard]] long bad() const { return bad_; }

 private:
  std::string dir_;
  std::atomic<bool> started_{false};
  std::atomic<bool> stop_{false};
  long reads_ = 0;  // read after join
  long bad_ = 0;
  std::thread thread_;
};

std::string batch(int n) {
  std::string data;
  for (int i = 0; i < 4; ++i) data += "{\"batch\":" + std::to_string(n) + ",\"padding\":\"" + std::string(40, 'x') + "\"}\n";
  return data;
}

}  // namespace

TEST_CASE("location() may be read on another thread while the writer rotates", "[spool_writer][race]") {
  temp_dir tmp;
  spool_options o;
  o.dir = tmp.path;
  o.max_file_bytes = 256;  // about one batch per file: every write rotates
  spool_writer w(o, ::getpid(), wall_time_ns());
  location_reader reader(tmp.path, [&w] { return w.location(); });
  for (int i = 0; i < 200; ++i) REQUIRE(w.write(batch(i), 4).written_lines == 4);
  reader.stop();
  CHECK(w.files_opened() >= 100);
  CHECK(reader.reads() > 0);
  CHECK(reader.bad() == 0);
  CHECK(w.location() == w.current_path());
}

TEST_CASE("sink_location() may be read on an app thread while the writer thread rotates",
          "[event_pipeline][race]") {
  temp_dir tmp;
  spool_options o;
  o.dir = tmp.path;
  o.max_file_bytes = 256;
  process_identity id;
  id.pid = ::getpid();
  id.uuid = "00000000-0000-4000-8000-000000000000";
  id.start_ns = wall_time_ns();
  auto sink = std::make_unique<spool_writer>(o, id.pid, id.start_ns);
  const spool_writer* writer = sink.get();
  event_pipeline pipeline({}, std::move(sink), id, nullptr, nullptr);
  pipeline.start();
  location_reader reader(tmp.path, [&pipeline] { return pipeline.sink_location(); });
  const std::string attributes = "\"padding\":\"" + std::string(200, 'p') + "\"";
  for (int i = 0; i < 100; ++i) {
    record_view r;
    r.name = "tick";
    r.ts_ns = wall_time_ns();
    r.attributes = attributes;
    REQUIRE(pipeline.emit(r));
    // Each flush hands one event to the writer thread: one file each.
    REQUIRE(pipeline.flush(5s));
  }
  reader.stop();
  REQUIRE(pipeline.shutdown(5s, "exit"));
  CHECK(writer->files_opened() >= 50);
  CHECK(reader.reads() > 0);
  CHECK(reader.bad() == 0);
}
