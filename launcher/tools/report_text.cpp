// SPDX-License-Identifier: Apache-2.0
// The terminal view of the report model: `bluepython report` without --json.
#include <fmt/format.h>

#include <algorithm>

#include "tools/event_summary.hpp"
#include "tools/report.hpp"

namespace bluepython::report {
namespace {

using json = nlohmann::json;
using tools::field;
using tools::text;

std::string ms(const std::optional<double>& v) { return v ? fmt::format("{:.1f}", *v) : std::string("-"); }

void operations_table(const session& s, std::string& out) {
  if (s.operations.empty()) return;
  out += fmt::format("    {:<40} {:>6} {:>6} {:>9} {:>9}\n", "operation", "calls", "errors", "p50 ms", "p95 ms");
  for (const operation& op : s.operations) {
    const std::string label = op.method + (op.target.empty() ? "" : " " + op.target);
    out += fmt::format("    {:<40} {:>6} {:>6} {:>9} {:>9}\n", label, op.calls, op.errors, ms(op.p50_ms), ms(op.p95_ms));
  }
}

void side_effects_by_call(const process& p, const session& s, std::string& out) {
  bool heading = false;
  for (const call& c : s.calls) {
    if (c.side_effects.empty() && c.violations.empty()) continue;
    if (!heading) {
      out += "    side effects by call:\n";
      heading = true;
    }
    out += fmt::format("      {} {} #{}{}\n", c.method, c.target, text(c.request_id),
                       c.failed() ? " (failed: " + text(field(c.error, "type")) + ")" : "");
    for (const side_effect& v : c.violations) {
      out += fmt::format("        policy: {}{}\n", v.summary, v.count == 1 ? "" : fmt::format(" x{}", v.count));
    }
    for (const side_effect& fx : c.side_effects) {
      const std::string count = fx.count == 1 ? "" : fmt::format(" x{}", fx.count);
      const std::string where = fx.pid == p.pid ? "" : fmt::format(" (pid {})", fx.pid);
      out += fmt::format("        {} {}{}{}\n", fx.event, fx.summary, count, where);
    }
  }
}

void server_requests_and_notifications(const session& s, std::string& out) {
  for (const operation& op : s.server_requests) {
    out += fmt::format("    request to the client: {} {} ({} failed, p50 {} ms)\n", op.method, op.calls, op.errors,
                       ms(op.p50_ms));
  }
  for (const auto& [direction, methods] : s.notifications) {
    std::string parts;
    for (const auto& [method, n] : methods) parts += fmt::format("{}{} x{}", parts.empty() ? "" : ", ", method, n);
    out += fmt::format("    notifications {}: {}\n", direction, parts);
  }
}

void session_text(const process& p, const session& s, std::string& out) {
  out += fmt::format("  {} session {} {} {}{}{}\n", s.side, s.session_id.substr(0, 12),
                     text(field(s.info, "transport")), text(field(s.info, "client_name")),
                     s.duration_ms.is_number() ? fmt::format(" ({:.0f} ms)", s.duration_ms.get<double>()) : "",
                     s.messages == 0 ? " - no MCP message: closed or refused before any request" : "");
  operations_table(s, out);
  server_requests_and_notifications(s, out);
  side_effects_by_call(p, s, out);
}

// What each tool, prompt and resource did across all sessions, before the
// per-session detail (many near-identical sessions read best summed up).
void targets_table(const model& m, std::string& out) {
  if (m.targets.empty()) return;
  out += fmt::format("\n{:<40} {:>6} {:>6} {:>8} {:>9} {:>9}  {}\n", "tool, prompt or resource (all sessions)", "calls",
                     "errors", "sessions", "p50 ms", "p95 ms", "side effects");
  for (const target_summary& t : m.targets) {
    std::string effects;
    for (const auto& [event, n] : t.side_effects) {
      const std::string kind = event.rfind("python_", 0) == 0 ? event.substr(7) : event;
      effects += fmt::format("{}{} {}", effects.empty() ? "" : ", ", kind, n);
    }
    const std::string label = (t.method == "tools/call" ? "" : t.method + " ") + t.target;
    out += fmt::format("{:<40} {:>6} {:>6} {:>8} {:>9} {:>9}  {}\n", label, t.calls, t.errors, t.sessions,
                       ms(t.p50_ms), ms(t.p95_ms), effects.empty() ? "-" : effects);
  }
}

void process_heading(const process& p, std::string& out) {
  std::string argv;
  for (const auto& a : p.argv) argv += (argv.empty() ? "" : " ") + text(a);
  out += fmt::format("\nprocess {} {}\n", p.pid, argv);
  if (p.parent.is_object()) {
    out += fmt::format("  started by pid {}", text(field(p.parent, "pid")));
    const json& call = field(p.parent, "call");
    if (call.is_object()) out += fmt::format(" in call {} ({})", text(field(call, "call_id")), text(field(call, "target")));
    out += '\n';
  }
  std::string exit = p.exit.is_null() ? "not recorded (still running)" : text(p.exit);
  if (p.exit == "killed" && p.counters.contains("recovered")) {
    exit += fmt::format(" ({} events recovered from its journal)", text(p.counters.at("recovered")));
  }
  out += fmt::format("  {} .. {}, exit: {}\n", p.start, p.end, exit);
  for (const auto& s : p.servers) out += fmt::format("  server {}\n", s);
}

void violations_text(const process& p, std::string& out) {
  if (p.violations.empty()) return;
  std::uint64_t events = 0;
  std::uint64_t refused = 0;
  for (const violation& v : p.violations) {
    events += v.count;
    if (v.refused()) refused += v.count;
  }
  out += fmt::format("  policy violations: {} ({} refused, {} recorded only)\n", events, refused, events - refused);
  // By session (first seen first), then outside calls.
  std::vector<std::string> sessions;
  for (const violation& v : p.violations) {
    if (std::find(sessions.begin(), sessions.end(), v.session_id) == sessions.end()) sessions.push_back(v.session_id);
  }
  std::stable_partition(sessions.begin(), sessions.end(), [](const std::string& id) { return !id.empty(); });
  for (const std::string& id : sessions) {
    out += id.empty() ? std::string("    outside calls:\n") : fmt::format("    session {}:\n", id.substr(0, 12));
    for (const violation& v : p.violations) {
      if (v.session_id != id) continue;
      out += fmt::format("      {}{} in {}\n", v.summary, v.count == 1 ? "" : fmt::format(" x{}", v.count), v.where);
      if (!v.why.empty()) out += fmt::format("        why: {}\n", v.why);
    }
  }
}

void process_footer(const process& p, std::string& out) {
  violations_text(p, out);
  if (!p.side_effects_outside_calls.empty()) {
    std::string parts;
    for (const auto& [scope, n] : p.side_effects_outside_calls) {
      parts += fmt::format("{}{} {}", parts.empty() ? "" : ", ", n, scope);
    }
    out += "  side effects outside calls: " + parts + "\n";
  }
  out += fmt::format("  imports: {} ({} changed since the last run, {} RECORD mismatches)\n", p.imports,
                     p.hash_changed.size(), p.record_mismatch.size());
  for (const auto& m : p.hash_changed) {
    out += fmt::format("    changed: {} {}\n", text(field(m, "fullname")), text(field(m, "file")));
  }
  for (const auto& m : p.record_mismatch) {
    out += fmt::format("    RECORD mismatch: {} {} ({} {})\n", text(field(m, "fullname")), text(field(m, "file")),
                       text(field(m, "pkg")), text(field(m, "version")));
  }
  for (const fault& f : p.faults) out += fmt::format("  internal exception x{}: {}: {}\n", f.count, f.where, f.message);
  const json& dropped = field(p.counters, "dropped");
  if (dropped.is_number() && dropped != 0) {
    out += fmt::format("  dropped events: {} (queue full {}, spool {})\n", text(dropped),
                       text(field(p.counters, "dropped_queue_full")), text(field(p.counters, "dropped_spool")));
  }
  // An export counter without "dropped" is reported too (null != 0): it is malformed.
  if (const json& ex = field(p.counters, "export"); ex.is_object() && field(ex, "dropped") != 0) {
    out += fmt::format("  OTLP export: {} events not delivered\n", text(field(ex, "dropped")));
  }
}

}  // namespace

std::string render_text(const model& m) {
  std::string out;
  const totals& t = m.totals;
  out += fmt::format("{} processes, {} sessions, {} tool calls ({} failed), {} events", t.processes, t.sessions,
                     t.tool_calls, t.tool_errors, t.events);
  if (t.policy_violations != 0) {
    out += fmt::format(", {} policy violations ({} refused)", t.policy_violations, t.policy_refused);
  }
  out += '\n';
  if (!t.redacted.empty()) {
    std::uint64_t all = 0;
    std::string parts;
    for (const auto& [rule, n] : t.redacted) {
      all += n;
      parts += fmt::format("{}{} {}", parts.empty() ? "" : ", ", n, rule);
    }
    out += fmt::format("secrets redacted: {} ({})\n", all, parts);
  }
  targets_table(m, out);
  for (const process& p : m.processes) {
    process_heading(p, out);
    for (const session& s : p.sessions) session_text(p, s, out);
    process_footer(p, out);
  }
  return out;
}

}  // namespace bluepython::report
