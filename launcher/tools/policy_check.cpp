// SPDX-License-Identifier: Apache-2.0
// `bluepython check`: the policy's decisions replayed over a spool.
#include "tools/policy_check.hpp"

#include <cstdio>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "config/config.hpp"
#include "tools/event_summary.hpp"

namespace bluepython::policy_tools {
namespace {

using json = nlohmann::json;
using tools::field;
using tools::text;

json violation_of(const fact& f, const policy::violation& v) {
  json out = {{"ts", f.ts},
              {"pid", f.pid},
              {"rule", v.rule_id},
              {"mode", policy::mode_name(v.effective)},
              {"reason", v.reason},
              {"subject", f.subject},
              {"event", text(field(field(*f.event, "meta"), "name"))},
              {"spool", f.file},
              {"source", "spool"}};
  if (v.by != nullptr && !v.by->why.empty()) out["why"] = v.by->why;
  return out;
}

// A violation the process itself recorded: as it was written.
json recorded(const fact& f) {
  const json& e = *f.event;
  json out = {{"ts", f.ts},
              {"pid", f.pid},
              {"rule", field(e, "rule")},
              {"mode", field(e, "mode")},
              {"action", field(e, "action")},
              {"reason", field(e, "reason")},
              {"subject", f.subject},
              {"event", "python_policy_violation"},
              {"spool", f.file},
              {"source", "run time"}};
  if (field(e, "why").is_string()) out["why"] = field(e, "why");
  if (field(e, "origin").is_object()) out["origin"] = field(e, "origin");
  return out;
}

void add_call(json& out, const call_where& w) {
  if (!w.in_call) return;
  json call = json::object();
  if (!w.server.empty()) call["server"] = w.server;
  if (!w.tool.empty()) call["tool"] = w.tool;
  if (!w.method.empty()) call["method"] = w.method;
  if (!w.session_id.empty()) call["session_id"] = w.session_id;
  if (!w.call_id.empty()) call["call_id"] = w.call_id;
  out["call"] = std::move(call);
}

// The subject in a few words: what the run-time message names.
std::string subject_text(const json& s) {
  const std::string kind = text(field(s, "kind"));
  if (kind == "process") {
    std::string out = text(field(s, "executable"));
    const std::string args = text(field(s, "args"));
    if (!args.empty()) out += " " + args;
    return out;
  }
  if (kind == "network") {
    std::string out = text(field(s, "host"));
    if (!field(s, "port").is_null()) out += ":" + text(field(s, "port"));
    if (!field(s, "names").is_null()) out += " (" + text(field(s, "names")) + ")";
    return out;
  }
  for (const char* key : {"path", "tool", "module", "file", "class", "library"}) {
    if (!field(s, key).is_null()) return text(field(s, key));
  }
  return text(s);
}

}  // namespace

check_result check(const policy::compiled_policy& p, const spool_facts& facts) {
  check_result r;
  r.events_checked = facts.events;
  for (const fact& f : facts.facts) {
    std::optional<policy::violation> v;
    switch (f.what) {
      case fact::kind::operation:
        if (!p.limits(f.op)) continue;
        ++r.operations_checked;
        v = p.check(f.as_operation(), f.as_scope());
        break;
      case fact::kind::tool_call: {
        if (!p.checks_calls()) continue;
        ++r.operations_checked;
        const policy::call_scope where = f.as_scope();
        v = p.check(f.as_operation(), where);
        if (!v) {
          v = p.check_arguments(where, [&f](const std::vector<std::string>& tokens) { return value_at(f.arguments, tokens); });
        }
        if (!v && p.has_tool_pins()) v = p.check_tool_pin(f.text, f.digest);
        break;
      }
      case fact::kind::import:
        if (!p.has_import_lock()) continue;
        ++r.operations_checked;
        v = p.check_import(f.text, f.digest);
        break;
      case fact::kind::recorded_violation: {
        json out = recorded(f);
        add_call(out, f.where);
        r.violations.push_back(std::move(out));
        continue;
      }
      case fact::kind::definition: continue;
    }
    if (!v) continue;
    json out = violation_of(f, *v);
    if (f.what == fact::kind::tool_call && !f.digest.empty() && v->rule_id == "tool_pins") {
      out["subject"]["definition"] = f.digest;
    }
    add_call(out, f.where);
    r.violations.push_back(std::move(out));
  }
  return r;
}

json to_json(const check_result& r) {
  return {{"violations", r.violations},
          {"events_checked", r.events_checked},
          {"operations_checked", r.operations_checked},
          {"clean", r.clean()}};
}

std::string render_text(const check_result& r) {
  std::string out;
  std::set<std::string> rules;
  for (const json& v : r.violations) {
    rules.insert(text(field(v, "rule")));
    std::string line = fmt::format("{} pid {} [{}] {}: {}", text(field(v, "ts")), text(field(v, "pid")),
                                   text(field(v, "rule")), text(field(v, "reason")), subject_text(field(v, "subject")));
    const json& call = field(v, "call");
    if (call.is_object()) {
      if (!field(call, "tool").is_null()) {
        line += " in tool " + text(field(call, "tool"));
      } else if (!field(call, "method").is_null()) {
        line += " in " + text(field(call, "method"));
      } else {
        line += " in a call";
      }
      if (!field(call, "server").is_null()) line += " of " + text(field(call, "server"));
      if (!field(call, "session_id").is_null()) line += ", session " + text(field(call, "session_id")).substr(0, 12);
    } else {
      line += " outside calls";
    }
    if (text(field(v, "source")) == "run time") line += fmt::format(" (at run time: {})", text(field(v, "action")));
    out += line + "\n";
  }
  if (r.clean()) {
    out += fmt::format("clean: no violation in {} events ({} operations checked)\n", r.events_checked,
                       r.operations_checked);
  } else {
    out += fmt::format("{} violation{} of {} rule{} in {} events ({} operations checked)\n", r.violations.size(),
                       r.violations.size() == 1 ? "" : "s", rules.size(), rules.size() == 1 ? "" : "s",
                       r.events_checked, r.operations_checked);
  }
  return out;
}

int run_check(const check_options& o) {
  const auto compiled = read_policy_file(o.policy_file, o.home);
  const std::vector<spool_line> lines = read_spool(o.paths, o.spool_dir, "check");
  const spool_facts facts = facts_of(lines);
  const check_result r = check(*compiled, facts);
  const std::string out =
      o.json ? to_json(r).dump(2, ' ', false, json::error_handler_t::replace) + "\n" : render_text(r);
  (void)std::fwrite(out.data(), 1, out.size(), stdout);
  return r.clean() ? 0 : 1;
}

}  // namespace bluepython::policy_tools
