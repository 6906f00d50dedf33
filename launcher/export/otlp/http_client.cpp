// SPDX-License-Identifier: Apache-2.0
#include "export/otlp/http_client.hpp"

#include <dlfcn.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <new>
#include <string_view>

#include <curl/curl.h>
#include <fmt/format.h>

#include "pipeline/clock.hpp"
#include "pipeline/fd_util.hpp"
#include "version.hpp"

namespace bluepython::otlp {
namespace {

// libcurl, loaded on first use (libcurl4 is not linked: a process that does
// not export never pays for loading it and its dependencies).
struct curl_api {
  bool loaded = false;
  CURLcode (*global_init)(long) = nullptr;
  CURL* (*easy_init)() = nullptr;
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...) = nullptr;
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...) = nullptr;
  void (*easy_cleanup)(CURL*) = nullptr;
  void (*easy_reset)(CURL*) = nullptr;
  const char* (*easy_strerror)(CURLcode) = nullptr;
  curl_slist* (*slist_append)(curl_slist*, const char*) = nullptr;
  void (*slist_free_all)(curl_slist*) = nullptr;
  // The multi interface runs one transfer at a time: unlike easy_perform,
  // its wait can be woken (curl_multi_wakeup, libcurl 7.68) by shutdown.
  CURLM* (*multi_init)() = nullptr;
  CURLMcode (*multi_add_handle)(CURLM*, CURL*) = nullptr;
  CURLMcode (*multi_remove_handle)(CURLM*, CURL*) = nullptr;
  CURLMcode (*multi_perform)(CURLM*, int*) = nullptr;
  CURLMcode (*multi_poll)(CURLM*, curl_waitfd*, unsigned int, int, int*) = nullptr;
  CURLMcode (*multi_wakeup)(CURLM*) = nullptr;
  CURLMsg* (*multi_info_read)(CURLM*, int*) = nullptr;
  CURLMcode (*multi_cleanup)(CURLM*) = nullptr;
};

// The sockets of our connections, like every descriptor of ours, go above
// the range the app's own open()/socket()/pipe() get (pipeline/fd_util.hpp).
curl_socket_t open_high_socket(void* /*clientp*/, curlsocktype /*purpose*/, curl_sockaddr* address) {
  const int fd = ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  return fd < 0 ? CURL_SOCKET_BAD : move_high(fd);
}

bool load_symbols(void* lib, curl_api& api) {
  auto sym = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(lib, name));
    return fn != nullptr;
  };
  return sym(api.global_init, "curl_global_init") && sym(api.easy_init, "curl_easy_init") &&
         sym(api.easy_setopt, "curl_easy_setopt") && sym(api.easy_getinfo, "curl_easy_getinfo") &&
         sym(api.easy_cleanup, "curl_easy_cleanup") && sym(api.easy_reset, "curl_easy_reset") &&
         sym(api.easy_strerror, "curl_easy_strerror") && sym(api.slist_append, "curl_slist_append") &&
         sym(api.slist_free_all, "curl_slist_free_all") && sym(api.multi_init, "curl_multi_init") &&
         sym(api.multi_add_handle, "curl_multi_add_handle") &&
         sym(api.multi_remove_handle, "curl_multi_remove_handle") &&
         sym(api.multi_perform, "curl_multi_perform") && sym(api.multi_poll, "curl_multi_poll") &&
         sym(api.multi_wakeup, "curl_multi_wakeup") && sym(api.multi_info_read, "curl_multi_info_read") &&
         sym(api.multi_cleanup, "curl_multi_cleanup");
}

// Guards the one load (dlopen and curl_global_init) and, through the fork
// handlers, keeps a fork from splitting it: a child must never inherit a
// half-loaded libcurl (it crashes in curl_global_init). Recursive: two
// exporters' prepare handlers may take it in the same forking thread.
std::recursive_mutex g_load_mutex;
curl_api g_api;
std::string g_load_error;
bool g_load_attempted = false;

void load_once() {
  void* lib = ::dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = ::dlerror();
    g_load_error = fmt::format("cannot load libcurl.so.4 ({}); install libcurl4", why != nullptr ? why : "unknown");
    return;
  }
  if (!load_symbols(lib, g_api)) {
    g_load_error = "libcurl.so.4 lacks an expected function (7.68 or later is needed)";
    return;
  }
  // Not CURL_GLOBAL_ALL's signal handling: we never want SIGPIPE handlers or
  // alarms from it in the app's process.
  if (g_api.global_init(CURL_GLOBAL_SSL) != CURLE_OK) {
    g_load_error = "curl_global_init failed";
    return;
  }
  g_api.loaded = true;
}

// Loads it once per process; a failure is remembered (and returned in `error`).
const curl_api* load_curl(std::string& error) {
  std::lock_guard lock(g_load_mutex);
  if (!g_load_attempted) {
    g_load_attempted = true;
    load_once();
  }
  error = g_load_error;
  return g_api.loaded ? &g_api : nullptr;
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
      const long seconds = std::strtol(std::string(line.substr(name.size())).c_str(), nullptr, 10);
      if (seconds > 0) *static_cast<long*>(user) = seconds;
    }
  }
  return n;
}

long millis_until(http_client::clock::time_point t, http_client::clock::time_point now) {
  if (t <= now) return 0;
  return static_cast<long>(std::min<std::int64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(t - now).count(), 1'000'000'000));
}

}  // namespace

void http_client::prepare_fork() noexcept { g_load_mutex.lock(); }

void http_client::after_fork_parent() noexcept { g_load_mutex.unlock(); }

void http_client::after_fork_child() noexcept { new (&g_load_mutex) std::recursive_mutex(); }

http_client::~http_client() {
  const auto* api = static_cast<const curl_api*>(api_);
  if (api == nullptr) return;
  std::lock_guard lock(mutex_);
  if (easy_ != nullptr) api->easy_cleanup(static_cast<CURL*>(easy_));  // closes the kept-alive connection
  if (multi_ != nullptr) api->multi_cleanup(static_cast<CURLM*>(multi_));
}

void http_client::cancel_at(clock::time_point deadline) noexcept {
  {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
    cancel_ = std::min(cancel_, deadline);
    // The transfer's wait sees the new time at once (curl_multi_wakeup is
    // thread-safe; multi_ only changes under this lock).
    if (multi_ != nullptr) (void)static_cast<const curl_api*>(api_)->multi_wakeup(static_cast<CURLM*>(multi_));
  }
  cv_.notify_all();
}

http_client::clock::time_point http_client::cancel_time() const noexcept {
  std::lock_guard lock(mutex_);
  return cancel_;
}

int http_client::perform(void* easy_handle, clock::time_point until) noexcept {
  const curl_api& api = *static_cast<const curl_api*>(api_);
  auto* multi = static_cast<CURLM*>(multi_);
  auto* easy = static_cast<CURL*>(easy_handle);
  if (api.multi_add_handle(multi, easy) != CURLM_OK) return CURLE_FAILED_INIT;
  CURLcode result = CURLE_OPERATION_TIMEDOUT;
  for (;;) {
    int running = 0;
    if (api.multi_perform(multi, &running) != CURLM_OK) {
      result = CURLE_FAILED_INIT;
      break;
    }
    bool done = false;
    int left = 0;
    while (const CURLMsg* msg = api.multi_info_read(multi, &left)) {
      if (msg->msg == CURLMSG_DONE) {
        result = msg->data.result;
        done = true;
      }
    }
    if (done || running == 0) break;
    const auto now = clock::now();
    const auto end = std::min(until, cancel_time());
    if (now >= end) break;  // timed out, or shutdown's time is up: abort the transfer
    // Sleeps until there is something to do, curl's own timers, `end`, or a
    // wakeup from cancel_at.
    (void)api.multi_poll(multi, nullptr, 0, static_cast<int>(std::clamp(millis_until(end, now), 1L, 60'000L)), nullptr);
  }
  (void)api.multi_remove_handle(multi, easy);
  return result;
}

http_client::outcome http_client::post(const std::string& url, const std::string& body,
                                       clock::time_point deadline) noexcept {
  outcome out;
  try {
    const curl_api* api = load_curl(out.error);
    if (api == nullptr) return out;
    if (multi_ == nullptr) {
      CURL* easy = api->easy_init();
      CURLM* multi = api->multi_init();
      std::lock_guard lock(mutex_);
      api_ = api;
      easy_ = easy;
      multi_ = multi;
    }
    auto* curl = static_cast<CURL*>(easy_);
    if (curl == nullptr || multi_ == nullptr) {
      out.error = "curl_easy_init failed";
      return out;
    }
    struct slist_guard {
      const curl_api* api;
      curl_slist* list = nullptr;
      ~slist_guard() { api->slist_free_all(list); }
    } headers{api};
    headers.list = api->slist_append(nullptr, "Content-Type: application/x-protobuf");
    for (const auto& [name, value] : headers_) {
      if (curl_slist* more = api->slist_append(headers.list, fmt::format("{}: {}", name, value).c_str())) {
        headers.list = more;
      }
    }
    const std::string user_agent = std::string("bluepython/") + kVersion;
    std::chrono::milliseconds backoff(250);
    for (;;) {
      const auto now = clock::now();
      const auto end = std::min(deadline, cancel_time());
      if (now >= end) {
        if (out.error.empty()) out.error = "export deadline passed";
        break;
      }
      const long timeout = std::min<long>(millis_until(end, now), static_cast<long>(timeout_ms_));
      long retry_after = 0;
      api->easy_reset(curl);
      api->easy_setopt(curl, CURLOPT_URL, url.c_str());
      api->easy_setopt(curl, CURLOPT_POST, 1L);
      api->easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
      api->easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
      api->easy_setopt(curl, CURLOPT_HTTPHEADER, headers.list);
      api->easy_setopt(curl, CURLOPT_TIMEOUT_MS, std::max(timeout, 1L));
      api->easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, std::max(std::min(timeout, 5000L), 1L));
      api->easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
      api->easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, &open_high_socket);
      api->easy_setopt(curl, CURLOPT_WRITEFUNCTION, &discard_body);
      api->easy_setopt(curl, CURLOPT_HEADERFUNCTION, &header_line);
      api->easy_setopt(curl, CURLOPT_HEADERDATA, &retry_after);
      api->easy_setopt(curl, CURLOPT_USERAGENT, user_agent.c_str());
      const auto rc = static_cast<CURLcode>(perform(curl, now + std::chrono::milliseconds(std::max(timeout, 1L))));
      long status = 0;
      if (rc == CURLE_OK) api->easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
      if (rc == CURLE_OK && status >= 200 && status < 300) {
        out.ok = true;
        out.error.clear();
        break;
      }
      out.error = rc != CURLE_OK ? fmt::format("{} ({})", api->easy_strerror(rc), url)
                                 : fmt::format("HTTP {} from {}", status, url);
      const bool retryable = rc != CURLE_OK || status == 429 || status == 502 || status == 503 || status == 504;
      if (!retryable) break;
      auto wait = retry_after > 0 ? std::chrono::milliseconds(retry_after * 1000) : backoff;
      wait += std::chrono::milliseconds(static_cast<std::int64_t>(wall_time_ns() % 100));  // jitter
      std::unique_lock lock(mutex_);
      // Shutdown started: what failed is not tried again (its time is for what is queued).
      if (cancelled_ || clock::now() + wait >= std::min(deadline, cancel_)) break;
      if (cv_.wait_for(lock, wait, [this] { return cancelled_; })) break;
      backoff = std::min(backoff * 2, std::chrono::milliseconds(8000));
    }
  } catch (...) {
    out.ok = false;
    out.error = "out of memory";
  }
  return out;
}

}  // namespace bluepython::otlp
