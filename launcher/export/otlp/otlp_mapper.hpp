// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "export/otlp/otlp_encode.hpp"

namespace bluepython::otlp {

// Turns spool events (NDJSON lines, as the writer composed them) into OTLP
// data, following the OpenTelemetry MCP semantic conventions:
//
// - every event becomes a log record (body: the event's JSON; event_name: its
//   name), with the trace and span of the MCP call it happened in;
// - python_mcp_event request/response pairs become mcp.server / mcp.client
//   spans named "{mcp.method.name} {target}", with side effects seen during
//   a server call as span events;
// - python_llm_request becomes an OpenTelemetry GenAI client span
//   ("{gen_ai.operation.name} {gen_ai.request.model}", usage and models as
//   gen_ai.* attributes), a child of the call's span;
// - python_policy_violation is a WARN log record (ERROR when the operation
//   was refused) and an event on its call's span; a refusal sets the span's
//   status to error with the rule's reason;
// - durations feed the four mcp.{client,server}.{operation,session}.duration
//   histograms (seconds, the convention's buckets).
//
// Span ids of server calls are derived from the call_id (SHA-256), so every
// event that names a call — in this process or, through
// sensor_startup.parent.call, in a child — points at the same span. The
// trace continues the client's W3C traceparent from params._meta when the
// request carried one; otherwise it is derived from the call_id too.
//
// Runs on the exporter's thread only. State is bounded: at most kMaxPending
// open requests and kMaxCalls remembered calls (oldest first out).
class mapper {
 public:
  explicit mapper(bool capture_tool_io = false) : capture_tool_io_(capture_tool_io) {}

  // One event line (without the newline). Lines that do not parse are skipped.
  void add(std::string_view line);

  std::vector<log_record> take_logs() { return std::exchange(logs_, {}); }
  std::vector<span> take_spans() { return std::exchange(spans_, {}); }
  // Cumulative histograms (empty ones left out); now_ns is the point's time.
  [[nodiscard]] std::vector<histogram> histograms(std::uint64_t now_ns) const;
  [[nodiscard]] bool has_metrics() const noexcept { return !operation_.empty() || !session_.empty(); }
  [[nodiscard]] std::size_t pending() const noexcept { return pending_.size(); }

  static constexpr std::size_t kMaxPending = 4096;
  static constexpr std::size_t kMaxCalls = 4096;
  static constexpr std::size_t kMaxSpanEvents = 128;

  // The convention's bucket boundaries, in seconds.
  static const std::vector<double>& duration_bounds();

  // Ids a call_id stands for (exposed for tests).
  static span_id call_span(std::string_view call_id);
  static trace_id call_trace(std::string_view call_id);

 private:
  // Its implicit move may throw (nlohmann::json, std::string): only moved
  // inside the mapper's own try blocks.
  struct open_request {  // NOLINT(bugprone-exception-escape)
    bool server = true;
    std::uint64_t start_ns = 0;
    std::string method;
    std::string target;     // tool or prompt name
    std::string resource;   // resources/*: the URI
    nlohmann::json request_id;
    std::string session_id;
    std::string transport;
    std::string protocol_version;
    std::string call_id;
    bool has_remote_parent = false;
    bool has_own_span = false;  // client: the span id our hooks sent in traceparent
    bool foreign = false;       // client: the app's own instrumentation sent a traceparent
    span_id own_span{};
    trace_id trace{};
    span_id parent{};
    std::string trace_state;
    nlohmann::json arguments;
    std::vector<span_event> events;
    std::uint32_t policy_violations = 0;
    std::string policy_refusal;  // the first refused operation's reason
  };
  struct call_ids {
    trace_id trace{};
    span_id span{};
  };
  struct series {
    std::uint64_t start_ns = 0;
    std::uint64_t count = 0;
    double sum = 0;
    double min = 0;
    double max = 0;
    std::vector<std::uint64_t> buckets;
    attributes attrs;
  };

  [[nodiscard]] nlohmann::json mcp_digest(std::string_view event_text, const nlohmann::json& mcp) const;
  void on_mcp_event(const nlohmann::json& event, std::uint64_t ts);
  void finish(open_request& req, const nlohmann::json& event, std::uint64_t end_ns);
  void on_session(const nlohmann::json& event, std::uint64_t ts, bool created);
  void on_llm_request(const nlohmann::json& event, const nlohmann::json& mcp, std::uint64_t ts);
  template <std::size_t N>
  void random_bytes(std::array<std::uint8_t, N>& out);
  // The ids of the call an event's context.mcp names (and the open request
  // it belongs to, if this process saw it arrive), or nullptr.
  const call_ids* ids_of_call(const nlohmann::json& mcp);
  void remember_call(const std::string& call_id, const call_ids& ids);
  void record(std::map<std::string, series>& into, const attributes& attrs, double seconds, std::uint64_t ts);

  bool capture_tool_io_;
  std::vector<log_record> logs_;
  std::vector<span> spans_;
  std::unordered_map<std::string, open_request> pending_;  // "s|session|id" / "c|session|id"
  std::deque<std::string> pending_order_;
  std::unordered_map<std::string, call_ids> calls_;
  std::deque<std::string> call_order_;
  std::unordered_map<std::string, std::uint64_t> sessions_;  // "s|id" / "c|id" -> created ns
  std::map<std::string, series> operation_;  // key: side + attributes (JSON)
  std::map<std::string, series> session_;
  std::uint64_t first_ns_ = 0;
  std::uint64_t random_state_ = 0;
};

}  // namespace bluepython::otlp
