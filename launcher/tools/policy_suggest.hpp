// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tools/policy_spool.hpp"

// `bluepython policy suggest` and `bluepython policy lock`: a policy written
// from what spools show (docs/policy-tools.md). Both print a document that
// policy::compile() accepts; the same spool checked against it is clean.
namespace bluepython::policy_tools {

struct suggest_options {
  std::string spool_dir;           // used when no paths are given
  std::vector<std::string> paths;  // spool files or directories
  std::string into;                // lock: the policy file whose document is kept
  std::string home;
};

// A least-privilege policy: per tool, per server (its other requests) and
// outside calls, what each subject was seen doing; a rule per subject that
// allows nothing else; the tools called; the import lock and tool pins.
// Sorted and stable: the same spools give the same bytes. `notes` gets what
// the policy could not express (to be read by a person).
nlohmann::json suggest(const spool_facts& facts, std::vector<std::string>& notes);

// The import lock the spools show ({"lock": {...}, "unlisted"?: [...]}):
// module -> sha256, "builtin" for modules without a file; a module seen with
// two different hashes (or a file without one) is listed in `unlisted`.
nlohmann::json import_lock_of(const spool_facts& facts, std::vector<std::string>& notes);

// `base` (a policy document) with imports.lock replaced by the spools'
// (imports.mode and unlisted names of base kept).
nlohmann::json lock(const spool_facts& facts, nlohmann::json base, std::vector<std::string>& notes);

// The path prefixes of a list of absolute paths (the rule is in
// docs/policy-tools.md): `DIR/**` per distinct parent directory; four or more
// sibling directories under a parent at least two levels deep become that
// parent's `DIR/**`; a prefix inside another is dropped; a file directly
// under `/` is listed as itself. Sorted.
std::vector<std::string> path_patterns(const std::set<std::string>& paths);

// `text` as a glob pattern matching exactly it (`*`, `?`, `[` and `\`
// escaped).
std::string escape_glob(std::string_view text);

int run_suggest(const suggest_options& o);
int run_lock(const suggest_options& o);

}  // namespace bluepython::policy_tools
