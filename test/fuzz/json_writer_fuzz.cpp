// SPDX-License-Identifier: Apache-2.0
// Any bytes, written as a JSON string (whole, and cut at every limit the
// input picks), must give JSON that a strict parser accepts, valid UTF-8
// included; is_plain must agree with what the writer does.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "pipeline/json_writer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  bluepython::json_limits limits;
  limits.max_string_bytes = size > 0 ? (data[0] % 64) + 16 : 16;
  for (const auto& l : {bluepython::json_limits{}, limits}) {
    std::string out;
    bluepython::json_writer w(out, l);
    w.begin_object();
    w.key(input);  // keys are escaped the same way
    w.string(input);
    w.end_object();
    const auto doc = nlohmann::json::parse(out, nullptr, false);
    if (doc.is_discarded() || !doc.is_object() || doc.size() != 1) std::abort();
  }
  std::string escaped;
  const std::size_t consumed = bluepython::json_writer::append_escaped(escaped, input, limits.max_string_bytes);
  if (consumed > size) std::abort();
  if (bluepython::json_writer::is_plain(input) && escaped != input.substr(0, consumed)) std::abort();
  if (nlohmann::json::parse("\"" + escaped + "\"", nullptr, false).is_discarded()) std::abort();
  return 0;
}
