// SPDX-License-Identifier: Apache-2.0
#include "export/otlp/otlp_mapper.hpp"

#include <sys/random.h>
#include <time.h>

#include <algorithm>
#include <charconv>

#include "export/otlp/json_members.hpp"
#include "export/otlp/otlp_genai.hpp"
#include "pipeline/clock.hpp"
#include "pipeline/json_view.hpp"
#include "pipeline/sha256.hpp"

namespace bluepython::otlp {
namespace {

// A non-zero seed for span ids from the kernel (getrandom, not
// std::random_device: that pulls in a libc function newer than the wheels'
// glibc baseline, docs/deploying.md). Falls back to the clock and address.
std::uint64_t random_seed() {
  std::uint64_t seed = 0;
  if (::getrandom(&seed, sizeof seed, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof seed)) {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    seed = (static_cast<std::uint64_t>(ts.tv_sec) << 32U) ^ static_cast<std::uint64_t>(ts.tv_nsec) ^
           reinterpret_cast<std::uintptr_t>(&seed);
  }
  return seed | 1U;
}

// A small member's value, parsed (null when absent or not JSON).
nlohmann::json parse_small(std::string_view text) {
  if (text.empty()) return nullptr;
  nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
  return value.is_discarded() ? nlohmann::json() : value;
}

// A string member's text: as written when it needs no unescaping.
std::string string_member(std::string_view object, std::string_view key) {
  const std::string_view value = json_view::member(object, key);
  bool escaped = false;
  const std::string_view plain = json_view::plain_string(value, escaped);
  if (!escaped) return std::string(plain);
  const nlohmann::json decoded = parse_small(value);
  return decoded.is_string() ? decoded.get<std::string>() : std::string();
}

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // W3C trace context ids are lower-case hex
}

template <std::size_t N>
bool parse_hex(std::string_view text, std::array<std::uint8_t, N>& out) noexcept {
  if (text.size() != 2 * N) return false;
  bool any = false;
  for (std::size_t i = 0; i < N; ++i) {
    const int hi = hex_digit(text[2 * i]);
    const int lo = hex_digit(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>((hi << 4) | lo);
    any = any || out[i] != 0;
  }
  return any;  // all zero is invalid
}

// W3C traceparent, version 00: "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>".
bool parse_traceparent(const nlohmann::json& value, trace_id& trace, span_id& parent) {
  if (!value.is_string()) return false;
  const std::string& s = value.get_ref<const std::string&>();
  if (s.size() < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' || s.compare(0, 2, "ff") == 0) return false;
  return parse_hex(std::string_view(s).substr(3, 32), trace) && parse_hex(std::string_view(s).substr(36, 16), parent);
}

std::string request_key(bool server, const nlohmann::json& session, const nlohmann::json& id) {
  std::string key = server ? "s|" : "c|";
  key += text_of(session);
  key += '|';
  key += id.dump();
  return key;
}

// network.transport / network.protocol.name for an MCP transport.
void transport_attributes(attributes& attrs, const std::string& transport) {
  if (transport == "stdio") {
    attrs.emplace_back("network.transport", "pipe");
  } else if (transport == "streamable-http" || transport == "sse") {
    attrs.emplace_back("network.transport", "tcp");
    attrs.emplace_back("network.protocol.name", "http");
  } else if (transport == "websocket") {
    attrs.emplace_back("network.transport", "tcp");
    attrs.emplace_back("network.protocol.name", "websocket");
  }
}

// Server side: these JSON-RPC errors are the client's mistake, not the
// server failing (the convention leaves the span status unset).
bool counts_as_error(bool server, const std::string& type) {
  if (!server) return true;
  return type != "-32700" && type != "-32600" && type != "-32601" && type != "-32602" && type != "-32002";
}

// The event's own members (everything but "meta" and "context"), as span
// event attributes.
attributes event_attributes(const nlohmann::json& event) {
  attributes attrs;
  for (const auto& [key, value] : event.items()) {
    if (key == "meta" || key == "context" || value.is_null()) continue;
    attrs.emplace_back(key, value);
  }
  return attrs;
}

}  // namespace

const std::vector<double>& mapper::duration_bounds() {
  static const std::vector<double> bounds = {0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300};
  return bounds;
}

span_id mapper::call_span(std::string_view call_id) {
  const auto digest = sha256_bytes(std::string("span/") + std::string(call_id));
  span_id id{};
  std::copy_n(digest.begin(), id.size(), id.begin());
  return id;
}

trace_id mapper::call_trace(std::string_view call_id) {
  const auto digest = sha256_bytes(std::string("trace/") + std::string(call_id));
  trace_id id{};
  std::copy_n(digest.begin(), id.size(), id.begin());
  return id;
}

void mapper::remember_call(const std::string& call_id, const call_ids& ids) {
  if (call_id.empty()) return;
  if (calls_.emplace(call_id, ids).second) {
    call_order_.push_back(call_id);
    if (call_order_.size() > kMaxCalls) {
      calls_.erase(call_order_.front());
      call_order_.pop_front();
    }
  } else {
    calls_[call_id] = ids;
  }
}

const mapper::call_ids* mapper::ids_of_call(const nlohmann::json& mcp) {
  const nlohmann::json& call_id_json = member_of(mcp, "call_id");
  if (!call_id_json.is_string()) return nullptr;
  const std::string& call_id = call_id_json.get_ref<const std::string&>();
  if (const auto known = calls_.find(call_id); known != calls_.end()) return &known->second;
  call_ids ids;
  ids.span = call_span(call_id);
  ids.trace = call_trace(call_id);
  // The trace the request came with (enter_mcp_call keeps it in the call):
  // what every process that sees this call must use.
  if (const nlohmann::json& incoming = member_of(mcp, "trace_id"); incoming.is_string()) {
    trace_id parsed{};
    if (parse_hex(incoming.get_ref<const std::string&>(), parsed)) ids.trace = parsed;
  }
  // A request this process saw arrive: its trace (a client's traceparent).
  const auto open = pending_.find(request_key(true, member_of(mcp, "session_id"), member_of(mcp, "request_id")));
  if (open != pending_.end()) {
    if (open->second.call_id.empty()) open->second.call_id = call_id;
    if (open->second.has_remote_parent) ids.trace = open->second.trace;
  }
  remember_call(call_id, ids);
  return &calls_.find(call_id)->second;
}

template <std::size_t N>
void mapper::random_bytes(std::array<std::uint8_t, N>& out) {
  if (random_state_ == 0) random_state_ = random_seed();
  for (auto& b : out) {
    // xorshift64*: ids need to be unique, not secret
    random_state_ ^= random_state_ >> 12U;
    random_state_ ^= random_state_ << 25U;
    random_state_ ^= random_state_ >> 27U;
    b = static_cast<std::uint8_t>((random_state_ * 0x2545F4914F6CDD1DULL) >> 56U);
  }
}

// python_llm_request: a GenAI client span (otlp_genai), a child of the
// tool call's span when it happened in one.
void mapper::on_llm_request(const nlohmann::json& event, const nlohmann::json& mcp, std::uint64_t ts) {
  span s = genai_span(event, ts);
  random_bytes(s.id);
  if (const call_ids* ids = mcp.is_object() ? ids_of_call(mcp) : nullptr; ids != nullptr) {
    s.trace = ids->trace;
    s.parent = ids->span;
  } else {
    random_bytes(s.trace);
  }
  if (mcp.is_object()) s.attrs.emplace_back("bluepython.call_id", member_of(mcp, "call_id"));
  spans_.push_back(std::move(s));
}

void mapper::add(std::string_view line) {
  // Only the small parts needed are parsed (json_view finds them without
  // building anything): an MCP message's payload can be large, and this
  // runs for every event the process writes.
  using json_view::member;
  const std::string_view event_text = member(line, "event");
  const std::string name = string_member(member(event_text, "meta"), "name");
  if (name.empty()) return;
  const std::uint64_t ts = parse_rfc3339(string_member(line, "ts"));
  if (first_ns_ == 0) first_ns_ = ts;
  const std::string_view context = member(event_text, "context");
  const nlohmann::json mcp = parse_small(member(context, "mcp"));

  if (name == "python_mcp_event") {
    on_mcp_event(mcp_digest(event_text, mcp), ts);
  } else if (name == "python_mcp_session_created" || name == "python_mcp_session_terminated") {
    on_session(parse_small(event_text), ts, name == "python_mcp_session_created");
  } else if (name == "python_llm_request") {
    on_llm_request(parse_small(event_text), mcp, ts);
  }

  log_record log;
  log.time_ns = ts;
  log.event_name = name;
  log.body = std::string(line);
  const bool violation = name == "python_policy_violation";
  nlohmann::json violation_event;
  if (violation) violation_event = parse_small(event_text);
  const bool refused = violation && text_of(member_of(violation_event, "action")) != "recorded";
  if (refused) {
    log.severity_number = 17;  // ERROR
    log.severity_text = "ERROR";
  } else if (violation || name == "python_internal_exception") {
    log.severity_number = 13;  // WARN
    log.severity_text = "WARN";
  }
  if (const std::string scope = string_member(context, "scope"); !scope.empty()) {
    log.attrs.emplace_back("bluepython.scope", scope);
  }
  // A child started in a call names it in sensor_startup (or, for a
  // forkserver worker, python_process_link): its record joins the trace.
  if (name == "sensor_startup" || name == "python_process_link") {
    const nlohmann::json parent_call = parse_small(member(member(event_text, "parent"), "call"));
    if (const call_ids* ids = parent_call.is_object() ? ids_of_call(parent_call) : nullptr; ids != nullptr) {
      log.has_span = true;
      log.trace = ids->trace;
      log.span = ids->span;
      log.attrs.emplace_back("bluepython.parent_call_id", member_of(parent_call, "call_id"));
    }
  }
  if (const call_ids* ids = mcp.is_object() ? ids_of_call(mcp) : nullptr; ids != nullptr) {
    log.has_span = true;
    log.trace = ids->trace;
    log.span = ids->span;
    log.attrs.emplace_back("mcp.session.id", member_of(mcp, "session_id"));
    log.attrs.emplace_back("mcp.method.name", member_of(mcp, "method"));
    log.attrs.emplace_back("bluepython.call_id", member_of(mcp, "call_id"));
    // A side effect inside a call this process is serving: an event on its span.
    if (name.rfind("python_process_", 0) == 0 || name.rfind("python_file_", 0) == 0 ||
        name.rfind("python_net_", 0) == 0 || name.rfind("python_code_", 0) == 0 || name == "python_llm_request") {
      const auto open = pending_.find(request_key(true, member_of(mcp, "session_id"), member_of(mcp, "request_id")));
      if (open != pending_.end() && open->second.events.size() < kMaxSpanEvents) {
        open->second.events.push_back(span_event{ts, name, event_attributes(parse_small(event_text))});
      }
    } else if (violation) {
      const auto open = pending_.find(request_key(true, member_of(mcp, "session_id"), member_of(mcp, "request_id")));
      if (open != pending_.end()) {
        open_request& req = open->second;
        ++req.policy_violations;
        if (refused && req.policy_refusal.empty()) req.policy_refusal = text_of(member_of(violation_event, "reason"));
        if (req.events.size() < kMaxSpanEvents) req.events.push_back(span_event{ts, name, event_attributes(violation_event)});
      }
    }
  }
  logs_.push_back(std::move(log));
}

// What on_mcp_event and finish read of a python_mcp_event, parsed from its
// members alone: never the whole message (its payload), only params' name,
// uri and _meta (and, with capture_tool_io, the arguments and result).
nlohmann::json mapper::mcp_digest(std::string_view event_text, const nlohmann::json& mcp) const {
  using json_view::member;
  nlohmann::json out = nlohmann::json::object();
  std::string_view message;
  json_view::for_each_member(event_text, [&](std::string_view key, std::string_view value) {
    if (key == "message") {
      message = value;
    } else if (key == "event" || key == "id" || key == "session_id" || key == "method" || key == "transport" ||
               key == "protocol_version" || key == "error") {
      out[std::string(key)] = parse_small(value);
    }
    return true;
  });
  const std::string_view params = member(message, "params");
  nlohmann::json digest_params = nlohmann::json::object();
  json_view::for_each_member(params, [&](std::string_view key, std::string_view value) {
    if (key == "name" || key == "uri" || key == "_meta") digest_params[std::string(key)] = parse_small(value);
    return true;
  });
  if (capture_tool_io_) {
    if (const std::string_view args = member(params, "arguments"); !args.empty()) {
      digest_params["arguments"] = parse_small(args);
    }
    if (const std::string_view result = member(message, "result"); !result.empty()) {
      out["message"]["result"] = parse_small(result);
    }
  }
  out["message"]["params"] = std::move(digest_params);
  if (mcp.is_object()) out["context"]["mcp"] = mcp;
  return out;
}

void mapper::on_mcp_event(const nlohmann::json& event, std::uint64_t ts) {
  const std::string kind = text_of(member_of(event, "event"));
  const bool request = kind == "server_received_request" || kind == "client_send_request";
  const bool response = kind == "server_send_response" || kind == "client_received_response";
  if (!request && !response) return;
  const bool server = kind.rfind("server_", 0) == 0;
  const nlohmann::json& id = member_of(event, "id");
  if (id.is_null()) return;
  const std::string key = request_key(server, member_of(event, "session_id"), id);
  if (request) {
    if (pending_.size() >= kMaxPending && !pending_order_.empty()) {
      pending_.erase(pending_order_.front());  // never answered: let it go
      pending_order_.pop_front();
    }
    open_request req;
    req.server = server;
    req.start_ns = ts;
    req.method = text_of(member_of(event, "method"));
    req.request_id = id;
    req.session_id = text_of(member_of(event, "session_id"));
    req.transport = text_of(member_of(event, "transport"));
    req.protocol_version = text_of(member_of(event, "protocol_version"));
    const nlohmann::json& params = member_of(member_of(event, "message"), "params");
    if (req.method == "tools/call" || req.method == "prompts/get") {
      req.target = text_of(member_of(params, "name"));
      if (capture_tool_io_ && req.method == "tools/call") req.arguments = member_of(params, "arguments");
    } else if (req.method.rfind("resources/", 0) == 0) {
      req.resource = text_of(member_of(params, "uri"));
    }
    const nlohmann::json& meta = member_of(params, "_meta");
    if (server) {
      if (parse_traceparent(member_of(meta, "traceparent"), req.trace, req.parent)) {
        req.has_remote_parent = true;
        req.trace_state = text_of(member_of(meta, "tracestate"));
      }
    } else {
      // A client request inside a server call continues that call's trace.
      const nlohmann::json& mcp = member_of(member_of(event, "context"), "mcp");
      if (const call_ids* ids = mcp.is_object() ? ids_of_call(mcp) : nullptr; ids != nullptr) {
        req.trace = ids->trace;
        req.parent = ids->span;
      }
      // The traceparent our hooks put in (tracestate "bluepython=1") names
      // this client span; one from anyone else means the app's own
      // OpenTelemetry instrumentation reports the operation: step aside.
      trace_id trace{};
      span_id own{};
      if (parse_traceparent(member_of(meta, "traceparent"), trace, own)) {
        const std::string state = text_of(member_of(meta, "tracestate"));
        if (state.rfind("bluepython=1", 0) == 0) {
          req.trace = trace;
          req.own_span = own;
          req.has_own_span = true;
        } else {
          req.foreign = true;
        }
      }
    }
    if (const nlohmann::json& mcp = member_of(member_of(event, "context"), "mcp"); server && mcp.is_object()) {
      req.call_id = text_of(member_of(mcp, "call_id"));
    }
    if (pending_.insert_or_assign(key, std::move(req)).second) pending_order_.push_back(key);
    return;
  }
  const auto open = pending_.find(key);
  if (open == pending_.end()) return;  // the request was not seen (or let go)
  if (const nlohmann::json& mcp = member_of(member_of(event, "context"), "mcp"); server && mcp.is_object()) {
    if (open->second.call_id.empty()) open->second.call_id = text_of(member_of(mcp, "call_id"));
  }
  open_request req = std::move(open->second);
  pending_.erase(open);
  pending_order_.erase(std::remove(pending_order_.begin(), pending_order_.end(), key), pending_order_.end());
  finish(req, event, ts);
}

void mapper::finish(open_request& req, const nlohmann::json& event, std::uint64_t end_ns) {
  span s;
  s.kind = req.server ? span_kind::server : span_kind::client;
  s.start_ns = req.start_ns;
  s.end_ns = std::max(end_ns, req.start_ns);
  s.name = req.target.empty() ? req.method : req.method + " " + req.target;
  s.trace_state = req.trace_state;
  if (req.server && !req.call_id.empty()) {
    s.id = call_span(req.call_id);
    s.trace = req.has_remote_parent ? req.trace : call_trace(req.call_id);
    if (req.has_remote_parent) s.parent = req.parent;
    remember_call(req.call_id, call_ids{s.trace, s.id});
  } else if (req.has_own_span) {
    s.id = req.own_span;
    s.trace = req.trace;
    s.parent = req.parent;
  } else {
    random_bytes(s.id);
    const bool has_trace = std::any_of(req.trace.begin(), req.trace.end(), [](std::uint8_t b) { return b != 0; });
    if (has_trace) {
      s.trace = req.trace;
      s.parent = req.parent;
    } else {
      random_bytes(s.trace);
    }
  }

  attributes& a = s.attrs;
  a.emplace_back("mcp.method.name", req.method);
  if (req.method == "tools/call") {
    a.emplace_back("gen_ai.tool.name", req.target);
    a.emplace_back("gen_ai.operation.name", "execute_tool");
  } else if (req.method == "prompts/get") {
    a.emplace_back("gen_ai.prompt.name", req.target);
  }
  if (!req.resource.empty()) a.emplace_back("mcp.resource.uri", req.resource);
  a.emplace_back("jsonrpc.request.id", text_of(req.request_id));
  if (!req.session_id.empty()) a.emplace_back("mcp.session.id", req.session_id);
  if (!req.protocol_version.empty()) a.emplace_back("mcp.protocol.version", req.protocol_version);
  transport_attributes(a, req.transport);

  const nlohmann::json& error = member_of(event, "error");
  std::string error_type;
  if (error.is_object()) {
    error_type = text_of(member_of(error, "type"));
    a.emplace_back("error.type", error_type);
    if (error_type != "tool_error") a.emplace_back("rpc.response.status_code", error_type);
    if (counts_as_error(req.server, error_type)) {
      s.status = status_code::error;
      s.status_message = text_of(member_of(error, "message"));
    }
  }
  if (capture_tool_io_ && req.method == "tools/call") {
    if (!req.arguments.is_null()) a.emplace_back("gen_ai.tool.call.arguments", req.arguments.dump());
    const nlohmann::json& result = member_of(member_of(event, "message"), "result");
    if (!result.is_null()) a.emplace_back("gen_ai.tool.call.result", result.dump());
  }
  if (req.policy_violations != 0) {
    a.emplace_back("bluepython.policy.violations", static_cast<std::int64_t>(req.policy_violations));
  }
  if (!req.policy_refusal.empty()) {
    // A refused operation fails the call whatever the tool made of the error.
    s.status = status_code::error;
    s.status_message = "bluepython policy: " + req.policy_refusal;
  }
  s.events = std::move(req.events);

  // Metric attributes: the low-cardinality subset.
  attributes metric;
  metric.emplace_back("mcp.method.name", req.method);
  if (req.method == "tools/call") metric.emplace_back("gen_ai.tool.name", req.target);
  if (req.method == "prompts/get") metric.emplace_back("gen_ai.prompt.name", req.target);
  if (!error_type.empty()) metric.emplace_back("error.type", error_type);
  if (!req.protocol_version.empty()) metric.emplace_back("mcp.protocol.version", req.protocol_version);
  transport_attributes(metric, req.transport);
  record(operation_, [&] {
    attributes keyed = metric;
    keyed.emplace_back("\x01side", req.server ? "server" : "client");
    return keyed;
  }(), static_cast<double>(s.end_ns - s.start_ns) / 1e9, end_ns);
  if (!req.foreign) spans_.push_back(std::move(s));
}

void mapper::on_session(const nlohmann::json& event, std::uint64_t ts, bool created) {
  const nlohmann::json& session = member_of(event, "session_id");
  if (session.is_null()) return;
  const bool server = member_of(event, "source") == 0;
  const std::string key = std::string(server ? "s|" : "c|") + text_of(session);
  if (created) {
    if (sessions_.size() < kMaxPending) sessions_[key] = ts;
    return;
  }
  const auto open = sessions_.find(key);
  double seconds = -1;
  if (const nlohmann::json& ms = member_of(event, "duration_ms"); ms.is_number()) {
    seconds = ms.get<double>() / 1000.0;
  } else if (open != sessions_.end() && ts >= open->second) {
    seconds = static_cast<double>(ts - open->second) / 1e9;
  }
  if (open != sessions_.end()) sessions_.erase(open);
  if (seconds < 0) return;
  attributes attrs;
  if (const std::string pv = text_of(member_of(event, "protocol_version")); !pv.empty()) {
    attrs.emplace_back("mcp.protocol.version", pv);
  }
  transport_attributes(attrs, text_of(member_of(event, "transport")));
  attrs.emplace_back("\x01side", server ? "server" : "client");
  record(session_, attrs, seconds, ts);
}

void mapper::record(std::map<std::string, series>& into, const attributes& attrs, double seconds, std::uint64_t ts) {
  nlohmann::json key_doc = nlohmann::json::array();
  for (const auto& [k, v] : attrs) key_doc.push_back({k, v});
  auto [it, inserted] = into.try_emplace(key_doc.dump());
  series& s = it->second;
  if (inserted) {
    s.start_ns = first_ns_ != 0 ? first_ns_ : ts;
    s.buckets.assign(duration_bounds().size() + 1, 0);
    s.attrs = attrs;
    s.min = seconds;
    s.max = seconds;
  }
  ++s.count;
  s.sum += seconds;
  s.min = std::min(s.min, seconds);
  s.max = std::max(s.max, seconds);
  const auto& bounds = duration_bounds();
  // Buckets are (previous bound, bound]; the last one is everything above.
  const auto at = static_cast<std::size_t>(std::lower_bound(bounds.begin(), bounds.end(), seconds) - bounds.begin());
  ++s.buckets[at];
}

std::vector<histogram> mapper::histograms(std::uint64_t now_ns) const {
  std::vector<histogram> out;
  auto build = [&](const std::map<std::string, series>& from, const char* side, const char* name,
                   const char* description) {
    histogram h;
    h.name = name;
    h.description = description;
    h.unit = "s";
    h.bounds = duration_bounds();
    for (const auto& [key, s] : from) {
      const auto side_attr = std::find_if(s.attrs.begin(), s.attrs.end(), [](const attribute& a) { return a.first == "\x01side"; });
      if (side_attr == s.attrs.end() || side_attr->second != side) continue;
      histogram_point p;
      for (const auto& a : s.attrs) {
        if (a.first != "\x01side") p.attrs.push_back(a);
      }
      p.start_ns = s.start_ns;
      p.time_ns = now_ns;
      p.count = s.count;
      p.sum = s.sum;
      p.min = s.min;
      p.max = s.max;
      p.bucket_counts = s.buckets;
      h.points.push_back(std::move(p));
    }
    if (!h.points.empty()) out.push_back(std::move(h));
  };
  build(operation_, "server", "mcp.server.operation.duration", "Duration of MCP requests handled by the server.");
  build(operation_, "client", "mcp.client.operation.duration", "Duration of MCP requests sent by the client.");
  build(session_, "server", "mcp.server.session.duration", "Duration of MCP sessions on the server.");
  build(session_, "client", "mcp.client.session.duration", "Duration of MCP sessions on the client.");
  return out;
}

}  // namespace bluepython::otlp
