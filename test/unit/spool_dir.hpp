// SPDX-License-Identifier: Apache-2.0
// A spool directory of a test's own: a fresh temporary directory, removed
// with everything in it when the test ends; write() puts JSON lines in a file.
#pragma once

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

namespace bluepython::testing {

struct spool_dir {
  std::filesystem::path path;

  explicit spool_dir(const char* prefix = "bp_spool") {
    std::string name = (std::filesystem::temp_directory_path() / (std::string(prefix) + "_XXXXXX")).string();
    REQUIRE(::mkdtemp(name.data()) != nullptr);
    path = name;
  }
  spool_dir(const spool_dir&) = delete;
  spool_dir& operator=(const spool_dir&) = delete;
  spool_dir(spool_dir&&) = delete;
  spool_dir& operator=(spool_dir&&) = delete;
  ~spool_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }

  void write(const std::string& file, const std::vector<nlohmann::json>& lines, bool append = false) const {
    std::ofstream out(path / file, append ? std::ios::app : std::ios::trunc);
    for (const auto& line : lines) out << line.dump() << '\n';
  }
};

}  // namespace bluepython::testing
