// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace bluepython {

// The protobuf wire format, the little of it OTLP needs: varints, fixed64 /
// fixed32 / double fields, length-delimited fields and nested messages.
// A nested message is written in place: a fixed 5-byte length slot is
// reserved and filled in when the message ends (a varint padded with
// continuation bits, which every decoder accepts), so nothing is copied.
// Fields at their proto3 default (0, "", false) are left out by the callers.
class protobuf_writer {
 public:
  explicit protobuf_writer(std::string& out) noexcept : out_(out) {}

  void varint(std::uint32_t field, std::uint64_t value) {
    tag(field, 0);
    raw_varint(value);
  }
  void boolean(std::uint32_t field, bool value) { varint(field, value ? 1 : 0); }
  void int64(std::uint32_t field, std::int64_t value) { varint(field, static_cast<std::uint64_t>(value)); }
  void fixed64(std::uint32_t field, std::uint64_t value) {
    tag(field, 1);
    char bytes[8];
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xFFU);
    out_.append(bytes, 8);
  }
  void fixed32(std::uint32_t field, std::uint32_t value) {
    tag(field, 5);
    char bytes[4];
    for (int i = 0; i < 4; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xFFU);
    out_.append(bytes, 4);
  }
  void double_(std::uint32_t field, double value) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof bits);
    fixed64(field, bits);
  }
  void bytes(std::uint32_t field, std::string_view value) {
    tag(field, 2);
    raw_varint(value.size());
    out_.append(value);
  }
  void string(std::uint32_t field, std::string_view value) { bytes(field, value); }

  // Nested message: begin() returns a mark for end().
  [[nodiscard]] std::size_t begin(std::uint32_t field) {
    tag(field, 2);
    const std::size_t mark = out_.size();
    out_.append(kSlot, '\0');
    return mark;
  }
  void end(std::size_t mark) {
    std::size_t size = out_.size() - mark - kSlot;
    for (std::size_t i = 0; i < kSlot; ++i) {
      auto byte = static_cast<unsigned char>(size & 0x7FU);
      size >>= 7U;
      if (i + 1 < kSlot) byte |= 0x80U;
      out_[mark + i] = static_cast<char>(byte);
    }
  }

  // Packed repeated fields (proto3's default for scalars).
  [[nodiscard]] std::size_t begin_packed(std::uint32_t field) { return begin(field); }
  void packed_fixed64(std::uint64_t value) {
    char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((value >> (8 * i)) & 0xFFU);
    out_.append(b, 8);
  }
  void packed_double(double value) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof bits);
    packed_fixed64(bits);
  }

  [[nodiscard]] std::string& buffer() noexcept { return out_; }

  // Largest message a 5-byte length slot can describe (2^35 - 1; far above
  // anything we build).
  static constexpr std::size_t kSlot = 5;

 private:
  void tag(std::uint32_t field, std::uint32_t wire_type) { raw_varint((static_cast<std::uint64_t>(field) << 3U) | wire_type); }
  void raw_varint(std::uint64_t value) {
    char b[10];
    std::size_t n = 0;
    while (value >= 0x80U) {
      b[n++] = static_cast<char>((value & 0x7FU) | 0x80U);
      value >>= 7U;
    }
    b[n++] = static_cast<char>(value);
    out_.append(b, n);
  }

  std::string& out_;
};

}  // namespace bluepython
