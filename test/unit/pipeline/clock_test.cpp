// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <cstdio>
#include <ctime>
#include <string>

#include "pipeline/clock.hpp"

namespace {

std::string rfc3339(std::int64_t ns) {
  std::string out = "prefix:";
  bluepython::append_rfc3339(out, ns);
  return out;
}

// The same timestamp through gmtime_r and strftime, for comparison.
std::string reference(std::int64_t ns) {
  const auto seconds = static_cast<time_t>(ns / 1'000'000'000);
  tm parts{};
  gmtime_r(&seconds, &parts);
  char text[32];
  const std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &parts);
  char frac[16];
  std::snprintf(frac, sizeof frac, ".%06ldZ", static_cast<long>((ns % 1'000'000'000) / 1000));
  return "prefix:" + std::string(text, n) + frac;
}

}  // namespace

TEST_CASE("append_rfc3339 writes UTC with microseconds, appending", "[clock]") {
  CHECK(rfc3339(0) == "prefix:1970-01-01T00:00:00.000000Z");
  CHECK(rfc3339(1'763'719'200'123'456'789) == "prefix:2025-11-21T10:00:00.123456Z");
  CHECK(rfc3339(951'782'399'999'999'999) == "prefix:2000-02-28T23:59:59.999999Z");
  CHECK(rfc3339(951'868'800'000'001'000) == "prefix:2000-03-01T00:00:00.000001Z");  // after Feb 29th
  CHECK(rfc3339(-5) == "prefix:1970-01-01T00:00:00.000000Z");                      // clamped
}

TEST_CASE("append_rfc3339 agrees with strftime across seconds and within one", "[clock]") {
  // The date part is cached per second: cross second boundaries both ways,
  // and stay within one second with different fractions.
  std::int64_t ns = 1'700'000'000'000'000'000;
  for (int i = 0; i < 2000; ++i) {
    ns += (i % 3 == 0) ? 999'999'999 : 1'234'567;
    if (i % 7 == 0) ns -= 3'000'000'000;
    REQUIRE(rfc3339(ns) == reference(ns));
  }
  const std::int64_t year_end = 1'798'761'599'999'999'000;  // 2026-12-31T23:59:59.999999Z
  CHECK(rfc3339(year_end) == "prefix:2026-12-31T23:59:59.999999Z");
  CHECK(rfc3339(year_end + 1000) == "prefix:2027-01-01T00:00:00.000000Z");
}
