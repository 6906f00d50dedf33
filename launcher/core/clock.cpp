// SPDX-License-Identifier: Apache-2.0
#include "clock.hpp"

#include <time.h>

#include <cstdio>

namespace bluepython {

std::int64_t wall_time_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::int64_t monotonic_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void append_rfc3339(std::string& out, std::int64_t ns) {
  // The date part changes once a second; cache it per thread.
  thread_local std::int64_t cached_second = -1;
  thread_local char cached[64];
  const std::int64_t second = ns / 1'000'000'000;
  const auto micros = static_cast<long>((ns % 1'000'000'000) / 1000);
  if (second != cached_second) {
    const auto t = static_cast<time_t>(second);
    tm parts{};
    gmtime_r(&t, &parts);
    (void)std::snprintf(cached, sizeof cached, "%04d-%02d-%02dT%02d:%02d:%02d", parts.tm_year + 1900,
                  parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec);
    cached_second = second;
  }
  char frac[16];
  const int n = std::snprintf(frac, sizeof frac, ".%06ldZ", micros);
  out.append(cached, 19);
  out.append(frac, static_cast<std::size_t>(n));
}

}  // namespace bluepython
