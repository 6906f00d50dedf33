// SPDX-License-Identifier: Apache-2.0
#include "export/otlp/otlp_mapper.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "export/otlp/otlp_encode.hpp"
#include "pipeline/sha256.hpp"
#include "protobuf_reader.hpp"

using namespace bluepython;
using namespace bluepython::otlp;
using bluepython::test::pb_all;
using bluepython::test::pb_one;

namespace {

// One spool line as the pipeline composes it: ts, then event{meta, context, members}.
std::string event_line(const std::string& ts, const std::string& name, const std::string& mcp,
                       const std::string& members, const char* type = "event") {
  std::string line = R"({"ts":")" + ts + R"(","event":{"meta":{"name":")" + name + R"(","type":")" + type +
                     R"(","uuid":"a39d4615-91ca-4c8f-aac9-c4a4f4f7b4b9","id":7},)" +
                     R"("context":{"process":{"pid":4242,"ppid":1},"scope":"call")";
  if (!mcp.empty()) line += R"(,"mcp":)" + mcp;
  line += "}";
  if (!members.empty()) line += "," + members;
  return line + "}}";
}

constexpr const char* kCallId = "a39d4615-91ca-4c8f-aac9-c4a4f4f7b4b9:4";
constexpr const char* kSession = "cedddaafdc605a9dda09185dc9fc7c39";

std::string call_context(const std::string& extra = "") {
  return std::string(R"({"call_id":")") + kCallId + R"(","session_id":")" + kSession +
         R"(","request_id":3,"method":"tools/call","target":"add","transport":"stdio","server_name":"notes")" + extra +
         "}";
}

std::string tools_call_request(const std::string& ts, const std::string& meta, const std::string& mcp) {
  const std::string params = R"({"name":"add","arguments":{"a":1,"b":2})" + (meta.empty() ? "" : R"(,"_meta":)" + meta) + "}";
  return event_line(ts, "python_mcp_event", mcp,
                    R"("event":"server_received_request","id":3,"message":{"method":"tools/call","params":)" + params +
                        R"(,"jsonrpc":"2.0","id":3},"session_id":")" + kSession +
                        R"(","client_id":"mcp","source":1,"server_name":"notes","method":"tools/call",)"
                        R"("transport":"stdio","protocol_version":"2025-11-25")");
}

std::string tools_call_response(const std::string& ts, const std::string& mcp, const std::string& error = "") {
  return event_line(ts, "python_mcp_event", mcp,
                    R"("event":"server_send_response","id":3,"message":{"jsonrpc":"2.0","id":3,"result":)"
                    R"({"content":[{"type":"text","text":"3"}],"isError":false}},"session_id":")" +
                        std::string(kSession) +
                        R"(","client_id":"mcp","source":0,"server_name":"notes","duration_ms":50.0,)"
                        R"("transport":"stdio","protocol_version":"2025-11-25","request_method":"tools/call")" +
                        (error.empty() ? "" : R"(,"error":)" + error));
}

const nlohmann::json* attr(const attributes& attrs, const std::string& key) {
  const auto it = std::find_if(attrs.begin(), attrs.end(), [&](const attribute& a) { return a.first == key; });
  return it == attrs.end() ? nullptr : &it->second;
}

template <std::size_t N>
std::array<std::uint8_t, N> from_hex(const std::string& hex) {
  std::array<std::uint8_t, N> out{};
  for (std::size_t i = 0; i < N; ++i) out[i] = static_cast<std::uint8_t>(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
  return out;
}

template <std::size_t N>
std::string_view bytes_of(const std::array<std::uint8_t, N>& id) {
  return {reinterpret_cast<const char*>(id.data()), N};
}

constexpr std::uint64_t kT0 = 1'795'316'619'000'000'000ULL;  // 2026-11-22T03:03:39Z

}  // namespace

TEST_CASE("every event line becomes a log record with the line as its body", "[otlp][mapper]") {
  mapper m;
  const std::string open = event_line("2026-11-22T03:03:39.720138Z", "python_file_open", "", R"("path":"/tmp/f")");
  const std::string fault = event_line("2026-11-22T03:03:40Z", "python_internal_exception", "", R"("where":"x")");
  m.add(open);
  m.add("not json at all");
  m.add(R"({"ts":"2026-11-22T03:03:39Z","event":{}})");  // no name: not an event
  m.add(fault);
  const auto logs = m.take_logs();
  REQUIRE(logs.size() == 2);
  CHECK(logs[0].body == open);
  CHECK(logs[0].event_name == "python_file_open");
  CHECK(logs[0].time_ns == kT0 + 720'138'000ULL);
  CHECK(logs[0].severity_number == 9);
  CHECK_FALSE(logs[0].has_span);  // outside any call
  REQUIRE(attr(logs[0].attrs, "bluepython.scope") != nullptr);
  CHECK(*attr(logs[0].attrs, "bluepython.scope") == "call");
  CHECK(logs[1].time_ns == kT0 + 1'000'000'000ULL);
  CHECK(logs[1].severity_number == 13);
  CHECK(logs[1].severity_text == "WARN");
  CHECK(m.take_logs().empty());  // taken
  CHECK(m.take_spans().empty());
  CHECK_FALSE(m.has_metrics());
}

TEST_CASE("a server call is a span whose ids derive from its call_id", "[otlp][mapper]") {
  mapper m;
  const std::string mcp = call_context();
  m.add(tools_call_request("2026-11-22T03:03:39.000000Z", "", mcp));
  m.add(event_line("2026-11-22T03:03:39.010000Z", "python_file_open", mcp, R"("path":"/etc/passwd","mode":"r")"));
  CHECK(m.pending() == 1);
  m.add(tools_call_response("2026-11-22T03:03:39.050000Z", mcp));
  CHECK(m.pending() == 0);

  // SHA-256 of "span/<call_id>" and "trace/<call_id>": every process that
  // names the call gets the same ids.
  const auto span_digest = sha256_bytes(std::string("span/") + kCallId);
  const auto trace_digest = sha256_bytes(std::string("trace/") + kCallId);
  const span_id call_span = mapper::call_span(kCallId);
  const trace_id call_trace = mapper::call_trace(kCallId);
  CHECK(std::equal(call_span.begin(), call_span.end(), span_digest.begin()));
  CHECK(std::equal(call_trace.begin(), call_trace.end(), trace_digest.begin()));

  const auto spans = m.take_spans();
  REQUIRE(spans.size() == 1);
  const span& s = spans[0];
  CHECK(s.kind == span_kind::server);
  CHECK(s.name == "tools/call add");
  CHECK(s.id == mapper::call_span(kCallId));
  CHECK(s.trace == mapper::call_trace(kCallId));
  CHECK(s.parent == span_id{});  // a root: no traceparent came
  CHECK(s.start_ns == kT0);
  CHECK(s.end_ns == kT0 + 50'000'000ULL);
  CHECK(s.status == status_code::unset);
  CHECK(*attr(s.attrs, "mcp.method.name") == "tools/call");
  CHECK(*attr(s.attrs, "gen_ai.tool.name") == "add");
  CHECK(*attr(s.attrs, "gen_ai.operation.name") == "execute_tool");
  CHECK(*attr(s.attrs, "jsonrpc.request.id") == "3");
  CHECK(*attr(s.attrs, "mcp.session.id") == kSession);
  CHECK(*attr(s.attrs, "mcp.protocol.version") == "2025-11-25");
  CHECK(*attr(s.attrs, "network.transport") == "pipe");
  CHECK(attr(s.attrs, "gen_ai.tool.call.arguments") == nullptr);  // capture_tool_io is off
  // The side effect during the call: an event on the span.
  REQUIRE(s.events.size() == 1);
  CHECK(s.events[0].name == "python_file_open");
  CHECK(s.events[0].time_ns == kT0 + 10'000'000ULL);
  CHECK(*attr(s.events[0].attrs, "path") == "/etc/passwd");

  // Every record of the call points at that span.
  const auto logs = m.take_logs();
  REQUIRE(logs.size() == 3);
  for (const auto& log : logs) {
    CHECK(log.has_span);
    CHECK(log.trace == s.trace);
    CHECK(log.span == s.id);
    CHECK(*attr(log.attrs, "bluepython.call_id") == kCallId);
  }
}

TEST_CASE("a server call continues the client's W3C traceparent", "[otlp][mapper]") {
  const std::string trace_hex = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::string parent_hex = "00f067aa0ba902b7";
  mapper m;
  const std::string mcp = call_context();
  const std::string meta = R"({"traceparent":"00-)" + trace_hex + "-" + parent_hex + R"(-01","tracestate":"vendor=x"})";
  m.add(tools_call_request("2026-11-22T03:03:39Z", meta, mcp));
  m.add(event_line("2026-11-22T03:03:39.001Z", "python_net_connect", mcp, R"("address":["127.0.0.1",80])"));
  m.add(tools_call_response("2026-11-22T03:03:39.002Z", mcp));
  const auto spans = m.take_spans();
  REQUIRE(spans.size() == 1);
  CHECK(spans[0].trace == from_hex<16>(trace_hex));
  CHECK(spans[0].parent == from_hex<8>(parent_hex));
  CHECK(spans[0].trace_state == "vendor=x");
  CHECK(spans[0].id == mapper::call_span(kCallId));  // still the call's own span id
  for (const auto& log : m.take_logs()) {
    CHECK(log.trace == from_hex<16>(trace_hex));
    CHECK(log.span == spans[0].id);
  }

  SECTION("an invalid traceparent is ignored") {
    for (const std::string& bad : {"00-00000000000000000000000000000000-" + parent_hex + "-01",  // zero trace id
                                  "ff-" + trace_hex + "-" + parent_hex + "-01",                  // version ff
                                  "00-" + trace_hex + "-" + parent_hex,                          // too short
                                  "00-4BF92F3577B34DA6A3CE929D0E0E4736-" + parent_hex + "-01"}) {  // upper case
      mapper fresh;
      fresh.add(tools_call_request("2026-11-22T03:03:39Z", R"({"traceparent":")" + bad + R"("})", mcp));
      fresh.add(tools_call_response("2026-11-22T03:03:39.002Z", mcp));
      const auto got = fresh.take_spans();
      REQUIRE(got.size() == 1);
      CHECK(got[0].trace == mapper::call_trace(kCallId));
      CHECK(got[0].parent == span_id{});
    }
  }
}

TEST_CASE("a child's sensor_startup joins the trace of the call that started it", "[otlp][mapper]") {
  mapper m;
  const std::string startup = event_line(
      "2026-11-22T03:03:39Z", "sensor_startup", "",
      R"("via":"fork","parent":{"pid":26446,"uuid":"b2","call":)" + call_context(R"(,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736")") + "}");
  m.add(startup);
  const auto logs = m.take_logs();
  REQUIRE(logs.size() == 1);
  CHECK(logs[0].has_span);
  CHECK(logs[0].span == mapper::call_span(kCallId));
  CHECK(logs[0].trace == from_hex<16>("4bf92f3577b34da6a3ce929d0e0e4736"));  // the call's incoming trace
  CHECK(*attr(logs[0].attrs, "bluepython.parent_call_id") == kCallId);
}

TEST_CASE("error responses set the span status the convention's way", "[otlp][mapper]") {
  const std::string mcp = call_context();
  auto span_for = [&](const std::string& error) {
    mapper m;
    m.add(tools_call_request("2026-11-22T03:03:39Z", "", mcp));
    m.add(tools_call_response("2026-11-22T03:03:39.002Z", mcp, error));
    auto spans = m.take_spans();
    REQUIRE(spans.size() == 1);
    return spans[0];
  };
  const span invalid_params = span_for(R"({"type":"-32602","message":"bad arguments"})");
  CHECK(invalid_params.status == status_code::unset);  // the client's mistake, not the server failing
  CHECK(*attr(invalid_params.attrs, "error.type") == "-32602");
  CHECK(*attr(invalid_params.attrs, "rpc.response.status_code") == "-32602");
  const span internal = span_for(R"({"type":"-32603","message":"boom"})");
  CHECK(internal.status == status_code::error);
  CHECK(internal.status_message == "boom");
  const span tool_error = span_for(R"({"type":"tool_error"})");
  CHECK(tool_error.status == status_code::error);
  CHECK(*attr(tool_error.attrs, "error.type") == "tool_error");
  CHECK(attr(tool_error.attrs, "rpc.response.status_code") == nullptr);
}

TEST_CASE("a policy violation is an event on its call's span; a refusal fails the span", "[otlp][mapper]") {
  const std::string mcp = call_context();
  auto run = [&](const char* action) {
    mapper m;
    m.add(tools_call_request("2026-11-22T03:03:39Z", "", mcp));
    m.add(event_line("2026-11-22T03:03:39.001Z", "python_policy_violation", mcp,
                     std::string(R"("rule":"ro","mode":"enforce","action":")") + action +
                         R"(","reason":"read not allowed by rule ro","subject":{"kind":"files","op":"read","path":"/etc/shadow"})"));
    m.add(tools_call_response("2026-11-22T03:03:39.002Z", mcp));
    auto spans = m.take_spans();
    auto logs = m.take_logs();
    REQUIRE(spans.size() == 1);
    REQUIRE(logs.size() == 3);
    return std::make_pair(spans[0], logs[1]);
  };
  const auto [denied, denied_log] = run("denied");
  CHECK(denied.status == status_code::error);
  CHECK(denied.status_message == "bluepython policy: read not allowed by rule ro");
  CHECK(*attr(denied.attrs, "bluepython.policy.violations") == 1);
  REQUIRE(denied.events.size() == 1);
  CHECK(denied.events[0].name == "python_policy_violation");
  CHECK(*attr(denied.events[0].attrs, "rule") == "ro");
  CHECK(denied_log.severity_text == "ERROR");
  CHECK(denied_log.span == denied.id);
  // Observe mode: on the record, but the call did not fail because of it.
  const auto [recorded, recorded_log] = run("recorded");
  CHECK(recorded.status == status_code::unset);
  CHECK(*attr(recorded.attrs, "bluepython.policy.violations") == 1);
  CHECK(recorded.events.size() == 1);
  CHECK(recorded_log.severity_text == "WARN");
}

TEST_CASE("an LLM API call is a GenAI client span under its tool call's span", "[otlp][mapper]") {
  const std::string mcp = call_context();
  mapper m;
  m.add(tools_call_request("2026-11-22T03:03:39Z", "", mcp));
  m.add(event_line("2026-11-22T03:03:39.500Z", "python_llm_request", mcp,
                   R"("provider":"openai","server":"https://api.example.com/v1/","operation":"chat",)"
                   R"("method":"POST","request_model":"gpt-test","response_model":"gpt-test-0613","input_tokens":11,)"
                   R"("output_tokens":3,"stream":false,"duration_ms":250.0)"));
  m.add(event_line("2026-11-22T03:03:39.600Z", "python_llm_request", mcp,
                   R"("provider":"anthropic","server":"http://127.0.0.1:8080","operation":"chat","method":"POST",)"
                   R"("request_model":"broken","stream":false,"duration_ms":10.0,"error":"BadRequestError: no",)"
                   R"("status":400)"));
  m.add(tools_call_response("2026-11-22T03:03:39.700Z", mcp));
  const auto spans = m.take_spans();
  REQUIRE(spans.size() == 3);
  const span& call = spans[2];
  const span& chat = spans[0];
  CHECK(chat.name == "chat gpt-test");
  CHECK(chat.kind == span_kind::client);
  CHECK(chat.trace == call.trace);
  CHECK(chat.parent == call.id);
  CHECK(chat.end_ns - chat.start_ns == 250'000'000ULL);
  CHECK(*attr(chat.attrs, "gen_ai.operation.name") == "chat");
  CHECK(*attr(chat.attrs, "gen_ai.provider.name") == "openai");
  CHECK(*attr(chat.attrs, "gen_ai.response.model") == "gpt-test-0613");
  CHECK(*attr(chat.attrs, "gen_ai.usage.input_tokens") == 11);
  CHECK(*attr(chat.attrs, "gen_ai.usage.output_tokens") == 3);
  CHECK(*attr(chat.attrs, "server.address") == "api.example.com");
  CHECK(*attr(chat.attrs, "server.port") == 443);
  CHECK(chat.status == status_code::unset);
  const span& broken = spans[1];
  CHECK(broken.status == status_code::error);
  CHECK(*attr(broken.attrs, "error.type") == "BadRequestError");
  CHECK(*attr(broken.attrs, "server.port") == 8080);
  // The calls are events on the tool call's span too.
  CHECK(call.events.size() == 2);
}

TEST_CASE("client spans: our traceparent names them, a foreign one makes them step aside", "[otlp][mapper]") {
  const std::string own_trace = "0af7651916cd43dd8448eb211c80319c";
  const std::string own_span = "b7ad6b7169203331";
  auto client_request = [&](const std::string& id, const std::string& tracestate) {
    return event_line("2026-11-22T03:03:39Z", "python_mcp_event", "",
                      R"("event":"client_send_request","id":)" + id +
                          R"(,"message":{"method":"tools/list","params":{"_meta":{"traceparent":"00-)" + own_trace + "-" +
                          own_span + R"(-01","tracestate":")" + tracestate +
                          R"("}},"jsonrpc":"2.0","id":)" + id +
                          R"(},"session_id":"c1","source":1,"method":"tools/list","transport":"streamable-http")");
  };
  auto client_response = [&](const std::string& id) {
    return event_line("2026-11-22T03:03:39.3Z", "python_mcp_event", "",
                      R"("event":"client_received_response","id":)" + id +
                          R"(,"message":{"jsonrpc":"2.0","id":)" + id +
                          R"(,"result":{"tools":[]}},"session_id":"c1","source":0,"transport":"streamable-http")");
  };
  mapper m;
  m.add(client_request("1", "bluepython=1"));
  m.add(client_response("1"));
  m.add(client_request("2", "vendor=app"));
  m.add(client_response("2"));
  const auto spans = m.take_spans();
  REQUIRE(spans.size() == 1);  // the second one is the app's own instrumentation's to report
  CHECK(spans[0].kind == span_kind::client);
  CHECK(spans[0].name == "tools/list");
  CHECK(spans[0].id == from_hex<8>(own_span));
  CHECK(spans[0].trace == from_hex<16>(own_trace));
  CHECK(*attr(spans[0].attrs, "network.transport") == "tcp");
  CHECK(*attr(spans[0].attrs, "network.protocol.name") == "http");
  // Both count in the client operation histogram.
  const auto hs = m.histograms(kT0);
  const auto client_ops = std::find_if(hs.begin(), hs.end(), [](const histogram& h) {
    return h.name == "mcp.client.operation.duration";
  });
  REQUIRE(client_ops != hs.end());
  REQUIRE(client_ops->points.size() == 1);
  CHECK(client_ops->points[0].count == 2);
}

TEST_CASE("durations feed cumulative histograms with the convention's buckets", "[otlp][mapper]") {
  mapper m;
  const std::string mcp = call_context();
  m.add(event_line("2026-11-22T03:03:38Z", "python_mcp_session_created", "",
                   std::string(R"("session_id":")") + kSession + R"(","source":0,"transport":"stdio","server_name":"notes")",
                   "nonactionable"));
  m.add(tools_call_request("2026-11-22T03:03:39Z", "", mcp));
  m.add(tools_call_response("2026-11-22T03:03:39.050Z", mcp));  // 0.05 s: in (0.02, 0.05]
  m.add(tools_call_request("2026-11-22T03:03:40Z", "", mcp));
  m.add(tools_call_response("2026-11-22T03:03:41.5Z", mcp));  // 1.5 s: in (1, 2]
  m.add(event_line("2026-11-22T03:03:44Z", "python_mcp_session_terminated", "",
                   std::string(R"("session_id":")") + kSession + R"(","source":0,"transport":"stdio","protocol_version":"2025-11-25")",
                   "nonactionable"));
  REQUIRE(m.has_metrics());
  const auto hs = m.histograms(kT0 + 10'000'000'000ULL);
  REQUIRE(hs.size() == 2);  // server operation and server session; nothing client-side
  const histogram& ops = hs[0];
  CHECK(ops.name == "mcp.server.operation.duration");
  CHECK(ops.unit == "s");
  CHECK(ops.bounds == mapper::duration_bounds());
  REQUIRE(ops.points.size() == 1);
  const histogram_point& p = ops.points[0];
  CHECK(p.count == 2);
  CHECK(p.sum == Approx(1.55));
  CHECK(p.min == Approx(0.05));
  CHECK(p.max == Approx(1.5));
  CHECK(p.start_ns == kT0 - 1'000'000'000ULL);  // the first event seen
  CHECK(p.time_ns == kT0 + 10'000'000'000ULL);
  REQUIRE(p.bucket_counts.size() == mapper::duration_bounds().size() + 1);
  std::vector<std::uint64_t> expected(p.bucket_counts.size(), 0);
  expected[2] = 1;  // (0.02, 0.05]
  expected[7] = 1;  // (1, 2]
  CHECK(p.bucket_counts == expected);
  CHECK(*attr(p.attrs, "mcp.method.name") == "tools/call");
  CHECK(*attr(p.attrs, "gen_ai.tool.name") == "add");
  CHECK(attr(p.attrs, "mcp.session.id") == nullptr);  // high cardinality: spans only
  const histogram& sessions = hs[1];
  CHECK(sessions.name == "mcp.server.session.duration");
  REQUIRE(sessions.points.size() == 1);
  CHECK(sessions.points[0].count == 1);
  CHECK(sessions.points[0].sum == Approx(6.0));  // created to terminated
  CHECK(*attr(sessions.points[0].attrs, "mcp.protocol.version") == "2025-11-25");
}

TEST_CASE("the encoders write what OTLP's protobuf definitions say", "[otlp][encode]") {
  mapper m;
  const std::string mcp = call_context();
  m.add(tools_call_request("2026-11-22T03:03:39Z", "", mcp));
  m.add(tools_call_response("2026-11-22T03:03:39.050Z", mcp, R"({"type":"-32603","message":"boom"})"));
  const attributes resource = {{"service.name", "svc"}, {"process.pid", 4242}};
  const scope_info scope{"bluepython", "1.2.3"};

  // Export*ServiceRequest > Resource*(1){resource(1), Scope*(2){scope(1), items(2)}}.
  auto items = [](const std::string& body) {
    const auto outer = pb_one(body, 1).bytes;
    const auto res_attrs = pb_all(pb_one(outer, 1).bytes, 1);
    CHECK(res_attrs.size() == 2);
    CHECK(pb_one(res_attrs[0].bytes, 1).bytes == "service.name");
    CHECK(pb_one(pb_one(res_attrs[0].bytes, 2).bytes, 1).bytes == "svc");  // AnyValue.string_value
    CHECK(pb_one(pb_one(res_attrs[1].bytes, 2).bytes, 3).number_value == 4242);  // AnyValue.int_value
    const auto inner = pb_one(outer, 2).bytes;
    CHECK(pb_one(pb_one(inner, 1).bytes, 1).bytes == "bluepython");
    CHECK(pb_one(pb_one(inner, 1).bytes, 2).bytes == "1.2.3");
    return pb_all(inner, 2);
  };

  const auto logs = m.take_logs();
  const std::string logs_body = encode_logs(resource, scope, logs);
  const auto records = items(logs_body);
  REQUIRE(records.size() == 2);
  const std::string_view record = records[0].bytes;
  CHECK(pb_one(record, 1).number_value == kT0);                           // time_unix_nano
  CHECK(pb_one(record, 2).number_value == 9);                             // severity_number
  CHECK(pb_one(pb_one(record, 5).bytes, 1).bytes == logs[0].body);        // body.string_value
  CHECK(pb_one(record, 9).bytes == bytes_of(mapper::call_trace(kCallId)));  // trace_id
  CHECK(pb_one(record, 10).bytes == bytes_of(mapper::call_span(kCallId)));  // span_id
  CHECK(pb_one(record, 12).bytes == "python_mcp_event");                  // event_name

  const std::string traces_body = encode_traces(resource, scope, m.take_spans());
  const auto spans = items(traces_body);
  REQUIRE(spans.size() == 1);
  const std::string_view s = spans[0].bytes;
  CHECK(pb_one(s, 1).bytes == bytes_of(mapper::call_trace(kCallId)));
  CHECK(pb_one(s, 2).bytes == bytes_of(mapper::call_span(kCallId)));
  CHECK(pb_all(s, 4).empty());  // no parent: a root span
  CHECK(pb_one(s, 5).bytes == "tools/call add");
  CHECK(pb_one(s, 6).number_value == 2);  // SPAN_KIND_SERVER
  CHECK(pb_one(s, 7).number_value == kT0);
  CHECK(pb_one(s, 8).number_value == kT0 + 50'000'000ULL);
  const auto status = pb_one(s, 15).bytes;
  CHECK(pb_one(status, 2).bytes == "boom");
  CHECK(pb_one(status, 3).number_value == 2);  // STATUS_CODE_ERROR

  const std::string metrics_body = encode_metrics(resource, scope, m.histograms(kT0 + 1));
  const auto metrics = items(metrics_body);
  REQUIRE(metrics.size() == 1);
  CHECK(pb_one(metrics[0].bytes, 1).bytes == "mcp.server.operation.duration");
  const auto hist = pb_one(metrics[0].bytes, 9).bytes;
  CHECK(pb_one(hist, 2).number_value == 2);  // AGGREGATION_TEMPORALITY_CUMULATIVE
  const auto point = pb_one(hist, 1).bytes;
  CHECK(pb_one(point, 4).number_value == 1);                   // count
  CHECK(pb_one(point, 5).as_double() == Approx(0.05));         // sum
  const auto counts = pb_one(point, 6).bytes;                  // packed fixed64
  const auto bounds = pb_one(point, 7).bytes;                  // packed double
  CHECK(counts.size() == 8 * (mapper::duration_bounds().size() + 1));
  CHECK(bounds.size() == 8 * mapper::duration_bounds().size());
  CHECK(static_cast<std::uint8_t>(counts[8 * 2]) == 1);  // bucket (0.02, 0.05]
}
