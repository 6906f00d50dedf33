// SPDX-License-Identifier: Apache-2.0
#include "pipeline/sha256.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "pipeline/fd_util.hpp"

// OpenSSL's one-shot SHA-256 functions, not the EVP digest API: EVP fetches the
// algorithm from a provider, which links the whole provider framework and
// every algorithm it names into the core (about 2.8 MB of libcrypto, 17k
// relocations, and the start-up that goes with them). The SHA256_* functions
// are the same assembly-optimized implementation (SHA-NI or AVX2 where the CPU
// has them) and need nothing else. They are deprecated in OpenSSL 3.0 only in
// favour of EVP; nothing has replaced them for this use.
#ifndef OPENSSL_SUPPRESS_DEPRECATED
#define OPENSSL_SUPPRESS_DEPRECATED
#endif
#include <openssl/sha.h>

namespace bluepython {
namespace {

struct fd_guard {
  int fd;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

sha256_digest sha256_bytes(std::string_view data) {
  // Not the one-shot SHA256(): OpenSSL 3 implements it through EVP.
  SHA256_CTX ctx;
  ::SHA256_Init(&ctx);
  ::SHA256_Update(&ctx, data.data(), data.size());
  sha256_digest out{};
  ::SHA256_Final(out.data(), &ctx);
  return out;
}

std::optional<sha256_digest> sha256_file(const std::string& path, std::uint64_t* size_out) {
  fd_guard file{open_high(path.c_str(), O_RDONLY | O_NOCTTY)};
  if (file.fd < 0) return std::nullopt;
  SHA256_CTX ctx;
  if (::SHA256_Init(&ctx) != 1) return std::nullopt;
  static thread_local std::unique_ptr<char[]> buffer(new char[1 << 16]);
  std::uint64_t total = 0;
  for (;;) {
    const ssize_t n = ::read(file.fd, buffer.get(), 1 << 16);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    if (n == 0) break;
    ::SHA256_Update(&ctx, buffer.get(), static_cast<std::size_t>(n));
    total += static_cast<std::uint64_t>(n);
  }
  sha256_digest out{};
  if (::SHA256_Final(out.data(), &ctx) != 1) return std::nullopt;
  if (size_out != nullptr) *size_out = total;
  return out;
}

std::string to_hex(const sha256_digest& digest) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (const auto byte : digest) {
    out += hex[byte >> 4U];
    out += hex[byte & 0xFU];
  }
  return out;
}

std::optional<sha256_digest> digest_from_urlsafe_b64(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() != 43) return std::nullopt;  // ceil(32 * 4 / 3) unpadded
  auto value_of = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-' || c == '+') return 62;
    if (c == '_' || c == '/') return 63;
    return -1;
  };
  sha256_digest out{};
  std::size_t written = 0;
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : text) {
    const int v = value_of(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6U) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (written >= out.size()) return std::nullopt;
      out[written++] = static_cast<std::uint8_t>((acc >> static_cast<unsigned>(bits)) & 0xFFU);
    }
  }
  if (written != out.size()) return std::nullopt;
  return out;
}

}  // namespace bluepython
