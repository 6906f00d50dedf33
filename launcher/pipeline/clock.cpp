// SPDX-License-Identifier: Apache-2.0
#include "pipeline/clock.hpp"

#include <time.h>

#include <array>
#include <charconv>

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

std::uint64_t parse_rfc3339(std::string_view s) {
  if (s.size() < 20 || s[4] != '-' || s[10] != 'T') return 0;
  auto num = [&](std::size_t at, std::size_t len) {
    int v = 0;
    (void)std::from_chars(s.data() + at, s.data() + at + len, v);
    return v;
  };
  tm parts{};
  parts.tm_year = num(0, 4) - 1900;
  parts.tm_mon = num(5, 2) - 1;
  parts.tm_mday = num(8, 2);
  parts.tm_hour = num(11, 2);
  parts.tm_min = num(14, 2);
  parts.tm_sec = num(17, 2);
  const time_t seconds = ::timegm(&parts);
  std::uint64_t frac_ns = 0;
  if (s[19] == '.') {
    std::size_t i = 20;
    std::uint64_t scale = 100'000'000;
    for (; i < s.size() && s[i] >= '0' && s[i] <= '9' && scale > 0; ++i, scale /= 10) {
      frac_ns += static_cast<std::uint64_t>(s[i] - '0') * scale;
    }
  }
  return seconds < 0 ? 0 : static_cast<std::uint64_t>(seconds) * 1'000'000'000ULL + frac_ns;
}

}  // namespace bluepython
