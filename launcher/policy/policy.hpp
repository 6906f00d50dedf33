// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "policy/endpoint.hpp"
#include "policy/glob.hpp"

// A guardrail policy (docs/policy.md): rules that allow or deny what tools
// do, compiled once from its JSON document into matchers, and the decision
// for one operation. Plain values in, plain values out: the audit hook
// (capture/policy_gate) and the offline `check` both ask the same questions.
namespace bluepython::policy {

// What happens on a violation: recorded only; the operation fails inside the
// tool; recorded, then the process ends.
enum class mode : std::uint8_t { observe, enforce, kill };
std::string_view mode_name(mode m) noexcept;
std::optional<mode> mode_from_name(std::string_view name) noexcept;

enum class subject : std::uint8_t { tools, process, files, network, code };
inline constexpr std::size_t subject_count = 5;
std::string_view subject_name(subject s) noexcept;
std::optional<subject> subject_from_name(std::string_view name) noexcept;

// The operations a rule speaks of, each of one subject.
enum class op : std::uint8_t {
  call,      // tools: a tools/call of the tool
  spawn,     // process: a program started (spawn, exec, system)
  read,      // files: opened for reading
  write,     // files: opened for writing, or changed (rename target, chmod, truncate)
  create,    // files: created (open with O_CREAT of a new file, mkdir, link, symlink)
  remove,    // files: removed (named "delete" in the file)
  connect,   // network: a connection or datagram to an address
  bind,      // network: a socket bound to a local address
  resolve,   // network: a name looked up
  dynamic,   // code: source compiled at run time (compile, exec, eval)
  unpickle,  // code: a class looked up by unpickling
  native,    // code: a native library loaded (ctypes, sqlite3 extensions)
};
inline constexpr std::size_t op_count = 12;
std::string_view op_name(op o) noexcept;
subject subject_of(op o) noexcept;

// Where a rule applies. No server and no tool: the whole process; `server`:
// calls to that server; `tool`: tools/call of that tool (of that server when
// both are given); `outside_calls`: what happens outside any MCP call
// (start-up, background tasks).
struct scope {
  std::optional<glob> server;
  std::optional<glob> tool;
  bool outside_calls = false;
  // The more specific scope decides: 0 process, 1 server, 2 tool or outside.
  [[nodiscard]] int level() const noexcept;
};

// The MCP call an operation happens in.
struct call_scope {
  bool in_call = false;
  std::string_view server;  // may be empty
  std::string_view tool;    // the tool of a tools/call; empty for other methods
};

// One entry of an allow or deny list. Which members are used depends on the
// operation: `pattern` (paths, names, tools, modules, libraries), `net`
// (network), `args` (process: the arguments after argv[0], joined by spaces).
struct entry {
  std::string text;  // as written, for messages
  glob pattern;
  std::optional<glob> directory;  // a path pattern `DIR/**` also matches DIR itself
  endpoint net;
  std::optional<glob> args;
  bool by_name = false;  // process and native: a pattern without `/` matches the file's base name
};

// A constraint on a tools/call argument, found by JSON pointer (RFC 6901).
struct argument_rule {
  std::string pointer;               // as written
  std::vector<std::string> tokens;   // its unescaped reference tokens
  std::optional<glob> pattern;       // a string matching this
  std::vector<nlohmann::json> one_of;  // one of these values
  std::optional<double> min;
  std::optional<double> max;
  bool required = false;
};

struct rule {
  std::string id;
  std::string why;
  scope where;
  std::optional<mode> rule_mode;
  subject about = subject::files;
  // Per operation: an allow list (absent: this rule does not limit the
  // operation; empty: it allows none) and a deny list.
  std::array<std::optional<std::vector<entry>>, op_count> allow;
  std::array<std::vector<entry>, op_count> deny;
  std::vector<argument_rule> arguments;  // tools
};

// What an operation is about, as the evaluator needs it.
struct operation {
  op what = op::read;
  std::string_view text;  // resolved path, executable path, host, tool, `module.name`, compile file name, library
  std::string_view name;  // process: argv[0]; unpickle: the module alone
  std::string_view args;  // process: arguments after argv[0], joined by spaces
  int port = -1;          // network
  std::span<const std::string> aliases;  // network: names this address was resolved from
};

struct violation {
  const rule* by = nullptr;  // nullptr for the import lock and tool pins
  std::string rule_id;
  mode effective = mode::enforce;
  std::string reason;  // "not allowed by rule files-repo" / "denied by rule no-secrets (pattern **/.env)"
};

// An argument's value as the evaluator sees it.
struct argument_value {
  enum kind_t : std::uint8_t { missing, string, number, boolean, null, other } kind = missing;
  std::string text;  // string; the JSON text of anything else
  double numeric = 0;
};

struct import_lock {
  std::optional<mode> lock_mode;
  std::map<std::string, std::string> modules;  // name -> sha256 hex, or "builtin"
  std::vector<glob> unlisted;  // names allowed though not in the lock
};

struct tool_pins {
  std::optional<mode> pins_mode;
  std::map<std::string, std::string> tools;  // name -> sha256 hex of its definition
};

class compiled_policy {
 public:
  // The decision for one operation in one call; nullopt: allowed.
  [[nodiscard]] std::optional<violation> check(const operation& o, const call_scope& where) const;
  // The arguments of a tools/call against every argument rule that applies;
  // `lookup(tokens)` gives the value at a pointer.
  template <typename Lookup>
  [[nodiscard]] std::optional<violation> check_arguments(const call_scope& where, Lookup&& lookup) const {
    for (const rule& r : rules_) {
      if (r.arguments.empty() || !applies(r, where)) continue;
      for (const argument_rule& a : r.arguments) {
        if (auto v = check_argument(r, a, lookup(a.tokens)); v) return v;
      }
    }
    return std::nullopt;
  }
  // An import by name whose file hashes to `sha256` (empty: no file, a
  // built-in or frozen module).
  [[nodiscard]] std::optional<violation> check_import(std::string_view module, std::string_view sha256) const;
  // A tools/call of `tool` whose current definition digest is `digest`
  // (empty: not known).
  [[nodiscard]] std::optional<violation> check_tool_pin(std::string_view tool, std::string_view digest) const;

  [[nodiscard]] bool limits(op o) const noexcept { return limited_[static_cast<std::size_t>(o)]; }
  [[nodiscard]] bool limits(subject s) const noexcept;
  [[nodiscard]] bool has_argument_rules() const noexcept { return has_arguments_; }
  [[nodiscard]] bool has_import_lock() const noexcept { return lock_.has_value(); }
  [[nodiscard]] bool has_tool_pins() const noexcept { return pins_.has_value(); }
  // Anything a tools/call is checked against (tool lists, arguments, pins).
  [[nodiscard]] bool checks_calls() const noexcept {
    return limits(op::call) || has_arguments_ || pins_.has_value();
  }
  [[nodiscard]] mode default_mode() const noexcept { return mode_; }
  [[nodiscard]] std::span<const rule> rules() const noexcept { return rules_; }
  [[nodiscard]] const nlohmann::json& document() const noexcept { return document_; }
  // Every violation is recorded only (`--policy-mode observe`), or every rule
  // takes this mode.
  void override_mode(mode m) noexcept { override_ = m; }
  [[nodiscard]] std::optional<mode> overridden() const noexcept { return override_; }

  friend compiled_policy compile(const nlohmann::json& document, const std::string& home);

 private:
  // The deny entries of a file operation by the first segment of the paths
  // they can match ("/srv"), and those that can match anywhere ("**/.ssh/**"):
  // a path is checked against its own segment's entries alone. By index
  // (rule, entry), in rule order, so that copies of the policy stay valid.
  struct deny_candidate {
    std::uint32_t rule;
    std::uint32_t entry;
  };
  struct path_index {
    std::map<std::string, std::vector<deny_candidate>, std::less<>> by_segment;
    std::vector<deny_candidate> anywhere;
  };
  void index_path_denials();
  [[nodiscard]] std::optional<violation> path_denial(const operation& o, const call_scope& where) const;

  [[nodiscard]] bool applies(const rule& r, const call_scope& where) const noexcept;
  [[nodiscard]] mode mode_of(const std::optional<mode>& own) const noexcept;
  std::optional<violation> check_argument(const rule& r, const argument_rule& a, const argument_value& v) const;

  nlohmann::json document_;
  mode mode_ = mode::enforce;
  std::optional<mode> override_;
  std::vector<rule> rules_;
  std::array<bool, op_count> limited_{};
  bool has_arguments_ = false;
  std::optional<import_lock> lock_;
  std::optional<tool_pins> pins_;
  std::array<path_index, op_count> path_denials_;  // read, write, create, remove
};

// A JSON value's type as error messages name it (null, boolean, string,
// array, object, number, integer); the config's errors use it too.
std::string_view json_type_name(const nlohmann::json& v) noexcept;

// Text from a document made fit for a one-line error: control characters (a
// key may contain "\n") written as \xNN, and anything past 1000 bytes cut.
std::string one_line(std::string_view text);

// A problem in a policy document: `key` is where ("rules[2].files.allow.read[0]").
class policy_error : public std::runtime_error {
 public:
  policy_error(std::string key, const std::string& message)
      : std::runtime_error(message), key_(std::move(key)) {}
  [[nodiscard]] const std::string& key() const noexcept { return key_; }

 private:
  std::string key_;
};

// Compiles a policy document (docs/policy.md). `home` expands a leading `~/`
// in path patterns. Throws policy_error for an unknown key, a wrong type, an
// invalid pattern, a duplicate rule id or an unsupported version.
compiled_policy compile(const nlohmann::json& document, const std::string& home);

// The pin digest of a tool definition: SHA-256 (hex) of the canonical JSON
// (keys sorted, no spaces) of {"name", "description", "inputSchema"}; null
// for what the server leaves out. The same for a definition seen at run time
// (registration, tools/list) and one read back from a spool.
std::string definition_digest(const nlohmann::json& name, const nlohmann::json& description,
                              const nlohmann::json& input_schema);

// The largest policy file read (an import lock of a big environment fits).
inline constexpr std::uint64_t kMaxPolicyBytes = 16U << 20U;

}  // namespace bluepython::policy
