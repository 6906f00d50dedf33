// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace bluepython::otlp {

using http_headers = std::vector<std::pair<std::string, std::string>>;

// POSTs OTLP/HTTP protobuf bodies with libcurl, which is loaded with dlopen
// on the first request (a process that never exports never loads it). One
// connection is kept alive between requests. Retries what the OTLP spec
// calls retryable (connection failures, 429, 502, 503, 504) with
// exponential backoff and jitter, honouring Retry-After.
//
// cancel_at() is how shutdown bounds it: from then on no transfer or
// backoff wait outlives the given time (an in-flight transfer is aborted
// there, not at its own timeout) and a failed attempt is not retried.
class http_client {
 public:
  using clock = std::chrono::steady_clock;

  http_client(http_headers headers, std::uint32_t timeout_ms) : headers_(std::move(headers)), timeout_ms_(timeout_ms) {}
  // Closes the kept-alive connection. Owner thread, with no post() running.
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  struct outcome {
    bool ok = false;
    std::string error;  // why not (the last attempt's failure), when !ok
  };

  // Sends `body` to `url` (one request, retried as above) and returns when
  // it succeeds, is rejected, or `deadline` or the cancel time passes.
  // Owner thread only (one post at a time); never throws.
  outcome post(const std::string& url, const std::string& body, clock::time_point deadline) noexcept;

  // Any thread, any time: nothing runs past `deadline` from now on (the
  // earlier of it and any previous cancel time counts) and failed attempts
  // are no longer retried.
  void cancel_at(clock::time_point deadline) noexcept;

  // fork(2), from the forking thread's prepare / parent / child handlers:
  // prepare waits for a libcurl load in progress on another thread (a child
  // could not finish it) and holds further ones off until parent or child.
  // Clients made before the fork must not be used (nor destroyed) in the child.
  static void prepare_fork() noexcept;
  static void after_fork_parent() noexcept;
  static void after_fork_child() noexcept;

 private:
  // One attempt on the easy handle, ended at `until` or the cancel time; a CURLcode.
  int perform(void* easy, clock::time_point until) noexcept;
  [[nodiscard]] clock::time_point cancel_time() const noexcept;

  http_headers headers_;
  std::uint32_t timeout_ms_;
  void* easy_ = nullptr;  // CURL*: set by the owner under mutex_, then owner thread only

  mutable std::mutex mutex_;
  std::condition_variable cv_;               // wakes a backoff wait on cancel
  bool cancelled_ = false;                   // guarded by mutex_
  clock::time_point cancel_{clock::time_point::max()};  // guarded by mutex_
  void* multi_ = nullptr;      // CURLM*: set by the owner under mutex_, woken by cancel_at
  const void* api_ = nullptr;  // the loaded curl_api: set with multi_
};

}  // namespace bluepython::otlp
