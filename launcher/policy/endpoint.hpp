// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "policy/glob.hpp"

// Network endpoints of the policy: what a connect, bind or resolve may reach.
//
//   "*"                        anything
//   "api.example.com:443"      a host name pattern (case-insensitive glob) and a port
//   "*.example.com"            any port
//   "10.0.0.0/8:1024-65535"    a CIDR block and a port range
//   "127.0.0.1", "[::1]:8080", "fd00::/8", "[fd00::/8]:*"
namespace bluepython::policy {

// An IP address: 4 or 16 bytes.
struct ip_address {
  std::array<std::uint8_t, 16> bytes{};
  std::uint8_t size = 0;  // 0: not an address
};
// Parses an IPv4 or IPv6 literal (an IPv4-mapped IPv6 address becomes IPv4).
std::optional<ip_address> parse_ip(std::string_view text) noexcept;

class endpoint {
 public:
  endpoint() = default;
  // Throws std::invalid_argument naming what is wrong.
  explicit endpoint(std::string_view text);

  // Whether `host` (a name or an address literal) on `port` (-1: not known,
  // as for a resolve without a service) is this endpoint. `aliases`: names
  // the address was resolved from in this process.
  [[nodiscard]] bool matches(std::string_view host, int port, std::span<const std::string> aliases = {}) const noexcept;
  [[nodiscard]] const std::string& text() const noexcept { return text_; }

 private:
  enum class kind : std::uint8_t { any_host, name, block };
  [[nodiscard]] bool port_ok(int port) const noexcept;
  [[nodiscard]] bool host_ok(std::string_view host) const noexcept;

  std::string text_;
  kind kind_ = kind::any_host;
  glob name_;
  ip_address block_;
  std::uint8_t prefix_bits_ = 0;
  int port_lo_ = 0;
  int port_hi_ = 65535;
};

}  // namespace bluepython::policy
