// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace bluepython::otlp {

// The OTLP/HTTP protobuf request bodies bluepython sends
// (opentelemetry-proto: collector/{logs,trace,metrics}/v1 Export*ServiceRequest),
// written with protobuf_writer: a few message types, no generated code and
// no protobuf runtime. Attribute values are JSON values: string, bool,
// integer, double, array (ArrayValue) and object (KeyValueList); null is
// left out.

using attribute = std::pair<std::string, nlohmann::json>;
using attributes = std::vector<attribute>;

using trace_id = std::array<std::uint8_t, 16>;
using span_id = std::array<std::uint8_t, 8>;

struct scope_info {
  std::string name;
  std::string version;
};

struct log_record {
  std::uint64_t time_ns = 0;
  std::uint64_t observed_ns = 0;
  std::string event_name;
  int severity_number = 9;  // INFO
  std::string severity_text = "INFO";
  std::string body;  // a string body
  attributes attrs;
  bool has_span = false;
  trace_id trace{};
  span_id span{};
};

enum class span_kind : std::uint8_t { unspecified = 0, internal = 1, server = 2, client = 3 };
enum class status_code : std::uint8_t { unset = 0, ok = 1, error = 2 };

struct span_event {
  std::uint64_t time_ns = 0;
  std::string name;
  attributes attrs;
};

struct span_link {
  trace_id trace{};
  span_id span{};
};

struct span {
  trace_id trace{};
  span_id id{};
  span_id parent{};  // all zero: a root span
  std::string trace_state;
  std::string name;
  span_kind kind = span_kind::internal;
  std::uint64_t start_ns = 0;
  std::uint64_t end_ns = 0;
  attributes attrs;
  std::vector<span_event> events;
  std::vector<span_link> links;
  status_code status = status_code::unset;
  std::string status_message;
};

struct histogram_point {
  attributes attrs;
  std::uint64_t start_ns = 0;
  std::uint64_t time_ns = 0;
  std::uint64_t count = 0;
  double sum = 0;
  double min = 0;
  double max = 0;
  std::vector<std::uint64_t> bucket_counts;  // bounds.size() + 1
};

struct histogram {
  std::string name;
  std::string description;
  std::string unit;
  std::vector<double> bounds;
  std::vector<histogram_point> points;  // cumulative temporality
};

std::string encode_logs(const attributes& resource, const scope_info& scope, const std::vector<log_record>& records);
std::string encode_traces(const attributes& resource, const scope_info& scope, const std::vector<span>& spans);
std::string encode_metrics(const attributes& resource, const scope_info& scope,
                           const std::vector<histogram>& histograms);

}  // namespace bluepython::otlp
