// SPDX-License-Identifier: Apache-2.0
#include "tools/event_summary.hpp"

#include <cctype>
#include <cstdio>

#include <algorithm>
#include <filesystem>
#include <utility>

#include <fmt/format.h>

#include "config/error.hpp"
#include "pipeline/journal_recovery.hpp"
#include "pipeline/spool_writer.hpp"

namespace bluepython::tools {

using json = nlohmann::json;

const json& field(const json& object, const char* key) {
  static const json null_value;
  if (!object.is_object()) return null_value;
  const auto it = object.find(key);
  return it == object.end() ? null_value : *it;
}

std::string text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return {};
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string argv_text(const json& argv) {
  if (!argv.is_array()) return text(argv);
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    out += text(a);
  }
  return out;
}

std::string name_of_line(const json& line) { return text(field(field(field(line, "event"), "meta"), "name")); }

bool is_side_effect(std::string_view name) noexcept {
  return name.rfind("python_process_", 0) == 0 || name.rfind("python_file_", 0) == 0 ||
         name.rfind("python_net_", 0) == 0 || name.rfind("python_code_", 0) == 0 || name == "python_llm_request";
}

namespace {

std::string mcp_summary(const std::string& name, const json& e) {
  if (name == "python_mcp_event") {
    std::string s = text(field(e, "event"));
    const std::string method = text(field(e, "method")).empty() ? text(field(e, "request_method")) : text(field(e, "method"));
    if (!method.empty()) s += " " + method;
    const std::string target = text(field(field(field(e, "message"), "params"), "name"));
    if (!target.empty()) s += " " + target;
    if (!field(e, "id").is_null()) s += " #" + text(field(e, "id"));
    if (field(e, "duration_ms").is_number()) s += fmt::format(" {:.1f} ms", field(e, "duration_ms").get<double>());
    if (field(e, "error").is_object()) s += " error " + text(field(field(e, "error"), "type"));
    return s;
  }
  if (name == "python_mcp_session_created" || name == "python_mcp_session_terminated") {
    std::string s = field(e, "source") == 0 ? "server" : "client";
    s += " session " + text(field(e, "session_id")).substr(0, 12);
    for (const char* key : {"server_name", "transport", "client_name"}) {
      if (!field(e, key).is_null()) s += " " + text(field(e, key));
    }
    if (field(e, "duration_ms").is_number()) s += fmt::format(" {:.0f} ms", field(e, "duration_ms").get<double>());
    return s;
  }
  if (name == "python_mcp_server_init") return text(field(field(e, "server"), "name")) + " (" + text(field(e, "framework")) + ")";
  if (name == "python_mcp_server_add") {
    return text(field(field(e, "element"), "type")) + " " + text(field(field(e, "element"), "name")) + " on " +
           text(field(e, "server_name"));
  }
  // python_mcp_client_connect
  const json& server = field(e, "server");
  const std::string where = field(server, "url").is_null()
                                ? text(field(server, "command")) + " " + argv_text(field(server, "args"))
                                : text(field(server, "url"));
  return text(field(server, "type")) + " " + where;
}

std::string side_effect_summary(const std::string& name, const json& e) {
  if (name == "python_file_open") return text(field(e, "access")) + " " + text(field(e, "path"));
  if (name == "python_file_change") {
    std::string s = text(field(e, "op")) + " " + text(field(e, "path"));
    if (!field(e, "statement").is_null()) s += " (" + text(field(e, "statement")) + ")";  // a database's write
    if (!field(e, "target").is_null()) {
      // The arrow points the way the data or the link goes: a rename or move
      // from path to target, a link at path to its target; a copy, an
      // unpacked or a made archive is written at path from target.
      const std::string op = text(field(e, "op"));
      const bool written_from = op == "copy" || op == "copytree" || op == "unpack_archive" || op == "make_archive";
      s += (written_from ? " <- " : " -> ") + text(field(e, "target"));
    }
    return s;
  }
  if (name == "python_process_spawn") return argv_text(field(e, "argv"));
  if (name == "python_process_signal") {
    const std::string program = text(field(field(e, "target"), "program"));
    return "pid " + text(field(e, "pid")) + (program.empty() ? "" : " (" + program + ")") + " signal " +
           text(field(e, "signal"));
  }
  if (name == "python_process_link") return "asked for by pid " + text(field(field(e, "parent"), "pid"));
  if (name.rfind("python_net_", 0) == 0) {
    if (!field(e, "url").is_null()) {
      std::string s = text(field(e, "method")) + " " + text(field(e, "url"));
      if (!field(e, "status").is_null()) s += " -> " + text(field(e, "status"));
      if (const std::string error = text(field(e, "error")); !error.empty()) {
        s += " failed (" + error.substr(0, error.find(':')) + ")";  // the exception's type
      }
      return s;
    }
    std::string s = text(field(e, "host"));
    if (!field(e, "port").is_null()) s += ":" + text(field(e, "port"));
    if (s.empty()) s = text(field(e, "address"));
    return s;
  }
  if (name == "python_llm_request") {  // chat gpt-4o (openai) 12 in / 34 out tokens
    std::string s = text(field(e, "operation")) + " " + text(field(e, "request_model")) + " (" +
                    text(field(e, "provider")) + ")";
    if (field(e, "input_tokens").is_number() || field(e, "output_tokens").is_number()) {
      s += " " + text(field(e, "input_tokens")) + " in / " + text(field(e, "output_tokens")) + " out tokens";
    }
    if (const std::string error = text(field(e, "error")); !error.empty()) {
      s += " failed (" + error.substr(0, error.find(':')) + ")";
    }
    return s;
  }
  // python_code_dynamic
  if (!field(e, "module").is_null()) return text(field(e, "module")) + "." + text(field(e, "name"));
  if (!field(e, "source").is_null()) return text(field(e, "via")) + ": " + text(field(e, "source"));
  return text(field(e, "via"));
}

bool is_summarised_side_effect(const std::string& name) {
  return name == "python_file_open" || name == "python_file_change" || name == "python_process_spawn" ||
         name == "python_process_signal" || name == "python_process_link" || name.rfind("python_net_", 0) == 0 ||
         name == "python_code_dynamic" || name == "python_llm_request";
}

bool is_summarised_mcp(const std::string& name) {
  return name == "python_mcp_event" || name == "python_mcp_session_created" || name == "python_mcp_session_terminated" ||
         name == "python_mcp_server_init" || name == "python_mcp_server_add" || name == "python_mcp_client_connect";
}

}  // namespace

std::string summary_of(const std::string& name, const json& e) {
  if (is_summarised_mcp(name)) return mcp_summary(name, e);
  if (is_summarised_side_effect(name)) return side_effect_summary(name, e);
  if (name == "python_code_native_load") return text(field(e, "library"));
  if (name == "python_import") {
    std::string s = text(field(e, "fullname"));
    if (field(e, "hash_changed") == true) s += " (hash changed)";
    if (field(e, "record_match") == false) s += " (RECORD mismatch)";
    return s;
  }
  if (name == "python_policy_violation") {
    // The action first, in capitals: a refused operation must never read as
    // one that happened.
    std::string action = text(field(e, "action"));
    for (char& c : action) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const json& subject = field(e, "subject");
    std::string what;
    for (const char* key : {"path", "executable", "host", "tool", "module", "class", "library", "file"}) {
      if (!field(subject, key).is_null()) {
        what = text(field(subject, key));
        break;
      }
    }
    if (!field(subject, "port").is_null()) what += ":" + text(field(subject, "port"));
    return action + " " + text(field(subject, "op")) + " " + what + " (rule " + text(field(e, "rule")) + ")";
  }
  if (name == "sensor_startup") return argv_text(field(e, "python_argv"));
  if (name == "sensor_shutdown") return text(field(e, "reason"));
  if (name == "python_internal_exception") return text(field(e, "where")) + ": " + text(field(e, "message"));
  json rest = json::object();
  for (const auto& [k, v] : e.items()) {
    if (k != "meta" && k != "context") rest[k] = v;
  }
  return text(rest);
}

bool is_spool_file_name(std::string_view n) noexcept { return !spool_file_rest(n).empty(); }

std::vector<std::string> spool_files_in(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec) && is_spool_file_name(entry.path().filename().string())) {
      out.push_back(entry.path().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {
std::pair<std::string, std::string>& configured_state() {
  static std::pair<std::string, std::string> dirs;
  return dirs;
}
}  // namespace

void set_configured_state_dir(const std::string& spool_dir, const std::string& state_dir) {
  configured_state() = {spool_dir, state_dir};
}

std::vector<std::string> spool_files_of(const std::vector<std::string>& paths, const std::string& default_dir,
                                        std::string_view command) {
  std::vector<std::string> files;
  auto add_dir = [&](const std::string& dir) {
    const auto& [configured_spool, configured_state_dir] = configured_state();
    const std::string state =
        dir == configured_spool && !configured_state_dir.empty() ? configured_state_dir : default_state_dir(dir);
    for (const auto& fault : recover_journals(state, dir).faults) {
      (void)std::fprintf(stderr, "bluepython %.*s: %s\n", static_cast<int>(command.size()), command.data(),
                         fault.c_str());
    }
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
      throw launcher_error::usage(fmt::format("bluepython {}: no spool directory at {}", command, dir));
    }
    const auto found = spool_files_in(dir);
    files.insert(files.end(), found.begin(), found.end());
  };
  if (paths.empty()) add_dir(default_dir);
  for (const auto& path : paths) {
    std::error_code ec;
    // A spool directory that only a recovery would create (its one process
    // was killed before its first write) is still a spool directory.
    if (std::filesystem::is_directory(path, ec) || std::filesystem::is_directory(default_state_dir(path), ec)) {
      add_dir(path);
    } else if (std::filesystem::is_regular_file(path, ec)) {
      files.push_back(path);
    } else {
      throw launcher_error::usage(fmt::format("bluepython {}: no file or directory {}", command, path));
    }
  }
  return files;
}

}  // namespace bluepython::tools
