// SPDX-License-Identifier: Apache-2.0
// The HTML view of the report model: tools/report_page.html with the data.
#include "tools/report.hpp"
#include "tools/report_page.hpp"

namespace bluepython::report {

std::string render_html(const model& m) {
  std::string data = to_json(m).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  // Inside <script>: "</" would end the element early.
  for (std::size_t at = data.find("</"); at != std::string::npos; at = data.find("</", at + 2)) {
    data.replace(at, 2, "<\\/");
  }
  constexpr std::string_view placeholder = "{{report-data}}";
  const std::string_view page = report_page();
  const std::size_t slot = page.find(placeholder);  // the asset has it once (test/unit/tools/report_model_test.cpp)
  std::string out;
  out.reserve(page.size() + data.size());
  out += page.substr(0, slot);
  out += data;
  if (slot != std::string_view::npos) out += page.substr(slot + placeholder.size());
  return out;
}

}  // namespace bluepython::report
