// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bluepython {

// Wall-clock time in nanoseconds since the Unix epoch (CLOCK_REALTIME).
std::int64_t wall_time_ns() noexcept;

// Monotonic time in nanoseconds (CLOCK_MONOTONIC), for intervals.
std::int64_t monotonic_ns() noexcept;

// Appends `ns` as an RFC 3339 UTC timestamp with microseconds,
// e.g. 2026-11-21T10:00:00.123456Z.
void append_rfc3339(std::string& out, std::int64_t ns);

// "2026-11-22T03:03:39.720138Z" (what append_rfc3339 writes) to ns since
// the epoch; 0 if it is not that.
std::uint64_t parse_rfc3339(std::string_view text);

}  // namespace bluepython
