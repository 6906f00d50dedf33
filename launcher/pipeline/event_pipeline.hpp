// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/event_composer.hpp"
#include "pipeline/event_queue.hpp"
#include "pipeline/options.hpp"
#include "pipeline/batch_observer.hpp"
#include "pipeline/event_sink.hpp"
#include "pipeline/import_resolver.hpp"
#include "pipeline/redaction.hpp"

namespace bluepython {

struct pipeline_options {
  std::size_t queue_bytes = 2U << 20U;
  std::chrono::milliseconds flush_interval{50};
  bool mirror_to_stderr = false;
  // Counts what it redacted: sensor_shutdown reports them (nullptr: redaction off).
  const redactor* redactions = nullptr;
  // Where the journal goes (empty: the queue stays in process memory, and a
  // SIGKILL loses what the writer had not written yet).
  std::string state_dir;
  // Recorded in the journal: where a recovery appends this process's events.
  std::string spool_dir;
  // Recover the journals of dead processes when the writer starts.
  bool sweep = false;
  spool_fsync fsync = spool_fsync::never;
  std::chrono::milliseconds fsync_interval{1000};
};

struct pipeline_counters {
  std::uint64_t emitted = 0;        // records offered by producers
  std::uint64_t written = 0;        // lines written to the sink
  std::uint64_t dropped_queue = 0;  // queue full
  std::uint64_t dropped_sink = 0;   // sink faults: I/O errors, quota, no spool
  std::uint64_t filtered = 0;       // left out on purpose (imports fileslist=false)
};

// Producers -> bounded queue -> one writer thread -> sink. The writer composes
// the envelope (ts, meta with a per-process monotonic source_event_id and the
// uuid, process context) around each record, completes import records through
// the import_resolver, and writes batches. The writer thread never calls the
// Python C API. Faults in the sink are counted, reported once through
// `on_fault`, and surface as python_internal_exception events when the sink
// recovers.
class event_pipeline {
 public:
  using fault_callback = void (*)(const std::string& message) noexcept;

  event_pipeline(pipeline_options options, std::unique_ptr<event_sink> sink, process_identity identity,
                 std::unique_ptr<import_resolver> resolver, fault_callback on_fault);
  ~event_pipeline();  // calls shutdown()
  event_pipeline(const event_pipeline&) = delete;
  event_pipeline& operator=(const event_pipeline&) = delete;

  // Starts the writer thread (again, after fork; in a fork child the journal
  // is made here first). Idempotent.
  void start() noexcept;
  // Moves the queue into this process's journal (options.state_dir), so an
  // emit that returned survives any death of the process. Call before
  // start() and before other threads emit. False when no journal can be
  // made: the queue stays in memory, and the fault becomes a
  // python_internal_exception event (no on_fault call).
  bool attach_journal() noexcept;
  // The process is about to exec: flush(timeout), then mark the journal so
  // that a recovery finds nothing missing and adds no shutdown event.
  void flush_for_exec(std::chrono::milliseconds timeout) noexcept;
  // Every batch written to the sink is also offered to `observer` (owned;
  // set before start()). Shut down after the final batch, within
  // `shutdown_timeout`.
  void set_observer(std::unique_ptr<batch_observer> observer, std::chrono::milliseconds shutdown_timeout) noexcept;

  // Hot path: never blocks on I/O, never throws, never allocates.
  bool emit(const record_view& record) noexcept;

  // Waits until everything emitted before the call is handed to the sink.
  // Drains in the calling thread when no writer runs. False on timeout.
  bool flush(std::chrono::milliseconds timeout) noexcept;

  // Stops and joins the writer (it finishes the batch in hand), drains the
  // rest in the calling thread and writes sensor_shutdown (reason, counters).
  // Safe to call twice; later calls return true at once. `timeout` is not
  // used: the writer never waits on the app, only on the spool's write(2).
  bool shutdown(std::chrono::milliseconds timeout, const std::string& reason) noexcept;

  // Async-signal-safe: asks the writer to drain, write sensor_shutdown and
  // re-raise `signo` with its default action.
  void request_fatal_signal(int signo) noexcept;
  // True once the writer has done what request_fatal_signal asked.
  [[nodiscard]] bool fatal_done() const noexcept { return fatal_done_.load(); }

  // fork(2) protocol (pthread_atfork): prepare flushes and locks (unless shut
  // down already) and records that the calling thread holds the locks; the
  // parent unlocks exactly what prepare locked, and the child rebuilds it and
  // gets an empty queue, zeroed counters, a new identity, and no writer until
  // start(). A shutdown() racing the fork cannot change what is released.
  void prepare_fork() noexcept;
  void after_fork_parent() noexcept;
  // False when prepare found the pipeline shut down and nothing was reset
  // (then the observer's child handler must not run either).
  bool after_fork_child(const process_identity& identity) noexcept;

  [[nodiscard]] pipeline_counters counters() const noexcept;
  [[nodiscard]] const process_identity& identity() const noexcept { return identity_; }
  [[nodiscard]] bool running() const noexcept { return running_.load(std::memory_order_acquire); }
  // True once shutdown() has begun.
  [[nodiscard]] bool shut_down() const noexcept { return shut_down_.load(); }
  [[nodiscard]] std::string sink_location() const;

 private:
  void writer_loop() noexcept;
  void wake() noexcept;
  // Takes the queue's buffer and writes it; caller holds io_mutex_.
  void drain_locked() noexcept;
  // Composes with the next source_event_id; false when nothing was appended.
  bool compose(const record_view& r, std::string& batch) noexcept;
  void sweep_one() noexcept;
  void sync_after_write(bool final) noexcept;
  void write_batch(std::string& batch, std::size_t lines) noexcept;
  void append_shutdown_event(std::string& batch, const std::string& reason, int signo) noexcept;
  void make_wake_fd() noexcept;
  // pending_faults_ as python_internal_exception lines (where: `where`).
  std::size_t compose_faults(std::string& batch, const char* where) noexcept;
  void finish_observer(std::chrono::milliseconds deadline) noexcept;

  pipeline_options options_;
  std::unique_ptr<event_sink> sink_;
  process_identity identity_;
  std::unique_ptr<batch_observer> observer_;
  std::chrono::milliseconds observer_shutdown_timeout_{1000};
  std::unique_ptr<import_resolver> resolver_;
  fault_callback on_fault_;

  event_queue queue_;
  event_composer composer_;
  std::string batch_;
  bool journal_tried_ = false;
  bool journal_fault_unwritten_ = false;  // writer side
  std::vector<std::string> sweep_left_;   // writer side: dead journals still to recover
  std::int64_t next_sync_ns_ = 0;
  std::vector<std::string> pending_faults_;

  std::mutex io_mutex_;  // serializes draining (writer thread vs. synchronous drains)
  std::mutex flush_mutex_;
  std::condition_variable flush_cv_;
  std::uint64_t flush_requested_ = 0;  // guarded by flush_mutex_
  std::uint64_t flush_done_ = 0;       // guarded by flush_mutex_

  std::unique_ptr<std::thread> thread_;
  std::atomic<bool> running_{false};
  std::atomic<bool> stop_{false};
  std::atomic<bool> shut_down_{false};
  // The thread whose prepare_fork() holds io_mutex_ and the queue's lock
  // (default id: none). A thread id, not a flag: with concurrent forks, a
  // thread whose prepare saw shut_down_ must not release another's locks.
  std::atomic<std::thread::id> fork_holder_{};
  std::atomic<int> fatal_signal_{0};
  std::atomic<bool> fatal_done_{false};
  int wake_fd_ = -1;

  std::uint64_t next_event_id_ = 1;  // writer side only
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> emitted_by_writer_{0};  // python_internal_exception of sink faults
  std::atomic<std::uint64_t> dropped_sink_{0};
  std::atomic<std::uint64_t> filtered_{0};
};

}  // namespace bluepython
