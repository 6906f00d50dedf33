// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "export/otlp/otel_environment.hpp"  // otlp_options, getenv_fn
#include "pipeline/json_writer.hpp"
#include "pipeline/options.hpp"
#include "policy/policy.hpp"

namespace bluepython {

// Observation categories. imports and mcp are filled by the launcher and the
// bundled hooks; process, files, network and code by the side-effect layer.
enum class category : std::uint8_t { imports, mcp, process, files, network, code };
inline constexpr std::size_t category_count = 6;
inline constexpr std::array<std::string_view, category_count> category_names = {
    "imports", "mcp", "process", "files", "network", "code"};

std::optional<category> category_from_name(std::string_view name) noexcept;

// Which side effects of a category are reported, by what they name (path,
// host, URL, executable, file name): shell-style patterns (fnmatch, `*`
// also matches `/`). Empty include: everything not excluded.
struct pattern_filter {
  std::vector<std::string> include;
  std::vector<std::string> exclude;
};

// The effective configuration. Built once before the interpreter starts;
// read-only afterwards (so any thread may read it without locking).
struct config {
  bool enable = true;  // master switch (BlueRock "enable")
  std::array<bool, category_count> categories{true, true, true, true, true, true};
  std::array<pattern_filter, category_count> filters;  // process, files, network, code
  bool debug = false;
  bool events_to_stderr = false;
  // meta.component_id of every event (docs/events.md); empty: the host name.
  std::string component_id;
  spool_options spool;
  queue_options queue;
  json_limits limits;
  import_options imports;
  otlp_options otlp;
  redaction_options redaction;
  std::string source_file;  // config file that was loaded, empty if none
  // The guardrail policy (docs/policy.md), compiled; nullptr: none. Its mode
  // override (--policy-mode) is applied already.
  std::shared_ptr<const policy::compiled_policy> guard;
  std::string policy_source;                 // the policy file, or where an inline policy came from
  std::optional<policy::mode> policy_mode;  // --policy-mode / BLUEPYTHON_POLICY_MODE / "policy_mode"

  [[nodiscard]] bool enabled(category c) const noexcept {
    return enable && categories[static_cast<std::size_t>(c)];
  }
  // The settings in config-file schema (apply_config_json reads it back).
  [[nodiscard]] nlohmann::json to_json() const;
  // SHA-256 (hex) of the canonical JSON of the effective settings
  // (to_json().dump(): keys sorted).
  [[nodiscard]] std::string digest() const;
};

// What the `run` flags set; unset members leave lower layers alone.
struct config_flags {
  std::optional<std::string> config_file;
  std::optional<std::string> policy_file;
  std::optional<std::string> policy_mode;
  std::optional<std::string> spool_dir;
  std::vector<std::string> enable;
  std::vector<std::string> disable;
  std::optional<bool> events_to_stderr;
};

// The effective settings of a parent bluepython (see handoff.hpp).
struct inherited_config {
  nlohmann::json settings;  // config-file schema
  std::string origin;       // for messages, e.g. "parent process 123"
};

// Layers, lowest first: defaults, the parent's settings when inherited, config
// file (--config, else BLUEPYTHON_CONFIG, else ~/.bluepython/config.json if
// present and nothing was inherited), BLUEPYTHON_* and OTEL_* environment
// (export/otlp/otel_environment.hpp), flags. Throws launcher_error (exit 2) with a one-line message
// naming the file and key for any unknown key, wrong type, bad value or
// unreadable file.
config load_config(const config_flags& flags, const getenv_fn& getenv_lookup,
                   const inherited_config* inherited = nullptr);

// Applies one JSON document (a config file's contents) onto `cfg`. `origin`
// names the file in error messages. Exposed for tests.
void apply_config_json(config& cfg, const nlohmann::json& doc, const std::string& origin);

// The config file's keys ("spool.max_file_bytes") and their JSON types
// ("boolean", "integer", "string", "array of strings", "object of strings"),
// from the one table apply_config_json and config::to_json both follow; a
// category (which may be given as just true/false) is listed by its name too,
// as "boolean or object". For the test that keeps docs/configuration.md in step.
struct config_key {
  std::string path;
  std::string_view type;
};
std::vector<config_key> config_keys();

// Reads and parses a config file (size-limited); throws launcher_error.
nlohmann::json read_config_file(const std::string& path);

// Reads and compiles a policy file (strict JSON, at most
// policy::kMaxPolicyBytes); `home` expands `~/` in its path patterns. Throws
// launcher_error (exit 2): "bluepython: policy error: FILE: key "...": ...".
std::shared_ptr<const policy::compiled_policy> read_policy_file(const std::string& path, const std::string& home);
// Compiles a policy document that came from `origin` (a config file's
// "policy" object, a parent's handoff); throws launcher_error like
// read_policy_file.
std::shared_ptr<const policy::compiled_policy> compile_policy(const nlohmann::json& doc, const std::string& origin,
                                                              const std::string& home);

// Parses a config document: strict JSON, no key twice in one object; throws
// launcher_error naming `origin` (never any other exception).
nlohmann::json parse_config_text(const std::string& text, const std::string& origin);

// Home directory: $HOME, else the password database, else "/tmp".
std::string home_directory(const getenv_fn& getenv_lookup);

}  // namespace bluepython
