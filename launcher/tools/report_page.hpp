// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string_view>

namespace bluepython::report {

// tools/report_page.html, embedded at build time (cmake/embed_asset.cmake
// generates the definition). The page's data goes where "{{report-data}}" is.
std::string_view report_page() noexcept;

}  // namespace bluepython::report
