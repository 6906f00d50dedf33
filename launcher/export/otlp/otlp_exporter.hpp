// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "export/otlp/http_client.hpp"
#include "export/otlp/otlp_encode.hpp"
#include "export/otlp/otlp_mapper.hpp"
#include "pipeline/batch_observer.hpp"

namespace bluepython {

// Where and how to export (config.hpp fills it from the config file and the
// standard OTEL_* variables). Empty URL: that signal is not exported.
struct otlp_settings {
  std::string logs_url;
  std::string traces_url;
  std::string metrics_url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::uint32_t timeout_ms = 10'000;         // one HTTP request
  std::uint32_t batch_delay_ms = 1'000;      // logs and spans are sent at least this often
  std::uint32_t metric_interval_ms = 60'000; // histograms are sent this often (and at exit)
  std::uint32_t shutdown_timeout_ms = 1'000; // at exit: the most export may delay it
  std::uint64_t max_queue_bytes = 16ULL << 20U;
  bool capture_tool_io = false;              // gen_ai.tool.call.arguments / .result
  otlp::attributes resource;                 // service.name and the rest

  [[nodiscard]] bool enabled() const noexcept {
    return !logs_url.empty() || !traces_url.empty() || !metrics_url.empty();
  }
};

struct otlp_counters {
  std::uint64_t sent_requests = 0;
  std::uint64_t failed_requests = 0;  // gave up after retries, or rejected
  std::uint64_t dropped_events = 0;   // queue full, or their request failed
};

// OTLP/HTTP (protobuf) exporter on a thread of its own. The spool writer
// hands it every batch of event lines it wrote (offer: one copy, bounded,
// never blocks); the exporter maps them (otlp::mapper), batches, and POSTs
// (otlp::http_client: retries, backoff, libcurl loaded on first use). A
// dead or slow collector costs the app nothing: the queue has a
// byte limit, what does not fit is dropped and counted, and a single warning
// goes to stderr (through `warn`).
class otlp_exporter final : public batch_observer {
 public:
  // Told about the first failure (and only that one: one warning, one
  // event); returns whether it could record it. What it could not (the
  // process is shutting down) is kept for take_unreported_faults().
  using warn_fn = std::function<bool(const std::string&)>;
  otlp_exporter(otlp_settings settings, warn_fn warn);
  ~otlp_exporter() override;
  otlp_exporter(const otlp_exporter&) = delete;
  otlp_exporter& operator=(const otlp_exporter&) = delete;

  // Writer thread: a batch of NDJSON lines.
  [[nodiscard]] const char* name() const noexcept override { return "otlp_export"; }
  void offer(std::string_view lines) noexcept override;
  // Sends what is queued (and the histograms) within `deadline`, then stops.
  void shutdown(std::chrono::milliseconds deadline) noexcept override;
  // sensor_shutdown's "export" member: requests sent and failed, events dropped.
  void describe(json_writer& w) const override;

  // fork(2): prepare locks the queue, the parent unlocks it, the child
  // starts over with an empty queue, a fresh mapper and client, and no
  // thread (started again by its first offer). The parent's mapper and
  // client, which its thread may have been changing, are left alone
  // (leaked) in the child: never destroyed there.
  void prepare_fork() noexcept override;
  void after_fork_parent() noexcept override;
  void after_fork_child(otlp::attributes resource) noexcept;

  [[nodiscard]] otlp_counters counters() const noexcept;
  [[nodiscard]] bool exports_traces() const noexcept { return !settings_.traces_url.empty(); }
  // From now on, server spans are not exported (the app's instrumentation makes them).
  void step_aside_server_spans() noexcept { server_spans_.store(false, std::memory_order_relaxed); }
  // After shutdown(): the failure messages warn_fn could not record.
  [[nodiscard]] std::vector<std::string> take_unreported_faults() override;

 private:
  // What only the exporter thread uses (and the child of a fork replaces
  // without destroying: see after_fork_child).
  struct worker {
    worker(bool capture_tool_io, otlp::http_headers headers, std::uint32_t timeout_ms)
        : mapper(capture_tool_io), client(std::move(headers), timeout_ms) {}
    otlp::mapper mapper;
    otlp::http_client client;
    std::chrono::steady_clock::time_point next_metrics{};
  };

  void start_locked() noexcept;
  void loop() noexcept;
  // Maps, encodes and sends; `metrics` also sends the histograms.
  void export_pending(worker& w, std::vector<std::string>& lines, bool metrics,
                      std::chrono::steady_clock::time_point deadline) noexcept;
  bool post(worker& w, const std::string& url, const std::string& body,
            std::chrono::steady_clock::time_point deadline) noexcept;
  void fail(const std::string& message, std::uint64_t events) noexcept;
  [[nodiscard]] std::unique_ptr<worker> make_worker() const;

  otlp_settings settings_;
  warn_fn warn_;
  // Set at construction and in the fork child (single-threaded then); the
  // pointee is the exporter thread's, but for client.cancel_at (any thread).
  std::unique_ptr<worker> worker_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> queue_;  // batches of lines
  std::size_t queued_bytes_ = 0;
  bool stop_ = false;
  bool flush_now_ = false;
  std::unique_ptr<std::thread> thread_;
  std::chrono::steady_clock::time_point deadline_{};  // of the final export

  std::atomic<std::uint64_t> sent_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<bool> warned_{false};
  std::atomic<bool> server_spans_{true};
  std::vector<std::string> unreported_;  // guarded by mutex_
};

}  // namespace bluepython
