// SPDX-License-Identifier: Apache-2.0
// The policy's names and decisions (docs/policy.md); the compiler is in
// compile.cpp.
#include "policy/policy.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "pipeline/sha256.hpp"

namespace bluepython::policy {
namespace {

using json = nlohmann::json;

constexpr std::array<std::string_view, 3> kModeNames = {"observe", "enforce", "kill"};
constexpr std::array<std::string_view, subject_count> kSubjectNames = {"tools", "process", "files", "network", "code"};
constexpr std::array<std::string_view, op_count> kOpNames = {"call",    "spawn", "read",    "write",
                                                             "create",  "delete", "connect", "bind",
                                                             "resolve", "dynamic", "unpickle", "native"};
constexpr std::array<subject, op_count> kOpSubject = {
    subject::tools,   subject::process, subject::files, subject::files, subject::files, subject::files,
    subject::network, subject::network, subject::network, subject::code, subject::code, subject::code};

std::string_view base_name(std::string_view path) noexcept {
  const auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

bool entry_matches(const entry& e, const operation& o) noexcept {
  switch (o.what) {
    case op::read:
    case op::write:
    case op::create:
    case op::remove: return e.pattern.matches(o.text) || (e.directory && e.directory->matches(o.text));
    case op::spawn: {
      const bool exe = e.by_name ? (e.pattern.matches(base_name(o.text)) || (!o.name.empty() && e.pattern.matches(base_name(o.name))))
                                 : e.pattern.matches(o.text);
      return exe && (!e.args || e.args->matches(o.args));
    }
    case op::native:
      return e.by_name ? (e.pattern.matches(base_name(o.text)) || e.pattern.matches(o.text)) : e.pattern.matches(o.text);
    case op::connect:
    case op::bind:
    case op::resolve: return e.net.matches(o.text, o.port, o.aliases);
    case op::unpickle: return e.pattern.matches(o.text) || (!o.name.empty() && e.pattern.matches(o.name));
    case op::call:
    case op::dynamic: return e.pattern.matches(o.text);
  }
  return false;
}

int strictness(mode m) noexcept { return m == mode::observe ? 0 : m == mode::enforce ? 1 : 2; }

}  // namespace

std::string_view json_type_name(const nlohmann::json& v) noexcept {
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

std::optional<subject> subject_from_name(std::string_view name) noexcept {
  for (std::size_t i = 0; i < kSubjectNames.size(); ++i) {
    if (kSubjectNames[i] == name) return static_cast<subject>(i);
  }
  return std::nullopt;
}

std::string definition_digest(const json& name, const json& description, const json& input_schema) {
  const json doc = {{"name", name}, {"description", description}, {"inputSchema", input_schema}};
  return to_hex(sha256_bytes(doc.dump()));
}

std::string_view mode_name(mode m) noexcept { return kModeNames[static_cast<std::size_t>(m)]; }

std::optional<mode> mode_from_name(std::string_view name) noexcept {
  for (std::size_t i = 0; i < kModeNames.size(); ++i) {
    if (kModeNames[i] == name) return static_cast<mode>(i);
  }
  return std::nullopt;
}

std::string_view subject_name(subject s) noexcept { return kSubjectNames[static_cast<std::size_t>(s)]; }
std::string_view op_name(op o) noexcept { return kOpNames[static_cast<std::size_t>(o)]; }
subject subject_of(op o) noexcept { return kOpSubject[static_cast<std::size_t>(o)]; }

int scope::level() const noexcept {
  if (tool || outside_calls) return 2;
  return server ? 1 : 0;
}

bool compiled_policy::limits(subject s) const noexcept {
  for (std::size_t i = 0; i < op_count; ++i) {
    if (limited_[i] && kOpSubject[i] == s) return true;
  }
  return false;
}

bool compiled_policy::applies(const rule& r, const call_scope& where) const noexcept {
  const scope& s = r.where;
  if (s.outside_calls) return !where.in_call;
  if (!s.server && !s.tool) return true;
  if (!where.in_call) return false;
  if (s.server && !s.server->matches(where.server)) return false;
  if (s.tool && (where.tool.empty() || !s.tool->matches(where.tool))) return false;
  return true;
}

mode compiled_policy::mode_of(const std::optional<mode>& own) const noexcept {
  if (override_) return *override_;
  return own ? *own : mode_;
}

void compiled_policy::index_path_denials() {
  for (const op o : {op::read, op::write, op::create, op::remove}) {
    const auto at = static_cast<std::size_t>(o);
    path_index& index = path_denials_[at];
    for (std::size_t r = 0; r < rules_.size(); ++r) {
      const auto& entries = rules_[r].deny[at];
      for (std::size_t e = 0; e < entries.size(); ++e) {
        const deny_candidate c{static_cast<std::uint32_t>(r), static_cast<std::uint32_t>(e)};
        const glob& g = entries[e].pattern;
        // The first segment is known when the literal head holds it whole.
        const std::string& head = g.prefix();
        const std::size_t end = head.size() > 1 && head[0] == '/' ? head.find('/', 1) : std::string::npos;
        if (end != std::string::npos) {
          index.by_segment[head.substr(0, end)].push_back(c);
        } else if (g.literal() && head.size() > 1 && head[0] == '/') {
          index.by_segment[head].push_back(c);
        } else {
          index.anywhere.push_back(c);
        }
      }
    }
  }
}

std::optional<violation> compiled_policy::path_denial(const operation& o, const call_scope& where) const {
  const auto at = static_cast<std::size_t>(o.what);
  const path_index& index = path_denials_[at];
  const entry* hit = nullptr;
  std::uint32_t by = 0;
  auto scan = [&](const std::vector<deny_candidate>& candidates) {
    for (const deny_candidate& c : candidates) {
      if (hit != nullptr && c.rule >= by) break;  // in rule order: the first rule that denies names it
      const rule& r = rules_[c.rule];
      const entry& e = r.deny[at][c.entry];
      if (applies(r, where) && entry_matches(e, o)) {
        hit = &e;
        by = c.rule;
        break;
      }
    }
  };
  scan(index.anywhere);
  const std::string_view path = o.text;
  const std::size_t end = path.size() > 1 ? path.find('/', 1) : std::string_view::npos;
  if (const auto it = index.by_segment.find(path.substr(0, end)); it != index.by_segment.end()) scan(it->second);
  if (hit == nullptr) return std::nullopt;
  const rule& r = rules_[by];
  return violation{&r, r.id, mode_of(r.rule_mode), fmt::format("{} denied by rule {} ({})", op_name(o.what), r.id, hit->text)};
}

std::optional<violation> compiled_policy::check(const operation& o, const call_scope& where) const {
  const auto at = static_cast<std::size_t>(o.what);
  if (!limited_[at]) return std::nullopt;
  // A deny anywhere that applies wins.
  if (o.what == op::read || o.what == op::write || o.what == op::create || o.what == op::remove) {
    if (auto v = path_denial(o, where); v) return v;
  } else {
    for (const rule& r : rules_) {
      if (r.deny[at].empty() || !applies(r, where)) continue;
      for (const entry& e : r.deny[at]) {
        if (entry_matches(e, o)) {
          return violation{&r, r.id, mode_of(r.rule_mode),
                           fmt::format("{} denied by rule {} ({})", op_name(o.what), r.id, e.text)};
        }
      }
    }
  }
  // The most specific level with an allow list decides.
  int level = -1;
  for (const rule& r : rules_) {
    if (r.allow[at] && applies(r, where)) level = std::max(level, r.where.level());
  }
  if (level < 0) return std::nullopt;
  const rule* named = nullptr;
  for (const rule& r : rules_) {
    if (!r.allow[at] || r.where.level() != level || !applies(r, where)) continue;
    for (const entry& e : *r.allow[at]) {
      if (entry_matches(e, o)) return std::nullopt;
    }
    if (named == nullptr || strictness(mode_of(r.rule_mode)) > strictness(mode_of(named->rule_mode))) named = &r;
  }
  return violation{named, named->id, mode_of(named->rule_mode),
                   fmt::format("{} not allowed by rule {}", op_name(o.what), named->id)};
}

std::optional<violation> compiled_policy::check_argument(const rule& r, const argument_rule& a,
                                                         const argument_value& v) const {
  auto deny = [&](const std::string& what) {
    return violation{&r, r.id, mode_of(r.rule_mode),
                     fmt::format("argument {} {} (rule {})", a.pointer.empty() ? "(whole)" : a.pointer, what, r.id)};
  };
  if (v.kind == argument_value::missing) {
    if (a.required) return deny("is missing");
    return std::nullopt;
  }
  if (a.pattern) {
    if (v.kind != argument_value::string) return deny("is not a string");
    if (!a.pattern->matches(v.text)) return deny(fmt::format("does not match {}", a.pattern->text()));
  }
  if (!a.one_of.empty()) {
    json value;
    switch (v.kind) {
      case argument_value::string: value = v.text; break;
      case argument_value::number: value = v.numeric; break;
      case argument_value::boolean: value = v.text == "true"; break;
      case argument_value::null: value = nullptr; break;
      default: return deny("is not one of the allowed values");
    }
    const bool found = std::any_of(a.one_of.begin(), a.one_of.end(), [&](const json& allowed) {
      if (allowed.is_number() && value.is_number()) return allowed.get<double>() == value.get<double>();
      return allowed == value;
    });
    if (!found) return deny("is not one of the allowed values");
  }
  if (a.min || a.max) {
    if (v.kind != argument_value::number) return deny("is not a number");
    if (a.min && v.numeric < *a.min) return deny(fmt::format("is below {}", *a.min));
    if (a.max && v.numeric > *a.max) return deny(fmt::format("is above {}", *a.max));
  }
  return std::nullopt;
}

std::optional<violation> compiled_policy::check_import(std::string_view module, std::string_view sha256) const {
  if (!lock_) return std::nullopt;
  const mode m = mode_of(lock_->lock_mode);
  const auto it = lock_->modules.find(std::string(module));
  if (it == lock_->modules.end()) {
    for (const glob& g : lock_->unlisted) {
      if (g.matches(module)) return std::nullopt;
    }
    return violation{nullptr, "imports.lock", m, fmt::format("module {} is not in the import lock", module)};
  }
  if (it->second == "builtin") {
    if (sha256.empty()) return std::nullopt;
    return violation{nullptr, "imports.lock", m,
                     fmt::format("module {} was locked as built in but was found in a file", module)};
  }
  if (sha256 == it->second) return std::nullopt;
  if (sha256.empty()) {
    return violation{nullptr, "imports.lock", m, fmt::format("module {} has no file to check against its lock", module)};
  }
  return violation{nullptr, "imports.lock", m,
                   fmt::format("module {} changed on disk (sha256 {}, locked {})", module, sha256.substr(0, 12),
                               it->second.substr(0, 12))};
}

std::optional<violation> compiled_policy::check_tool_pin(std::string_view tool, std::string_view digest) const {
  if (!pins_) return std::nullopt;
  const mode m = mode_of(pins_->pins_mode);
  const auto it = pins_->tools.find(std::string(tool));
  if (it == pins_->tools.end()) {
    return violation{nullptr, "tool_pins", m, fmt::format("tool {} is not pinned", tool)};
  }
  if (digest.empty()) {
    return violation{nullptr, "tool_pins", m,
                     fmt::format("the definition of tool {} was not seen, so its pin cannot be checked", tool)};
  }
  if (digest != it->second) {
    return violation{nullptr, "tool_pins", m,
                     fmt::format("tool {} changed since it was pinned (definition {}, pinned {})", tool,
                                 digest.substr(0, 12), it->second.substr(0, 12))};
  }
  return std::nullopt;
}

}  // namespace bluepython::policy
