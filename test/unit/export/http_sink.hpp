// SPDX-License-Identifier: Apache-2.0
#pragma once

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

namespace bluepython::test {

// A loopback HTTP/1.1 endpoint that answers every request with `status`
// and keeps each request (headers and body). Enough for libcurl's POSTs.
// Each connection is served on a thread of its own: a connection kept alive
// (or inherited by a forked child) never holds up another.
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
    thread_ = std::thread([this] { accept_loop(); });
  }
  ~http_sink() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    {
      std::lock_guard lock(mutex_);
      for (const int c : connections_) ::shutdown(c, SHUT_RDWR);  // kept-alive ones
    }
    for (auto& t : served_) t.join();
    for (const int c : connections_) ::close(c);
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
  void accept_loop() {
    while (!stop_) {
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) return;
      std::lock_guard lock(mutex_);
      connections_.push_back(c);
      served_.emplace_back([this, c] { serve(c); });
    }
  }

  void serve(int c) {
    std::string data;
    std::vector<char> buf(65536);
    for (;;) {  // requests on this connection (curl keeps it alive)
      std::size_t header_end = 0;
      while ((header_end = data.find("\r\n\r\n")) == std::string::npos) {
        const ssize_t n = ::recv(c, buf.data(), buf.size(), 0);
        if (n <= 0) break;
        data.append(buf.data(), static_cast<std::size_t>(n));
      }
      if (header_end == std::string::npos) break;
      std::size_t length = 0;
      if (const auto at = data.find("Content-Length: "); at != std::string::npos && at < header_end) {
        length = std::stoul(data.substr(at + 16));
      }
      while (data.size() < header_end + 4 + length) {
        const ssize_t n = ::recv(c, buf.data(), buf.size(), 0);
        if (n <= 0) break;
        data.append(buf.data(), static_cast<std::size_t>(n));
      }
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(data.substr(0, header_end + 4 + length));
      }
      data.erase(0, std::min(data.size(), header_end + 4 + length));
      const std::string reply = "HTTP/1.1 " + std::to_string(status_) + " X\r\nContent-Length: 0\r\n\r\n";
      if (::send(c, reply.data(), reply.size(), MSG_NOSIGNAL) < 0) break;
    }
    // Closed at destruction (after the shutdown above), so the number is not reused meanwhile.
  }

  int status_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::vector<int> connections_;     // guarded by mutex_
  std::vector<std::thread> served_;  // guarded by mutex_ until thread_ is joined
  std::vector<std::string> requests_;
};

}  // namespace bluepython::test
