// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <string_view>
#include <type_traits>

namespace bluepython::json_view {

// Read-only navigation of JSON text that is known to be valid (what our own
// writer composed): the members of an object are found by skipping over
// values without building anything, so only the small parts a reader needs
// are ever parsed. Keys are compared as written (ours never need escapes).
// Every function returns an empty view when the text is not what it expects.

// The end (one past) of the value starting at s[i] (after whitespace).
std::size_t skip_value(std::string_view s, std::size_t i) noexcept;

// Calls fn(key, value_text) for each member of `object` in order, until fn
// returns false. Returns false when the text is not an object.
bool for_each_member_impl(std::string_view object, bool (*fn)(void*, std::string_view, std::string_view),
                          void* context) noexcept;
template <typename Fn>
bool for_each_member(std::string_view object, Fn&& fn) noexcept {
  return for_each_member_impl(
      object,
      [](void* c, std::string_view k, std::string_view v) { return (*static_cast<std::remove_reference_t<Fn>*>(c))(k, v); },
      &fn);
}

// The text of member `key` of the object `object` ("{...}"), or empty.
std::string_view member(std::string_view object, std::string_view key) noexcept;

// A JSON string's contents (between the quotes) when it has no escapes;
// `escaped` tells the caller to decode it properly instead.
std::string_view plain_string(std::string_view value, bool& escaped) noexcept;

}  // namespace bluepython::json_view
