// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <string_view>

// Paths as the policy matches them: absolute, with every symbolic link and
// `.`/`..` resolved, so neither can lead out of an allowed prefix.
namespace bluepython::policy {

// The real path of `path` (relative paths are taken from `cwd`). The longest
// prefix that exists is resolved by the kernel (realpath); what follows it
// (a file about to be created, a directory not made yet) is appended with
// `.` and `..` applied by text, which is what the kernel would do once it
// exists. Never throws (an over-long path comes back normalized by text).
std::string resolve_path(std::string_view path, std::string_view cwd);

// `.`, `..` and repeated slashes removed by text alone.
std::string normalize_path(std::string_view absolute);

}  // namespace bluepython::policy
