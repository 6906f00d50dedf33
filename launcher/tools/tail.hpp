// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace bluepython::tail {

// `bluepython tail`: the spool as a live, one-line-per-event view
// (docs/tail.md). Reads spool files only; never starts Python.

// One --filter: key=value (name takes shell patterns), key!=value or
// key~text (contains). Keys: name, tool, session, pid, scope, call, method.
struct filter {
  std::string key;
  enum class op : std::uint8_t { equals, differs, contains } how = op::equals;
  std::string value;
};

// Parses one --filter; throws launcher_error::usage naming the problem.
filter parse_filter(std::string_view expr);

struct options {
  std::string spool_dir;            // used when no paths are given
  std::vector<std::string> paths;   // spool directories or files, as report takes them
  bool imports = false;             // show python_import events (hidden unless asked for or filtered by name)
  bool follow = false;
  std::size_t lines = 10;           // history: the last N matching events
  std::vector<filter> filters;
  bool color = false;
};

// The fields a view shows and filters look at, from one parsed event line.
struct view {
  std::string ts;        // HH:MM:SS.mmm (UTC)
  std::string sort_key;  // the full timestamp
  long long pid = 0;
  std::string name;
  std::string scope;
  std::string tool;
  std::string session;
  std::string call;
  std::string method;
  std::string request;   // the JSON-RPC request id of the call, as report shows it
  std::string summary;
  std::uint64_t repeated = 0;  // a folded line: this many further occurrences in the call
};

// Its summary is tools::summary_of() (tools/event_summary.hpp).
view view_of(const nlohmann::json& line);
bool matches(const view& v, const std::vector<filter>& filters);
// One display line (no newline); ANSI colours when `color`.
std::string format(const view& v, bool color);

// Runs the command; returns the exit code.
int run(const options& o);

}  // namespace bluepython::tail
