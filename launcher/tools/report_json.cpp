// SPDX-License-Identifier: Apache-2.0
// The --json view of the report model (docs/report.md lists the fields).
#include "tools/report.hpp"

namespace bluepython::report {
namespace {

using json = nlohmann::json;

json optional_number(const std::optional<double>& v) { return v ? json(*v) : json(); }

json call_json(const call& c) {
  json effects = json::array();
  for (const side_effect& fx : c.side_effects) {
    effects.push_back({{"event", fx.event}, {"summary", fx.summary}, {"count", fx.count}, {"pid", fx.pid},
                       {"ts", fx.first_ts}, {"attributes", fx.attributes}});
  }
  json violations = json::array();
  for (const side_effect& v : c.violations) {
    violations.push_back({{"summary", v.summary}, {"count", v.count}, {"pid", v.pid}, {"ts", v.first_ts}});
  }
  return {{"request_id", c.request_id}, {"method", c.method}, {"target", c.target}, {"ts", c.ts},
          {"call_id", c.call_id.empty() ? json() : json(c.call_id)}, {"duration_ms", c.duration_ms},
          {"error", c.error}, {"answered", c.answered}, {"side_effects", effects},
          {"policy_violations", violations}};
}

json session_json(const session& s) {
  json js = {{"session_id", s.session_id}, {"side", s.side}, {"start", s.start}, {"end", s.end},
             {"duration_ms", s.duration_ms}};
  js.update(s.info);
  auto operations_json = [](const std::vector<operation>& ops) {
    json out = json::array();
    for (const operation& o : ops) {
      out.push_back({{"method", o.method}, {"target", o.target}, {"calls", o.calls}, {"errors", o.errors},
                     {"p50_ms", optional_number(o.p50_ms)}, {"p95_ms", optional_number(o.p95_ms)}});
    }
    return out;
  };
  js["operations"] = operations_json(s.operations);
  js["server_requests"] = operations_json(s.server_requests);
  js["notifications"] = s.notifications;
  js["messages"] = s.messages;
  json calls = json::array();
  for (const call& c : s.calls) calls.push_back(call_json(c));
  js["calls"] = calls;
  return js;
}

json process_json(const process& p) {
  json jp = {{"pid", p.pid}, {"uuid", p.uuid}, {"start", p.start}, {"end", p.end}};
  jp["argv"] = p.argv;
  jp["parent"] = p.parent;
  jp["exit"] = p.exit;
  jp["servers"] = p.servers;
  jp["counters"] = p.counters;
  json sessions = json::array();
  for (const session& s : p.sessions) sessions.push_back(session_json(s));
  jp["sessions"] = sessions;
  jp["side_effects_outside_calls"] = p.side_effects_outside_calls;
  jp["imports"] = {{"total", p.imports}, {"hash_changed", p.hash_changed}, {"record_mismatch", p.record_mismatch}};
  json faults = json::array();
  for (const fault& f : p.faults) faults.push_back({{"where", f.where}, {"message", f.message}, {"count", f.count}});
  jp["internal_exceptions"] = faults;
  json violations = json::array();
  for (const violation& v : p.violations) {
    violations.push_back({{"rule", v.rule}, {"mode", v.mode}, {"action", v.action}, {"reason", v.reason},
                          {"why", v.why.empty() ? json() : json(v.why)}, {"summary", v.summary}, {"where", v.where},
                          {"session_id", v.session_id.empty() ? json() : json(v.session_id)},
                          {"call_id", v.call_id.empty() ? json() : json(v.call_id)}, {"count", v.count},
                          {"ts", v.first_ts}});
  }
  jp["policy_violations"] = violations;
  return jp;
}

}  // namespace

json to_json(const model& m) {
  json processes = json::array();
  for (const process& p : m.processes) processes.push_back(process_json(p));
  json targets = json::array();
  for (const target_summary& t : m.targets) {
    targets.push_back({{"method", t.method}, {"target", t.target}, {"calls", t.calls}, {"errors", t.errors},
                       {"sessions", t.sessions}, {"p50_ms", optional_number(t.p50_ms)},
                       {"p95_ms", optional_number(t.p95_ms)}, {"side_effects", t.side_effects}});
  }
  const totals& t = m.totals;
  return {{"targets", targets},
          {"processes", processes},
          {"totals",
           {{"processes", t.processes}, {"sessions", t.sessions}, {"tool_calls", t.tool_calls},
            {"tool_errors", t.tool_errors}, {"events", t.events}, {"policy_violations", t.policy_violations},
            {"policy_refused", t.policy_refused}, {"redacted", t.redacted}}}};
}

}  // namespace bluepython::report
