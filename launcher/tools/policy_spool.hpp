// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "policy/policy.hpp"

// What `bluepython check` and `bluepython policy suggest|lock` read from a
// spool (docs/policy-tools.md): every event turned into the operations the
// run-time policy gate (capture/policy_gate.cpp) decides on, with the call
// each happened in. Both commands read the same facts, so a policy suggested
// from a spool passes `check` on that spool by construction.
//
// Offline, nothing is resolved on this machine: paths are the recorded ones,
// a relative path made absolute with the process's start-up directory
// (sensor_startup.cwd) by text alone; executables are as given (a pattern
// without `/` matches the base name of the executable or argv[0], as at run
// time).
namespace bluepython::policy_tools {

// One spool line and the file it came from (base name, for messages).
struct spool_line {
  nlohmann::json line;
  std::string file;
};

// The event lines of `paths` (spool files, or directories whose
// spool files are read), or of `default_dir` when `paths` is
// empty, sorted by time (stable). Lines that are not JSON objects are
// skipped. Throws launcher_error::usage ("bluepython COMMAND: no file or
// directory X") for a path that is neither, or a file that cannot be read.
std::vector<spool_line> read_spool(const std::vector<std::string>& paths, const std::string& default_dir,
                                   std::string_view command);

// The MCP call an event happened in (its context.mcp).
struct call_where {
  bool in_call = false;
  std::string server;  // context.mcp.server_name
  std::string tool;    // context.mcp.target of a tools/call; "" for other methods
  std::string method;
  std::string session_id;
  std::string call_id;
};

struct fact {
  enum class kind : std::uint8_t {
    operation,           // a side effect: op, text, name, args, port, aliases
    tool_call,           // a tools/call the server received: text is the tool, arguments, digest
    import,              // python_import: text is the module, digest its sha256 ("" without a file)
    definition,          // python_mcp_server_add of a tool: text is the tool, digest its definition digest
    recorded_violation,  // python_policy_violation written at run time: event
  };
  kind what = kind::operation;
  policy::op op = policy::op::read;
  std::string text;  // path, executable, host, tool, module, compile file name, `module.name`, library
  std::string name;  // process: argv[0]; unpickle: the module
  std::string args;  // process: arguments after argv[0], joined by spaces
  int port = -1;
  std::vector<std::string> aliases;  // connect to an address: names resolved before in the process
  std::string digest;
  bool has_file = false;          // import: the module came from a file
  nlohmann::json arguments;       // tool_call: params.arguments
  nlohmann::json subject;         // {kind, op, path|executable|host|tool|module...} as the run-time event has it
  call_where where;
  std::string ts;
  long long pid = 0;
  std::string uuid;  // meta.uuid: the process
  std::string file;  // the spool file
  const nlohmann::json* event = nullptr;  // the event object (for recorded violations)

  // The operation as policy::compiled_policy::check wants it (views into
  // this fact).
  [[nodiscard]] policy::operation as_operation() const noexcept;
  [[nodiscard]] policy::call_scope as_scope() const noexcept;
};

struct spool_facts {
  std::vector<fact> facts;  // in event order
  std::size_t events = 0;   // event lines read
  std::set<std::string> files;  // spool files (base names) the events came from
  // Categories (config names: files, process, network, code, mcp, imports)
  // some process of the spool ran with switched off (sensor_startup.categories):
  // the spool cannot show what they would have recorded.
  std::set<std::string> categories_off;
  std::vector<std::string> notes;  // what could not be read as an operation
};

// The facts of spool lines sorted by time. Never throws on malformed events
// (missing or mistyped fields read as empty; the event yields nothing).
// `lines` must outlive the result (facts point at their events).
spool_facts facts_of(const std::vector<spool_line>& lines);

// The value at a JSON pointer's tokens of a tools/call's arguments, as the
// argument rules see it.
policy::argument_value value_at(const nlohmann::json& root, const std::vector<std::string>& tokens);

// The category (sensor_startup's name) a policy subject is recorded under.
std::string_view category_of(policy::subject s) noexcept;

}  // namespace bluepython::policy_tools
