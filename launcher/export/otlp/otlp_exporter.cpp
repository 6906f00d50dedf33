// SPDX-License-Identifier: Apache-2.0
#include "export/otlp/otlp_exporter.hpp"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstring>
#include <new>

#include <curl/curl.h>
#include <fmt/format.h>

#include "pipeline/clock.hpp"
#include "version.hpp"

namespace bluepython {
namespace {

// libcurl, loaded on first use (libcurl4 is not linked: a process that does
// not export never pays for loading it and its dependencies).
struct curl_api {
  bool loaded = false;
  CURLcode (*global_init)(long) = nullptr;
  CURL* (*easy_init)() = nullptr;
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...) = nullptr;
  CURLcode (*easy_perform)(CURL*) = nullptr;
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...) = nullptr;
  void (*easy_cleanup)(CURL*) = nullptr;
  void (*easy_reset)(CURL*) = nullptr;
  const char* (*easy_strerror)(CURLcode) = nullptr;
  curl_slist* (*slist_append)(curl_slist*, const char*) = nullptr;
  void (*slist_free_all)(curl_slist*) = nullptr;
};

// Loads it once per process; a failure is remembered (and reported by the caller).
const curl_api* load_curl(std::string& error) {
  static curl_api api;
  static std::string load_error;
  static std::once_flag once;
  std::call_once(once, [] {
    void* lib = ::dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      const char* why = ::dlerror();
      load_error = fmt::format("cannot load libcurl.so.4 ({}); install libcurl4", why != nullptr ? why : "unknown");
      return;
    }
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(lib, name));
      return fn != nullptr;
    };
    if (!(sym(api.global_init, "curl_global_init") && sym(api.easy_init, "curl_easy_init") &&
          sym(api.easy_setopt, "curl_easy_setopt") && sym(api.easy_perform, "curl_easy_perform") &&
          sym(api.easy_getinfo, "curl_easy_getinfo") && sym(api.easy_cleanup, "curl_easy_cleanup") &&
          sym(api.easy_reset, "curl_easy_reset") && sym(api.easy_strerror, "curl_easy_strerror") &&
          sym(api.slist_append, "curl_slist_append") && sym(api.slist_free_all, "curl_slist_free_all"))) {
      load_error = "libcurl.so.4 lacks an expected function";
      return;
    }
    // Not CURL_GLOBAL_ALL's signal handling: we never want SIGPIPE handlers or
    // alarms from it in the app's process.
    if (api.global_init(CURL_GLOBAL_SSL) != CURLE_OK) {
      load_error = "curl_global_init failed";
      return;
    }
    api.loaded = true;
  });
  error = load_error;
  return api.loaded ? &api : nullptr;
}

std::size_t discard_body(char* /*ptr*/, std::size_t size, std::size_t count, void* /*user*/) { return size * count; }

// The Retry-After response header (seconds), if any.
std::size_t header_line(char* data, std::size_t size, std::size_t count, void* user) {
  const std::size_t n = size * count;
  std::string_view line(data, n);
  constexpr std::string_view name = "retry-after:";
  if (line.size() > name.size()) {
    std::string lower(line.substr(0, name.size()));
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == name) {
      long seconds = std::strtol(std::string(line.substr(name.size())).c_str(), nullptr, 10);
      if (seconds > 0) *static_cast<long*>(user) = seconds;
    }
  }
  return n;
}

}  // namespace

otlp_exporter::otlp_exporter(otlp_settings settings, warn_fn warn)
    : settings_(std::move(settings)), warn_(std::move(warn)), mapper_(settings_.capture_tool_io) {}

otlp_exporter::~otlp_exporter() { shutdown(std::chrono::milliseconds(0)); }

void otlp_exporter::start_locked() noexcept {
  if (thread_ || stop_) return;
  try {
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);  // signals go to the app's threads
    thread_ = std::make_unique<std::thread>([this] { loop(); });
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
  next_metrics_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(settings_.metric_interval_ms);
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
      deadline = stopping ? deadline_
                          : std::chrono::steady_clock::now() + std::chrono::milliseconds(settings_.timeout_ms) * 3;
    }
    const bool metrics = stopping || std::chrono::steady_clock::now() >= next_metrics_;
    export_pending(lines, metrics, deadline);
    lines.clear();
    if (metrics) next_metrics_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(settings_.metric_interval_ms);
    if (stopping) break;
  }
  // Done: the handle's kept-alive connections are closed.
  std::string error;
  if (const curl_api* api = curl_ != nullptr ? load_curl(error) : nullptr; api != nullptr) {
    api->easy_cleanup(static_cast<CURL*>(curl_));
  }
  curl_ = nullptr;
}

void otlp_exporter::export_pending(std::vector<std::string>& batches, bool metrics,
                                   std::chrono::steady_clock::time_point deadline) noexcept {
  try {
    for (const auto& batch : batches) {
      std::string_view rest(batch);
      while (!rest.empty()) {
        const auto end = rest.find('\n');
        const std::string_view line = rest.substr(0, end);
        if (!line.empty()) mapper_.add(line);
        if (end == std::string_view::npos) break;
        rest.remove_prefix(end + 1);
      }
    }
    const otlp::scope_info scope{"bluepython", kVersion};
    auto logs = mapper_.take_logs();
    auto spans = mapper_.take_spans();
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
        if (!post(settings_.logs_url, otlp::encode_logs(settings_.resource, scope, part), deadline)) {
          dropped_.fetch_add(n, std::memory_order_relaxed);
        }
      }
    }
    if (!settings_.traces_url.empty()) {
      for (std::size_t at = 0; at < spans.size(); at += kBatch) {
        const std::size_t n = std::min(kBatch, spans.size() - at);
        std::vector<otlp::span> part(std::make_move_iterator(spans.begin() + static_cast<std::ptrdiff_t>(at)),
                                     std::make_move_iterator(spans.begin() + static_cast<std::ptrdiff_t>(at + n)));
        if (!post(settings_.traces_url, otlp::encode_traces(settings_.resource, scope, part), deadline)) {
          dropped_.fetch_add(n, std::memory_order_relaxed);
        }
      }
    }
    if (metrics && !settings_.metrics_url.empty() && mapper_.has_metrics()) {
      (void)post(settings_.metrics_url,
                 otlp::encode_metrics(settings_.resource, scope, mapper_.histograms(static_cast<std::uint64_t>(wall_time_ns()))),
                 deadline);
    }
  } catch (...) {
    // Out of memory: this round is lost (counted by what did not post).
  }
}

bool otlp_exporter::post(const std::string& url, const std::string& body,
                         std::chrono::steady_clock::time_point deadline) noexcept {
  std::string error;
  const curl_api* api = load_curl(error);
  if (api == nullptr) {
    fail(error, 0);
    return false;
  }
  if (curl_ == nullptr) curl_ = api->easy_init();
  auto* curl = static_cast<CURL*>(curl_);
  if (curl == nullptr) {
    fail("curl_easy_init failed", 0);
    return false;
  }
  curl_slist* headers = api->slist_append(nullptr, "Content-Type: application/x-protobuf");
  for (const auto& [name, value] : settings_.headers) {
    headers = api->slist_append(headers, fmt::format("{}: {}", name, value).c_str());
  }
  // Exponential backoff with jitter for what the OTLP spec calls retryable
  // (429, 502, 503, 504, connection failures), Retry-After honoured, all
  // within the deadline.
  const std::string user_agent = std::string("bluepython/") + kVersion;
  std::chrono::milliseconds backoff(250);
  std::string last;
  bool ok = false;
  for (int attempt = 0;; ++attempt) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    const long timeout = static_cast<long>(std::min<std::int64_t>(left.count(), settings_.timeout_ms));
    long retry_after = 0;
    api->easy_reset(curl);
    api->easy_setopt(curl, CURLOPT_URL, url.c_str());
    api->easy_setopt(curl, CURLOPT_POST, 1L);
    api->easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    api->easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    api->easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    api->easy_setopt(curl, CURLOPT_TIMEOUT_MS, std::max(timeout, 1L));
    api->easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, std::max(std::min(timeout, 5000L), 1L));
    api->easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    api->easy_setopt(curl, CURLOPT_WRITEFUNCTION, &discard_body);
    api->easy_setopt(curl, CURLOPT_HEADERFUNCTION, &header_line);
    api->easy_setopt(curl, CURLOPT_HEADERDATA, &retry_after);
    api->easy_setopt(curl, CURLOPT_USERAGENT, user_agent.c_str());
    const CURLcode rc = api->easy_perform(curl);
    long status = 0;
    if (rc == CURLE_OK) api->easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_OK && status >= 200 && status < 300) {
      ok = true;
      break;
    }
    const bool retryable = rc != CURLE_OK || status == 429 || status == 502 || status == 503 || status == 504;
    last = rc != CURLE_OK ? fmt::format("{} ({})", api->easy_strerror(rc), url)
                          : fmt::format("HTTP {} from {}", status, url);
    if (!retryable) break;
    auto wait = retry_after > 0 ? std::chrono::milliseconds(retry_after * 1000) : backoff;
    wait += std::chrono::milliseconds(static_cast<std::int64_t>(wall_time_ns() % 100));  // jitter
    if (std::chrono::steady_clock::now() + wait >= deadline) break;
    {
      std::unique_lock lock(mutex_);
      // Woken early only by shutdown (whose own deadline then applies).
      cv_.wait_for(lock, wait, [this] { return stop_; });
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds(8000));
  }
  api->slist_free_all(headers);
  if (ok) {
    sent_.fetch_add(1, std::memory_order_relaxed);
  } else {
    fail(last.empty() ? "export deadline passed" : last, 0);
  }
  return ok;
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
  }
  cv_.notify_all();
  if (thread && thread->joinable()) thread->join();
}

void otlp_exporter::prepare_fork() noexcept { mutex_.lock(); }

void otlp_exporter::after_fork_parent() noexcept { mutex_.unlock(); }

void otlp_exporter::after_fork_child(otlp::attributes resource) noexcept {
  // Only this thread exists: fresh locks; the parent's thread object and
  // curl handle (its connections are the parent's) are let go, not joined or
  // cleaned up.
  new (&mutex_) std::mutex();
  new (&cv_) std::condition_variable();
  (void)thread_.release();
  curl_ = nullptr;
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
    mapper_ = otlp::mapper(settings_.capture_tool_io);
  } catch (...) {
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
