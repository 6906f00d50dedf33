// SPDX-License-Identifier: Apache-2.0
#include "pipeline/sha256.hpp"

#include <unistd.h>

#include <openssl/evp.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>

using namespace bluepython;

TEST_CASE("sha256 of known vectors", "[sha256]") {
  CHECK(to_hex(sha256_bytes("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(to_hex(sha256_bytes("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// Every length around the padding boundaries and a few large inputs, with and
// without the CPU's SHA extensions, against OpenSSL (the reference here only).
TEST_CASE("sha256 agrees with OpenSSL", "[sha256]") {
  auto reference = [](const std::string& data) {
    sha256_digest out{};
    unsigned int len = 0;
    REQUIRE(EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) == 1);
    return out;
  };
  std::mt19937 rng(15);
  std::string data;
  for (std::size_t n = 0; n <= 300; ++n) {
    const auto expected = reference(data);
    CHECK(sha256_bytes(data) == expected);
    CHECK(sha256_bytes_portable(data) == expected);
    data += static_cast<char>(rng());
  }
  for (const std::size_t n : {4095U, 65536U, 65537U, 1'000'003U}) {
    data.resize(n);
    for (auto& c : data) c = static_cast<char>(rng());
    const auto expected = reference(data);
    CHECK(sha256_bytes(data) == expected);
    CHECK(sha256_bytes_portable(data) == expected);
  }
  INFO("SHA extensions used: " << sha256_accelerated());
}

TEST_CASE("sha256 of a file streams it whole", "[sha256]") {
  char name[] = "/tmp/bp_sha_XXXXXX";
  const int fd = ::mkstemp(name);
  REQUIRE(fd >= 0);
  ::close(fd);
  std::string content(200'000, 'a');  // spans several read() chunks
  for (std::size_t i = 0; i < content.size(); i += 97) content[i] = static_cast<char>('a' + (i % 26));
  { std::ofstream(name, std::ios::binary) << content; }
  std::uint64_t size = 0;
  const auto digest = sha256_file(name, &size);
  REQUIRE(digest);
  CHECK(size == content.size());
  CHECK(*digest == sha256_bytes(content));
  std::remove(name);
  CHECK_FALSE(sha256_file(name));
}

TEST_CASE("RECORD hashes decode from unpadded urlsafe base64", "[sha256]") {
  // RECORD form of sha256("abc").
  const auto d = digest_from_urlsafe_b64("ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
  REQUIRE(d);
  CHECK(to_hex(*d) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(digest_from_urlsafe_b64("ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0=="));  // padding tolerated
  CHECK_FALSE(digest_from_urlsafe_b64("too-short"));
  CHECK_FALSE(digest_from_urlsafe_b64("ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa!"));
  CHECK_FALSE(digest_from_urlsafe_b64(""));
}
