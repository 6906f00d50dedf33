// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>

#include <nlohmann/json.hpp>

// Reading members of parsed event JSON the lenient way the OTLP mapping needs:
// a missing member or a non-object reads as null, any value as text.
namespace bluepython::otlp {

inline std::string text_of(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return {};
  return v.dump();
}

inline const nlohmann::json& member_of(const nlohmann::json& object, const char* key) {
  static const nlohmann::json null_value;
  if (!object.is_object()) return null_value;
  const auto it = object.find(key);
  return it == object.end() ? null_value : *it;
}

}  // namespace bluepython::otlp
