// SPDX-License-Identifier: Apache-2.0
#include "export/otlp/otlp_exporter.hpp"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <new>

#include <fmt/format.h>

#include "pipeline/clock.hpp"
#include "version.hpp"

namespace bluepython {

otlp_exporter::otlp_exporter(otlp_settings settings, warn_fn warn)
    : settings_(std::move(settings)), warn_(std::move(warn)), worker_(make_worker()) {}

std::unique_ptr<otlp_exporter::worker> otlp_exporter::make_worker() const {
  return std::make_unique<worker>(settings_.capture_tool_io, settings_.headers, settings_.timeout_ms);
}

otlp_exporter::~otlp_exporter() { shutdown(std::chrono::milliseconds(0)); }

void otlp_exporter::start_locked() noexcept {
  if (thread_ || stop_) return;
  try {
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);  // signals go to the app's threads
    thread_ = std::make_unique<std::thread>([this] { loop(); });
    (void)::pthread_setname_np(thread_->native_handle(), "bluepython-otlp");  // before anyone counts it
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
  } catch (...) {
    // No thread: nothing is exported (counted as drops as offers come).
  }
}

void otlp_exporter::offer(std::string_view lines) noexcept {
  if (lines.empty()) return;
  const auto count = static_cast<std::uint64_t>(std::count(lines.begin(), lines.end(), '\n'));
  std::lock_guard lock(mutex_);
  if (stop_) return;
  start_locked();
  if (!thread_ || queued_bytes_ + lines.size() > settings_.max_queue_bytes) {
    dropped_.fetch_add(count, std::memory_order_relaxed);
    return;
  }
  try {
    queue_.emplace_back(lines);
    queued_bytes_ += lines.size();
  } catch (...) {
    dropped_.fetch_add(count, std::memory_order_relaxed);
  }
}

void otlp_exporter::loop() noexcept {
  (void)::pthread_setname_np(::pthread_self(), "bluepython-otlp");
  worker& w = *worker_;
  w.next_metrics = std::chrono::steady_clock::now() + std::chrono::milliseconds(settings_.metric_interval_ms);
  std::vector<std::string> lines;
  for (;;) {
    bool stopping = false;
    std::chrono::steady_clock::time_point deadline;
    {
      std::unique_lock lock(mutex_);
      cv_.wait_for(lock, std::chrono::milliseconds(settings_.batch_delay_ms), [this] { return stop_ || flush_now_; });
      lines.swap(queue_);
      queued_bytes_ = 0;
      stopping = stop_;
      flush_now_ = false;
      // A round's own bound; once shutdown starts, the client also ends
      // everything at shutdown's deadline (cancel_at), whichever is earlier.
      deadline = stopping ? deadline_
                          : std::chrono::steady_clock::now() + std::chrono::milliseconds(settings_.timeout_ms) * 3;
    }
    const bool metrics = stopping || std::chrono::steady_clock::now() >= w.next_metrics;
    export_pending(w, lines, metrics, deadline);
    lines.clear();
    if (metrics) w.next_metrics = std::chrono::steady_clock::now() + std::chrono::milliseconds(settings_.metric_interval_ms);
    if (stopping) break;
  }
}

void otlp_exporter::export_pending(worker& w, std::vector<std::string>& batches, bool metrics,
                                   std::chrono::steady_clock::time_point deadline) noexcept {
  otlp::mapper& mapper = w.mapper;
  try {
    for (const auto& batch : batches) {
      std::string_view rest(batch);
      while (!rest.empty()) {
        const auto end = rest.find('\n');
        const std::string_view line = rest.substr(0, end);
        if (!line.empty()) mapper.add(line);
        if (end == std::string_view::npos) break;
        rest.remove_prefix(end + 1);
      }
    }
    const otlp::scope_info scope{"bluepython", kVersion};
    auto logs = mapper.take_logs();
    auto spans = mapper.take_spans();
    if (!server_spans_.load(std::memory_order_relaxed)) {
      spans.erase(std::remove_if(spans.begin(), spans.end(),
                                 [](const otlp::span& s) { return s.kind == otlp::span_kind::server; }),
                  spans.end());
    }
    constexpr std::size_t kBatch = 512;  // records per request
    if (!settings_.logs_url.empty()) {
      for (std::size_t at = 0; at < logs.size(); at += kBatch) {
        const std::size_t n = std::min(kBatch, logs.size() - at);
        std::vector<otlp::log_record> part(std::make_move_iterator(logs.begin() + static_cast<std::ptrdiff_t>(at)),
                                           std::make_move_iterator(logs.begin() + static_cast<std::ptrdiff_t>(at + n)));
        if (!post(w, settings_.logs_url, otlp::encode_logs(settings_.resource, scope, part), deadline)) {
          dropped_.fetch_add(n, std::memory_order_relaxed);
        }
      }
    }
    if (!settings_.traces_url.empty()) {
      for (std::size_t at = 0; at < spans.size(); at += kBatch) {
        const std::size_t n = std::min(kBatch, spans.size() - at);
        std::vector<otlp::span> part(std::make_move_iterator(spans.begin() + static_cast<std::ptrdiff_t>(at)),
                                     std::make_move_iterator(spans.begin() + static_cast<std::ptrdiff_t>(at + n)));
        if (!post(w, settings_.traces_url, otlp::encode_traces(settings_.resource, scope, part), deadline)) {
          dropped_.fetch_add(n, std::memory_order_relaxed);
        }
      }
    }
    if (metrics && !settings_.metrics_url.empty() && mapper.has_metrics()) {
      (void)post(w, settings_.metrics_url,
                 otlp::encode_metrics(settings_.resource, scope, mapper.histograms(static_cast<std::uint64_t>(wall_time_ns()))),
                 deadline);
    }
  } catch (...) {
    // Out of memory: this round is lost (counted by what did not post).
  }
}

bool otlp_exporter::post(worker& w, const std::string& url, const std::string& body,
                         std::chrono::steady_clock::time_point deadline) noexcept {
  otlp::http_client::outcome out = w.client.post(url, body, deadline);
  if (out.ok) {
    sent_.fetch_add(1, std::memory_order_relaxed);
  } else {
    fail(out.error.empty() ? "export deadline passed" : out.error, 0);
  }
  return out.ok;
}

void otlp_exporter::fail(const std::string& message, std::uint64_t events) noexcept {
  failed_.fetch_add(1, std::memory_order_relaxed);
  dropped_.fetch_add(events, std::memory_order_relaxed);
  if (warned_.exchange(true)) return;
  try {
    const std::string text = fmt::format("OTLP export failing: {}; events stay in the spool, export drops are counted",
                                         message);
    if (!warn_ || !warn_(text)) {
      std::lock_guard lock(mutex_);
      unreported_.push_back(text);
    }
  } catch (...) {
  }
}

void otlp_exporter::shutdown(std::chrono::milliseconds deadline) noexcept {
  std::unique_ptr<std::thread> thread;
  {
    std::lock_guard lock(mutex_);
    if (stop_) return;
    stop_ = true;
    deadline_ = std::chrono::steady_clock::now() + deadline;
    thread = std::move(thread_);
    // Bounds the round in progress too (its transfer, its backoff wait):
    // nothing of export outlives the shutdown deadline.
    if (worker_) worker_->client.cancel_at(deadline_);
  }
  cv_.notify_all();
  if (thread && thread->joinable()) thread->join();
}

// Prepare takes the queue's lock and libcurl's load lock, both always (the
// parent and the child release exactly these), never a lock the exporter
// thread holds while mapping or sending: that may last seconds, and fork
// must not wait for it. What the thread changes outside these locks (the
// worker) the child never touches.
void otlp_exporter::prepare_fork() noexcept {
  mutex_.lock();
  otlp::http_client::prepare_fork();
}

void otlp_exporter::after_fork_parent() noexcept {
  otlp::http_client::after_fork_parent();
  mutex_.unlock();
}

void otlp_exporter::after_fork_child(otlp::attributes resource) noexcept {
  // Only this thread exists: fresh locks; the parent's thread object and
  // worker (mapper and client, possibly half-way through a change when the
  // fork came; the client's connections are the parent's) are let go, never
  // joined, destroyed or cleaned up.
  otlp::http_client::after_fork_child();
  new (&mutex_) std::mutex();
  new (&cv_) std::condition_variable();
  (void)thread_.release();
  (void)worker_.release();
  queue_.clear();
  queued_bytes_ = 0;
  stop_ = false;
  flush_now_ = false;
  sent_.store(0);
  failed_.store(0);
  dropped_.store(0);
  warned_.store(false);
  unreported_.clear();
  try {
    settings_.resource = std::move(resource);
    worker_ = make_worker();
  } catch (...) {
    stop_ = true;  // no worker: this process does not export (the spool has everything)
  }
}

std::vector<std::string> otlp_exporter::take_unreported_faults() {
  std::lock_guard lock(mutex_);
  return std::exchange(unreported_, {});
}

void otlp_exporter::describe(json_writer& w) const {
  const otlp_counters c = counters();
  w.key("export");
  w.begin_object();
  w.key("requests_sent");
  w.unsigned_integer(c.sent_requests);
  w.key("requests_failed");
  w.unsigned_integer(c.failed_requests);
  w.key("dropped");
  w.unsigned_integer(c.dropped_events);
  w.end_object();
}

otlp_counters otlp_exporter::counters() const noexcept {
  return {sent_.load(), failed_.load(), dropped_.load()};
}

}  // namespace bluepython
