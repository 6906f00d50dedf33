// SPDX-License-Identifier: Apache-2.0
#include "pipeline/fd_util.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

using namespace bluepython;

namespace {

// Runs `body` in a forked child (it may change limits and descriptors
// freely) and returns its exit status.
template <typename Body>
int in_child(Body body) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool cloexec(int fd) { return (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }

}  // namespace

TEST_CASE("open_high leaves the app's low numbers free", "[fd_util]") {
  const int fd = open_high("/dev/null", O_RDONLY);
  REQUIRE(fd >= 0);
  CHECK(fd >= high_fd_floor());
  CHECK(cloexec(fd));
  // The lowest free number is still what the app's next open() gets.
  const int app = ::open("/dev/null", O_RDONLY);
  CHECK(app < fd);
  ::close(app);
  ::close(fd);
}

TEST_CASE("the floor follows a low RLIMIT_NOFILE, and stdio slots stay free", "[fd_util]") {
  CHECK(high_fd_floor() <= kHighFdFloor);
  CHECK(in_child([] {
          const rlimit low{64, 64};
          if (::setrlimit(RLIMIT_NOFILE, &low) != 0) return 10;
          if (high_fd_floor() != 32) return 11;
          const int fd = open_high("/dev/null", O_RDONLY);
          if (fd < 32 || fd >= 64 || !cloexec(fd)) return 12;
          return 0;
        }) == 0);
  CHECK(in_child([] {
          // A limit too low for any margin: the lowest free number >= 3.
          const rlimit tiny{8, 8};
          if (::setrlimit(RLIMIT_NOFILE, &tiny) != 0) return 10;
          for (int fd = 3; fd < 8; ++fd) ::close(fd);
          ::close(0);  // a closed stdin must stay closed
          const int fd = open_high("/dev/null", O_RDONLY);
          return fd == 3 && cloexec(fd) && ::fcntl(0, F_GETFD) < 0 ? 0 : 12;
        }) == 0);
  CHECK(in_child([] {
          // Nothing free at or above the floor: the lowest free one >= 3.
          const rlimit low{64, 64};
          if (::setrlimit(RLIMIT_NOFILE, &low) != 0) return 10;
          const int filler = ::open("/dev/null", O_RDONLY);
          for (int fd = 32; fd < 64; ++fd) {
            if (::fcntl(fd, F_GETFD) < 0 && ::fcntl(filler, F_DUPFD, fd) != fd) return 11;
          }
          const int fd = open_high("/dev/null", O_RDONLY);
          return fd >= 3 && fd < 32 && cloexec(fd) ? 0 : 12;
        }) == 0);
}
