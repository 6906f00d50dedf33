// SPDX-License-Identifier: Apache-2.0
#include "config/handoff.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

using namespace bluepython;
namespace fs = std::filesystem;

namespace {
std::string handoff_dir() { return "/tmp/bluepython-" + std::to_string(::getuid()); }
}  // namespace

TEST_CASE("handoff files of dead processes are swept, live ones kept", "[handoff]") {
  config cfg;
  handoff::publish(cfg.to_json().dump(), ::getpid(), "live-uuid");
  const std::string live = handoff_dir() + "/handoff-" + std::to_string(::getpid()) + ".json";
  REQUIRE(fs::exists(live));
  struct stat st{};
  REQUIRE(::stat(handoff_dir().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  REQUIRE(::stat(live.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  // A pid above pid_max never exists.
  const std::string dead = handoff_dir() + "/handoff-999999999.json";
  std::ofstream(dead) << "{}";
  CHECK(handoff::remove_stale() >= 1);
  CHECK_FALSE(fs::exists(dead));
  CHECK(fs::exists(live));
  handoff::retract(::getpid());
  CHECK_FALSE(fs::exists(live));
}

TEST_CASE("the start time of a process is read from /proc", "[handoff]") {
  CHECK(handoff::process_start_ticks(::getpid()) > 0);
  CHECK(handoff::process_start_ticks(999999999) == 0);
}
