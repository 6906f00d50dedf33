// SPDX-License-Identifier: Apache-2.0
#pragma once

// A protobuf wire-format reader for the tests: enough to walk what the OTLP
// encoders wrote (varint, fixed64, fixed32 and length-delimited fields)
// without the encoder's own code or a protobuf runtime.

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bluepython::test {

struct pb_field {
  std::uint32_t number = 0;
  int wire = 0;
  std::uint64_t number_value = 0;  // varint, fixed64, fixed32
  std::string_view bytes;          // length-delimited

  [[nodiscard]] double as_double() const {
    double d = 0;
    std::memcpy(&d, &number_value, sizeof d);
    return d;
  }
};

// The top-level fields of one message, in order; throws on malformed input.
inline std::vector<pb_field> pb_fields(std::string_view data) {
  std::vector<pb_field> out;
  std::size_t at = 0;
  auto varint = [&] {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (at >= data.size()) throw std::runtime_error("truncated varint");
      const auto b = static_cast<std::uint8_t>(data[at++]);
      v |= static_cast<std::uint64_t>(b & 0x7FU) << shift;
      if ((b & 0x80U) == 0) return v;
    }
    throw std::runtime_error("varint too long");
  };
  auto fixed = [&](int n) {
    if (at + static_cast<std::size_t>(n) > data.size()) throw std::runtime_error("truncated fixed");
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(data[at++])) << (8 * i);
    return v;
  };
  while (at < data.size()) {
    const std::uint64_t tag = varint();
    pb_field f;
    f.number = static_cast<std::uint32_t>(tag >> 3U);
    f.wire = static_cast<int>(tag & 7U);
    switch (f.wire) {
      case 0: f.number_value = varint(); break;
      case 1: f.number_value = fixed(8); break;
      case 5: f.number_value = fixed(4); break;
      case 2: {
        const std::uint64_t len = varint();
        if (at + len > data.size()) throw std::runtime_error("truncated bytes");
        f.bytes = data.substr(at, len);
        at += len;
        break;
      }
      default: throw std::runtime_error("unexpected wire type");
    }
    out.push_back(f);
  }
  return out;
}

// Every field `number` of the message.
inline std::vector<pb_field> pb_all(std::string_view message, std::uint32_t number) {
  std::vector<pb_field> out;
  for (const auto& f : pb_fields(message)) {
    if (f.number == number) out.push_back(f);
  }
  return out;
}

// The one field `number` (throws when absent or repeated).
inline pb_field pb_one(std::string_view message, std::uint32_t number) {
  const auto all = pb_all(message, number);
  if (all.size() != 1) throw std::runtime_error("field " + std::to_string(number) + " appears " +
                                                std::to_string(all.size()) + " times");
  return all.front();
}

}  // namespace bluepython::test
