// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/event_sink.hpp"

namespace bluepython::testing {

// A sink that keeps every line in memory, counts writes, and can be slowed
// down or made to fail, to drive the pipeline tests.
class test_sink final : public event_sink {
 public:
  result write(std::string_view data, std::size_t lines) noexcept override {
    if (const int ms = delay_ms.load(); ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    writes.fetch_add(1);
    result r;
    if (fail.load()) {
      r.dropped_lines = lines;
      r.fault = "test sink refuses";
      return r;
    }
    std::lock_guard lock(mutex);
    std::size_t start = 0;
    while (start < data.size()) {
      const auto nl = data.find('\n', start);
      lines_.emplace_back(data.substr(start, nl - start));
      start = nl + 1;
    }
    r.written_lines = lines;
    return r;
  }
  void reset_in_child(int, std::int64_t) noexcept override {}
  [[nodiscard]] std::string location() const override { return "memory"; }

  std::vector<std::string> lines() {
    std::lock_guard lock(mutex);
    return lines_;
  }

  std::atomic<int> delay_ms{0};
  std::atomic<bool> fail{false};
  std::atomic<int> writes{0};

 private:
  std::mutex mutex;
  std::vector<std::string> lines_;
};

}  // namespace bluepython::testing
