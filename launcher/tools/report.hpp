// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bluepython::report {

// `bluepython report`: a summary of a spool per process and session
// (docs/report.md). Reads spool files only; never starts Python.

struct options {
  std::string spool_dir;           // used when no paths are given
  std::vector<std::string> paths;  // spool files or directories
  bool json = false;
  std::string html;  // write the self-contained page here
};

// The whole report as data (what --json prints), from event lines.
nlohmann::json build(const std::vector<nlohmann::json>& events);
// The terminal rendering of build()'s result.
std::string render_text(const nlohmann::json& report);
// One self-contained HTML page (no network): per-session timelines of calls
// and their side effects, filterable by tool (also from the URL: #tool=NAME).
std::string render_html(const nlohmann::json& report);

int run(const options& o);

}  // namespace bluepython::report
