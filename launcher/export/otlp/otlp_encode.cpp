// SPDX-License-Identifier: Apache-2.0
#include "export/otlp/otlp_encode.hpp"

#include <algorithm>
#include <string_view>

#include "export/otlp/protobuf_writer.hpp"

namespace bluepython::otlp {
namespace {

// Field numbers, from opentelemetry-proto (common, resource, logs, trace, metrics v1).
namespace common {
constexpr std::uint32_t kAnyString = 1, kAnyBool = 2, kAnyInt = 3, kAnyDouble = 4, kAnyArray = 5, kAnyKvlist = 6;
constexpr std::uint32_t kArrayValues = 1;       // ArrayValue.values
constexpr std::uint32_t kKvlistValues = 1;      // KeyValueList.values
constexpr std::uint32_t kKey = 1, kValue = 2;   // KeyValue
constexpr std::uint32_t kScopeName = 1, kScopeVersion = 2;
constexpr std::uint32_t kResourceAttributes = 1;
}  // namespace common

void any_value(protobuf_writer& w, const nlohmann::json& v, int depth);

void key_value(protobuf_writer& w, std::uint32_t field, std::string_view key, const nlohmann::json& value, int depth) {
  const auto kv = w.begin(field);
  w.string(common::kKey, key);
  if (!value.is_null()) {
    const auto any = w.begin(common::kValue);
    any_value(w, value, depth + 1);
    w.end(any);
  }
  w.end(kv);
}

// The inside of an AnyValue message.
void any_value(protobuf_writer& w, const nlohmann::json& v, int depth) {
  if (depth > 32) {  // deeper than anything we build: as text
    w.string(common::kAnyString, v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    return;
  }
  switch (v.type()) {
    case nlohmann::json::value_t::string: w.string(common::kAnyString, v.get_ref<const std::string&>()); break;
    case nlohmann::json::value_t::boolean: w.boolean(common::kAnyBool, v.get<bool>()); break;
    case nlohmann::json::value_t::number_integer: w.int64(common::kAnyInt, v.get<std::int64_t>()); break;
    case nlohmann::json::value_t::number_unsigned: {
      const auto u = v.get<std::uint64_t>();
      if (u <= static_cast<std::uint64_t>(INT64_MAX)) {
        w.int64(common::kAnyInt, static_cast<std::int64_t>(u));
      } else {
        w.string(common::kAnyString, std::to_string(u));
      }
      break;
    }
    case nlohmann::json::value_t::number_float: w.double_(common::kAnyDouble, v.get<double>()); break;
    case nlohmann::json::value_t::array: {
      const auto array = w.begin(common::kAnyArray);
      for (const auto& item : v) {
        const auto any = w.begin(common::kArrayValues);
        if (!item.is_null()) any_value(w, item, depth + 1);
        w.end(any);
      }
      w.end(array);
      break;
    }
    case nlohmann::json::value_t::object: {
      const auto list = w.begin(common::kAnyKvlist);
      for (const auto& [k, item] : v.items()) key_value(w, common::kKvlistValues, k, item, depth + 1);
      w.end(list);
      break;
    }
    default: break;  // null, binary, discarded: an empty AnyValue
  }
}

void attribute_list(protobuf_writer& w, std::uint32_t field, const attributes& attrs) {
  for (const auto& [key, value] : attrs) {
    if (!value.is_null()) key_value(w, field, key, value, 0);
  }
}

void resource(protobuf_writer& w, std::uint32_t field, const attributes& attrs) {
  const auto m = w.begin(field);
  attribute_list(w, common::kResourceAttributes, attrs);
  w.end(m);
}

void scope(protobuf_writer& w, std::uint32_t field, const scope_info& s) {
  const auto m = w.begin(field);
  w.string(common::kScopeName, s.name);
  if (!s.version.empty()) w.string(common::kScopeVersion, s.version);
  w.end(m);
}

// Export*ServiceRequest > Resource*{resource(1), scope_*(2)} > Scope*{scope(1), items(2)}:
// the same envelope for the three signals. Returns the marks to end().
std::pair<std::size_t, std::size_t> begin_envelope(protobuf_writer& w, const attributes& resource_attrs,
                                                   const scope_info& scope_info_) {
  const auto outer = w.begin(1);
  resource(w, 1, resource_attrs);
  const auto inner = w.begin(2);
  scope(w, 1, scope_info_);
  return {outer, inner};
}

void end_envelope(protobuf_writer& w, std::pair<std::size_t, std::size_t> marks) {
  w.end(marks.second);
  w.end(marks.first);
}

template <std::size_t N>
std::string_view id_bytes(const std::array<std::uint8_t, N>& id) noexcept {
  return {reinterpret_cast<const char*>(id.data()), N};
}

template <std::size_t N>
bool is_zero(const std::array<std::uint8_t, N>& id) noexcept {
  return std::all_of(id.begin(), id.end(), [](std::uint8_t b) { return b == 0; });
}

}  // namespace

std::string encode_logs(const attributes& resource_attrs, const scope_info& scope_info_, const std::vector<log_record>& records) {
  // ExportLogsServiceRequest.resource_logs(1) > ResourceLogs{resource(1), scope_logs(2)}
  // > ScopeLogs{scope(1), log_records(2)} > LogRecord.
  std::string out;
  protobuf_writer w(out);
  const auto envelope = begin_envelope(w, resource_attrs, scope_info_);
  for (const auto& r : records) {
    const auto lr = w.begin(2);
    w.fixed64(1, r.time_ns);  // time_unix_nano
    w.varint(2, static_cast<std::uint64_t>(r.severity_number));
    if (!r.severity_text.empty()) w.string(3, r.severity_text);
    const auto body = w.begin(5);
    w.string(common::kAnyString, r.body);
    w.end(body);
    attribute_list(w, 6, r.attrs);
    if (r.has_span) {
      w.fixed32(8, 1);  // flags: W3C sampled
      w.bytes(9, id_bytes(r.trace));
      w.bytes(10, id_bytes(r.span));
    }
    if (r.observed_ns != 0) w.fixed64(11, r.observed_ns);
    if (!r.event_name.empty()) w.string(12, r.event_name);
    w.end(lr);
  }
  end_envelope(w, envelope);
  return out;
}

std::string encode_traces(const attributes& resource_attrs, const scope_info& scope_info_, const std::vector<span>& spans) {
  // ExportTraceServiceRequest.resource_spans(1) > ResourceSpans{resource(1), scope_spans(2)}
  // > ScopeSpans{scope(1), spans(2)} > Span.
  std::string out;
  protobuf_writer w(out);
  const auto envelope = begin_envelope(w, resource_attrs, scope_info_);
  for (const auto& s : spans) {
    const auto m = w.begin(2);
    w.bytes(1, id_bytes(s.trace));
    w.bytes(2, id_bytes(s.id));
    if (!s.trace_state.empty()) w.string(3, s.trace_state);
    if (!is_zero(s.parent)) w.bytes(4, id_bytes(s.parent));
    w.string(5, s.name);
    if (s.kind != span_kind::unspecified) w.varint(6, static_cast<std::uint64_t>(s.kind));
    w.fixed64(7, s.start_ns);
    w.fixed64(8, s.end_ns);
    attribute_list(w, 9, s.attrs);
    for (const auto& e : s.events) {
      const auto em = w.begin(11);
      w.fixed64(1, e.time_ns);
      w.string(2, e.name);
      attribute_list(w, 3, e.attrs);
      w.end(em);
    }
    for (const auto& l : s.links) {
      const auto lm = w.begin(13);
      w.bytes(1, id_bytes(l.trace));
      w.bytes(2, id_bytes(l.span));
      w.end(lm);
    }
    if (s.status != status_code::unset) {
      const auto st = w.begin(15);
      if (!s.status_message.empty()) w.string(2, s.status_message);
      w.varint(3, static_cast<std::uint64_t>(s.status));
      w.end(st);
    }
    w.fixed32(16, 0x100U | 1U);  // flags: sampled; the parent's remote bit known (0x100)
    w.end(m);
  }
  end_envelope(w, envelope);
  return out;
}

std::string encode_metrics(const attributes& resource_attrs, const scope_info& scope_info_,
                           const std::vector<histogram>& histograms) {
  // ExportMetricsServiceRequest.resource_metrics(1) > ResourceMetrics{resource(1),
  // scope_metrics(2)} > ScopeMetrics{scope(1), metrics(2)} > Metric{name(1),
  // description(2), unit(3), histogram(9)} > Histogram{data_points(1),
  // aggregation_temporality(2)} > HistogramDataPoint.
  std::string out;
  protobuf_writer w(out);
  const auto envelope = begin_envelope(w, resource_attrs, scope_info_);
  for (const auto& h : histograms) {
    if (h.points.empty()) continue;
    const auto metric = w.begin(2);
    w.string(1, h.name);
    if (!h.description.empty()) w.string(2, h.description);
    if (!h.unit.empty()) w.string(3, h.unit);
    const auto hist = w.begin(9);
    for (const auto& p : h.points) {
      const auto dp = w.begin(1);
      w.fixed64(2, p.start_ns);
      w.fixed64(3, p.time_ns);
      w.fixed64(4, p.count);
      w.double_(5, p.sum);
      const auto counts = w.begin_packed(6);
      for (const auto c : p.bucket_counts) w.packed_fixed64(c);
      w.end(counts);
      const auto bounds = w.begin_packed(7);
      for (const auto b : h.bounds) w.packed_double(b);
      w.end(bounds);
      attribute_list(w, 9, p.attrs);
      if (p.count > 0) {
        w.double_(11, p.min);
        w.double_(12, p.max);
      }
      w.end(dp);
    }
    w.varint(2, 2);  // AGGREGATION_TEMPORALITY_CUMULATIVE
    w.end(hist);
    w.end(metric);
  }
  end_envelope(w, envelope);
  return out;
}

}  // namespace bluepython::otlp
