// SPDX-License-Identifier: Apache-2.0
#include "tools/tail.hpp"

#include <fnmatch.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "config/error.hpp"
#include "tools/event_summary.hpp"

namespace bluepython::tail {
namespace {

using tools::field;
using tools::text;

std::string clip(std::string s, std::size_t max) {
  for (auto& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (s.size() > max) {
    s.resize(max);
    while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0U) == 0x80U) s.pop_back();  // UTF-8
    s += "…";
  }
  return s;
}

const char* colour_of(const std::string& name) {
  if (name == "python_internal_exception") return "\x1b[1;31m";
  if (name.rfind("python_mcp_", 0) == 0) return "\x1b[36m";
  if (name.rfind("python_process_", 0) == 0) return "\x1b[35m";
  if (name.rfind("python_file_", 0) == 0) return "\x1b[33m";
  if (name.rfind("python_net_", 0) == 0) return "\x1b[34m";
  if (name.rfind("python_code_", 0) == 0) return "\x1b[31m";
  if (name.rfind("sensor_", 0) == 0) return "\x1b[32m";
  return "\x1b[2m";  // imports and the rest: dim
}

std::atomic<bool> g_stop{false};
void on_interrupt(int /*signo*/) { g_stop.store(true); }

// A spool file being read: where the next read starts, and a partial line.
struct source {
  std::uint64_t offset = 0;
  std::string partial;
};

std::vector<std::string> spool_files(const options& o) { return tools::spool_files_of(o.paths, o.spool_dir, "tail"); }

// Imports are most of a spool's lines: shown when asked for (--imports), or
// when a name filter picks event names.
bool shown(const view& v, const options& o) {
  if (v.name == "python_import" && !o.imports &&
      std::none_of(o.filters.begin(), o.filters.end(), [](const filter& f) { return f.key == "name"; })) {
    return false;
  }
  return matches(v, o.filters);
}

// New complete lines of `path` since the last read.
std::vector<std::string> read_new(const std::string& path, source& s) {
  std::vector<std::string> lines;
  std::ifstream in(path, std::ios::binary);
  if (!in) return lines;
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::uint64_t>(in.tellg());
  const std::uint64_t whole_lines_end = s.offset - s.partial.size();
  if (size < whole_lines_end) {  // truncated or replaced: start over
    s.offset = 0;
    s.partial.clear();
  } else if (!s.partial.empty()) {
    // The half line held back may have been cut by a repair (a killed
    // process's last write) and whole lines appended in its place: if the
    // file no longer holds it, read on from the last whole line.
    std::string now(s.partial.size(), '\0');
    in.seekg(static_cast<std::streamoff>(whole_lines_end));
    in.read(now.data(), static_cast<std::streamsize>(now.size()));
    if (static_cast<std::size_t>(in.gcount()) != now.size() || now != s.partial) {
      s.offset = whole_lines_end;
      s.partial.clear();
    }
    in.clear();
  }
  if (size == s.offset) return lines;
  in.seekg(static_cast<std::streamoff>(s.offset));
  std::string chunk(size - s.offset, '\0');
  in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  chunk.resize(static_cast<std::size_t>(in.gcount()));
  s.offset += chunk.size();
  s.partial += chunk;
  std::size_t start = 0;
  for (std::size_t nl = s.partial.find('\n'); nl != std::string::npos; nl = s.partial.find('\n', start)) {
    lines.emplace_back(s.partial.substr(start, nl - start));
    start = nl + 1;
  }
  s.partial.erase(0, start);
  return lines;
}

void print(const std::string& line, const options& o) {
  const nlohmann::json doc = nlohmann::json::parse(line, nullptr, false);
  if (!doc.is_object()) return;
  const view v = view_of(doc);
  if (!shown(v, o)) return;
  std::string out = format(v, o.color);
  out += '\n';
  (void)std::fwrite(out.data(), 1, out.size(), stdout);
}

}  // namespace

filter parse_filter(std::string_view expr) {
  static const std::vector<std::string_view> keys = {"name", "tool", "session", "pid", "scope", "call", "method"};
  filter f;
  std::size_t at = std::string_view::npos;
  if ((at = expr.find("!=")) != std::string_view::npos) {
    f.how = filter::op::differs;
    f.value = std::string(expr.substr(at + 2));
  } else if ((at = expr.find('~')) != std::string_view::npos) {
    f.how = filter::op::contains;
    f.value = std::string(expr.substr(at + 1));
  } else if ((at = expr.find('=')) != std::string_view::npos) {
    f.value = std::string(expr.substr(at + 1));
  } else {
    throw launcher_error::usage(
        fmt::format("bluepython tail: --filter '{}' is not KEY=VALUE, KEY!=VALUE or KEY~TEXT", expr));
  }
  f.key = std::string(expr.substr(0, at));
  if (std::find(keys.begin(), keys.end(), f.key) == keys.end()) {
    throw launcher_error::usage(fmt::format(
        "bluepython tail: --filter '{}': unknown key '{}' (name, tool, session, pid, scope, call, method)", expr, f.key));
  }
  return f;
}

view view_of(const nlohmann::json& line) {
  view v;
  const nlohmann::json& event = field(line, "event");
  const nlohmann::json& context = field(event, "context");
  const nlohmann::json& mcp = field(context, "mcp");
  v.sort_key = text(field(line, "ts"));
  v.ts = v.sort_key.size() >= 23 ? v.sort_key.substr(11, 12) : v.sort_key;
  if (const auto& pid = field(field(context, "process"), "pid"); pid.is_number_integer()) v.pid = pid.get<long long>();
  v.name = text(field(field(event, "meta"), "name"));
  v.scope = text(field(context, "scope"));
  v.tool = text(field(mcp, "target"));
  v.session = text(field(mcp, "session_id"));
  v.call = text(field(mcp, "call_id"));
  v.method = text(field(mcp, "method"));
  if (const auto& id = field(mcp, "request_id"); !id.is_null()) v.request = text(id);
  if (const auto& n = field(event, "repeated"); n.is_number_integer() && n.get<long long>() > 0) {
    v.repeated = n.get<std::uint64_t>();
  }
  if (v.name == "python_mcp_event") {
    if (v.session.empty()) v.session = text(field(event, "session_id"));
    const std::string method = text(field(event, "method"));
    if (v.method.empty()) v.method = method.empty() ? text(field(event, "request_method")) : method;
    if (v.tool.empty()) v.tool = text(field(field(field(event, "message"), "params"), "name"));
  } else if (v.name.rfind("python_mcp_session", 0) == 0 && v.session.empty()) {
    v.session = text(field(event, "session_id"));
  }
  v.summary = tools::summary_of(v.name, event);
  return v;
}

bool matches(const view& v, const std::vector<filter>& filters) {
  for (const auto& f : filters) {
    std::string subject;
    if (f.key == "name") subject = v.name;
    else if (f.key == "tool") subject = v.tool;
    else if (f.key == "session") subject = v.session;
    else if (f.key == "pid") subject = std::to_string(v.pid);
    else if (f.key == "scope") subject = v.scope;
    else if (f.key == "call") subject = v.call;
    else subject = v.method;
    bool hit = false;
    switch (f.how) {
      case filter::op::contains: hit = subject.find(f.value) != std::string::npos; break;
      case filter::op::equals:
      case filter::op::differs:
        hit = f.key == "name" ? ::fnmatch(f.value.c_str(), subject.c_str(), 0) == 0 : subject == f.value;
        if (f.how == filter::op::differs) hit = !hit;
        break;
    }
    if (!hit) return false;
  }
  return true;
}

std::string format(const view& v, bool color) {
  std::string where;
  if (!v.tool.empty() && !v.call.empty()) {
    // The call by its JSON-RPC request id, as report shows it.
    where = fmt::format(" [{}{}]", v.tool, v.request.empty() ? "" : "#" + v.request);
  } else if (!v.scope.empty() && v.scope != "call") {
    where = " (" + v.scope + ")";
  }
  std::string summary = clip(v.summary, 160);
  if (v.repeated > 0) {  // written when the call ended: the repeats of an earlier line
    summary += fmt::format(" (repeated {} more time{} in this call)", v.repeated, v.repeated == 1 ? "" : "s");
  }
  if (!color) return fmt::format("{} {:>7} {:<24}{} {}", v.ts, v.pid, v.name, where, summary);
  return fmt::format("\x1b[2m{}\x1b[0m {:>7} {}{:<24}\x1b[0m\x1b[1m{}\x1b[0m {}", v.ts, v.pid, colour_of(v.name), v.name,
                     where, summary);
}

int run(const options& o) {
  (void)spool_files(o);  // a path that is neither a spool directory nor a file: the one-line error, exit 2
  // History: every current line, in time order across processes; the last N that match.
  std::map<std::string, source> sources;
  std::vector<std::pair<std::string, std::string>> history;  // (ts, line)
  for (const auto& path : spool_files(o)) {
    for (auto& line : read_new(path, sources[path])) {
      const auto ts_end = line.find("\",");
      history.emplace_back(line.substr(0, std::min<std::size_t>(ts_end, 40)), std::move(line));
    }
  }
  std::stable_sort(history.begin(), history.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<const std::string*> picked;
  for (auto it = history.rbegin(); it != history.rend() && picked.size() < o.lines; ++it) {
    const nlohmann::json doc = nlohmann::json::parse(it->second, nullptr, false);
    if (doc.is_object() && shown(view_of(doc), o)) picked.push_back(&it->second);
  }
  for (auto it = picked.rbegin(); it != picked.rend(); ++it) print(**it, o);
  (void)std::fflush(stdout);
  if (!o.follow) return 0;

  struct sigaction action{};
  action.sa_handler = &on_interrupt;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
  while (!g_stop.load()) {
    ::poll(nullptr, 0, 200);
    std::vector<std::string> files;
    try {  // new processes' files appear here; a directory removed meanwhile: try again later
      files = spool_files(o);
    } catch (const launcher_error&) {
      continue;
    }
    for (const auto& path : files) {
      for (const auto& line : read_new(path, sources[path])) print(line, o);
    }
    (void)std::fflush(stdout);
  }
  return 0;
}

}  // namespace bluepython::tail
