// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace bluepython::tools {

// What `bluepython tail` and `bluepython report` both read from spool lines
// (docs/events.md): lenient field access, one-line summaries, spool files.
// Pure functions of their arguments; safe from any thread; never throw on
// malformed events (missing or mistyped fields read as empty).

// object[key], or a null value when `object` is not an object or lacks `key`.
const nlohmann::json& field(const nlohmann::json& object, const char* key);
// A string's text, "" for null, the compact JSON for anything else.
std::string text(const nlohmann::json& v);
// argv arrays joined by spaces (text() of anything else).
std::string argv_text(const nlohmann::json& argv);
// The event's name (meta.name) from a spool line {"ts": ..., "event": {...}}.
std::string name_of_line(const nlohmann::json& line);
// What an event says, in a few words ("write notes.txt", "uname -sr", ...).
std::string summary_of(const std::string& name, const nlohmann::json& event);
// python_process_*, python_file_*, python_net_* and python_code_* events.
bool is_side_effect(std::string_view name) noexcept;

// A spool file's name: python-bluepython-*.ndjson (or an earlier release's bluepython-*.ndjson).
bool is_spool_file_name(std::string_view file_name) noexcept;
// The spool files directly in `dir`, sorted by name; empty when `dir` cannot
// be read (callers check that it is a directory first).
std::vector<std::string> spool_files_in(const std::string& dir);
// The configured spool directory's state directory (spool.state_dir); any
// other directory's is default_state_dir(dir).
void set_configured_state_dir(const std::string& spool_dir, const std::string& state_dir);

// The spool files `paths` name (directories: their spool files, sorted;
// plain files as given), or those of `default_dir` when there are none.
// Throws launcher_error::usage naming `command` for a path that is neither.
// Each directory is repaired first: the journals of its dead processes are
// recovered into it (pipeline/journal_recovery.hpp); what cannot be is named
// on stderr.
std::vector<std::string> spool_files_of(const std::vector<std::string>& paths, const std::string& default_dir,
                                        std::string_view command);

}  // namespace bluepython::tools
