// SPDX-License-Identifier: Apache-2.0
#include "tools/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>

#include "config/error.hpp"
#include "tools/tail.hpp"

namespace bluepython::report {
namespace {

using json = nlohmann::json;

const json& at(const json& object, const char* key) {
  static const json null_value;
  if (!object.is_object()) return null_value;
  const auto it = object.find(key);
  return it == object.end() ? null_value : *it;
}

std::string text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return {};
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool is_side_effect(const std::string& name) {
  return name.rfind("python_process_", 0) == 0 || name.rfind("python_file_", 0) == 0 ||
         name.rfind("python_net_", 0) == 0 || name.rfind("python_code_", 0) == 0;
}

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size(), std::max<std::size_t>(rank, 1)) - 1];
}

double round3(double v) { return std::round(v * 1000.0) / 1000.0; }

struct call_record {  // NOLINT(bugprone-exception-escape): moved only inside build()
  json request_id;
  std::string session_id;
  std::string method;
  std::string target;
  std::string ts;
  std::string call_id;
  json duration_ms;
  json error;
  bool answered = false;
  struct effect {
    std::uint64_t count = 0;
    long long pid = 0;
    std::string first_ts;
  };
  std::map<std::pair<std::string, std::string>, effect> effects;  // (name, summary) -> what and when
};

struct session_record {
  std::string session_id;
  std::string side;
  json info = json::object();
  std::string start;
  std::string end;
  json duration_ms;
  std::vector<std::string> call_order;  // keys into calls
};

struct process_record {
  long long pid = 0;
  std::string uuid;
  json startup;
  json shutdown;
  std::string first_ts;
  std::string last_ts;
  std::vector<std::string> servers;
  std::vector<std::string> session_order;
  std::map<std::string, session_record> sessions;  // "side|id"
  std::map<std::string, call_record> calls;        // "session|request id"
  std::map<std::string, std::string> call_keys;    // call_id -> key in calls
  std::map<std::string, std::uint64_t> outside;    // scope -> side effects outside calls
  std::uint64_t imports = 0;
  json changed = json::array();
  json mismatched = json::array();
  std::map<std::pair<std::string, std::string>, std::uint64_t> faults;
};

std::string call_key(const json& session, const json& id) { return text(session) + "|" + id.dump(); }

}  // namespace

json build(const std::vector<json>& events) {
  std::map<std::string, process_record> procs;  // uuid -> record
  std::vector<std::string> order;
  // (call_id) -> (uuid of the serving process, key): children attach their effects there.
  std::map<std::string, std::pair<std::string, std::string>> calls_by_id;

  auto process_of = [&](const json& e) -> process_record& {
    const json& event = at(e, "event");
    const std::string uuid = text(at(at(event, "meta"), "uuid"));
    auto [it, inserted] = procs.try_emplace(uuid);
    if (inserted) {
      order.push_back(uuid);
      it->second.uuid = uuid;
      const json& pid = at(at(at(event, "context"), "process"), "pid");
      if (pid.is_number_integer()) it->second.pid = pid.get<long long>();
    }
    return it->second;
  };

  // Pass 1: processes, sessions, requests and responses, imports, faults.
  for (const auto& e : events) {
    const json& event = at(e, "event");
    const std::string name = text(at(at(event, "meta"), "name"));
    const std::string ts = text(at(e, "ts"));
    process_record& p = process_of(e);
    if (p.first_ts.empty() || ts < p.first_ts) p.first_ts = ts;
    if (ts > p.last_ts) p.last_ts = ts;
    if (name == "sensor_startup") {
      p.startup = event;
    } else if (name == "sensor_shutdown") {
      p.shutdown = event;
    } else if (name == "python_mcp_server_init") {
      p.servers.push_back(text(at(at(event, "server"), "name")));
    } else if (name == "python_mcp_session_created" || name == "python_mcp_session_terminated") {
      const std::string side = at(event, "source") == 0 ? "server" : "client";
      const std::string key = side + "|" + text(at(event, "session_id"));
      auto [it, inserted] = p.sessions.try_emplace(key);
      session_record& s = it->second;
      if (inserted) {
        p.session_order.push_back(key);
        s.session_id = text(at(event, "session_id"));
        s.side = side;
      }
      for (const char* k : {"server_name", "client_name", "client_version", "transport", "protocol_version"}) {
        if (!at(event, k).is_null()) s.info[k] = at(event, k);
      }
      if (name == "python_mcp_session_created") {
        s.start = ts;
      } else {
        s.end = ts;
        s.duration_ms = at(event, "duration_ms");
      }
    } else if (name == "python_mcp_event") {
      const std::string kind = text(at(event, "event"));
      if (kind != "server_received_request" && kind != "server_send_response") continue;
      const std::string key = call_key(at(event, "session_id"), at(event, "id"));
      auto [it, inserted] = p.calls.try_emplace(key);
      call_record& c = it->second;
      if (kind == "server_received_request") {
        c.request_id = at(event, "id");
        c.session_id = text(at(event, "session_id"));
        c.method = text(at(event, "method"));
        const json& params = at(at(event, "message"), "params");
        c.target = text(at(params, "name"));
        if (c.target.empty()) c.target = text(at(params, "uri"));
        c.ts = ts;
        // Sessions are keyed by side and id; requests attach to the server one.
        auto session = p.sessions.try_emplace("server|" + c.session_id);
        if (session.second) {
          p.session_order.push_back("server|" + c.session_id);
          session.first->second.session_id = c.session_id;
          session.first->second.side = "server";
        }
        session.first->second.call_order.push_back(key);
      } else {
        c.answered = true;
        c.duration_ms = at(event, "duration_ms");
        c.error = at(event, "error");
        if (c.method.empty()) c.method = text(at(event, "request_method"));
      }
    } else if (name == "python_import") {
      ++p.imports;
      json brief = {{"fullname", at(event, "fullname")}, {"file", at(event, "file")}, {"pkg", at(event, "pkg")},
                    {"version", at(event, "version")}};
      if (at(event, "hash_changed") == true) p.changed.push_back(brief);
      if (at(event, "record_match") == false) {
        brief["record_sha256"] = at(event, "record_sha256");
        brief["sha256"] = at(event, "sha256");
        p.mismatched.push_back(brief);
      }
    } else if (name == "python_internal_exception") {
      ++p.faults[{text(at(event, "where")), text(at(event, "message"))}];
    }
  }
  // Pass 2: which call each call_id is (from any in-call event), then side effects.
  for (const auto& e : events) {
    const json& event = at(e, "event");
    const json& mcp = at(at(event, "context"), "mcp");
    if (!mcp.is_object()) continue;
    process_record& p = process_of(e);
    const std::string key = call_key(at(mcp, "session_id"), at(mcp, "request_id"));
    const std::string call_id = text(at(mcp, "call_id"));
    if (const auto it = p.calls.find(key); it != p.calls.end() && !call_id.empty()) {
      it->second.call_id = call_id;
      p.call_keys[call_id] = key;
      calls_by_id[call_id] = {p.uuid, key};
    }
  }
  for (const auto& e : events) {
    const json& event = at(e, "event");
    const std::string name = text(at(at(event, "meta"), "name"));
    if (!is_side_effect(name)) continue;
    process_record& p = process_of(e);
    const json& context = at(event, "context");
    std::string call_id = text(at(at(context, "mcp"), "call_id"));
    // A child process's effects belong to the call that started it.
    if (call_id.empty() && p.startup.is_object()) call_id = text(at(at(at(p.startup, "parent"), "call"), "call_id"));
    const auto owner = calls_by_id.find(call_id);
    if (owner == calls_by_id.end()) {
      ++p.outside[text(at(context, "scope")).empty() ? "unknown" : text(at(context, "scope"))];
      continue;
    }
    call_record& c = procs[owner->second.first].calls[owner->second.second];
    auto& slot = c.effects[{name, tail::summary_of(name, event)}];
    slot.count += 1 + (at(event, "repeated").is_number_unsigned() ? at(event, "repeated").get<std::uint64_t>() : 0);
    slot.pid = p.pid;
    if (const std::string ts = text(at(e, "ts")); slot.first_ts.empty() || ts < slot.first_ts) slot.first_ts = ts;
  }

  json out = json::object();
  json processes = json::array();
  std::uint64_t total_calls = 0;
  std::uint64_t total_errors = 0;
  std::uint64_t total_sessions = 0;
  for (const auto& uuid : order) {
    const process_record& p = procs[uuid];
    json jp = {{"pid", p.pid}, {"uuid", p.uuid}, {"start", p.first_ts}, {"end", p.last_ts}};
    jp["argv"] = at(p.startup, "python_argv");
    jp["parent"] = at(p.startup, "parent");
    jp["exit"] = at(p.shutdown, "reason");
    jp["servers"] = p.servers;
    json counters = json::object();
    for (const char* k : {"emitted", "written", "dropped", "dropped_queue_full", "dropped_spool", "filtered", "export"}) {
      if (!at(p.shutdown, k).is_null()) counters[k] = at(p.shutdown, k);
    }
    jp["counters"] = counters;
    json sessions = json::array();
    for (const auto& key : p.session_order) {
      const session_record& s = p.sessions.at(key);
      json js = {{"session_id", s.session_id}, {"side", s.side}, {"start", s.start}, {"end", s.end},
                 {"duration_ms", s.duration_ms}};
      js.update(s.info);
      std::map<std::pair<std::string, std::string>, std::vector<double>> durations;
      std::map<std::pair<std::string, std::string>, std::uint64_t> errors;
      json calls = json::array();
      for (const auto& ck : s.call_order) {
        const call_record& c = p.calls.at(ck);
        const auto op = std::make_pair(c.method, c.target);
        auto& d = durations[op];
        if (c.duration_ms.is_number()) d.push_back(c.duration_ms.get<double>());
        const bool failed = c.error.is_object();
        if (failed) ++errors[op];
        if (c.method == "tools/call") {
          ++total_calls;
          if (failed) ++total_errors;
        }
        json effects = json::array();
        for (const auto& [what, fx] : c.effects) {
          effects.push_back({{"event", what.first}, {"summary", what.second}, {"count", fx.count}, {"pid", fx.pid},
                             {"ts", fx.first_ts}});
        }
        calls.push_back({{"request_id", c.request_id}, {"method", c.method}, {"target", c.target}, {"ts", c.ts},
                         {"call_id", c.call_id.empty() ? json() : json(c.call_id)}, {"duration_ms", c.duration_ms},
                         {"error", c.error}, {"answered", c.answered}, {"side_effects", effects}});
      }
      json operations = json::array();
      for (auto& entry : durations) {
        const auto& op = entry.first;
        auto& d = entry.second;
        std::sort(d.begin(), d.end());
        const auto calls_of_op = std::count_if(s.call_order.begin(), s.call_order.end(), [&](const std::string& ck) {
          const call_record& c = p.calls.at(ck);
          return c.method == op.first && c.target == op.second;
        });
        operations.push_back({{"method", op.first}, {"target", op.second},
                              {"calls", calls_of_op},
                              {"errors", errors[op]},
                              {"p50_ms", d.empty() ? json() : json(round3(percentile(d, 50)))},
                              {"p95_ms", d.empty() ? json() : json(round3(percentile(d, 95)))}});
      }
      js["operations"] = operations;
      js["calls"] = calls;
      sessions.push_back(js);
      ++total_sessions;
    }
    jp["sessions"] = sessions;
    jp["side_effects_outside_calls"] = p.outside;
    jp["imports"] = {{"total", p.imports}, {"hash_changed", p.changed}, {"record_mismatch", p.mismatched}};
    json faults = json::array();
    for (const auto& [what, count] : p.faults) faults.push_back({{"where", what.first}, {"message", what.second}, {"count", count}});
    jp["internal_exceptions"] = faults;
    processes.push_back(jp);
  }
  out["processes"] = processes;
  out["totals"] = {{"processes", procs.size()}, {"sessions", total_sessions}, {"tool_calls", total_calls},
                   {"tool_errors", total_errors}, {"events", events.size()}};
  return out;
}

std::string render_text(const json& r) {
  std::string out;
  const json& t = at(r, "totals");
  out += fmt::format("{} processes, {} sessions, {} tool calls ({} failed), {} events\n", text(at(t, "processes")),
                     text(at(t, "sessions")), text(at(t, "tool_calls")), text(at(t, "tool_errors")),
                     text(at(t, "events")));
  for (const auto& p : at(r, "processes")) {
    std::string argv;
    for (const auto& a : at(p, "argv")) argv += (argv.empty() ? "" : " ") + text(a);
    out += fmt::format("\nprocess {} {}\n", text(at(p, "pid")), argv);
    const json& parent = at(p, "parent");
    if (parent.is_object()) {
      out += fmt::format("  started by pid {}", text(at(parent, "pid")));
      if (at(parent, "call").is_object()) {
        out += fmt::format(" in call {} ({})", text(at(at(parent, "call"), "call_id")), text(at(at(parent, "call"), "target")));
      }
      out += '\n';
    }
    out += fmt::format("  {} .. {}, exit: {}\n", text(at(p, "start")), text(at(p, "end")),
                       at(p, "exit").is_null() ? "not recorded (still running, or killed)" : text(at(p, "exit")));
    for (const auto& s : at(p, "servers")) out += fmt::format("  server {}\n", text(s));
    for (const auto& s : at(p, "sessions")) {
      out += fmt::format("  {} session {} {} {}{}\n", text(at(s, "side")), text(at(s, "session_id")).substr(0, 12),
                         text(at(s, "transport")), text(at(s, "client_name")),
                         at(s, "duration_ms").is_number() ? fmt::format(" ({:.0f} ms)", at(s, "duration_ms").get<double>())
                                                          : "");
      if (!at(s, "operations").empty()) {
        out += fmt::format("    {:<40} {:>6} {:>6} {:>9} {:>9}\n", "operation", "calls", "errors", "p50 ms", "p95 ms");
        for (const auto& op : at(s, "operations")) {
          const std::string label = text(at(op, "method")) + (text(at(op, "target")).empty() ? "" : " " + text(at(op, "target")));
          auto ms = [](const json& v) { return v.is_number() ? fmt::format("{:.1f}", v.get<double>()) : std::string("-"); };
          out += fmt::format("    {:<40} {:>6} {:>6} {:>9} {:>9}\n", label, text(at(op, "calls")), text(at(op, "errors")),
                             ms(at(op, "p50_ms")), ms(at(op, "p95_ms")));
        }
      }
      bool heading = false;
      for (const auto& c : at(s, "calls")) {
        if (at(c, "side_effects").empty()) continue;
        if (!heading) {
          out += "    side effects by call:\n";
          heading = true;
        }
        out += fmt::format("      {} {} #{}{}\n", text(at(c, "method")), text(at(c, "target")), text(at(c, "request_id")),
                           at(c, "error").is_object() ? " (failed: " + text(at(at(c, "error"), "type")) + ")" : "");
        for (const auto& fx : at(c, "side_effects")) {
          const std::string count = at(fx, "count") == 1 ? "" : fmt::format(" x{}", text(at(fx, "count")));
          const std::string where = at(fx, "pid") == at(p, "pid") ? "" : fmt::format(" (pid {})", text(at(fx, "pid")));
          out += fmt::format("        {} {}{}{}\n", text(at(fx, "event")), text(at(fx, "summary")), count, where);
        }
      }
    }
    const json& outside = at(p, "side_effects_outside_calls");
    if (!outside.empty()) {
      std::string parts;
      for (const auto& [scope, n] : outside.items()) parts += fmt::format("{}{} {}", parts.empty() ? "" : ", ", text(n), scope);
      out += "  side effects outside calls: " + parts + "\n";
    }
    const json& imports = at(p, "imports");
    out += fmt::format("  imports: {} ({} changed since the last run, {} RECORD mismatches)\n", text(at(imports, "total")),
                       at(imports, "hash_changed").size(), at(imports, "record_mismatch").size());
    for (const auto& m : at(imports, "hash_changed")) out += fmt::format("    changed: {} {}\n", text(at(m, "fullname")), text(at(m, "file")));
    for (const auto& m : at(imports, "record_mismatch")) {
      out += fmt::format("    RECORD mismatch: {} {} ({} {})\n", text(at(m, "fullname")), text(at(m, "file")),
                         text(at(m, "pkg")), text(at(m, "version")));
    }
    for (const auto& f : at(p, "internal_exceptions")) {
      out += fmt::format("  internal exception x{}: {}: {}\n", text(at(f, "count")), text(at(f, "where")), text(at(f, "message")));
    }
    const json& counters = at(p, "counters");
    if (at(counters, "dropped").is_number() && at(counters, "dropped") != 0) {
      out += fmt::format("  dropped events: {} (queue full {}, spool {})\n", text(at(counters, "dropped")),
                         text(at(counters, "dropped_queue_full")), text(at(counters, "dropped_spool")));
    }
    if (const json& ex = at(counters, "export"); ex.is_object() && at(ex, "dropped") != 0) {
      out += fmt::format("  OTLP export: {} events not delivered\n", text(at(ex, "dropped")));
    }
  }
  return out;
}

namespace {

// The page: data embedded as JSON, drawn by a small script; no network.
constexpr std::string_view kPageHead = R"html(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>bluepython report</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330;background:#fff}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:24px 0 4px} h3{font-size:14px;margin:16px 0 6px}
.muted{color:#6b7280} code{font:12px ui-monospace,monospace}
table{border-collapse:collapse;margin:6px 0} td,th{padding:2px 10px;text-align:right;border-bottom:1px solid #e5e7eb}
td:first-child,th:first-child{text-align:left}
.timeline{position:relative;border-left:1px solid #9ca3af;border-bottom:1px solid #9ca3af;margin:8px 0 4px;background:#fafafa}
.call{position:absolute;height:18px;background:#60a5fa;border-radius:3px;font-size:11px;color:#0b1a33;white-space:nowrap;overflow:visible;padding-left:2px;box-sizing:border-box;min-width:3px}
.call.failed{background:#f87171}
.effect{position:absolute;width:8px;height:8px;border-radius:50%;background:#f59e0b;margin-left:-4px}
.effect.process{background:#a855f7}.effect.file{background:#f59e0b}.effect.net{background:#2563eb}.effect.code{background:#dc2626}
.hidden{display:none}
ul.effects{margin:2px 0 8px 18px;padding:0} ul.effects li{font:12px ui-monospace,monospace}
</style></head><body>
<h1>bluepython report</h1>
<div id="totals" class="muted"></div>
<p><label>Tool: <select id="tool-filter"><option value="">all tools</option></select></label></p>
<div id="processes"></div>
<script id="report-data" type="application/json">)html";

constexpr std::string_view kPageTail = R"html(</script>
<script>
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; };
  const ms = (ts) => Date.parse(ts);
  const t = data.totals;
  document.getElementById("totals").textContent =
    `${t.processes} processes, ${t.sessions} sessions, ${t.tool_calls} tool calls (${t.tool_errors} failed), ${t.events} events`;
  const tools = new Set();
  const root = document.getElementById("processes");
  for (const p of data.processes) {
    const sec = el("section", "process");
    sec.appendChild(el("h2", null, `process ${p.pid} ${(p.argv || []).join(" ")}`));
    sec.appendChild(el("div", "muted", `${p.start} .. ${p.end}, exit: ${p.exit || "not recorded"}`));
    for (const s of p.sessions) {
      const box = el("div", "session");
      box.dataset.session = s.session_id || "";
      box.appendChild(el("h3", null, `${s.side} session ${(s.session_id || "").slice(0, 12)} ${s.transport || ""} ${s.client_name || ""}`));
      const calls = s.calls || [];
      if (calls.length) {
        let start = Infinity, end = -Infinity;
        for (const c of calls) {
          const a = ms(c.ts), b = a + (c.duration_ms || 0);
          start = Math.min(start, a); end = Math.max(end, b);
          for (const fx of c.side_effects) { start = Math.min(start, ms(fx.ts)); end = Math.max(end, ms(fx.ts)); }
        }
        const span = Math.max(end - start, 1);
        const line = el("div", "timeline");
        line.style.height = `${calls.length * 24 + 8}px`;
        calls.forEach((c, i) => {
          if (c.method === "tools/call") tools.add(c.target);
          const bar = el("div", "call" + (c.error ? " failed" : ""), `${c.target || c.method} #${c.request_id}`);
          bar.dataset.tool = c.method === "tools/call" ? c.target : "";
          bar.title = `${c.method} ${c.target} ${c.duration_ms ?? "?"} ms${c.error ? " failed: " + c.error.type : ""}`;
          bar.style.left = `${(ms(c.ts) - start) / span * 100}%`;
          bar.style.width = `${Math.max((c.duration_ms || 0) / span * 100, 0.3)}%`;
          bar.style.top = `${i * 24 + 4}px`;
          line.appendChild(bar);
          for (const fx of c.side_effects) {
            const kind = fx.event.split("_")[1] || "";
            const dot = el("div", `effect ${kind}`);
            dot.dataset.tool = bar.dataset.tool;
            dot.title = `${fx.event} ${fx.summary}${fx.count > 1 ? " x" + fx.count : ""}`;
            dot.style.left = `${(ms(fx.ts) - start) / span * 100}%`;
            dot.style.top = `${i * 24 + 9}px`;
            line.appendChild(dot);
          }
        });
        box.appendChild(line);
        const list = el("ul", "effects");
        for (const c of calls) {
          for (const fx of c.side_effects) {
            const li = el("li", "effect-row", `${c.target || c.method} #${c.request_id}: ${fx.event} ${fx.summary}${fx.count > 1 ? " x" + fx.count : ""}${fx.pid !== p.pid ? " (pid " + fx.pid + ")" : ""}`);
            li.dataset.tool = c.method === "tools/call" ? c.target : "";
            list.appendChild(li);
          }
        }
        box.appendChild(list);
      }
      if ((s.operations || []).length) {
        const table = el("table", "operations");
        const head = el("tr"); ["operation", "calls", "errors", "p50 ms", "p95 ms"].forEach((h) => head.appendChild(el("th", null, h)));
        table.appendChild(head);
        for (const o of s.operations) {
          const row = el("tr");
          row.dataset.tool = o.method === "tools/call" ? o.target : "";
          [`${o.method} ${o.target}`.trim(), o.calls, o.errors, o.p50_ms ?? "-", o.p95_ms ?? "-"].forEach((v) => row.appendChild(el("td", null, String(v))));
          table.appendChild(row);
        }
        box.appendChild(table);
      }
      sec.appendChild(box);
    }
    const imp = p.imports || {};
    sec.appendChild(el("div", "muted", `imports: ${imp.total || 0} (${(imp.hash_changed || []).length} changed, ${(imp.record_mismatch || []).length} RECORD mismatches)`));
    root.appendChild(sec);
  }
  const select = document.getElementById("tool-filter");
  [...tools].sort().forEach((name) => { const o = el("option", null, name); o.value = name; select.appendChild(o); });
  const apply = (tool) => {
    select.value = tool;
    document.querySelectorAll("[data-tool]").forEach((e) => e.classList.toggle("hidden", !!tool && e.dataset.tool !== tool));
  };
  select.addEventListener("change", () => { location.hash = select.value ? "tool=" + encodeURIComponent(select.value) : ""; apply(select.value); });
  const m = /tool=([^&]*)/.exec(location.hash);
  apply(m ? decodeURIComponent(m[1]) : "");
  document.body.dataset.ready = "1";
})();
</script></body></html>
)html";

}  // namespace

std::string render_html(const json& r) {
  std::string data = r.dump(-1, ' ', false, json::error_handler_t::replace);
  // Inside <script>: "</" would end the element early.
  for (std::size_t at_pos = data.find("</"); at_pos != std::string::npos; at_pos = data.find("</", at_pos + 2)) {
    data.replace(at_pos, 2, "<\\/");
  }
  std::string page(kPageHead);
  page += data;
  page += kPageTail;
  return page;
}

int run(const options& o) {
  std::vector<std::string> files;
  auto add_dir = [&](const std::string& dir) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
      throw launcher_error::usage(fmt::format("bluepython report: no spool directory at {}", dir));
    }
    std::vector<std::string> found;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      const std::string n = entry.path().filename().string();
      if (n.rfind("bluepython-", 0) == 0 && n.size() > 7 && n.substr(n.size() - 7) == ".ndjson") {
        found.push_back(entry.path().string());
      }
    }
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  };
  if (o.paths.empty()) add_dir(o.spool_dir);
  for (const auto& path : o.paths) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      add_dir(path);
    } else if (std::filesystem::is_regular_file(path, ec)) {
      files.push_back(path);
    } else {
      throw launcher_error::usage(fmt::format("bluepython report: no file or directory {}", path));
    }
  }
  std::vector<json> events;
  for (const auto& f : files) {
    std::ifstream in(f);
    std::string line;
    while (std::getline(in, line)) {
      json doc = json::parse(line, nullptr, false);
      if (doc.is_object()) events.push_back(std::move(doc));
    }
  }
  std::stable_sort(events.begin(), events.end(),
                   [](const json& a, const json& b) { return text(at(a, "ts")) < text(at(b, "ts")); });
  const json r = build(events);
  if (!o.html.empty()) {
    std::ofstream page(o.html, std::ios::binary | std::ios::trunc);
    const std::string text_out = render_html(r);
    page.write(text_out.data(), static_cast<std::streamsize>(text_out.size()));
    page.close();
    if (!page) throw launcher_error::usage(fmt::format("bluepython report: cannot write {}", o.html));
    if (!o.json) return 0;
  }
  const std::string out = o.json ? r.dump(2, ' ', false, json::error_handler_t::replace) + "\n" : render_text(r);
  (void)std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace bluepython::report
