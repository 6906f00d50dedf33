// SPDX-License-Identifier: Apache-2.0
// `bluepython report`: reads the spool files, then prints one view of the model.
#include "tools/report.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>

#include <fmt/format.h>

#include "config/error.hpp"
#include "tools/event_summary.hpp"

namespace bluepython::report {
namespace {

using json = nlohmann::json;

// Every event line of the files (lines that are not JSON objects are
// skipped), in time order.
std::vector<json> events_of(const std::vector<std::string>& files) {
  std::vector<json> events;
  for (const auto& f : files) {
    std::ifstream in(f);
    std::string line;
    while (std::getline(in, line)) {
      json doc = json::parse(line, nullptr, false);
      if (doc.is_object()) events.push_back(std::move(doc));
    }
  }
  std::stable_sort(events.begin(), events.end(), [](const json& a, const json& b) {
    return tools::text(tools::field(a, "ts")) < tools::text(tools::field(b, "ts"));
  });
  return events;
}

}  // namespace

std::vector<json> read_events(const options& o) { return events_of(tools::spool_files_of(o.paths, o.spool_dir, "report")); }

int run(const options& o) {
  const model m = read_model(read_events(o));
  if (!o.html.empty()) {
    std::ofstream page(o.html, std::ios::binary | std::ios::trunc);
    const std::string text_out = render_html(m);
    page.write(text_out.data(), static_cast<std::streamsize>(text_out.size()));
    page.close();
    if (!page) throw launcher_error::usage(fmt::format("bluepython report: cannot write {}", o.html));
    if (!o.json) return 0;
  }
  const std::string out =
      o.json ? to_json(m).dump(2, ' ', false, json::error_handler_t::replace) + "\n" : render_text(m);
  (void)std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace bluepython::report
