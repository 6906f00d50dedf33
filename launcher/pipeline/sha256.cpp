// SPDX-License-Identifier: Apache-2.0
#include "pipeline/sha256.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "pipeline/fd_util.hpp"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

// SHA-256 (FIPS 180-4), written here rather than taken from OpenSSL: linking
// libcrypto statically put about 2 MB of code and thousands of relocations
// into the core that every process mapped and relocated at start-up, and its
// first use (library context, providers, name map) cost more than hashing a
// small file. The SHA extensions (SHA-NI) are used where the CPU has them.
namespace bluepython {
namespace {

constexpr std::array<std::uint32_t, 64> kRound = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

constexpr std::array<std::uint32_t, 8> kInitial = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

constexpr std::uint32_t rotr(std::uint32_t x, unsigned n) noexcept { return (x >> n) | (x << (32U - n)); }

void compress_portable(std::uint32_t* h, const unsigned char* data, std::size_t blocks) noexcept {
  std::array<std::uint32_t, 64> w{};
  for (; blocks > 0; --blocks, data += 64) {
    for (std::size_t t = 0; t < 16; ++t) {
      const unsigned char* p = data + t * 4;
      w[t] = (std::uint32_t{p[0]} << 24U) | (std::uint32_t{p[1]} << 16U) | (std::uint32_t{p[2]} << 8U) | p[3];
    }
    for (std::size_t t = 16; t < 64; ++t) {
      const std::uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3U);
      const std::uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10U);
      w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    std::uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (std::size_t t = 0; t < 64; ++t) {
      const std::uint32_t t1 = k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + kRound[t] + w[t];
      const std::uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      k = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += k;
  }
}

#if defined(__x86_64__)
// The SHA extensions: two rounds per sha256rnds2, the message schedule by
// sha256msg1/sha256msg2. State is kept as ABEF/CDGH, as the instructions want.
__attribute__((target("sha,sse4.1,ssse3"))) void compress_shani(std::uint32_t* h, const unsigned char* data,
                                                                std::size_t blocks) noexcept {
  const __m128i byteswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
  __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h)), 0xB1);      // CDAB
  __m128i state1 = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + 4)), 0x1B);  // EFGH
  __m128i state0 = _mm_alignr_epi8(tmp, state1, 8);                                                    // ABEF
  state1 = _mm_blend_epi16(state1, tmp, 0xF0);                                                         // CDGH
  for (; blocks > 0; --blocks, data += 64) {
    const __m128i abef = state0;
    const __m128i cdgh = state1;
    __m128i w[4];  // the last 16 schedule words, 4 per vector  // NOLINT(*-avoid-c-arrays)
    for (std::size_t i = 0; i < 16; ++i) {
      __m128i m;
      if (i < 4) {
        m = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i * 16)), byteswap);
      } else {
        // W[t] = W[t-16] + s0(W[t-15]) + W[t-7] + s1(W[t-2]), four at a time.
        m = _mm_sha256msg1_epu32(w[(i - 4) & 3U], w[(i - 3) & 3U]);
        m = _mm_add_epi32(m, _mm_alignr_epi8(w[(i - 1) & 3U], w[(i - 2) & 3U], 4));
        m = _mm_sha256msg2_epu32(m, w[(i - 1) & 3U]);
      }
      w[i & 3U] = m;
      __m128i wk = _mm_add_epi32(m, _mm_loadu_si128(reinterpret_cast<const __m128i*>(kRound.data() + i * 4)));
      state1 = _mm_sha256rnds2_epu32(state1, state0, wk);
      wk = _mm_shuffle_epi32(wk, 0x0E);
      state0 = _mm_sha256rnds2_epu32(state0, state1, wk);
    }
    state0 = _mm_add_epi32(state0, abef);
    state1 = _mm_add_epi32(state1, cdgh);
  }
  tmp = _mm_shuffle_epi32(state0, 0x1B);     // FEBA
  state1 = _mm_shuffle_epi32(state1, 0xB1);  // DCHG
  _mm_storeu_si128(reinterpret_cast<__m128i*>(h), _mm_blend_epi16(tmp, state1, 0xF0));      // DCBA
  _mm_storeu_si128(reinterpret_cast<__m128i*>(h + 4), _mm_alignr_epi8(state1, tmp, 8));     // HGFE
}

bool cpu_has_sha() noexcept {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(1, &a, &b, &c, &d) == 0) return false;
  const bool ssse3_sse41 = (c & bit_SSSE3) != 0 && (c & bit_SSE4_1) != 0;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0) return false;
  return ssse3_sse41 && (b & bit_SHA) != 0;
}
#endif

using compress_fn = void (*)(std::uint32_t*, const unsigned char*, std::size_t) noexcept;

compress_fn best_compress() noexcept {
#if defined(__x86_64__)
  static const compress_fn fn = cpu_has_sha() ? &compress_shani : &compress_portable;
  return fn;
#else
  return &compress_portable;
#endif
}

// Streaming state.
class hasher {
 public:
  explicit hasher(compress_fn compress) noexcept : compress_(compress) {}

  void update(const unsigned char* p, std::size_t n) noexcept {
    total_ += n;
    if (fill_ > 0) {
      const std::size_t take = std::min(n, block_.size() - fill_);
      std::memcpy(block_.data() + fill_, p, take);
      fill_ += take;
      p += take;
      n -= take;
      if (fill_ < block_.size()) return;
      compress_(h_.data(), block_.data(), 1);
      fill_ = 0;
    }
    if (n >= 64) {
      compress_(h_.data(), p, n / 64);
      p += n & ~std::size_t{63};
      n &= 63U;
    }
    if (n > 0) {
      std::memcpy(block_.data(), p, n);
      fill_ = n;
    }
  }

  sha256_digest finish() noexcept {
    const std::uint64_t bits = total_ * 8U;
    block_[fill_++] = 0x80;
    if (fill_ > 56) {
      std::memset(block_.data() + fill_, 0, block_.size() - fill_);
      compress_(h_.data(), block_.data(), 1);
      fill_ = 0;
    }
    std::memset(block_.data() + fill_, 0, 56 - fill_);
    for (std::size_t i = 0; i < 8; ++i) block_[63 - i] = static_cast<unsigned char>(bits >> (8U * i));
    compress_(h_.data(), block_.data(), 1);
    sha256_digest out{};
    for (std::size_t i = 0; i < 8; ++i) {
      out[i * 4] = static_cast<std::uint8_t>(h_[i] >> 24U);
      out[i * 4 + 1] = static_cast<std::uint8_t>(h_[i] >> 16U);
      out[i * 4 + 2] = static_cast<std::uint8_t>(h_[i] >> 8U);
      out[i * 4 + 3] = static_cast<std::uint8_t>(h_[i]);
    }
    return out;
  }

 private:
  compress_fn compress_;
  std::array<std::uint32_t, 8> h_ = kInitial;
  std::array<unsigned char, 64> block_{};
  std::size_t fill_ = 0;
  std::uint64_t total_ = 0;
};

struct fd_guard {
  int fd;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

sha256_digest digest_with(compress_fn compress, std::string_view data) noexcept {
  hasher h(compress);
  h.update(reinterpret_cast<const unsigned char*>(data.data()), data.size());
  return h.finish();
}

}  // namespace

sha256_digest sha256_bytes(std::string_view data) { return digest_with(best_compress(), data); }

sha256_digest sha256_bytes_portable(std::string_view data) { return digest_with(&compress_portable, data); }

bool sha256_accelerated() noexcept { return best_compress() != &compress_portable; }

std::optional<sha256_digest> sha256_file(const std::string& path, std::uint64_t* size_out) {
  fd_guard file{open_high(path.c_str(), O_RDONLY | O_NOCTTY)};
  if (file.fd < 0) return std::nullopt;
  static thread_local std::unique_ptr<unsigned char[]> buffer(new unsigned char[1 << 16]);
  hasher h(best_compress());
  std::uint64_t total = 0;
  for (;;) {
    const ssize_t n = ::read(file.fd, buffer.get(), 1 << 16);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    if (n == 0) break;
    h.update(buffer.get(), static_cast<std::size_t>(n));
    total += static_cast<std::uint64_t>(n);
  }
  if (size_out != nullptr) *size_out = total;
  return h.finish();
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
