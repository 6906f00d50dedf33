// SPDX-License-Identifier: Apache-2.0
// The policy compiler (docs/policy.md): a JSON document into rules of
// matchers, or a policy_error naming the key that is wrong.
#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "policy/policy.hpp"

namespace bluepython::policy {
namespace {

using json = nlohmann::json;

// The error is one line naming the key whatever the document holds (control
// characters escaped); the empty key is shown as "".
[[noreturn]] void fail(const std::string& key, const std::string& message) {
  const std::string shown = key.empty() ? std::string("\"\"") : one_line(key);
  throw policy_error(shown, fmt::format("key {}: {}", key.empty() ? shown : "\"" + shown + "\"", one_line(message)));
}

void expect_object(const json& v, const std::string& key) {
  if (!v.is_object()) fail(key, fmt::format("must be an object, got {}", json_type_name(v)));
}
void expect_array(const json& v, const std::string& key) {
  if (!v.is_array()) fail(key, fmt::format("must be an array, got {}", json_type_name(v)));
}
std::string expect_string(const json& v, const std::string& key, bool allow_empty = false) {
  if (!v.is_string()) fail(key, fmt::format("must be a string, got {}", json_type_name(v)));
  std::string s = v.get<std::string>();
  if (!allow_empty && s.empty()) fail(key, "must not be empty");
  if (s.find('\0') != std::string::npos) fail(key, "contains a NUL byte");
  if (s.size() > 4096) fail(key, "is longer than 4096 bytes");
  return s;
}
double expect_number(const json& v, const std::string& key) {
  if (!v.is_number()) fail(key, fmt::format("must be a number, got {}", json_type_name(v)));
  return v.get<double>();
}

mode parse_mode(const json& v, const std::string& key) {
  const std::string name = expect_string(v, key);
  const auto m = mode_from_name(name);
  if (!m) fail(key, fmt::format("must be one of observe, enforce, kill, got \"{}\"", name));
  return *m;
}

glob make_glob(const std::string& text, glob_kind kind, const std::string& key, bool fold_case = false) {
  try {
    return glob(text, kind, fold_case);
  } catch (const std::invalid_argument& e) {
    fail(key, fmt::format("invalid pattern \"{}\": {}", text, e.what()));
  }
}


// A path pattern: absolute, `~/...`, or starting with `**`.
entry path_entry(const json& v, const std::string& key, const std::string& home) {
  entry e;
  e.text = expect_string(v, key);
  std::string text = e.text;
  if (text == "~" || text.starts_with("~/")) {
    if (home.empty()) fail(key, "pattern starts with ~ but no home directory is known");
    text = home + text.substr(1);
  }
  if (!text.starts_with("/") && !text.starts_with("**")) {
    fail(key, fmt::format("path pattern \"{}\" must be absolute (start with /, ~/ or **)", e.text));
  }
  e.pattern = make_glob(text, glob_kind::path, key);
  if (text.size() > 3 && text.ends_with("/**")) {
    e.directory = make_glob(text.substr(0, text.size() - 3), glob_kind::path, key);
  }
  return e;
}

// A program or library: a pattern with `/` matches the resolved path, one
// without matches the base name.
entry file_or_name_entry(const std::string& text, const std::string& key) {
  entry e;
  e.text = text;
  e.by_name = text.find('/') == std::string::npos;
  e.pattern = make_glob(text, e.by_name ? glob_kind::name : glob_kind::path, key);
  return e;
}

entry process_entry(const json& v, const std::string& key) {
  if (v.is_string()) return file_or_name_entry(expect_string(v, key), key);
  if (!v.is_object()) fail(key, fmt::format("must be a string or an object, got {}", json_type_name(v)));
  std::optional<entry> e;
  std::optional<glob> args;
  for (const auto& [k, item] : v.items()) {
    const std::string at = fmt::format("{}.{}", key, k);
    if (k == "exe") {
      e = file_or_name_entry(expect_string(item, at), at);
    } else if (k == "args") {
      args = make_glob(expect_string(item, at), glob_kind::name, at);
    } else {
      fail(at, "unknown key (an entry has exe and args)");
    }
  }
  if (!e) fail(key + ".exe", "is required");
  e->args = std::move(args);
  if (e->args) e->text = fmt::format("{} {}", e->text, e->args->text());
  return *e;
}

entry name_entry(const json& v, const std::string& key) {
  entry e;
  e.text = expect_string(v, key);
  e.pattern = make_glob(e.text, glob_kind::name, key);
  return e;
}

entry network_entry(const json& v, const std::string& key) {
  entry e;
  e.text = expect_string(v, key);
  try {
    e.net = endpoint(e.text);
  } catch (const std::invalid_argument& err) {
    fail(key, fmt::format("invalid endpoint \"{}\": {}", e.text, err.what()));
  }
  return e;
}

entry make_entry(op o, const json& v, const std::string& key, const std::string& home) {
  switch (subject_of(o)) {
    case subject::files: return path_entry(v, key, home);
    case subject::process: return process_entry(v, key);
    case subject::network: return network_entry(v, key);
    case subject::tools: return name_entry(v, key);
    case subject::code:
      if (o == op::native) return file_or_name_entry(expect_string(v, key), key);
      return name_entry(v, key);
  }
  return name_entry(v, key);
}

std::optional<op> op_of(subject s, std::string_view name) {
  for (std::size_t i = 0; i < op_count; ++i) {
    const auto o = static_cast<op>(i);
    if (op_name(o) == name && subject_of(o) == s) return o;
  }
  return std::nullopt;
}

std::string ops_of(subject s) {
  std::string out;
  for (std::size_t i = 0; i < op_count; ++i) {
    const auto o = static_cast<op>(i);
    if (subject_of(o) != s) continue;
    if (!out.empty()) out += ", ";
    out += op_name(o);
  }
  return out;
}

// "allow" / "deny": {op: [entries]}.
void parse_lists(rule& r, const json& v, const std::string& key, bool allow, const std::string& home) {
  expect_object(v, key);
  for (const auto& [name, list] : v.items()) {
    const std::string at = fmt::format("{}.{}", key, name);
    const auto o = op_of(r.about, name);
    if (!o) fail(at, fmt::format("unknown operation for {} (one of: {})", subject_name(r.about), ops_of(r.about)));
    expect_array(list, at);
    if (list.size() > 4096) fail(at, "has more than 4096 entries");
    std::vector<entry> entries;
    for (std::size_t i = 0; i < list.size(); ++i) {
      entries.push_back(make_entry(*o, list[i], fmt::format("{}[{}]", at, i), home));
    }
    const auto at_op = static_cast<std::size_t>(*o);
    if (allow) {
      r.allow[at_op] = std::move(entries);
    } else {
      r.deny[at_op] = std::move(entries);
    }
  }
}

std::vector<std::string> pointer_tokens(const std::string& pointer, const std::string& key) {
  std::vector<std::string> tokens;
  if (pointer.empty()) return tokens;
  if (pointer.front() != '/') fail(key, fmt::format("JSON pointer \"{}\" must start with /", pointer));
  std::string cur;
  for (std::size_t i = 1; i <= pointer.size(); ++i) {
    if (i == pointer.size() || pointer[i] == '/') {
      tokens.push_back(std::move(cur));
      cur.clear();
    } else if (pointer[i] == '~') {
      if (i + 1 >= pointer.size() || (pointer[i + 1] != '0' && pointer[i + 1] != '1')) {
        fail(key, fmt::format("JSON pointer \"{}\": ~ must be followed by 0 or 1", pointer));
      }
      cur += pointer[++i] == '0' ? '~' : '/';
    } else {
      cur += pointer[i];
    }
  }
  return tokens;
}

argument_rule parse_argument(const json& v, const std::string& key) {
  expect_object(v, key);
  argument_rule a;
  bool has_pointer = false;
  for (const auto& [k, item] : v.items()) {
    const std::string at = fmt::format("{}.{}", key, k);
    if (k == "pointer") {
      a.pointer = expect_string(item, at, /*allow_empty=*/true);
      a.tokens = pointer_tokens(a.pointer, at);
      has_pointer = true;
    } else if (k == "pattern") {
      a.pattern = make_glob(expect_string(item, at), glob_kind::name, at);
    } else if (k == "enum") {
      expect_array(item, at);
      if (item.empty()) fail(at, "must list at least one value");
      a.one_of.assign(item.begin(), item.end());
    } else if (k == "min") {
      a.min = expect_number(item, at);
    } else if (k == "max") {
      a.max = expect_number(item, at);
    } else if (k == "required") {
      if (!item.is_boolean()) fail(at, fmt::format("must be a boolean, got {}", json_type_name(item)));
      a.required = item.get<bool>();
    } else {
      fail(at, "unknown key (an argument rule has pointer, pattern, enum, min, max, required)");
    }
  }
  if (!has_pointer) fail(key + ".pointer", "is required");
  if (!a.pattern && a.one_of.empty() && !a.min && !a.max && !a.required) {
    fail(key, "says nothing (give pattern, enum, min, max or required)");
  }
  if (a.min && a.max && *a.max < *a.min) fail(key, "max is below min");
  return a;
}

scope parse_scope(const json& v, const std::string& key) {
  expect_object(v, key);
  scope s;
  for (const auto& [k, item] : v.items()) {
    const std::string at = fmt::format("{}.{}", key, k);
    if (k == "server") {
      s.server = make_glob(expect_string(item, at), glob_kind::name, at);
    } else if (k == "tool") {
      s.tool = make_glob(expect_string(item, at), glob_kind::name, at);
    } else if (k == "outside_calls") {
      if (!item.is_boolean()) fail(at, fmt::format("must be a boolean, got {}", json_type_name(item)));
      s.outside_calls = item.get<bool>();
    } else {
      fail(at, "unknown key (a scope has server, tool, outside_calls)");
    }
  }
  if (s.outside_calls && (s.server || s.tool)) fail(key, "outside_calls cannot be combined with server or tool");
  return s;
}

rule parse_rule(const json& v, const std::string& key, const std::string& home) {
  expect_object(v, key);
  rule r;
  const json* body = nullptr;
  std::string body_key;
  for (const auto& [k, item] : v.items()) {
    const std::string at = fmt::format("{}.{}", key, k);
    if (k == "id") {
      r.id = expect_string(item, at);
    } else if (k == "why") {
      r.why = expect_string(item, at, /*allow_empty=*/true);
    } else if (k == "scope") {
      r.where = parse_scope(item, at);
    } else if (k == "mode") {
      r.rule_mode = parse_mode(item, at);
    } else if (const auto about = subject_from_name(k); about) {
      if (body != nullptr) fail(at, fmt::format("a rule speaks of one subject; this one already has \"{}\"", body_key));
      r.about = *about;
      body = &item;
      body_key = k;
    } else {
      fail(at, "unknown key (a rule has id, why, scope, mode and one of tools, process, files, network, code)");
    }
  }
  if (body == nullptr) fail(key, "names no subject (tools, process, files, network or code)");
  const std::string at = fmt::format("{}.{}", key, body_key);
  expect_object(*body, at);
  for (const auto& [k, item] : body->items()) {
    const std::string item_key = fmt::format("{}.{}", at, k);
    if (k == "allow") {
      parse_lists(r, item, item_key, true, home);
    } else if (k == "deny") {
      parse_lists(r, item, item_key, false, home);
    } else if (k == "arguments" && r.about == subject::tools) {
      expect_array(item, item_key);
      for (std::size_t i = 0; i < item.size(); ++i) {
        r.arguments.push_back(parse_argument(item[i], fmt::format("{}[{}]", item_key, i)));
      }
    } else {
      fail(item_key, r.about == subject::tools ? "unknown key (tools has allow, deny, arguments)"
                                               : fmt::format("unknown key ({} has allow, deny)", body_key));
    }
  }
  return r;
}

bool is_digest(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

import_lock parse_imports(const json& v, const std::string& key) {
  expect_object(v, key);
  import_lock lock;
  bool has_lock = false;
  for (const auto& [k, item] : v.items()) {
    const std::string at = fmt::format("{}.{}", key, k);
    if (k == "mode") {
      lock.lock_mode = parse_mode(item, at);
    } else if (k == "lock") {
      expect_object(item, at);
      has_lock = true;
      for (const auto& [name, digest] : item.items()) {
        const std::string entry_key = fmt::format("{}.{}", at, name);
        const std::string d = expect_string(digest, entry_key);
        if (d != "builtin" && !is_digest(d)) fail(entry_key, "must be a SHA-256 (64 lower-case hex digits) or \"builtin\"");
        lock.modules.emplace(name, d);
      }
    } else if (k == "unlisted") {
      expect_array(item, at);
      for (std::size_t i = 0; i < item.size(); ++i) {
        const std::string item_key = fmt::format("{}[{}]", at, i);
        lock.unlisted.push_back(make_glob(expect_string(item[i], item_key), glob_kind::name, item_key));
      }
    } else {
      fail(at, "unknown key (imports has mode, lock, unlisted)");
    }
  }
  if (!has_lock) fail(key + ".lock", "is required (bluepython policy lock writes it)");
  return lock;
}

tool_pins parse_pins(const json& v, const std::string& key) {
  expect_object(v, key);
  tool_pins pins;
  bool has_pins = false;
  for (const auto& [k, item] : v.items()) {
    const std::string at = fmt::format("{}.{}", key, k);
    if (k == "mode") {
      pins.pins_mode = parse_mode(item, at);
    } else if (k == "pins") {
      expect_object(item, at);
      has_pins = true;
      for (const auto& [name, digest] : item.items()) {
        const std::string d = expect_string(digest, fmt::format("{}.{}", at, name));
        if (!is_digest(d)) fail(fmt::format("{}.{}", at, name), "must be a SHA-256 (64 lower-case hex digits)");
        pins.tools.emplace(name, d);
      }
    } else {
      fail(at, "unknown key (tool_pins has mode, pins)");
    }
  }
  if (!has_pins) fail(key + ".pins", "is required");
  return pins;
}

}  // namespace

compiled_policy compile(const json& document, const std::string& home) {
  if (!document.is_object()) fail("(top level)", fmt::format("a policy is an object, got {}", json_type_name(document)));
  compiled_policy p;
  p.document_ = document;
  bool has_version = false;
  for (const auto& [k, item] : document.items()) {
    if (k == "version") {
      if (!item.is_number_integer() || item.get<std::int64_t>() != 1) fail(k, "must be 1 (the only policy version)");
      has_version = true;
    } else if (k == "mode") {
      p.mode_ = parse_mode(item, k);
    } else if (k == "description") {
      expect_string(item, k, /*allow_empty=*/true);
    } else if (k == "rules") {
      expect_array(item, k);
      if (item.size() > 10000) fail(k, "has more than 10000 rules");
      std::set<std::string> ids;
      for (std::size_t i = 0; i < item.size(); ++i) {
        const std::string at = fmt::format("rules[{}]", i);
        rule r = parse_rule(item[i], at, home);
        if (r.id.empty()) r.id = at;
        if (!ids.insert(r.id).second) fail(at + ".id", fmt::format("rule id \"{}\" is used twice", r.id));
        p.rules_.push_back(std::move(r));
      }
    } else if (k == "imports") {
      p.lock_ = parse_imports(item, k);
    } else if (k == "tool_pins") {
      p.pins_ = parse_pins(item, k);
    } else {
      fail(k, "unknown key (a policy has version, mode, description, rules, imports, tool_pins)");
    }
  }
  if (!has_version) fail("version", "is required (1)");
  for (const rule& r : p.rules_) {
    for (std::size_t i = 0; i < op_count; ++i) {
      if (r.allow[i] || !r.deny[i].empty()) p.limited_[i] = true;
    }
    if (!r.arguments.empty()) p.has_arguments_ = true;
  }
  p.index_path_denials();
  return p;
}

}  // namespace bluepython::policy
