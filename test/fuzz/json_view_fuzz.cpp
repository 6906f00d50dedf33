// SPDX-License-Identifier: Apache-2.0
// json_view reads text our writer composed, but must never read outside what
// it is given whatever the bytes; on valid JSON objects it must find exactly
// the members a real parser finds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <map>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/json_view.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // A private copy: ASan then catches any read past its end.
  const std::string copy(reinterpret_cast<const char*>(data), size);
  const std::string_view text(copy);
  auto inside = [&](std::string_view part) {
    return part.empty() || (part.data() >= text.data() && part.data() + part.size() <= text.data() + text.size());
  };
  (void)bluepython::json_view::skip_value(text, 0);
  std::vector<std::pair<std::string_view, std::string_view>> members;
  const bool object = bluepython::json_view::for_each_member(text, [&](std::string_view key, std::string_view value) {
    if (!inside(key) || !inside(value)) std::abort();
    members.emplace_back(key, value);
    return true;
  });
  bool escaped = false;
  (void)bluepython::json_view::plain_string(bluepython::json_view::member(text, "a"), escaped);
  const auto doc = nlohmann::json::parse(copy, nullptr, false);
  if (doc.is_object() && object) {
    // Keys are compared as written: check those written without escapes,
    // and only when unique (a parser keeps the last duplicate, the view the first).
    std::map<std::string_view, int> seen;
    for (const auto& m : members) ++seen[m.first];
    // Escaped spellings of one key ("a" and "\u0061") decode to duplicates: then the
    // parser's value may be another member's, so values are compared only without them.
    const bool distinct = doc.size() == members.size();
    for (const auto& [key, value] : members) {
      if (!distinct || key.find('\\') != std::string_view::npos || seen[key] != 1) continue;
      const auto it = doc.find(std::string(key));
      if (it == doc.end() || nlohmann::json::parse(value, nullptr, false) != *it) std::abort();
      if (bluepython::json_view::member(text, key) != value) std::abort();
    }
    if (members.size() < doc.size()) std::abort();
  }
  return 0;
}
