// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tools/report_model.hpp"

namespace bluepython::report {

// `bluepython report`: a summary of a spool per process and session
// (docs/report.md). Reads spool files only; never starts Python. The model
// (tools/report_model.hpp) is read once; the views below only format it and
// are pure functions of it.

struct options {
  std::string spool_dir;           // used when no paths are given
  std::vector<std::string> paths;  // spool files or directories
  bool json = false;
  std::string html;  // write the self-contained page here
};

// The spool's event lines ({"ts": ..., "event": {...}}) in time order: the
// spool files of o.spool_dir, or of o.paths (files or
// directories). Lines that are not JSON objects are skipped. Throws
// launcher_error::usage for a path that is neither a file nor a directory.
std::vector<nlohmann::json> read_events(const options& o);

// The whole report as data (what --json prints).
nlohmann::json to_json(const model& m);
// The terminal rendering.
std::string render_text(const model& m);
// One self-contained HTML page (no network; tools/report_page.html): per-session
// timelines of calls and their side effects, filterable by tool (also from the
// URL: #tool=NAME). The data is to_json(m), embedded in the page.
std::string render_html(const model& m);

// Runs the command; returns the exit code. Throws launcher_error::usage for a
// missing spool, file or directory, or an HTML page that cannot be written.
int run(const options& o);

}  // namespace bluepython::report
