// SPDX-License-Identifier: Apache-2.0
#include "runtime/identity.hpp"

#include <sys/random.h>
#include <unistd.h>

#include <cstdint>

#include <fmt/format.h>

#include "pipeline/clock.hpp"

namespace bluepython {

std::string make_uuid() {
  unsigned char b[16];
  if (::getrandom(b, sizeof b, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof b)) {
    const auto t = static_cast<std::uint64_t>(monotonic_ns()) ^ (static_cast<std::uint64_t>(::getpid()) << 32U);
    for (std::size_t i = 0; i < sizeof b; ++i) b[i] = static_cast<unsigned char>((t >> ((i % 8) * 8)) + i * 131);
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0FU) | 0x40U);
  b[8] = static_cast<unsigned char>((b[8] & 0x3FU) | 0x80U);
  return fmt::format("{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                     b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
                     b[14], b[15]);
}

std::string host_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) return {};
  return host;
}

}  // namespace bluepython
