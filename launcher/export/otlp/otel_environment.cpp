// SPDX-License-Identifier: Apache-2.0
#include "export/otlp/otel_environment.hpp"

#include <cctype>
#include <charconv>
#include <cstdint>
#include <optional>
#include <system_error>

#include <fmt/format.h>

namespace bluepython {
namespace {

// "%2C" and friends in OTEL_EXPORTER_OTLP_HEADERS / OTEL_RESOURCE_ATTRIBUTES values.
std::string percent_decode(std::string_view text) {
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      const int hi = hex(text[i + 1]);
      const int lo = hex(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>((hi << 4) | lo);
        i += 2;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

// Enumerated OTel values ("none", "true", "http/protobuf") are case-insensitive.
std::string lower_trimmed(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return trim(s);
}

}  // namespace

std::vector<std::pair<std::string, std::string>> parse_otel_pairs(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    const auto eq = item.find('=');
    if (eq != std::string_view::npos) {
      std::string key = trim(percent_decode(item.substr(0, eq)));
      if (!key.empty()) out.emplace_back(std::move(key), trim(percent_decode(item.substr(eq + 1))));
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

void apply_otel_environment(otlp_options& o, const getenv_fn& getenv_lookup) {
  auto get = [&](const char* name) -> std::optional<std::string> {
    const char* v = getenv_lookup(name);
    if (v == nullptr || v[0] == '\0') return std::nullopt;
    return std::string(v);
  };
  if (auto v = get("OTEL_SDK_DISABLED"); v && lower_trimmed(*v) == "true") o.enable = false;
  if (auto v = get("OTEL_EXPORTER_OTLP_ENDPOINT")) o.endpoint = trim(*v);
  if (auto v = get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")) o.logs_endpoint = trim(*v);
  if (auto v = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) o.traces_endpoint = trim(*v);
  if (auto v = get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")) o.metrics_endpoint = trim(*v);
  if (auto v = get("OTEL_EXPORTER_OTLP_HEADERS")) o.headers = parse_otel_pairs(*v);
  if (auto v = get("OTEL_EXPORTER_OTLP_TIMEOUT")) {
    std::uint32_t ms = 0;
    const std::string t = trim(*v);
    const auto [end, error] = std::from_chars(t.data(), t.data() + t.size(), ms);
    if (error == std::errc{} && end == t.data() + t.size() && ms > 0) o.timeout_ms = ms;
  }
  if (auto v = get("OTEL_SERVICE_NAME")) o.service_name = trim(*v);
  if (auto v = get("OTEL_RESOURCE_ATTRIBUTES")) {
    for (auto& pair : parse_otel_pairs(*v)) o.resource_attributes.push_back(std::move(pair));
  }
  for (const auto& [variable, flag] : {std::pair{"OTEL_LOGS_EXPORTER", &o.logs}, std::pair{"OTEL_TRACES_EXPORTER", &o.traces},
                                       std::pair{"OTEL_METRICS_EXPORTER", &o.metrics}}) {
    if (auto v = get(variable); v && lower_trimmed(*v) == "none") *flag = false;
  }
  for (const char* variable : {"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
                               "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"}) {
    if (auto v = get(variable); v && lower_trimmed(*v) != "http/protobuf") {
      o.problem = fmt::format("{}={} is not supported (bluepython exports OTLP over http/protobuf); export is off",
                              variable, *v);
    }
  }
}

}  // namespace bluepython
