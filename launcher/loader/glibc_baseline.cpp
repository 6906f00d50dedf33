// SPDX-License-Identifier: Apache-2.0
// The wheels' glibc baseline (docs/deploying.md) is set by the newest glibc
// symbol the executable and core reference. The static C++ runtime of the
// build machine (GCC 12 on Debian 12) references arc4random, new in glibc
// 2.36, from std::random_device, which bluepython never uses; this local
// definition satisfies that reference, so the binaries need glibc 2.34
// (Ubuntu 22.04, RHEL 9) instead of 2.36. Linked into both binaries, exported
// by neither.
#include <sys/random.h>
#include <time.h>

#include <cstdint>

extern "C" __attribute__((visibility("hidden"))) std::uint32_t arc4random() {
  std::uint32_t value = 0;
  if (::getrandom(&value, sizeof value, 0) == static_cast<ssize_t>(sizeof value)) return value;
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint32_t>(ts.tv_nsec) ^ static_cast<std::uint32_t>(ts.tv_sec);
}
