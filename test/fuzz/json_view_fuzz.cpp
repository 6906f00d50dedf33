// SPDX-License-Identifier: Apache-2.0
// json_view reads text our writer composed, but must never read outside what
// it is given whatever the bytes; on valid JSON objects it must find exactly
// the members a real parser finds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "json_view.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // A private copy: ASan then catches any read past its end.
  const std::string copy(reinterpret_cast<const char*>(data), size);
  const std::string_view text(copy);
  auto inside = [&](std::string_view part) {
    return part.empty() || (part.data() >= text.data() && part.data() + part.size() <= text.data() + text.size());
  };
  (void)bluepython::json_view::skip_value(text, 0);
  std::size_t members = 0;
  const bool object = bluepython::json_view::for_each_member(text, [&](std::string_view key, std::string_view value) {
    if (!inside(key) || !inside(value)) std::abort();
    ++members;
    return true;
  });
  bool escaped = false;
  (void)bluepython::json_view::plain_string(bluepython::json_view::member(text, "a"), escaped);
  const auto doc = nlohmann::json::parse(copy, nullptr, false);
  if (doc.is_object() && object) {
    // Our view keeps duplicates and reads keys as written: compare unique, unescaped keys only.
    for (const auto& [key, value] : doc.items()) {
      if (key.find('\\') != std::string::npos || key.find('"') != std::string::npos) continue;
      const std::string_view found = bluepython::json_view::member(text, key);
      const auto parsed = nlohmann::json::parse(found, nullptr, false);
      if (found.empty() || parsed.is_discarded()) std::abort();
    }
    if (members < doc.size()) std::abort();
  }
  return 0;
}
