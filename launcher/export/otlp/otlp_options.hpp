// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bluepython {

// OTLP export (docs/export.md), as the operator asked for it. Off unless an
// endpoint is configured: the config file's "otlp" object (config/ parses
// it), or the standard OTEL_EXPORTER_OTLP_* variables (otel_environment.hpp;
// they take precedence, as for any OpenTelemetry SDK). Plain data: read-only
// once the configuration is built, so any thread may read it.
struct otlp_options {
  bool enable = true;            // false: never export, whatever the endpoints
  std::string endpoint;          // base URL; /v1/logs, /v1/traces, /v1/metrics are appended
  std::string logs_endpoint;     // full URLs, each overriding the base for its signal
  std::string traces_endpoint;
  std::string metrics_endpoint;
  bool logs = true;
  bool traces = true;
  bool metrics = true;
  // Not in the config's to_json (nor handed to children through the spool
  // directory): they may be credentials. Children read OTEL_EXPORTER_OTLP_HEADERS again.
  std::vector<std::pair<std::string, std::string>> headers;
  std::uint32_t timeout_ms = 10'000;
  std::uint32_t batch_delay_ms = 1'000;
  std::uint32_t metric_interval_ms = 60'000;
  std::uint32_t shutdown_timeout_ms = 1'000;
  std::uint64_t max_queue_bytes = 16ULL << 20U;
  bool capture_tool_io = false;  // opt-in: gen_ai.tool.call.arguments / .result on spans
  std::string service_name;
  std::vector<std::pair<std::string, std::string>> resource_attributes;
  std::string problem;  // why export is off although configured (one warning at start)

  // Whether any endpoint is set (export was asked for, even if it is off).
  [[nodiscard]] bool configured() const noexcept {
    return !endpoint.empty() || !logs_endpoint.empty() || !traces_endpoint.empty() || !metrics_endpoint.empty();
  }
  [[nodiscard]] bool active() const noexcept { return enable && problem.empty(); }

  // The URL of one signal ("logs", "traces", "metrics"), or "" when not exported.
  [[nodiscard]] std::string url(std::string_view signal) const {
    if (!active()) return {};
    const bool on = signal == "logs" ? logs : signal == "traces" ? traces : metrics;
    if (!on) return {};
    const std::string& specific =
        signal == "logs" ? logs_endpoint : signal == "traces" ? traces_endpoint : metrics_endpoint;
    if (!specific.empty()) return specific;
    if (endpoint.empty()) return {};
    std::string base = endpoint;
    while (!base.empty() && base.back() == '/') base.pop_back();
    return base + "/v1/" + std::string(signal);
  }
};

}  // namespace bluepython
