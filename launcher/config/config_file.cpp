// SPDX-License-Identifier: Apache-2.0
// The config file: reading it (strict JSON, size-limited), and its schema —
// one table of keys that both apply_config_json and config::to_json follow.
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

#include "config/config.hpp"
#include "config/error.hpp"
#include "pipeline/redaction.hpp"
#include "policy/policy.hpp"

namespace bluepython {
namespace {

using json = nlohmann::json;

constexpr std::uint64_t kMaxConfigFileBytes = 1U << 20U;


[[noreturn]] void fail_as(std::string_view kind, const std::string& origin, const std::string& what) {
  throw launcher_error::config(
      fmt::format("bluepython: {} error: {}: {}", kind, policy::one_line(origin), policy::one_line(what)));
}

[[noreturn]] void fail(const std::string& origin, const std::string& what) { fail_as("config", origin, what); }

bool get_bool(const json& v, const std::string& origin, const std::string& key) {
  if (!v.is_boolean()) fail(origin, fmt::format("key \"{}\" must be a boolean, got {}", key, policy::json_type_name(v)));
  return v.get<bool>();
}

std::uint64_t get_uint(const json& v, const std::string& origin, const std::string& key,
                       std::uint64_t min, std::uint64_t max) {
  if (!v.is_number_integer() || (v.is_number_integer() && !v.is_number_unsigned() && v.get<std::int64_t>() < 0)) {
    fail(origin, fmt::format("key \"{}\" must be an integer in [{}, {}], got {}", key, min, max, policy::json_type_name(v)));
  }
  const auto value = v.get<std::uint64_t>();
  if (value < min || value > max) {
    fail(origin, fmt::format("key \"{}\" must be an integer in [{}, {}], got {}", key, min, max, value));
  }
  return value;
}

std::string get_string(const json& v, const std::string& origin, const std::string& key) {
  if (!v.is_string()) fail(origin, fmt::format("key \"{}\" must be a string, got {}", key, policy::json_type_name(v)));
  auto s = v.get<std::string>();
  if (s.empty()) fail(origin, fmt::format("key \"{}\" must not be empty", key));
  if (s.find('\0') != std::string::npos) fail(origin, fmt::format("key \"{}\" contains a NUL byte", key));
  return s;
}

std::vector<std::string> get_patterns(const json& v, const std::string& origin, const std::string& key) {
  constexpr std::size_t kMaxPatterns = 1024;
  if (!v.is_array()) fail(origin, fmt::format("key \"{}\" must be an array of strings, got {}", key, policy::json_type_name(v)));
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
  if (!v.is_object()) fail(origin, fmt::format("key \"{}\" must be an object, got {}", key, policy::json_type_name(v)));
}

[[noreturn]] void unknown_key(const std::string& origin, const std::string& key) {
  fail(origin, fmt::format("unknown key \"{}\"", key));
}

}  // namespace

namespace {

std::string read_small_file(std::string_view kind, const std::string& path, std::uint64_t limit) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    fail_as(kind, path, fmt::format("cannot read file: {}", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) fail_as(kind, path, "not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) > limit) {
    fail_as(kind, path, fmt::format("file is {} bytes; the limit is {} bytes", st.st_size, limit));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_as(kind, path, fmt::format("cannot read file: {}", std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) fail_as(kind, path, "read error");
  return text.str();
}

json parse_strict_json(std::string_view kind, const std::string& text, const std::string& origin);

}  // namespace

json read_config_file(const std::string& path) {
  return parse_config_text(read_small_file("config", path, kMaxConfigFileBytes), path);
}

std::shared_ptr<const policy::compiled_policy> compile_policy(const json& doc, const std::string& origin,
                                                              const std::string& home) {
  try {
    return std::make_shared<const policy::compiled_policy>(policy::compile(doc, home));
  } catch (const policy::policy_error& e) {
    fail_as("policy", origin, e.what());
  }
}

std::shared_ptr<const policy::compiled_policy> read_policy_file(const std::string& path, const std::string& home) {
  const std::string text = read_small_file("policy", path, policy::kMaxPolicyBytes);
  return compile_policy(parse_strict_json("policy", text, path), path, home);
}

json parse_config_text(const std::string& text, const std::string& origin) {
  return parse_strict_json("config", text, origin);
}

namespace {

json parse_strict_json(std::string_view kind, const std::string& text, const std::string& origin) {
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
        fail_as(kind, origin, fmt::format("key \"{}\" appears twice in one object", key));
      }
      seen.push_back(key);
    }
    return true;
  };
  try {
    return json::parse(text, check_keys);
  } catch (const json::parse_error& e) {
    fail_as(kind, origin, fmt::format("invalid JSON at byte {}", e.byte));
  } catch (const json::out_of_range&) {
    fail_as(kind, origin, "invalid JSON: a number is out of range");
  } catch (const json::exception&) {
    fail_as(kind, origin, "invalid JSON");
  }
}

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

// ---- The config file's schema -------------------------------------------

// What a key holds; follows from the member the row points at.
enum class value_kind : std::uint8_t { boolean, integer, string, patterns, string_map };
// When to_json writes a key. Left out when empty: what "" would not read
// back (an unresolved spool.dir), or what keeps the default settings'
// digest as it was before the key existed. Never: credentials (headers).
// Unless default: left out while it has its default value (a key added
// later that must not change the handoff or digest of existing settings).
enum class emit : std::uint8_t { always, unless_empty, unless_default, never };

struct schema_row;
using read_fn = void (*)(config&, const json&, const schema_row&, const std::string& origin);
using write_fn = json (*)(const config&);

struct schema_row {
  std::string_view path;  // "debug", "spool.max_file_bytes": at most one level of nesting
  value_kind kind;
  std::uint64_t min;  // integers only: the accepted range
  std::uint64_t max;
  emit when;
  read_fn read;
  write_fn write;
};

// Accessors the rows are built from: they work on a config and on a const
// config alike, so one row both reads and writes its key.
template <auto... Members>
struct member {
  auto& operator()(auto& c) const { return (c .* ... .* Members); }
};
template <category C>
struct category_enable {
  auto& operator()(auto& c) const { return c.categories[static_cast<std::size_t>(C)]; }
};
template <category C, auto List>
struct category_filter {
  auto& operator()(auto& c) const { return c.filters[static_cast<std::size_t>(C)].*List; }
};

using string_pairs = std::vector<std::pair<std::string, std::string>>;

template <class Get>
using value_type_of = std::remove_cvref_t<decltype(Get{}(std::declval<config&>()))>;

template <class Get>
void read_value(config& cfg, const json& v, const schema_row& row, const std::string& origin) {
  using T = value_type_of<Get>;
  const std::string key(row.path);
  auto& slot = Get{}(cfg);
  if constexpr (std::is_same_v<T, bool>) {
    slot = get_bool(v, origin, key);
  } else if constexpr (std::is_integral_v<T>) {
    slot = static_cast<T>(get_uint(v, origin, key, row.min, row.max));
  } else if constexpr (std::is_same_v<T, std::string>) {
    slot = get_string(v, origin, key);
  } else if constexpr (std::is_same_v<T, spool_fsync>) {
    const std::string text = get_string(v, origin, key);
    const auto mode = parse_fsync(text);
    if (!mode) fail(origin, fmt::format("key \"{}\" must be one of never, interval, always, got \"{}\"", key, text));
    slot = *mode;
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    slot = get_patterns(v, origin, key);
  } else {
    static_assert(std::is_same_v<T, string_pairs>);
    slot = get_string_map(v, origin, key);
  }
}

template <class Get>
json write_value(const config& cfg) {
  const auto& value = Get{}(cfg);
  if constexpr (std::is_same_v<value_type_of<Get>, string_pairs>) {
    json out = json::object();
    for (const auto& [k, v] : value) out[k] = v;  // as read back: a later duplicate wins
    return out;
  } else if constexpr (std::is_same_v<value_type_of<Get>, spool_fsync>) {
    return std::string(fsync_name(value));
  } else {
    return value;
  }
}

template <class Get>
constexpr schema_row row(std::string_view path, emit when = emit::always, std::uint64_t min = 0,
                         std::uint64_t max = 0) {
  using T = value_type_of<Get>;
  value_kind kind = value_kind::string_map;
  if constexpr (std::is_same_v<T, bool>) {
    kind = value_kind::boolean;
  } else if constexpr (std::is_integral_v<T>) {
    kind = value_kind::integer;
    // Evaluated at compile time (the table is constexpr): a range the member cannot hold does not build.
    if (min > max || max == 0 || max > std::numeric_limits<T>::max()) throw std::logic_error("bad range");
  } else if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, spool_fsync>) {
    kind = value_kind::string;
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    kind = value_kind::patterns;
  }
  return {path, kind, min, max, when, &read_value<Get>, &write_value<Get>};
}

template <auto... Members>
constexpr schema_row field(std::string_view path, emit when = emit::always, std::uint64_t min = 0,
                           std::uint64_t max = 0) {
  return row<member<Members...>>(path, when, min, max);
}

// Every key of the config file (docs/configuration.md), with its range.
// apply_config_json and config::to_json both follow this table.
constexpr auto kSchema = std::to_array<schema_row>({
    field<&config::enable>("enable"),
    field<&config::debug>("debug"),
    field<&config::events_to_stderr>("events_to_stderr"),
    field<&config::component_id>("component_id", emit::unless_empty),
    row<category_enable<category::imports>>("imports.enable"),
    field<&config::imports, &import_options::stdlib>("imports.stdlib"),
    field<&config::imports, &import_options::hash>("imports.hash"),
    field<&config::imports, &import_options::fileslist>("imports.fileslist"),
    field<&config::imports, &import_options::baseline>("imports.baseline"),
    field<&config::imports, &import_options::hash_cache>("imports.hash_cache"),
    row<category_enable<category::mcp>>("mcp.enable"),
    // process, files, network, code: enable, include, exclude.
    row<category_enable<category::process>>("process.enable"),
    row<category_filter<category::process, &pattern_filter::include>>("process.include", emit::unless_empty),
    row<category_filter<category::process, &pattern_filter::exclude>>("process.exclude", emit::unless_empty),
    row<category_enable<category::files>>("files.enable"),
    row<category_filter<category::files, &pattern_filter::include>>("files.include", emit::unless_empty),
    row<category_filter<category::files, &pattern_filter::exclude>>("files.exclude", emit::unless_empty),
    row<category_enable<category::network>>("network.enable"),
    row<category_filter<category::network, &pattern_filter::include>>("network.include", emit::unless_empty),
    row<category_filter<category::network, &pattern_filter::exclude>>("network.exclude", emit::unless_empty),
    row<category_enable<category::code>>("code.enable"),
    row<category_filter<category::code, &pattern_filter::include>>("code.include", emit::unless_empty),
    row<category_filter<category::code, &pattern_filter::exclude>>("code.exclude", emit::unless_empty),
    field<&config::spool, &spool_options::dir>("spool.dir", emit::unless_empty),
    field<&config::spool, &spool_options::max_file_bytes>("spool.max_file_bytes", emit::always, 4096, 1ULL << 40U),
    field<&config::spool, &spool_options::max_total_bytes>("spool.max_total_bytes", emit::always, 4096, 1ULL << 50U),
    field<&config::spool, &spool_options::flush_interval_ms>("spool.flush_interval_ms", emit::always, 1, 60'000),
    field<&config::spool, &spool_options::state_dir>("spool.state_dir", emit::unless_empty),
    field<&config::spool, &spool_options::fsync>("spool.fsync", emit::unless_default),
    field<&config::spool, &spool_options::fsync_interval_ms>("spool.fsync_interval_ms", emit::unless_default, 1,
                                                              3'600'000),
    field<&config::queue, &queue_options::max_bytes>("queue.max_bytes", emit::always, 64ULL << 10U, 1ULL << 30U),
    field<&config::limits, &json_limits::max_string_bytes>("limits.max_string_bytes", emit::always, 16, 1ULL << 30U),
    field<&config::limits, &json_limits::max_depth>("limits.max_depth", emit::always, 1, 1000),
    field<&config::limits, &json_limits::max_items>("limits.max_items", emit::always, 1, 10'000'000),
    field<&config::redaction, &redaction_options::enable>("redaction.enable"),
    field<&config::redaction, &redaction_options::keys>("redaction.keys", emit::unless_empty),
    field<&config::redaction, &redaction_options::keep_keys>("redaction.keep_keys", emit::unless_empty),
    field<&config::redaction, &redaction_options::disable>("redaction.disable", emit::unless_empty),
    field<&config::redaction, &redaction_options::entropy>("redaction.entropy"),
    field<&config::redaction, &redaction_options::fingerprint>("redaction.fingerprint"),
    field<&config::redaction, &redaction_options::fingerprint_key_file>("redaction.fingerprint_key_file",
                                                                         emit::unless_empty),
    field<&config::otlp, &otlp_options::enable>("otlp.enable"),
    field<&config::otlp, &otlp_options::endpoint>("otlp.endpoint", emit::unless_empty),
    field<&config::otlp, &otlp_options::logs_endpoint>("otlp.logs_endpoint", emit::unless_empty),
    field<&config::otlp, &otlp_options::traces_endpoint>("otlp.traces_endpoint", emit::unless_empty),
    field<&config::otlp, &otlp_options::metrics_endpoint>("otlp.metrics_endpoint", emit::unless_empty),
    field<&config::otlp, &otlp_options::logs>("otlp.logs"),
    field<&config::otlp, &otlp_options::traces>("otlp.traces"),
    field<&config::otlp, &otlp_options::metrics>("otlp.metrics"),
    field<&config::otlp, &otlp_options::headers>("otlp.headers", emit::never),
    field<&config::otlp, &otlp_options::timeout_ms>("otlp.timeout_ms", emit::always, 1, 600'000),
    field<&config::otlp, &otlp_options::batch_delay_ms>("otlp.batch_delay_ms", emit::always, 1, 600'000),
    field<&config::otlp, &otlp_options::metric_interval_ms>("otlp.metric_interval_ms", emit::always, 100, 86'400'000),
    field<&config::otlp, &otlp_options::shutdown_timeout_ms>("otlp.shutdown_timeout_ms", emit::always, 0, 60'000),
    field<&config::otlp, &otlp_options::max_queue_bytes>("otlp.max_queue_bytes", emit::always, 64ULL << 10U, 1ULL << 32U),
    field<&config::otlp, &otlp_options::capture_tool_io>("otlp.capture_tool_io"),
    field<&config::otlp, &otlp_options::service_name>("otlp.service_name", emit::unless_empty),
    field<&config::otlp, &otlp_options::resource_attributes>("otlp.resource_attributes", emit::unless_empty),
});

// The objects the dotted keys live in.
struct schema_section {
  std::string_view name;
  bool is_category;                          // may be given as just true/false: its "enable"
  bool (*written)(const config&) = nullptr;  // to_json leaves the object out when false
};

constexpr auto kSections = std::to_array<schema_section>({
    {"imports", true}, {"mcp", true}, {"process", true}, {"files", true}, {"network", true}, {"code", true},
    {"spool", false}, {"queue", false}, {"limits", false},
    // Only when changed, so the default settings keep their digest.
    {"redaction", false, [](const config& c) { return c.redaction.configured(); }},
    // Only when configured, so the default settings keep their digest.
    {"otlp", false, [](const config& c) { return c.otlp.configured(); }},
});

const schema_row* find_row(std::string_view path) noexcept {
  for (const auto& r : kSchema) {
    if (r.path == path) return &r;
  }
  return nullptr;
}

const schema_section* find_section(std::string_view name) noexcept {
  for (const auto& s : kSections) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

// "redaction.fields": [{"server", "tool", "redact", "keep"}, ...] (docs/redaction.md).
void apply_redaction_fields(config& cfg, const json& value, const std::string& origin) {
  if (!value.is_array()) {
    fail(origin, fmt::format("key \"redaction.fields\" must be an array of objects, got {}", policy::json_type_name(value)));
  }
  std::vector<redaction_field_rule> rules;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const json& item = value[i];
    const std::string at = fmt::format("redaction.fields[{}]", i);
    if (!item.is_object()) fail(origin, fmt::format("key \"{}\" must be an object, got {}", at, policy::json_type_name(item)));
    redaction_field_rule rule;
    for (const auto& [k, v] : item.items()) {
      const std::string key = fmt::format("{}.{}", at, k);
      if (k == "server") {
        rule.server = get_string(v, origin, key);
      } else if (k == "tool") {
        rule.tool = get_string(v, origin, key);
      } else if (k == "redact" || k == "keep") {
        auto pointers = get_patterns(v, origin, key);
        for (const auto& p : pointers) {
          if (p != "/arguments" && p != "/result" && !p.starts_with("/arguments/") && !p.starts_with("/result/")) {
            fail(origin, fmt::format("key \"{}\": \"{}\" must start with /arguments or /result", key, policy::one_line(p)));
          }
        }
        (k == "redact" ? rule.redact : rule.keep) = std::move(pointers);
      } else {
        unknown_key(origin, key);
      }
    }
    rules.push_back(std::move(rule));
  }
  cfg.redaction.fields = std::move(rules);
}

// A section's value: an object of its keys, or (a category) just true/false.
void apply_section(config& cfg, const schema_section& section, const json& value, const std::string& origin) {
  const std::string name(section.name);
  if (section.is_category && value.is_boolean()) {
    const schema_row* enable = find_row(name + ".enable");
    enable->read(cfg, value, *enable, origin);
    return;
  }
  if (!value.is_object()) {
    fail(origin, fmt::format("key \"{}\" must be {}, got {}", name,
                             section.is_category ? "a boolean or an object" : "an object", policy::json_type_name(value)));
  }
  for (const auto& [member, v] : value.items()) {
    const std::string full = fmt::format("{}.{}", name, member);
    if (full == "redaction.fields") {
      apply_redaction_fields(cfg, v, origin);
      continue;
    }
    const schema_row* r = find_row(full);
    if (r == nullptr) unknown_key(origin, full);
    r->read(cfg, v, *r, origin);
  }
}

// "policy": a policy file's path (relative to the config file's folder) or
// the policy itself.
void apply_policy_key(config& cfg, const json& value, const std::string& origin) {
  const std::string home = home_directory([](const char* name) -> const char* { return std::getenv(name); });
  if (value.is_string()) {
    std::string path = get_string(value, origin, "policy");
    if (!path.starts_with('/')) {
      const auto slash = origin.rfind('/');
      if (slash != std::string::npos) path = origin.substr(0, slash + 1) + path;
    }
    cfg.guard = read_policy_file(path, home);
    cfg.policy_source = path;
  } else if (value.is_object()) {
    cfg.guard = compile_policy(value, fmt::format("{} (key \"policy\")", origin), home);
    cfg.policy_source = origin;
  } else {
    fail(origin, fmt::format("key \"policy\" must be a file name or a policy object, got {}", policy::json_type_name(value)));
  }
}

}  // namespace

void apply_config_json(config& cfg, const json& doc, const std::string& origin) {
  if (!doc.is_object()) fail(origin, fmt::format("top level must be an object, got {}", policy::json_type_name(doc)));
  for (const auto& [key, value] : doc.items()) {
    if (key == "policy") {
      apply_policy_key(cfg, value, origin);
      continue;
    }
    if (key == "policy_mode") {
      const std::string name = get_string(value, origin, key);
      const auto m = policy::mode_from_name(name);
      if (!m) fail(origin, fmt::format("key \"policy_mode\" must be one of observe, enforce, kill, got \"{}\"", name));
      cfg.policy_mode = m;
      continue;
    }
    if (key == "redaction" && value.is_object() && value.contains("disable")) {
      for (const auto& name : get_patterns(value["disable"], origin, "redaction.disable")) {
        secret_rule r{};
        if (!secret_rule_from_name(name, r)) {
          fail(origin, fmt::format("key \"redaction.disable\": \"{}\" is not a value-shape rule (docs/redaction.md "
                                   "lists them)", policy::one_line(name)));
        }
      }
    }
    // A dotted top-level key ("spool.dir") is unknown: keys nest as objects.
    const schema_row* r = key.find('.') == std::string::npos ? find_row(key) : nullptr;
    if (r != nullptr) {
      r->read(cfg, value, *r, origin);
    } else if (const schema_section* s = find_section(key)) {
      apply_section(cfg, *s, value, origin);
    } else {
      unknown_key(origin, key);
    }
  }
}

nlohmann::json config::to_json() const {
  json doc = json::object();
  // The policy travels whole (a child enforces what its parent does, even if
  // the file changes or cannot be read there).
  if (guard) doc["policy"] = guard->document();
  if (policy_mode) doc["policy_mode"] = std::string(policy::mode_name(*policy_mode));
  for (const auto& r : kSchema) {
    if (r.when == emit::never) continue;
    const auto dot = r.path.find('.');
    if (dot != std::string_view::npos) {
      const schema_section* s = find_section(r.path.substr(0, dot));
      if (s->written != nullptr && !s->written(*this)) continue;
    }
    json value = r.write(*this);
    const bool empty = value.is_string() ? value.get_ref<const std::string&>().empty() : value.empty();
    if (r.when == emit::unless_empty && empty) continue;
    if (r.when == emit::unless_default && value == r.write(config{})) continue;
    if (dot == std::string_view::npos) {
      doc[std::string(r.path)] = std::move(value);
    } else {
      doc[std::string(r.path.substr(0, dot))][std::string(r.path.substr(dot + 1))] = std::move(value);
    }
  }
  if (!redaction.fields.empty()) {
    json fields = json::array();
    for (const auto& f : redaction.fields) {
      fields.push_back({{"server", f.server}, {"tool", f.tool}, {"redact", f.redact}, {"keep", f.keep}});
    }
    doc["redaction"]["fields"] = std::move(fields);
  }
  return doc;
}

std::vector<config_key> config_keys() {
  std::vector<config_key> out;
  for (const auto& s : kSections) {
    if (s.is_category) out.push_back({std::string(s.name), "boolean or object"});
  }
  out.push_back({"policy", "string or object"});
  out.push_back({"redaction.fields", "array of objects"});
  out.push_back({"policy_mode", "string"});
  for (const auto& r : kSchema) {
    static constexpr std::array<std::string_view, 5> kNames = {"boolean", "integer", "string", "array of strings",
                                                               "object of strings"};
    out.push_back({std::string(r.path), kNames[static_cast<std::size_t>(r.kind)]});
  }
  return out;
}

}  // namespace bluepython
