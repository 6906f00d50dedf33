// SPDX-License-Identifier: Apache-2.0
// Any JSON document as a config file: either it applies, or it is refused
// with a launcher_error (a one-line message, exit 2) — nothing else may
// escape. What applies must survive to_json() and back unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "config.hpp"
#include "error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto doc = nlohmann::json::parse(data, data + size, nullptr, false);
  if (doc.is_discarded()) return 0;
  bluepython::config cfg;
  try {
    bluepython::apply_config_json(cfg, doc, "fuzz.json");
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
