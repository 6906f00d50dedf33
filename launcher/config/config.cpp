// SPDX-License-Identifier: Apache-2.0
// The layers of the configuration (load_config); the config file itself is
// read, checked and written back by config_file.cpp.
#include "config/config.hpp"

#include <pwd.h>
#include <unistd.h>

#include <fmt/format.h>

#include "config/error.hpp"
#include "export/otlp/otel_environment.hpp"
#include "pipeline/journal.hpp"  // kMaxComponentIdBytes
#include "pipeline/journal_recovery.hpp"
#include "pipeline/sha256.hpp"

namespace bluepython {
namespace {

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = text.find(',', start);
    const std::size_t end = comma == std::string_view::npos ? text.size() : comma;
    std::string item(text.substr(start, end - start));
    const auto first = item.find_first_not_of(" \t");
    const auto last = item.find_last_not_of(" \t");
    if (first != std::string::npos) out.push_back(item.substr(first, last - first + 1));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

void apply_category_list(config& cfg, const std::vector<std::string>& names, bool on,
                         const std::string& origin) {
  for (const auto& name : names) {
    if (name == "all") {
      cfg.categories.fill(on);
      continue;
    }
    const auto c = category_from_name(name);
    if (!c) {
      throw launcher_error::config(fmt::format(
          "bluepython: {}: unknown category \"{}\" (expected one of imports, mcp, process, files, "
          "network, code, all)",
          origin, name));
    }
    cfg.categories[static_cast<std::size_t>(*c)] = on;
  }
}

bool parse_env_bool(const char* name, const char* value) {
  const std::string_view v(value);
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off" || v.empty()) return false;
  throw launcher_error::config(
      fmt::format("bluepython: environment variable {}: expected 1/0/true/false, got \"{}\"", name, v));
}

std::uint64_t parse_env_uint(const char* name, const char* value, std::uint64_t min, std::uint64_t max) {
  const std::string_view v(value);
  std::uint64_t out = 0;
  bool ok = !v.empty() && v.size() < 20;
  for (const char c : v) {
    if (c < '0' || c > '9') {
      ok = false;
      break;
    }
    out = out * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (!ok || out < min || out > max) {
    throw launcher_error::config(fmt::format(
        "bluepython: environment variable {}: expected an integer in [{}, {}], got \"{}\"", name, min, max, v));
  }
  return out;
}

policy::mode parse_policy_mode(const std::string& value, const char* where) {
  const auto m = policy::mode_from_name(value);
  if (!m) {
    throw launcher_error::usage(
        fmt::format("bluepython: {} must be observe, enforce or kill, got \"{}\"", where, value));
  }
  return *m;
}

}  // namespace

std::optional<category> category_from_name(std::string_view name) noexcept {
  for (std::size_t i = 0; i < category_names.size(); ++i) {
    if (category_names[i] == name) return static_cast<category>(i);
  }
  return std::nullopt;
}

std::string home_directory(const getenv_fn& getenv_lookup) {
  if (const char* home = getenv_lookup("HOME"); home != nullptr && home[0] != '\0') return home;
  if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_dir != nullptr) return pw->pw_dir;
  return "/tmp";
}

config load_config(const config_flags& flags, const getenv_fn& getenv_lookup, const inherited_config* inherited) {
  config cfg;
  const std::string home = home_directory(getenv_lookup);

  // 0. What the parent bluepython handed down (it already includes the
  // parent's view of ~/.bluepython/config.json).
  if (inherited != nullptr) {
    apply_config_json(cfg, inherited->settings, inherited->origin);
    cfg.source_file = inherited->origin;
  }

  // 1. Config file.
  std::string file;
  if (flags.config_file) {
    file = *flags.config_file;
  } else if (const char* env = getenv_lookup("BLUEPYTHON_CONFIG"); env != nullptr && env[0] != '\0') {
    file = env;
  } else if (inherited == nullptr) {
    const std::string fallback = home + "/.bluepython/config.json";
    if (::access(fallback.c_str(), F_OK) == 0) file = fallback;
  }
  if (!file.empty()) {
    apply_config_json(cfg, read_config_file(file), file);
    cfg.source_file = file;
  }

  // 2. Environment.
  if (const char* v = getenv_lookup("BLUEPYTHON_SPOOL_DIR"); v != nullptr && v[0] != '\0') cfg.spool.dir = v;
  if (const char* v = getenv_lookup("BLUEPYTHON_ENABLE"); v != nullptr) {
    apply_category_list(cfg, split_list(v), true, "environment variable BLUEPYTHON_ENABLE");
  }
  if (const char* v = getenv_lookup("BLUEPYTHON_DISABLE"); v != nullptr) {
    apply_category_list(cfg, split_list(v), false, "environment variable BLUEPYTHON_DISABLE");
  }
  if (const char* v = getenv_lookup("BLUEPYTHON_EVENTS_TO_STDERR"); v != nullptr) {
    cfg.events_to_stderr = parse_env_bool("BLUEPYTHON_EVENTS_TO_STDERR", v);
  }
  if (const char* v = getenv_lookup("BLUEPYTHON_COMPONENT_ID"); v != nullptr && v[0] != '\0') cfg.component_id = v;
  if (const char* v = getenv_lookup("BLUEPYTHON_DEBUG"); v != nullptr) {
    cfg.debug = parse_env_bool("BLUEPYTHON_DEBUG", v);
  }
  if (const char* v = getenv_lookup("BLUEPYTHON_REDACTION"); v != nullptr) {
    cfg.redaction.enable = parse_env_bool("BLUEPYTHON_REDACTION", v);
  }
  if (const char* v = getenv_lookup("BLUEPYTHON_FLUSH_INTERVAL_MS"); v != nullptr) {
    cfg.spool.flush_interval_ms =
        static_cast<std::uint32_t>(parse_env_uint("BLUEPYTHON_FLUSH_INTERVAL_MS", v, 1, 60'000));
  }

  if (const char* v = getenv_lookup("BLUEPYTHON_POLICY"); v != nullptr && v[0] != '\0') {
    cfg.guard = read_policy_file(v, home);
    cfg.policy_source = v;
  }
  if (const char* v = getenv_lookup("BLUEPYTHON_POLICY_MODE"); v != nullptr && v[0] != '\0') {
    cfg.policy_mode = parse_policy_mode(v, "environment variable BLUEPYTHON_POLICY_MODE");
  }

  apply_otel_environment(cfg.otlp, getenv_lookup);  // over the file: as any OpenTelemetry SDK

  // 3. Flags.
  if (flags.spool_dir) cfg.spool.dir = *flags.spool_dir;
  apply_category_list(cfg, flags.enable, true, "--enable");
  apply_category_list(cfg, flags.disable, false, "--disable");
  if (flags.events_to_stderr) cfg.events_to_stderr = *flags.events_to_stderr;
  if (flags.policy_file) {
    cfg.guard = read_policy_file(*flags.policy_file, home);
    cfg.policy_source = *flags.policy_file;
  }
  if (flags.policy_mode) cfg.policy_mode = parse_policy_mode(*flags.policy_mode, "--policy-mode");
  if (cfg.component_id.size() > kMaxComponentIdBytes) {
    throw launcher_error::usage(fmt::format("bluepython: component_id is {} bytes long; at most {} are allowed",
                                            cfg.component_id.size(), kMaxComponentIdBytes));
  }
  if (cfg.policy_mode && !cfg.guard) {
    throw launcher_error::usage(fmt::format("bluepython: a policy mode ({}) was given but no policy (--policy FILE)",
                                            policy::mode_name(*cfg.policy_mode)));
  }
  if (cfg.guard && cfg.policy_mode && cfg.guard->overridden() != cfg.policy_mode) {
    auto with_mode = std::make_shared<policy::compiled_policy>(*cfg.guard);
    with_mode->override_mode(*cfg.policy_mode);
    cfg.guard = std::move(with_mode);
  }

  std::string& key_file = cfg.redaction.fingerprint_key_file;
  if (key_file == "~" || key_file.starts_with("~/")) key_file = home + key_file.substr(1);
  if (cfg.redaction.fingerprint && key_file.empty()) key_file = home + "/.bluepython/fingerprint.key";
  if (cfg.spool.dir.empty()) cfg.spool.dir = home + "/.bluepython/spool";
  if (cfg.spool.dir == "~" || cfg.spool.dir.starts_with("~/")) cfg.spool.dir = home + cfg.spool.dir.substr(1);
  std::string& state = cfg.spool.state_dir;
  if (state == "~" || state.starts_with("~/")) state = home + state.substr(1);
  if (state.empty()) state = default_state_dir(cfg.spool.dir);
  return cfg;
}

std::string config::digest() const { return to_hex(sha256_bytes(to_json().dump())); }

}  // namespace bluepython
