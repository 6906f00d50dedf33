// SPDX-License-Identifier: Apache-2.0
#include "pipeline/event_pipeline.hpp"

#include <poll.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <iterator>
#include <cstring>
#include <new>

#include "pipeline/clock.hpp"
#include "pipeline/fd_util.hpp"
#include "pipeline/journal_recovery.hpp"
#include "pipeline/json_writer.hpp"
#include "pipeline/sha256.hpp"

namespace bluepython {
namespace {

const char* signal_name(int signo) noexcept {
  switch (signo) {
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    case SIGINT: return "SIGINT";
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGFPE: return "SIGFPE";
    case SIGABRT: return "SIGABRT";
    default: return "signal";
  }
}

}  // namespace

event_pipeline::event_pipeline(pipeline_options options, std::unique_ptr<event_sink> sink,
                               process_identity identity, std::unique_ptr<import_resolver> resolver,
                               fault_callback on_fault)
    : options_(std::move(options)),
      sink_(std::move(sink)),
      identity_(std::move(identity)),
      resolver_(std::move(resolver)),
      on_fault_(on_fault),
      queue_(options_.queue_bytes),
      composer_(identity_) {
  batch_.reserve(options_.queue_bytes + (options_.queue_bytes / 2));
  make_wake_fd();
}

bool event_pipeline::attach_journal() noexcept {
  if (journal_tried_ || options_.state_dir.empty()) return queue_.memory().durable();
  journal_tried_ = true;
  std::string fault;
  bool ok = false;
  try {
    journal_owner owner;
    owner.pid = identity_.pid;
    owner.ppid = identity_.ppid;
    owner.sensor_id = identity_.sensor_id;
    owner.start_ns = identity_.start_ns;
    owner.uuid = identity_.uuid;
    owner.spool_dir = options_.spool_dir;
    owner.component_id = identity_.component_id;
    ok = queue_.attach_journal(options_.state_dir, owner, fault);
  } catch (...) {
    fault = "out of memory creating the journal";
  }
  if (ok) {
    queue_.set_sync_every_push(options_.fsync == spool_fsync::always);
    return true;
  }
  // An event, not a warning: the one stderr line is the spool's (a state
  // directory that cannot be made is nearly always beside a spool that
  // cannot be either, and then that is the news).
  fault += " (events are kept in memory until written: a SIGKILL can lose the last flush interval)";
  try {
    std::lock_guard lock(io_mutex_);
    if (pending_faults_.size() < 16) pending_faults_.push_back(fault);
  } catch (...) {
  }
  return false;
}

void event_pipeline::sweep_one() noexcept {
  if (sweep_left_.empty()) return;
  recovery_report report;
  try {
    const std::string name = std::move(sweep_left_.back());
    sweep_left_.pop_back();
    recover_journal(options_.state_dir, options_.spool_dir, name, report);
  } catch (...) {
  }
  if (report.faults.empty()) return;
  // Another process's journal: an event of ours, not a warning to this app.
  try {
    std::lock_guard lock(io_mutex_);
    for (const auto& fault : report.faults) {
      if (pending_faults_.size() < 16) pending_faults_.push_back(fault);
    }
  } catch (...) {
  }
}

void event_pipeline::flush_for_exec(std::chrono::milliseconds timeout) noexcept {
  (void)flush(timeout);
  queue_.memory().set_state(journal_state::exec);
}

event_pipeline::~event_pipeline() {
  shutdown(std::chrono::milliseconds(2000), "destroyed");
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void event_pipeline::make_wake_fd() noexcept {
  wake_fd_ = move_high(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
}

std::string event_pipeline::sink_location() const { return sink_->location(); }

void event_pipeline::start() noexcept {
  if (running_.load(std::memory_order_acquire) || shut_down_.load()) return;
  // A fork child's journal: made here, where the child is known to run on
  // (a fork followed by exec never gets one).
  (void)attach_journal();
  try {
    stop_.store(false);
    // Block asynchronous signals in the writer so they go to the app's threads.
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    // Named before start() returns, not only once it runs: whoever counts our
    // threads by name (the 3.12+ fork warning) must never see it unnamed. A
    // new thread inherits its creator's name, so this thread wears the name
    // while it creates the writer: two prctl calls, where naming another
    // thread goes through /proc/self/task/<tid>/comm (about 50 us).
    std::array<char, 16> own{};
    const bool renamed = ::prctl(PR_GET_NAME, own.data()) == 0 && ::prctl(PR_SET_NAME, "bluepython-wr") == 0;
    try {
      thread_ = std::make_unique<std::thread>([this] { writer_loop(); });
    } catch (...) {
      if (renamed) (void)::prctl(PR_SET_NAME, own.data());
      throw;
    }
    if (renamed) {
      (void)::prctl(PR_SET_NAME, own.data());
    } else {
      (void)::pthread_setname_np(thread_->native_handle(), "bluepython-wr");
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    running_.store(true, std::memory_order_release);
  } catch (...) {
    // No thread: flush() and shutdown() drain synchronously instead.
  }
}

void event_pipeline::wake() noexcept {
  if (wake_fd_ < 0) return;
  const std::uint64_t one = 1;
  ssize_t n;
  do {
    n = ::write(wake_fd_, &one, sizeof one);
  } while (n < 0 && errno == EINTR);
}

bool event_pipeline::emit(const record_view& record) noexcept {
  const auto result = queue_.push(record);
  if (result == event_queue::push_result::queued_wake) wake();
  return result != event_queue::push_result::dropped;
}

void event_pipeline::writer_loop() noexcept {
  (void)::pthread_setname_np(::pthread_self(), "bluepython-wr");  // in top -H, py-spy, gdb
  // Dead processes' journals, one per turn of the loop, between batches:
  // flushes (a fork's, an exec's) never wait behind a whole sweep.
  if (options_.sweep && !options_.state_dir.empty()) {
    try {
      sweep_left_ = journal_names(options_.state_dir, journal::file_name(identity_.pid, identity_.start_ns));
    } catch (...) {
    }
  }
  pollfd pfd{wake_fd_, POLLIN, 0};
  for (;;) {
    const int timeout = sweep_left_.empty() ? static_cast<int>(options_.flush_interval.count()) : 0;
    ::poll(&pfd, 1, timeout);
    std::uint64_t value = 0;
    while (::read(wake_fd_, &value, sizeof value) > 0) {
    }
    std::uint64_t requested = 0;
    {
      std::lock_guard lock(flush_mutex_);
      requested = flush_requested_;
    }
    {
      std::lock_guard lock(io_mutex_);
      drain_locked();
    }
    {
      std::lock_guard lock(flush_mutex_);
      if (requested > flush_done_) flush_done_ = requested;
    }
    flush_cv_.notify_all();
    sweep_one();
    if (const int signo = fatal_signal_.load(); signo != 0) {
      {
        std::lock_guard lock(io_mutex_);
        drain_locked();
        // Bounded: the process is about to die of the signal.
        finish_observer(std::min(observer_shutdown_timeout_, std::chrono::milliseconds(500)));
        batch_.clear();
        append_shutdown_event(batch_, signal_name(signo), signo);
        write_batch(batch_, 1);
        sync_after_write(true);
        queue_.finish_journal(journal_state::finished);
        if (resolver_) resolver_->save_baseline();
      }
      // The interrupted thread, parked in the handler with the signal
      // blocked, sees this and dies by the signal at once; the kill is for
      // the case where it cannot.
      fatal_done_.store(true);
      (void)::signal(signo, SIG_DFL);
      (void)::kill(::getpid(), signo);
      // Not reached unless the app blocks the signal everywhere: carry on.
      fatal_signal_.store(0);
    }
    if (stop_.load(std::memory_order_acquire)) return;
  }
}

void event_pipeline::request_fatal_signal(int signo) noexcept {
  fatal_signal_.store(signo);
  wake();
}

bool event_pipeline::flush(std::chrono::milliseconds timeout) noexcept {
  if (!running_.load(std::memory_order_acquire)) {
    std::lock_guard lock(io_mutex_);
    drain_locked();
    return true;
  }
  try {
    std::unique_lock lock(flush_mutex_);
    const std::uint64_t ticket = ++flush_requested_;
    lock.unlock();
    wake();
    lock.lock();
    return flush_cv_.wait_for(lock, timeout, [&] { return flush_done_ >= ticket; });
  } catch (...) {
    return false;
  }
}

bool event_pipeline::shutdown(std::chrono::milliseconds timeout, const std::string& reason) noexcept {
  if (shut_down_.exchange(true)) return true;
  (void)timeout;  // the writer finishes its current batch and stops; it never blocks on the app
  if (running_.load(std::memory_order_acquire)) {
    stop_.store(true, std::memory_order_release);
    wake();
    if (thread_ && thread_->joinable()) thread_->join();
    running_.store(false, std::memory_order_release);
  }
  std::lock_guard lock(io_mutex_);
  drain_locked();
  finish_observer(observer_shutdown_timeout_);
  batch_.clear();
  append_shutdown_event(batch_, reason, 0);
  write_batch(batch_, 1);
  sync_after_write(true);
  queue_.finish_journal(journal_state::finished);
  if (resolver_) resolver_->save_baseline();
  return true;
}

void event_pipeline::finish_observer(std::chrono::milliseconds deadline) noexcept {
  if (!observer_) return;
  // Everything written so far goes out (within the deadline); a failure of
  // that last export is recorded here, before sensor_shutdown, as the
  // pipeline no longer takes events.
  observer_->shutdown(deadline);
  try {
    for (const auto& message : observer_->take_unreported_faults()) pending_faults_.push_back(message);
  } catch (...) {
  }
  if (pending_faults_.empty()) return;
  batch_.clear();
  const std::size_t lines = compose_faults(batch_, observer_->name());
  write_batch(batch_, lines);
}

std::size_t event_pipeline::compose_faults(std::string& batch, const char* where) noexcept {
  std::size_t lines = 0;
  for (const auto& message : pending_faults_) {
    std::string attrs;
    try {
      json_writer w(attrs);
      w.key("where");
      w.string(where);
      w.key("message");
      w.string(message);
    } catch (...) {
      continue;
    }
    record_view r;
    r.name = "python_internal_exception";
    r.ts_ns = wall_time_ns();
    r.attributes = attrs;
    if (compose(r, batch)) ++lines;
  }
  pending_faults_.clear();
  // The writer's own events count as emitted, so that emitted = written +
  // dropped + filtered holds in sensor_shutdown.
  emitted_by_writer_.fetch_add(lines, std::memory_order_relaxed);
  return lines;
}

void event_pipeline::drain_locked() noexcept {
  const taken_records taken = queue_.take();
  // Said until a batch saying it is on disk: a full file system drops the
  // first batches that would.
  if (queue_.memory().take_degraded()) journal_fault_unwritten_ = true;
  if (journal_fault_unwritten_) {
    try {
      pending_faults_.emplace_back(
          "the journal's file system is full: events are kept in memory until written from now on "
          "(a SIGKILL can lose the last flush interval)");
    } catch (...) {
    }
  }
  if (taken.empty() && pending_faults_.empty()) return;
  const std::uint64_t written_before = written_.load(std::memory_order_relaxed);
  batch_.clear();
  // Faults the sink reported since the last batch become events of their own.
  std::size_t lines = compose_faults(batch_, "spool");
  event_queue::for_each(taken.data, taken.size, [&](const record_view& r, std::uint64_t& id) {
    const std::uint64_t assigned = next_event_id_;
    if (compose(r, batch_)) {
      ++lines;
      id = assigned;  // in the journal: a recovery knows the record was handled
    } else {
      id = event_queue::kFilteredId;
    }
  });
  write_batch(batch_, lines);
  if (written_.load(std::memory_order_relaxed) > written_before) journal_fault_unwritten_ = false;
  sync_after_write(false);
}

void event_pipeline::sync_after_write(bool final) noexcept {
  switch (options_.fsync) {
    case spool_fsync::never:
      return;
    case spool_fsync::always:
      sink_->sync();
      return;
    case spool_fsync::interval: {
      const std::int64_t now = monotonic_ns();
      if (!final && now < next_sync_ns_) return;
      sink_->sync();
      next_sync_ns_ = now + (options_.fsync_interval.count() * 1'000'000);
      return;
    }
  }
}

void event_pipeline::set_observer(std::unique_ptr<batch_observer> observer,
                                  std::chrono::milliseconds shutdown_timeout) noexcept {
  observer_ = std::move(observer);
  observer_shutdown_timeout_ = shutdown_timeout;
}

void event_pipeline::write_batch(std::string& batch, std::size_t lines) noexcept {
  if (lines == 0) return;
  if (observer_) observer_->offer(batch);
  if (options_.mirror_to_stderr) (void)write_all(STDERR_FILENO, batch.data(), batch.size());
  const auto res = sink_->write(batch, lines);
  // Written or dropped: either way a recovery must not write these again.
  queue_.memory().header().written_id.store(next_event_id_ - 1, std::memory_order_release);
  written_.fetch_add(res.written_lines, std::memory_order_relaxed);
  dropped_sink_.fetch_add(res.dropped_lines, std::memory_order_relaxed);
  if (!res.fault.empty()) {
    if (on_fault_ != nullptr) on_fault_(res.fault);
    try {
      if (pending_faults_.size() < 16) pending_faults_.push_back(res.fault);
    } catch (...) {
    }
  }
}

bool event_pipeline::compose(const record_view& r, std::string& batch) noexcept {
  switch (composer_.compose(r, next_event_id_, batch, resolver_.get())) {
    case event_composer::outcome::line:
      ++next_event_id_;
      return true;
    case event_composer::outcome::filtered:
      filtered_.fetch_add(1, std::memory_order_relaxed);
      return false;
    case event_composer::outcome::failed:
      // Out of memory while composing: the record is lost and counted.
      dropped_sink_.fetch_add(1, std::memory_order_relaxed);
      return false;
  }
  return false;
}

void event_pipeline::append_shutdown_event(std::string& batch, const std::string& reason, int signo) noexcept {
  try {
    const pipeline_counters c = counters();
    std::string attrs;
    json_writer w(attrs);
    w.key("reason");
    w.string(reason);
    if (signo != 0) {
      w.key("signal");
      w.integer(signo);
    }
    w.key("emitted");
    w.unsigned_integer(c.emitted);
    w.key("written");
    w.unsigned_integer(c.written);
    w.key("dropped");
    w.unsigned_integer(c.dropped_queue + c.dropped_sink);
    w.key("dropped_queue_full");
    w.unsigned_integer(c.dropped_queue);
    w.key("dropped_spool");
    w.unsigned_integer(c.dropped_sink);
    w.key("filtered");
    w.unsigned_integer(c.filtered);
    w.key("uptime_ms");
    w.integer((wall_time_ns() - identity_.start_ns) / 1'000'000);
    if (options_.redactions != nullptr) {
      // Values redacted, by rule (docs/redaction.md); {} when none.
      w.key("redacted");
      w.begin_object();
      for (const auto& [rule, n] : options_.redactions->counts()) {
        w.key(secret_rule_name(rule));
        w.unsigned_integer(n);
      }
      w.end_object();
    }
    // Final: the observer has stopped (this event itself stays in the spool).
    if (observer_) observer_->describe(w);
    record_view r;
    r.name = "sensor_shutdown";
    r.type = event_type::sensor_lifecycle;
    r.ts_ns = wall_time_ns();
    r.attributes = attrs;
    compose(r, batch);
  } catch (...) {
  }
}

pipeline_counters event_pipeline::counters() const noexcept {
  pipeline_counters c;
  c.emitted = queue_.pushed() + emitted_by_writer_.load(std::memory_order_relaxed);
  c.dropped_queue = queue_.dropped();
  c.written = written_.load(std::memory_order_relaxed);
  c.dropped_sink = dropped_sink_.load(std::memory_order_relaxed);
  c.filtered = filtered_.load(std::memory_order_relaxed);
  return c;
}

void event_pipeline::prepare_fork() noexcept {
  // After shutdown nothing drains any more and the observer is finished:
  // leave both alone. shut_down_ may change from here on; what the parent
  // and child handlers release or rebuild is what fork_holder_ says.
  if (shut_down_.load()) return;
  flush(std::chrono::milliseconds(500));
  io_mutex_.lock();
  queue_.lock_for_fork();
  if (observer_) observer_->prepare_fork();
  fork_holder_.store(std::this_thread::get_id());
}

void event_pipeline::after_fork_parent() noexcept {
  if (fork_holder_.load() != std::this_thread::get_id()) return;
  // Cleared before the unlock: the next fork's prepare sets it under the lock.
  fork_holder_.store(std::thread::id());
  if (observer_) observer_->after_fork_parent();
  queue_.unlock_after_fork();
  io_mutex_.unlock();
}

bool event_pipeline::after_fork_child(const process_identity& identity) noexcept {
  // The forking thread keeps its id in the child. Not holding the locks
  // means prepare found the pipeline shut down: touch nothing.
  if (fork_holder_.load() != std::this_thread::get_id()) return false;
  fork_holder_.store(std::thread::id());
  // One thread exists now; the parent's writer is gone. Rebuild the locks in
  // place (the prepare handler held them), forget the writer thread without
  // touching it, and start clean.
  new (&io_mutex_) std::mutex();
  new (&flush_mutex_) std::mutex();
  new (&flush_cv_) std::condition_variable();
  queue_.reset_in_child();
  (void)thread_.release();  // the parent's thread object; leaked on purpose
  running_.store(false);
  stop_.store(false);
  fatal_signal_.store(0);
  fatal_done_.store(false);
  flush_requested_ = 0;
  flush_done_ = 0;
  next_event_id_ = 1;
  written_.store(0);
  emitted_by_writer_.store(0);
  dropped_sink_.store(0);
  filtered_.store(0);
  pending_faults_.clear();
  if (wake_fd_ >= 0) ::close(wake_fd_);
  make_wake_fd();
  options_.sweep = false;  // the parent sweeps
  sweep_left_.clear();
  journal_fault_unwritten_ = false;
  journal_tried_ = false;  // the child's own journal is made when its writer starts
  try {
    identity_ = identity;
    composer_.set_identity(identity_);
  } catch (...) {
  }
  sink_->reset_in_child(identity_.pid, identity_.start_ns);
  return true;
}

}  // namespace bluepython
