// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <string_view>

namespace bluepython::json_view {

// Read-only navigation of JSON text that is known to be valid (what our own
// writer composed): the members of an object are found by skipping over
// values without building anything, so only the small parts a reader needs
// are ever parsed. Keys are compared as written (ours never need escapes).
// Every function returns an empty view when the text is not what it expects.

// The end (one past) of the value starting at s[i] (after whitespace).
std::size_t skip_value(std::string_view s, std::size_t i) noexcept;

// The text of member `key` of the object `object` ("{...}"), or empty.
std::string_view member(std::string_view object, std::string_view key) noexcept;

// A JSON string's contents (between the quotes) when it has no escapes;
// `escaped` tells the caller to decode it properly instead.
std::string_view plain_string(std::string_view value, bool& escaped) noexcept;

}  // namespace bluepython::json_view
