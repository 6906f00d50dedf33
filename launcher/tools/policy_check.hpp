// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "policy/policy.hpp"
#include "tools/policy_spool.hpp"

// `bluepython check --policy FILE [SPOOL...]`: what a spool shows happened,
// against a policy, offline (docs/policy-tools.md). Reads spools only.
namespace bluepython::policy_tools {

struct check_options {
  std::string policy_file;
  std::string spool_dir;           // used when no paths are given
  std::vector<std::string> paths;  // spool files or directories
  bool json = false;
  std::string home;  // expands `~/` in the policy's path patterns
};

struct check_result {
  // One object per violation, in event order: ts, pid, rule, mode, reason,
  // why?, subject, event, spool, source ("spool": found now; "run time": a
  // python_policy_violation the process wrote, with its action), and the
  // call (server, tool, session_id, call_id) when there was one.
  nlohmann::json violations = nlohmann::json::array();
  std::size_t events_checked = 0;
  std::size_t operations_checked = 0;  // operations, tool calls and imports the policy speaks of
  [[nodiscard]] bool clean() const noexcept { return violations.empty(); }
};

// The decision for every fact of the spool.
check_result check(const policy::compiled_policy& p, const spool_facts& facts);

// The report: JSON ({"violations", "events_checked", "operations_checked",
// "clean"}) or lines of text and a summary.
nlohmann::json to_json(const check_result& r);
std::string render_text(const check_result& r);

// Runs the command: 0 clean, 1 any violation. Throws launcher_error (exit 2)
// for a policy or spool that cannot be read.
int run_check(const check_options& o);

}  // namespace bluepython::policy_tools
