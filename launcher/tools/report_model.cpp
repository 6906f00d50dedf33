// SPDX-License-Identifier: Apache-2.0
#include "tools/report_model.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include "tools/event_summary.hpp"

namespace bluepython::report {
namespace {

using json = nlohmann::json;
using tools::field;
using tools::text;

double round3(double v) { return std::round(v * 1000.0) / 1000.0; }

// p50 and p95 of `durations` (sorted here) into an operation or target
// summary; left empty without durations.
template <typename Summary>
void set_percentiles(Summary& into, std::vector<double>& durations) {
  std::sort(durations.begin(), durations.end());
  if (durations.empty()) return;
  into.p50_ms = round3(percentile(durations, 50));
  into.p95_ms = round3(percentile(durations, 95));
}

// What is known about a call while the events are read.
struct call_record {  // NOLINT(bugprone-exception-escape): moved only inside the builder
  call data;
  std::map<std::pair<std::string, std::string>, side_effect> effects;  // (name, summary)
  std::map<std::string, side_effect> violations;                        // by summary
};

struct session_record {
  session data;
  std::vector<std::string> call_order;  // keys into process_record::calls
  // Requests the server sent, by method: (duration_ms, failed) of each answer.
  std::map<std::string, std::vector<std::pair<json, bool>>> server_request_durations;
};

struct process_record {
  process data;
  json startup;
  json shutdown;
  std::vector<std::string> session_order;
  std::map<std::string, session_record> sessions;  // "side|id"
  std::map<std::string, call_record> calls;        // "session|request id"
  std::map<std::pair<std::string, std::string>, std::uint64_t> faults;
  std::map<std::string, std::size_t> violation_index;  // key -> data.violations
};

std::string call_key(const json& session, const json& id) { return text(session) + "|" + id.dump(); }

// Three passes over the events: what each process said (sessions, requests
// and responses, imports, faults); which call each call_id is (any event
// inside a call carries it); then the side effects, under the call whose
// call_id they carry or, in a child process, the call that started it.
class builder {
 public:
  model run(const std::vector<json>& events) {
    for (const auto& e : events) read(e);
    for (const auto& e : events) link_call(e);
    for (const auto& e : events) attach_side_effect(e);
    for (const auto& e : events) attach_violation(e);
    return finish(events.size());
  }

 private:
  std::map<std::string, process_record> procs_;  // uuid -> record
  std::vector<std::string> order_;
  std::map<std::string, std::pair<std::string, std::string>> calls_by_id_;  // call_id -> (uuid, key)

  process_record& process_of(const json& e) {
    const json& event = field(e, "event");
    const std::string uuid = text(field(field(event, "meta"), "uuid"));
    auto [it, inserted] = procs_.try_emplace(uuid);
    if (inserted) {
      order_.push_back(uuid);
      it->second.data.uuid = uuid;
      const json& pid = field(field(field(event, "context"), "process"), "pid");
      if (pid.is_number_integer()) it->second.data.pid = pid.get<long long>();
    }
    return it->second;
  }

  static session_record& session_of(process_record& p, const std::string& side, const std::string& id) {
    const std::string key = side + "|" + id;
    auto [it, inserted] = p.sessions.try_emplace(key);
    if (inserted) {
      p.session_order.push_back(key);
      it->second.data.session_id = id;
      it->second.data.side = side;
    }
    return it->second;
  }

  void read(const json& e) {
    const json& event = field(e, "event");
    const std::string name = tools::name_of_line(e);
    const std::string ts = text(field(e, "ts"));
    process_record& p = process_of(e);
    if (p.data.start.empty() || ts < p.data.start) p.data.start = ts;
    if (ts > p.data.end) p.data.end = ts;
    if (name == "sensor_startup") {
      p.startup = event;
    } else if (name == "sensor_shutdown") {
      p.shutdown = event;
    } else if (name == "python_mcp_server_init") {
      p.data.servers.push_back(text(field(field(event, "server"), "name")));
    } else if (name == "python_mcp_session_created" || name == "python_mcp_session_terminated") {
      read_session(p, name, event, ts);
    } else if (name == "python_mcp_event") {
      read_request_or_response(p, event, ts);
    } else if (name == "python_import") {
      read_import(p, event);
    } else if (name == "python_internal_exception") {
      ++p.faults[{text(field(event, "where")), text(field(event, "message"))}];
    }
  }

  static void read_session(process_record& p, const std::string& name, const json& event, const std::string& ts) {
    session& s = session_of(p, field(event, "source") == 0 ? "server" : "client", text(field(event, "session_id"))).data;
    for (const char* k : {"server_name", "client_name", "client_version", "transport", "protocol_version"}) {
      if (!field(event, k).is_null()) s.info[k] = field(event, k);
    }
    if (name == "python_mcp_session_created") {
      s.start = ts;
    } else {
      s.end = ts;
      s.duration_ms = field(event, "duration_ms");
    }
  }

  static void read_request_or_response(process_record& p, const json& event, const std::string& ts) {
    const std::string kind = text(field(event, "event"));
    const std::string sid = text(field(event, "session_id"));
    const bool server_side = kind.rfind("server_", 0) == 0;
    session_record& s = session_of(p, server_side ? "server" : "client", sid);
    ++s.data.messages;
    // What the session's events may not say (a session whose end was never
    // written, one with no session events at all): its messages do.
    for (const char* k : {"client_name", "client_version", "transport", "protocol_version", "server_name"}) {
      if (!s.data.info.contains(k) && !field(event, k).is_null()) s.data.info[k] = field(event, k);
    }
    if (kind.ends_with("_notification")) {
      std::string method = text(field(event, "method"));
      if (method.empty()) method = text(field(field(event, "message"), "method"));
      ++s.data.notifications[kind.find("_received_") != std::string::npos ? "received" : "sent"][method];
      return;
    }
    if (kind == "server_received_response") {  // the answer to a request the server sent
      s.server_request_durations[text(field(event, "request_method"))].push_back(
          {field(event, "duration_ms"), field(event, "error").is_object()});
      return;
    }
    if (kind != "server_received_request" && kind != "server_send_response") return;
    const std::string key = call_key(field(event, "session_id"), field(event, "id"));
    call& c = p.calls[key].data;
    if (kind == "server_received_request") {
      c.request_id = field(event, "id");
      c.session_id = text(field(event, "session_id"));
      c.method = text(field(event, "method"));
      const json& params = field(field(event, "message"), "params");
      c.target = text(field(params, "name"));
      if (c.target.empty()) c.target = text(field(params, "uri"));
      c.ts = ts;
      // Sessions are keyed by side and id; requests attach to the server one.
      session_of(p, "server", c.session_id).call_order.push_back(key);
    } else {
      c.answered = true;
      c.duration_ms = field(event, "duration_ms");
      c.error = field(event, "error");
      if (c.method.empty()) c.method = text(field(event, "request_method"));
    }
  }

  static void read_import(process_record& p, const json& event) {
    ++p.data.imports;
    json brief = {{"fullname", field(event, "fullname")}, {"file", field(event, "file")},
                  {"pkg", field(event, "pkg")}, {"version", field(event, "version")}};
    if (field(event, "hash_changed") == true) p.data.hash_changed.push_back(brief);
    if (field(event, "record_match") == false) {
      brief["record_sha256"] = field(event, "record_sha256");
      brief["sha256"] = field(event, "sha256");
      p.data.record_mismatch.push_back(std::move(brief));
    }
  }

  void link_call(const json& e) {
    const json& mcp = field(field(field(e, "event"), "context"), "mcp");
    if (!mcp.is_object()) return;
    process_record& p = process_of(e);
    const std::string key = call_key(field(mcp, "session_id"), field(mcp, "request_id"));
    const std::string call_id = text(field(mcp, "call_id"));
    if (const auto it = p.calls.find(key); it != p.calls.end() && !call_id.empty()) {
      it->second.data.call_id = call_id;
      calls_by_id_[call_id] = {p.data.uuid, key};
    }
  }

  void attach_side_effect(const json& e) {
    const json& event = field(e, "event");
    const std::string name = tools::name_of_line(e);
    if (!tools::is_side_effect(name)) return;
    process_record& p = process_of(e);
    const json& context = field(event, "context");
    // A child process's effects belong to the call that started it.
    const auto* owner = owner_of(p, context);
    std::string summary = tools::summary_of(name, event);
    // A signal to a child another call started (a library's clean-up of its
    // helpers) belongs to that call, not to the one that happened to run.
    if (name == "python_process_signal") {
      const std::string spawned_in = text(field(field(event, "target"), "spawned_in"));
      const json& mcp = field(context, "mcp");
      const auto spawner = calls_by_id_.find(spawned_in);
      if (!spawned_in.empty() && spawned_in != text(field(mcp, "call_id")) && spawner != calls_by_id_.end()) {
        owner = &spawner->second;
        summary += mcp.is_object() ? " (sent during " + text(field(mcp, "method")) + " " + text(field(mcp, "target")) + ")"
                                   : " (sent outside calls)";
      }
    }
    if (owner == nullptr) {
      const std::string scope = text(field(context, "scope"));
      ++p.data.side_effects_outside_calls[scope.empty() ? "unknown" : scope];
      return;
    }
    call_record& c = procs_[owner->first].calls[owner->second];
    side_effect& slot = c.effects[{name, summary}];
    slot.event = name;
    slot.summary = summary;
    const json& repeated = field(event, "repeated");
    // A folded line ("repeated": N) stands for the N occurrences after the
    // first, which has a line of its own.
    slot.count += repeated.is_number_integer() && repeated.get<long long>() > 0 ? repeated.get<std::uint64_t>() : 1;
    slot.pid = p.data.pid;
    if (const std::string ts = text(field(e, "ts")); slot.first_ts.empty() || ts < slot.first_ts) {
      slot.first_ts = ts;
      slot.attributes = json::object();
      for (const auto& [key, value] : event.items()) {
        if (key != "meta" && key != "context" && key != "repeated") slot.attributes[key] = value;
      }
    }
  }

  // The call an event happened in: its own call_id, or in a child process
  // the call that started it; nullptr outside calls.
  const std::pair<std::string, std::string>* owner_of(const process_record& p, const json& context) const {
    std::string call_id = text(field(field(context, "mcp"), "call_id"));
    if (call_id.empty() && p.startup.is_object()) {
      call_id = text(field(field(field(p.startup, "parent"), "call"), "call_id"));
    }
    const auto owner = calls_by_id_.find(call_id);
    return owner == calls_by_id_.end() ? nullptr : &owner->second;
  }

  void attach_violation(const json& e) {
    if (tools::name_of_line(e) != "python_policy_violation") return;
    const json& event = field(e, "event");
    process_record& p = process_of(e);
    const std::string ts = text(field(e, "ts"));
    const std::string summary = tools::summary_of("python_policy_violation", event);
    std::string where;
    std::string session_id;
    std::string call_id;
    if (const auto* owner = owner_of(p, field(event, "context")); owner != nullptr) {
      call_record& c = procs_[owner->first].calls[owner->second];
      where = c.data.method + (c.data.target.empty() ? "" : " " + c.data.target);
      call_id = c.data.call_id;
      session_id = c.data.session_id;
      side_effect& slot = c.violations[summary];
      slot.event = "python_policy_violation";
      slot.summary = summary;
      ++slot.count;
      slot.pid = p.data.pid;
      if (slot.first_ts.empty() || ts < slot.first_ts) slot.first_ts = ts;
    } else {
      const std::string scope = text(field(field(event, "context"), "scope"));
      where = "outside calls (" + (scope.empty() ? std::string("unknown") : scope) + ")";
    }
    const std::string rule = text(field(event, "rule"));
    const std::string action = text(field(event, "action"));
    const std::string key = rule + '\n' + action + '\n' + summary + '\n' + session_id + '\n' + where;
    const auto [it, inserted] = p.violation_index.try_emplace(key, p.data.violations.size());
    if (inserted) {
      p.data.violations.push_back({rule, text(field(event, "mode")), action, text(field(event, "reason")),
                                   text(field(event, "why")), summary, where, session_id, call_id, 0, ts});
    }
    violation& v = p.data.violations[it->second];
    ++v.count;
    if (ts < v.first_ts) v.first_ts = ts;
  }

  static std::vector<operation> operations_of(const std::vector<call>& calls) {
    std::map<std::pair<std::string, std::string>, std::vector<double>> durations;
    std::map<std::pair<std::string, std::string>, operation> ops;
    for (const call& c : calls) {
      const auto op = std::make_pair(c.method, c.target);
      operation& o = ops[op];
      ++o.calls;
      if (c.failed()) ++o.errors;
      auto& d = durations[op];
      if (c.duration_ms.is_number()) d.push_back(c.duration_ms.get<double>());
    }
    std::vector<operation> out;
    for (auto& [op, o] : ops) {
      o.method = op.first;
      o.target = op.second;
      auto& d = durations[op];
      set_percentiles(o, d);
      out.push_back(std::move(o));
    }
    return out;
  }

  session finish_session(process_record& p, session_record& s, report::totals& t) {
    for (const auto& key : s.call_order) {
      call_record& r = p.calls.at(key);
      call c = r.data;  // a request seen twice is listed twice
      for (const auto& entry : r.effects) c.side_effects.push_back(entry.second);
      for (const auto& entry : r.violations) c.violations.push_back(entry.second);
      if (c.method == "tools/call") {
        ++t.tool_calls;
        if (c.failed()) ++t.tool_errors;
      }
      s.data.calls.push_back(std::move(c));
    }
    s.data.operations = operations_of(s.data.calls);
    for (auto& [method, answers] : s.server_request_durations) {
      operation o;
      o.method = method;
      std::vector<double> d;
      for (const auto& [duration, failed] : answers) {
        ++o.calls;
        if (failed) ++o.errors;
        if (duration.is_number()) d.push_back(duration.get<double>());
      }
      set_percentiles(o, d);
      s.data.server_requests.push_back(std::move(o));
    }
    ++t.sessions;
    return std::move(s.data);
  }

  // Per tool, prompt and resource across every server session.
  static std::vector<target_summary> targets_of(const std::vector<process>& processes) {
    std::map<std::pair<std::string, std::string>, target_summary> by_target;
    std::map<std::pair<std::string, std::string>, std::vector<double>> durations;
    for (const process& p : processes) {
      for (const session& s : p.sessions) {
        if (s.side != "server") continue;
        std::set<std::pair<std::string, std::string>> in_session;
        for (const call& c : s.calls) {
          if (c.target.empty()) continue;
          const auto key = std::make_pair(c.method, c.target);
          target_summary& t = by_target[key];
          t.method = c.method;
          t.target = c.target;
          ++t.calls;
          if (c.failed()) ++t.errors;
          if (in_session.insert(key).second) ++t.sessions;
          if (c.duration_ms.is_number()) durations[key].push_back(c.duration_ms.get<double>());
          for (const side_effect& fx : c.side_effects) t.side_effects[fx.event] += fx.count;
        }
      }
    }
    std::vector<target_summary> out;
    for (auto& [key, t] : by_target) {
      auto& d = durations[key];
      set_percentiles(t, d);
      out.push_back(std::move(t));
    }
    return out;
  }

  process finish_process(process_record& p, report::totals& t) {
    process& out = p.data;
    out.argv = field(p.startup, "python_argv");
    out.parent = field(p.startup, "parent");
    out.exit = field(p.shutdown, "reason");
    for (const char* k :
         {"emitted", "written", "dropped", "dropped_queue_full", "dropped_spool", "filtered", "export", "redacted",
          "recovered"}) {
      if (!field(p.shutdown, k).is_null()) out.counters[k] = field(p.shutdown, k);
    }
    if (const json& r = field(p.shutdown, "redacted"); r.is_object()) {
      for (const auto& [rule, n] : r.items()) {
        if (n.is_number_unsigned()) t.redacted[rule] += n.get<std::uint64_t>();
      }
    }
    for (const auto& key : p.session_order) out.sessions.push_back(finish_session(p, p.sessions.at(key), t));
    for (const auto& [what, count] : p.faults) out.faults.push_back({what.first, what.second, count});
    for (const violation& v : out.violations) {
      t.policy_violations += v.count;
      if (v.refused()) t.policy_refused += v.count;
    }
    return std::move(out);
  }

  model finish(std::size_t events) {
    model m;
    for (const auto& uuid : order_) m.processes.push_back(finish_process(procs_.at(uuid), m.totals));
    m.targets = targets_of(m.processes);
    m.totals.processes = procs_.size();
    m.totals.events = events;
    return m;
  }
};

}  // namespace

double percentile(const std::vector<double>& sorted, double p) noexcept {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size(), std::max<std::size_t>(rank, 1)) - 1];
}

model read_model(const std::vector<json>& events) { return builder().run(events); }

}  // namespace bluepython::report
