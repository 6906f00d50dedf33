// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <stdexcept>
#include <string>

namespace bluepython {

// The one error type of the launcher. It carries the process exit code and is
// caught only in main(): bad flags and bad config exit 2, internal start-up
// failures exit 1.
class launcher_error : public std::runtime_error {
 public:
  launcher_error(int exit_code, const std::string& message)
      : std::runtime_error(message), exit_code_(exit_code) {}

  [[nodiscard]] int exit_code() const noexcept { return exit_code_; }

  static launcher_error usage(const std::string& message) { return {2, message}; }
  static launcher_error config(const std::string& message) { return {2, message}; }
  static launcher_error internal(const std::string& message) { return {1, message}; }

 private:
  int exit_code_;
};

}  // namespace bluepython
