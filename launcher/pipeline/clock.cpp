// SPDX-License-Identifier: Apache-2.0
#include "pipeline/clock.hpp"

#include <time.h>

#include <array>

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

namespace {

// Writes `value` as exactly `width` decimal digits at `out`.
void put_digits(char* out, unsigned value, int width) noexcept {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + (value % 10U));
    value /= 10U;
  }
}

}  // namespace

void append_rfc3339(std::string& out, std::int64_t ns) {
  // The date part changes once a second; cache it per thread. Written by hand:
  // this runs once per event on the writer thread, and snprintf was most of
  // an event's formatting cost.
  thread_local std::int64_t cached_second = -1;
  thread_local std::array<char, 28> text{};  // "YYYY-MM-DDTHH:MM:SS.ffffffZ"
  if (ns < 0) ns = 0;
  const std::int64_t second = ns / 1'000'000'000;
  if (second != cached_second) {
    const auto t = static_cast<time_t>(second);
    tm parts{};
    gmtime_r(&t, &parts);
    char* p = text.data();
    put_digits(p, static_cast<unsigned>(parts.tm_year + 1900) % 10000U, 4);
    p[4] = '-';
    put_digits(p + 5, static_cast<unsigned>(parts.tm_mon + 1), 2);
    p[7] = '-';
    put_digits(p + 8, static_cast<unsigned>(parts.tm_mday), 2);
    p[10] = 'T';
    put_digits(p + 11, static_cast<unsigned>(parts.tm_hour), 2);
    p[13] = ':';
    put_digits(p + 14, static_cast<unsigned>(parts.tm_min), 2);
    p[16] = ':';
    put_digits(p + 17, static_cast<unsigned>(parts.tm_sec), 2);
    p[19] = '.';
    p[26] = 'Z';
    cached_second = second;
  }
  put_digits(text.data() + 20, static_cast<unsigned>((ns % 1'000'000'000) / 1000), 6);
  out.append(text.data(), 27);
}

}  // namespace bluepython
