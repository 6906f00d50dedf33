// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bluepython {

using sha256_digest = std::array<std::uint8_t, 32>;

// SHA-256 of a byte string (our own implementation, with the CPU's SHA
// extensions where it has them). Thread-safe.
sha256_digest sha256_bytes(std::string_view data);

// The same without the SHA extensions, whatever the CPU (for tests).
sha256_digest sha256_bytes_portable(std::string_view data);

// Whether sha256_bytes and sha256_file use the CPU's SHA extensions.
[[nodiscard]] bool sha256_accelerated() noexcept;

// SHA-256 of a regular file's bytes, streamed; nullopt if the file cannot be
// opened or read (the caller reports the hash as null). `size_out` receives the
// number of bytes hashed. Thread-safe; never calls Python.
std::optional<sha256_digest> sha256_file(const std::string& path, std::uint64_t* size_out = nullptr);

std::string to_hex(const sha256_digest& digest);

// Decodes the unpadded URL-safe base64 used by wheel RECORD files
// ("sha256=<b64>"). nullopt if malformed or not 32 bytes.
std::optional<sha256_digest> digest_from_urlsafe_b64(std::string_view text);

}  // namespace bluepython
