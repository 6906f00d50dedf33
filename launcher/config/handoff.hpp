// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "config/config.hpp"

// Hands a process's effective configuration to the bluepython processes it
// starts when their environment does not carry it. MCP clients start stdio
// servers with a scrubbed environment (the Python SDK keeps only HOME, PATH,
// SHELL, TERM, USER, LOGNAME), so BLUEPYTHON_* variables set by `run` flags
// never reach the server. Each bluepython therefore publishes
// /tmp/bluepython-<uid>/handoff-<pid>.json (directory 0700, file 0600) while
// it runs; a child whose environment has no BLUEPYTHON_PARENT looks for its
// parent's file, checks owner and the parent's start time (against pid
// reuse), and starts from that configuration.
namespace bluepython::handoff {

struct parent_handoff {  // NOLINT(bugprone-exception-escape): plain aggregate
  int pid = 0;
  std::string uuid;
  nlohmann::json config;  // same schema as a config file
};

// Publishes this process's handoff file; `settings_json` is config::to_json()
// serialized (the sensor has it already). Best effort; never throws.
void publish(std::string_view settings_json, int pid, const std::string& uuid) noexcept;

// Removes this process's handoff file (at exit). Never throws.
void retract(int pid) noexcept;

// The handoff of the parent process (getppid()), if it is a bluepython that
// published one and it is genuinely that process's. Never throws.
std::optional<parent_handoff> find_for_parent() noexcept;

// Removes handoff files of processes that no longer exist (left by a
// SIGKILL). Returns how many were removed. Never throws.
int remove_stale() noexcept;

// The start time of `pid` in clock ticks since boot (/proc/<pid>/stat), or 0.
unsigned long long process_start_ticks(int pid) noexcept;

}  // namespace bluepython::handoff
