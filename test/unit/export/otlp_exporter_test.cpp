// SPDX-License-Identifier: Apache-2.0
#include "export/otlp/otlp_exporter.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace bluepython;
using namespace std::chrono_literals;

namespace {

// A loopback HTTP/1.1 endpoint that answers every request with `status`
// and keeps each request (headers and body). Enough for libcurl's POSTs.
class http_sink {
 public:
  explicit http_sink(int status) : status_(status) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    REQUIRE(::listen(fd_, 8) == 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~http_sink() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    if (const int c = connection_.load(); c >= 0) ::shutdown(c, SHUT_RDWR);  // a kept-alive one
    thread_.join();
    ::close(fd_);
  }
  http_sink(const http_sink&) = delete;
  http_sink& operator=(const http_sink&) = delete;

  [[nodiscard]] std::string url(const char* path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  [[nodiscard]] std::vector<std::string> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void serve() {
    while (!stop_) {
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      connection_.store(c);
      if (stop_) ::shutdown(c, SHUT_RDWR);
      std::string data;
      char buf[65536];
      for (;;) {  // requests on this connection (curl keeps it alive)
        std::size_t header_end;
        while ((header_end = data.find("\r\n\r\n")) == std::string::npos) {
          const ssize_t n = ::recv(c, buf, sizeof buf, 0);
          if (n <= 0) break;
          data.append(buf, static_cast<std::size_t>(n));
        }
        if (header_end == std::string::npos) break;
        std::size_t length = 0;
        if (const auto at = data.find("Content-Length: "); at != std::string::npos && at < header_end) {
          length = std::stoul(data.substr(at + 16));
        }
        while (data.size() < header_end + 4 + length) {
          const ssize_t n = ::recv(c, buf, sizeof buf, 0);
          if (n <= 0) break;
          data.append(buf, static_cast<std::size_t>(n));
        }
        {
          std::lock_guard lock(mutex_);
          requests_.push_back(data.substr(0, header_end + 4 + length));
        }
        data.erase(0, header_end + 4 + length);
        const std::string reply = "HTTP/1.1 " + std::to_string(status_) + " X\r\nContent-Length: 0\r\n\r\n";
        if (::send(c, reply.data(), reply.size(), MSG_NOSIGNAL) < 0) break;
      }
      connection_.store(-1);
      ::close(c);
    }
  }

  int status_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connection_{-1};
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> requests_;
};

std::string event_line(int n) {
  return R"({"ts":"2026-11-22T03:03:39.720138Z","event":{"meta":{"name":"python_file_open","type":"event"},)"
         R"("context":{"process":{"pid":1,"ppid":0},"scope":"startup"},"path":"/tmp/f)" +
         std::to_string(n) + R"("}})" + "\n";
}

}  // namespace

TEST_CASE("the exporter posts offered events as OTLP protobuf from its own thread", "[otlp]") {
  http_sink sink(200);
  otlp_settings settings;
  settings.logs_url = sink.url("/v1/logs");
  settings.batch_delay_ms = 20;
  settings.headers = {{"x-team", "blue"}};
  std::vector<std::string> warnings;
  otlp_exporter exporter(settings, [&](const std::string& m) {
    warnings.push_back(m);
    return true;
  });
  // Offers from two threads at once, as the writer and a synchronous drain may.
  std::thread other([&] {
    for (int i = 0; i < 50; ++i) exporter.offer(event_line(i));
  });
  for (int i = 50; i < 100; ++i) exporter.offer(event_line(i));
  other.join();
  exporter.shutdown(5s);
  const auto requests = sink.requests();
  REQUIRE_FALSE(requests.empty());
  for (const auto& r : requests) {
    CHECK(r.rfind("POST /v1/logs HTTP/1.1", 0) == 0);
    CHECK(r.find("Content-Type: application/x-protobuf") != std::string::npos);
    CHECK(r.find("x-team: blue") != std::string::npos);
  }
  std::size_t paths = 0;
  for (const auto& r : requests) {
    for (std::size_t at = r.find("/tmp/f"); at != std::string::npos; at = r.find("/tmp/f", at + 1)) ++paths;
  }
  CHECK(paths == 100);  // every event, once, in a body (the JSON line is the record's body)
  const auto c = exporter.counters();
  CHECK(c.sent_requests == requests.size());
  CHECK(c.failed_requests == 0);
  CHECK(c.dropped_events == 0);
  CHECK(warnings.empty());
}

TEST_CASE("a rejecting collector fails once, warns once, and drops what it refused", "[otlp]") {
  http_sink sink(400);  // not retryable
  otlp_settings settings;
  settings.logs_url = sink.url("/v1/logs");
  settings.batch_delay_ms = 10;
  std::vector<std::string> warnings;
  otlp_exporter exporter(settings, [&](const std::string& m) {
    warnings.push_back(m);
    return false;  // as if the pipeline no longer took events
  });
  for (int i = 0; i < 10; ++i) exporter.offer(event_line(i));
  exporter.shutdown(5s);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("HTTP 400") != std::string::npos);
  const auto unreported = exporter.take_unreported_faults();
  REQUIRE(unreported.size() == 1);
  CHECK(unreported[0] == warnings[0]);
  const auto c = exporter.counters();
  CHECK(c.failed_requests >= 1);
  CHECK(c.dropped_events == 10);
  CHECK(c.sent_requests == 0);
}

TEST_CASE("a full export queue drops and counts instead of waiting", "[otlp]") {
  otlp_settings settings;
  settings.logs_url = "http://127.0.0.1:9/v1/logs";  // discard port: nothing listens
  settings.max_queue_bytes = 64 << 10;
  settings.batch_delay_ms = 60'000;  // nothing leaves the queue meanwhile
  otlp_exporter exporter(settings, [](const std::string&) { return true; });
  const std::string big(1000, 'x');
  for (int i = 0; i < 200; ++i) exporter.offer(big + "\n");  // 200 kB into 64 KiB
  CHECK(exporter.counters().dropped_events >= 130);
  exporter.shutdown(0ms);
}
