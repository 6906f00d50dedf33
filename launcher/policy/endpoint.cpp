// SPDX-License-Identifier: Apache-2.0
#include "policy/endpoint.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <string>

namespace bluepython::policy {
namespace {

int parse_port(std::string_view text) {
  int value = -1;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < 0 || value > 65535) {
    throw std::invalid_argument("port \"" + std::string(text) + "\" is not a number in 0-65535");
  }
  return value;
}

bool host_chars_ok(std::string_view text) noexcept {
  for (const char c : text) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == '_' || c == '*' || c == '?' || c == '[' || c == ']' || c == '!';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::optional<ip_address> parse_ip(std::string_view text) noexcept {
  if (text.empty() || text.size() > 63) return std::nullopt;
  char buf[64];
  text.copy(buf, text.size());
  buf[text.size()] = '\0';
  // A scope id (fe80::1%eth0) names an interface, not another address.
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (buf[i] == '%') buf[i] = '\0';
  }
  ip_address ip;
  if (::inet_pton(AF_INET, buf, ip.bytes.data()) == 1) {
    ip.size = 4;
    return ip;
  }
  if (::inet_pton(AF_INET6, buf, ip.bytes.data()) == 1) {
    ip.size = 16;
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::equal(std::begin(kMapped), std::end(kMapped), ip.bytes.begin())) {
      std::copy(ip.bytes.begin() + 12, ip.bytes.end(), ip.bytes.begin());
      ip.size = 4;
    }
    return ip;
  }
  return std::nullopt;
}

endpoint::endpoint(std::string_view text) : text_(text) {
  if (text.empty()) throw std::invalid_argument("empty endpoint");
  std::string_view host = text;
  std::string_view port;
  if (text.front() == '[') {  // [v6] or [v6/len], then :port
    const auto close = text.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("unterminated '[' in endpoint");
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':' || rest.size() == 1) throw std::invalid_argument("expected :PORT after ']'");
      port = rest.substr(1);
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    const auto colon = text.find(':');
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.empty() || port.empty()) throw std::invalid_argument("expected HOST:PORT");
  }  // else no port: a name, an IPv4 address or block, or a bare IPv6 address or block
  if (!port.empty() && port != "*") {
    if (const auto dash = port.find('-'); dash != std::string_view::npos) {
      port_lo_ = parse_port(port.substr(0, dash));
      port_hi_ = parse_port(port.substr(dash + 1));
      if (port_hi_ < port_lo_) throw std::invalid_argument("port range with its high end below its low end");
    } else {
      port_lo_ = port_hi_ = parse_port(port);
    }
  }
  if (host == "*") {
    kind_ = kind::any_host;
    return;
  }
  std::string_view address = host;
  int bits = -1;
  if (const auto slash = host.find('/'); slash != std::string_view::npos) {
    address = host.substr(0, slash);
    const std::string_view len = host.substr(slash + 1);
    const auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), bits);
    if (ec != std::errc{} || end != len.data() + len.size()) {
      throw std::invalid_argument("CIDR prefix length \"" + std::string(len) + "\" is not a number");
    }
  }
  if (const auto ip = parse_ip(address); ip) {
    const int max_bits = ip->size * 8;
    if (bits < 0) bits = max_bits;
    if (bits > max_bits) throw std::invalid_argument("CIDR prefix length beyond the address size");
    kind_ = kind::block;
    block_ = *ip;
    prefix_bits_ = static_cast<std::uint8_t>(bits);
    return;
  }
  if (bits >= 0) throw std::invalid_argument("\"" + std::string(address) + "\" is not an IP address");
  if (!host_chars_ok(host)) throw std::invalid_argument("\"" + std::string(host) + "\" is not a host name pattern");
  kind_ = kind::name;
  name_ = glob(host, glob_kind::name, /*fold_case=*/true);
}

bool endpoint::port_ok(int port) const noexcept {
  if (port < 0) return true;  // not known (a resolve without a service)
  return port >= port_lo_ && port <= port_hi_;
}

bool endpoint::host_ok(std::string_view host) const noexcept {
  switch (kind_) {
    case kind::any_host: return true;
    case kind::name: return name_.matches(host);
    case kind::block: {
      const auto ip = parse_ip(host);
      if (!ip || ip->size != block_.size) return false;
      const int whole = prefix_bits_ / 8;
      for (int i = 0; i < whole; ++i) {
        if (ip->bytes[static_cast<std::size_t>(i)] != block_.bytes[static_cast<std::size_t>(i)]) return false;
      }
      if (const int rest = prefix_bits_ % 8; rest != 0) {
        const auto mask = static_cast<std::uint8_t>(0xFFU << (8 - rest));
        const auto at = static_cast<std::size_t>(whole);
        if ((ip->bytes[at] & mask) != (block_.bytes[at] & mask)) return false;
      }
      return true;
    }
  }
  return false;
}

bool endpoint::matches(std::string_view host, int port, std::span<const std::string> aliases) const noexcept {
  if (!port_ok(port)) return false;
  if (host_ok(host)) return true;
  if (kind_ == kind::name) {
    for (const std::string& alias : aliases) {
      if (name_.matches(alias)) return true;
    }
  }
  return false;
}

}  // namespace bluepython::policy
