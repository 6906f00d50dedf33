// SPDX-License-Identifier: Apache-2.0
// Any bytes as a config file: either they parse and apply, or they are
// refused with a launcher_error (a one-line message, exit 2) — no other
// exception may escape. What applies must survive to_json() and back unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "config/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  bluepython::config cfg;
  try {
    const std::string text(reinterpret_cast<const char*>(data), size);
    bluepython::apply_config_json(cfg, bluepython::parse_config_text(text, "fuzz.json"), "fuzz.json");
  } catch (const bluepython::launcher_error& e) {
    const std::string message = e.what();
    if (e.exit_code() != 2 || message.empty() || message.find('\n') != std::string::npos) std::abort();
    return 0;
  }
  bluepython::config again;
  try {
    bluepython::apply_config_json(again, cfg.to_json(), "round trip");
  } catch (...) {
    std::abort();  // what we wrote ourselves must read back
  }
  if (again.digest() != cfg.digest()) std::abort();
  return 0;
}
