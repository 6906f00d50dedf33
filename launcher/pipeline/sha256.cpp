// SPDX-License-Identifier: Apache-2.0
#include "pipeline/sha256.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include "pipeline/fd_util.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace bluepython {
namespace {

struct md_ctx_deleter {
  void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, md_ctx_deleter>;

struct fd_guard {
  int fd;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

// Plain hashing needs no openssl.cnf: skip loading it (it costs start-up
// time and a system config file should not change how we hash).
// Done on first use (usually on the writer thread), not at start-up.
const EVP_MD* sha256_md() {
  static const EVP_MD* md = [] {
    OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_ADD_ALL_CIPHERS |
                            OPENSSL_INIT_NO_ADD_ALL_DIGESTS | OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS,
                        nullptr);
    return EVP_sha256();
  }();
  return md;
}

}  // namespace

sha256_digest sha256_bytes(std::string_view data) {
  sha256_digest out{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, sha256_md(), nullptr);
  return out;
}

std::optional<sha256_digest> sha256_file(const std::string& path, std::uint64_t* size_out) {
  fd_guard file{open_high(path.c_str(), O_RDONLY | O_NOCTTY)};
  if (file.fd < 0) return std::nullopt;
  md_ctx_ptr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), sha256_md(), nullptr) != 1) return std::nullopt;
  static thread_local std::unique_ptr<char[]> buffer(new char[1 << 16]);
  std::uint64_t total = 0;
  for (;;) {
    const ssize_t n = ::read(file.fd, buffer.get(), 1 << 16);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), buffer.get(), static_cast<std::size_t>(n));
    total += static_cast<std::uint64_t>(n);
  }
  sha256_digest out{};
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1 || len != out.size()) return std::nullopt;
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
