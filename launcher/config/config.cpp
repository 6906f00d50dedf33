// SPDX-License-Identifier: Apache-2.0
#include "config/config.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <optional>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "config/error.hpp"
#include "pipeline/sha256.hpp"

namespace bluepython {
namespace {

using json = nlohmann::json;

constexpr std::uint64_t kMaxConfigFileBytes = 1U << 20U;

// The error is one line whatever the file holds: control characters (a key
// may contain "\n") are written escaped, and a huge key is cut.
std::string one_line(std::string_view text) {
  constexpr std::size_t kMax = 1000;
  std::string out;
  for (const char c : text) {
    if (out.size() >= kMax) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20U || u == 0x7FU) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out;
}

[[noreturn]] void fail(const std::string& origin, const std::string& what) {
  throw launcher_error::config(fmt::format("bluepython: config error: {}: {}", one_line(origin), one_line(what)));
}

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    case json::value_t::number_float: return "number";
    default: return "integer";
  }
}

bool get_bool(const json& v, const std::string& origin, const std::string& key) {
  if (!v.is_boolean()) fail(origin, fmt::format("key \"{}\" must be a boolean, got {}", key, type_name(v)));
  return v.get<bool>();
}

std::uint64_t get_uint(const json& v, const std::string& origin, const std::string& key,
                       std::uint64_t min, std::uint64_t max) {
  if (!v.is_number_integer() || (v.is_number_integer() && !v.is_number_unsigned() && v.get<std::int64_t>() < 0)) {
    fail(origin, fmt::format("key \"{}\" must be an integer in [{}, {}], got {}", key, min, max, type_name(v)));
  }
  const auto value = v.get<std::uint64_t>();
  if (value < min || value > max) {
    fail(origin, fmt::format("key \"{}\" must be an integer in [{}, {}], got {}", key, min, max, value));
  }
  return value;
}

std::string get_string(const json& v, const std::string& origin, const std::string& key) {
  if (!v.is_string()) fail(origin, fmt::format("key \"{}\" must be a string, got {}", key, type_name(v)));
  auto s = v.get<std::string>();
  if (s.empty()) fail(origin, fmt::format("key \"{}\" must not be empty", key));
  if (s.find('\0') != std::string::npos) fail(origin, fmt::format("key \"{}\" contains a NUL byte", key));
  return s;
}

std::vector<std::string> get_patterns(const json& v, const std::string& origin, const std::string& key) {
  constexpr std::size_t kMaxPatterns = 1024;
  if (!v.is_array()) fail(origin, fmt::format("key \"{}\" must be an array of strings, got {}", key, type_name(v)));
  if (v.size() > kMaxPatterns) fail(origin, fmt::format("key \"{}\" has more than {} patterns", key, kMaxPatterns));
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::string item = fmt::format("{}[{}]", key, i);
    auto pattern = get_string(v[i], origin, item);
    if (pattern.size() > 4096) fail(origin, fmt::format("key \"{}\" is longer than 4096 bytes", item));
    out.push_back(std::move(pattern));
  }
  return out;
}

void require_object(const json& v, const std::string& origin, const std::string& key) {
  if (!v.is_object()) fail(origin, fmt::format("key \"{}\" must be an object, got {}", key, type_name(v)));
}

[[noreturn]] void unknown_key(const std::string& origin, const std::string& key) {
  fail(origin, fmt::format("unknown key \"{}\"", key));
}

// A category entry is `true`/`false` or an object with "enable" (BlueRock's
// shape). The imports entry has extra members handled by the caller.
void apply_category(config& cfg, category c, const json& v, const std::string& origin,
                    const std::string& key) {
  auto& slot = cfg.categories[static_cast<std::size_t>(c)];
  if (v.is_boolean()) {
    slot = v.get<bool>();
    return;
  }
  if (!v.is_object()) {
    fail(origin, fmt::format("key \"{}\" must be a boolean or an object, got {}", key, type_name(v)));
  }
  for (const auto& [name, value] : v.items()) {
    std::string full = key;
    full.append(".").append(name);
    if (name == "enable") {
      slot = get_bool(value, origin, full);
    } else if ((name == "include" || name == "exclude") && c != category::imports && c != category::mcp) {
      auto& list = name == "include" ? cfg.filters[static_cast<std::size_t>(c)].include
                                     : cfg.filters[static_cast<std::size_t>(c)].exclude;
      list = get_patterns(value, origin, full);
    } else if (c == category::imports && name == "fileslist") {
      cfg.imports.fileslist = get_bool(value, origin, full);
    } else if (c == category::imports && name == "stdlib") {
      cfg.imports.stdlib = get_bool(value, origin, full);
    } else if (c == category::imports && name == "hash") {
      cfg.imports.hash = get_bool(value, origin, full);
    } else if (c == category::imports && name == "baseline") {
      cfg.imports.baseline = get_bool(value, origin, full);
    } else if (c == category::imports && name == "hash_cache") {
      cfg.imports.hash_cache = get_bool(value, origin, full);
    } else {
      unknown_key(origin, full);
    }
  }
}

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

json read_config_file(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    fail(path, fmt::format("cannot read file: {}", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) fail(path, "not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) > kMaxConfigFileBytes) {
    fail(path, fmt::format("file is {} bytes; the limit is {} bytes", st.st_size, kMaxConfigFileBytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, fmt::format("cannot read file: {}", std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) fail(path, "read error");
  return parse_config_text(text.str(), path);
}

json parse_config_text(const std::string& text, const std::string& origin) {
  // Keys seen so far in each object being parsed: a key given twice is an
  // error rather than "the last one wins", which would hide a mistake.
  std::vector<std::vector<std::string>> open_objects;
  const json::parser_callback_t check_keys = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == json::parse_event_t::key && !open_objects.empty()) {
      auto& seen = open_objects.back();
      const auto& key = parsed.get_ref<const std::string&>();
      if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
        fail(origin, fmt::format("key \"{}\" appears twice in one object", key));
      }
      seen.push_back(key);
    }
    return true;
  };
  try {
    return json::parse(text, check_keys);
  } catch (const json::parse_error& e) {
    fail(origin, fmt::format("invalid JSON at byte {}", e.byte));
  } catch (const json::out_of_range&) {
    fail(origin, "invalid JSON: a number is out of range");
  } catch (const json::exception&) {
    fail(origin, "invalid JSON");
  }
}

namespace {

std::vector<std::pair<std::string, std::string>> get_string_map(const json& v, const std::string& origin,
                                                               const std::string& key) {
  require_object(v, origin, key);
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, item] : v.items()) {
    std::string full = key;
    full += '.';
    full += name;
    out.emplace_back(name, get_string(item, origin, full));
  }
  return out;
}

void apply_otlp(otlp_options& o, const json& value, const std::string& origin) {
  require_object(value, origin, "otlp");
  for (const auto& [name, v] : value.items()) {
    const std::string full = "otlp." + name;
    if (name == "enable") {
      o.enable = get_bool(v, origin, full);
    } else if (name == "endpoint") {
      o.endpoint = get_string(v, origin, full);
    } else if (name == "logs_endpoint") {
      o.logs_endpoint = get_string(v, origin, full);
    } else if (name == "traces_endpoint") {
      o.traces_endpoint = get_string(v, origin, full);
    } else if (name == "metrics_endpoint") {
      o.metrics_endpoint = get_string(v, origin, full);
    } else if (name == "logs") {
      o.logs = get_bool(v, origin, full);
    } else if (name == "traces") {
      o.traces = get_bool(v, origin, full);
    } else if (name == "metrics") {
      o.metrics = get_bool(v, origin, full);
    } else if (name == "headers") {
      o.headers = get_string_map(v, origin, full);
    } else if (name == "timeout_ms") {
      o.timeout_ms = static_cast<std::uint32_t>(get_uint(v, origin, full, 1, 600'000));
    } else if (name == "batch_delay_ms") {
      o.batch_delay_ms = static_cast<std::uint32_t>(get_uint(v, origin, full, 1, 600'000));
    } else if (name == "metric_interval_ms") {
      o.metric_interval_ms = static_cast<std::uint32_t>(get_uint(v, origin, full, 100, 86'400'000));
    } else if (name == "shutdown_timeout_ms") {
      o.shutdown_timeout_ms = static_cast<std::uint32_t>(get_uint(v, origin, full, 0, 60'000));
    } else if (name == "max_queue_bytes") {
      o.max_queue_bytes = get_uint(v, origin, full, 64ULL << 10U, 1ULL << 32U);
    } else if (name == "capture_tool_io") {
      o.capture_tool_io = get_bool(v, origin, full);
    } else if (name == "service_name") {
      o.service_name = get_string(v, origin, full);
    } else if (name == "resource_attributes") {
      o.resource_attributes = get_string_map(v, origin, full);
    } else {
      unknown_key(origin, full);
    }
  }
}

// "%2C" and friends in OTEL_EXPORTER_OTLP_HEADERS / OTEL_RESOURCE_ATTRIBUTES values.
std::string percent_decode(std::string_view text) {
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      const int hi = hex(text[i + 1]);
      const int lo = hex(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>((hi << 4) | lo);
        i += 2;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

// W3C-baggage-like "key=value,key2=value2" lists (the OTel SDK environment
// format). Malformed members are skipped, as OpenTelemetry SDKs do.
std::vector<std::pair<std::string, std::string>> parse_pairs(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    const auto eq = item.find('=');
    if (eq != std::string_view::npos) {
      std::string key = trim(percent_decode(item.substr(0, eq)));
      if (!key.empty()) out.emplace_back(std::move(key), trim(percent_decode(item.substr(eq + 1))));
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

// OTEL_* variables: shared with the app's own OpenTelemetry SDK, so values
// bluepython cannot use are ignored (with the reason kept for one warning),
// never fatal.
void apply_otel_environment(otlp_options& o, const getenv_fn& getenv_lookup) {
  auto get = [&](const char* name) -> std::optional<std::string> {
    const char* v = getenv_lookup(name);
    if (v == nullptr || v[0] == '\0') return std::nullopt;
    return std::string(v);
  };
  auto lower = [](std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return trim(s);
  };
  if (auto v = get("OTEL_SDK_DISABLED"); v && lower(*v) == "true") o.enable = false;
  if (auto v = get("OTEL_EXPORTER_OTLP_ENDPOINT")) o.endpoint = trim(*v);
  if (auto v = get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")) o.logs_endpoint = trim(*v);
  if (auto v = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) o.traces_endpoint = trim(*v);
  if (auto v = get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")) o.metrics_endpoint = trim(*v);
  if (auto v = get("OTEL_EXPORTER_OTLP_HEADERS")) o.headers = parse_pairs(*v);
  if (auto v = get("OTEL_EXPORTER_OTLP_TIMEOUT")) {
    std::uint32_t ms = 0;
    const std::string t = trim(*v);
    const auto [end, error] = std::from_chars(t.data(), t.data() + t.size(), ms);
    if (error == std::errc{} && end == t.data() + t.size() && ms > 0) o.timeout_ms = ms;
  }
  if (auto v = get("OTEL_SERVICE_NAME")) o.service_name = trim(*v);
  if (auto v = get("OTEL_RESOURCE_ATTRIBUTES")) {
    for (auto& pair : parse_pairs(*v)) o.resource_attributes.push_back(std::move(pair));
  }
  for (const auto& [variable, flag] : {std::pair{"OTEL_LOGS_EXPORTER", &o.logs}, std::pair{"OTEL_TRACES_EXPORTER", &o.traces},
                                       std::pair{"OTEL_METRICS_EXPORTER", &o.metrics}}) {
    if (auto v = get(variable); v && lower(*v) == "none") *flag = false;
  }
  for (const char* variable : {"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
                               "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"}) {
    if (auto v = get(variable); v && lower(*v) != "http/protobuf") {
      o.problem = fmt::format("{}={} is not supported (bluepython exports OTLP over http/protobuf); export is off",
                              variable, *v);
    }
  }
}

}  // namespace

void apply_config_json(config& cfg, const json& doc, const std::string& origin) {
  if (!doc.is_object()) fail(origin, fmt::format("top level must be an object, got {}", type_name(doc)));
  for (const auto& [key, value] : doc.items()) {
    if (key == "enable") {
      cfg.enable = get_bool(value, origin, key);
    } else if (key == "debug") {
      cfg.debug = get_bool(value, origin, key);
    } else if (key == "events_to_stderr") {
      cfg.events_to_stderr = get_bool(value, origin, key);
    } else if (auto c = category_from_name(key)) {
      apply_category(cfg, *c, value, origin, key);
    } else if (key == "spool") {
      require_object(value, origin, key);
      for (const auto& [name, v] : value.items()) {
        const std::string full = "spool." + name;
        if (name == "dir") {
          cfg.spool.dir = get_string(v, origin, full);
        } else if (name == "max_file_bytes") {
          cfg.spool.max_file_bytes = get_uint(v, origin, full, 4096, 1ULL << 40U);
        } else if (name == "max_total_bytes") {
          cfg.spool.max_total_bytes = get_uint(v, origin, full, 4096, 1ULL << 50U);
        } else if (name == "flush_interval_ms") {
          cfg.spool.flush_interval_ms = static_cast<std::uint32_t>(get_uint(v, origin, full, 1, 60'000));
        } else {
          unknown_key(origin, full);
        }
      }
    } else if (key == "otlp") {
      apply_otlp(cfg.otlp, value, origin);
    } else if (key == "queue") {
      require_object(value, origin, key);
      for (const auto& [name, v] : value.items()) {
        const std::string full = "queue." + name;
        if (name == "max_bytes") {
          cfg.queue.max_bytes = get_uint(v, origin, full, 64ULL << 10U, 1ULL << 30U);
        } else {
          unknown_key(origin, full);
        }
      }
    } else if (key == "limits") {
      require_object(value, origin, key);
      for (const auto& [name, v] : value.items()) {
        const std::string full = "limits." + name;
        if (name == "max_string_bytes") {
          cfg.limits.max_string_bytes = get_uint(v, origin, full, 16, 1ULL << 30U);
        } else if (name == "max_depth") {
          cfg.limits.max_depth = get_uint(v, origin, full, 1, 1000);
        } else if (name == "max_items") {
          cfg.limits.max_items = get_uint(v, origin, full, 1, 10'000'000);
        } else {
          unknown_key(origin, full);
        }
      }
    } else {
      unknown_key(origin, key);
    }
  }
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
  if (const char* v = getenv_lookup("BLUEPYTHON_DEBUG"); v != nullptr) {
    cfg.debug = parse_env_bool("BLUEPYTHON_DEBUG", v);
  }
  if (const char* v = getenv_lookup("BLUEPYTHON_FLUSH_INTERVAL_MS"); v != nullptr) {
    cfg.spool.flush_interval_ms =
        static_cast<std::uint32_t>(parse_env_uint("BLUEPYTHON_FLUSH_INTERVAL_MS", v, 1, 60'000));
  }

  apply_otel_environment(cfg.otlp, getenv_lookup);

  // 3. Flags.
  if (flags.spool_dir) cfg.spool.dir = *flags.spool_dir;
  apply_category_list(cfg, flags.enable, true, "--enable");
  apply_category_list(cfg, flags.disable, false, "--disable");
  if (flags.events_to_stderr) cfg.events_to_stderr = *flags.events_to_stderr;

  if (cfg.spool.dir.empty()) cfg.spool.dir = home + "/.bluepython/spool";
  if (cfg.spool.dir == "~" || cfg.spool.dir.starts_with("~/")) cfg.spool.dir = home + cfg.spool.dir.substr(1);
  return cfg;
}

nlohmann::json config::to_json() const {
  // Same schema as a config file, so it can be read back (handoff to children).
  json doc = {
      {"enable", enable},
      {"debug", debug},
      {"events_to_stderr", events_to_stderr},
      {"spool",
       {{"max_file_bytes", spool.max_file_bytes},
        {"max_total_bytes", spool.max_total_bytes},
        {"flush_interval_ms", spool.flush_interval_ms}}},
      {"queue", {{"max_bytes", queue.max_bytes}}},
      {"limits",
       {{"max_string_bytes", limits.max_string_bytes},
        {"max_depth", limits.max_depth},
        {"max_items", limits.max_items}}},
  };
  // Unresolved (load_config resolves it): left out, as "" would not read back.
  if (!spool.dir.empty()) doc["spool"]["dir"] = spool.dir;
  for (std::size_t i = 0; i < category_count; ++i) {
    doc[std::string(category_names[i])] = json{{"enable", categories[i]}};
    // Only when set, so the default settings keep their digest.
    if (!filters[i].include.empty()) doc[std::string(category_names[i])]["include"] = filters[i].include;
    if (!filters[i].exclude.empty()) doc[std::string(category_names[i])]["exclude"] = filters[i].exclude;
  }
  doc["imports"]["stdlib"] = imports.stdlib;
  doc["imports"]["hash"] = imports.hash;
  doc["imports"]["fileslist"] = imports.fileslist;
  doc["imports"]["baseline"] = imports.baseline;
  doc["imports"]["hash_cache"] = imports.hash_cache;
  // Only when configured, so the default settings keep their digest.
  if (!otlp.endpoint.empty() || !otlp.logs_endpoint.empty() || !otlp.traces_endpoint.empty() ||
      !otlp.metrics_endpoint.empty()) {
    json o = {{"enable", otlp.enable},
              {"logs", otlp.logs},
              {"traces", otlp.traces},
              {"metrics", otlp.metrics},
              {"timeout_ms", otlp.timeout_ms},
              {"batch_delay_ms", otlp.batch_delay_ms},
              {"metric_interval_ms", otlp.metric_interval_ms},
              {"shutdown_timeout_ms", otlp.shutdown_timeout_ms},
              {"max_queue_bytes", otlp.max_queue_bytes},
              {"capture_tool_io", otlp.capture_tool_io}};
    for (const auto& [k, v] : {std::pair{"endpoint", &otlp.endpoint}, std::pair{"logs_endpoint", &otlp.logs_endpoint},
                               std::pair{"traces_endpoint", &otlp.traces_endpoint},
                               std::pair{"metrics_endpoint", &otlp.metrics_endpoint},
                               std::pair{"service_name", &otlp.service_name}}) {
      if (!v->empty()) o[k] = *v;
    }
    if (!otlp.resource_attributes.empty()) {
      json attrs = json::object();
      for (const auto& [k, v] : otlp.resource_attributes) attrs[k] = v;
      o["resource_attributes"] = attrs;
    }
    doc["otlp"] = o;
  }
  return doc;
}

std::string config::digest() const { return to_hex(sha256_bytes(to_json().dump())); }

}  // namespace bluepython

namespace bluepython {

std::string otlp_options::url(std::string_view signal) const {
  if (!active()) return {};
  const bool on = signal == "logs" ? logs : signal == "traces" ? traces : metrics;
  if (!on) return {};
  const std::string& specific = signal == "logs" ? logs_endpoint : signal == "traces" ? traces_endpoint : metrics_endpoint;
  if (!specific.empty()) return specific;
  if (endpoint.empty()) return {};
  std::string base = endpoint;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/v1/" + std::string(signal);
}

bool otlp_options::active() const { return enable && problem.empty(); }

}  // namespace bluepython
