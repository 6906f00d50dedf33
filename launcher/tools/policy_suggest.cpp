// SPDX-License-Identifier: Apache-2.0
// `bluepython policy suggest|lock`: a policy written from observed runs.
#include "tools/policy_suggest.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <tuple>

#include <fmt/format.h>

#include "config/config.hpp"
#include "config/error.hpp"
#include "policy/endpoint.hpp"

namespace bluepython::policy_tools {
namespace {

using json = nlohmann::json;
using policy::op;
using policy::subject;

// Sibling directories that make their parent the prefix instead, and how deep
// that parent must be (never `/` or `/home`: one level is too wide to allow
// by accident).
constexpr std::size_t kCollapseSiblings = 4;
constexpr std::size_t kCollapseMinDepth = 2;
constexpr std::size_t kSpoolsNamed = 3;

std::string parent_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos || slash == 0 ? std::string() : path.substr(0, slash);
}

std::size_t depth_of(const std::string& dir) { return static_cast<std::size_t>(std::count(dir.begin(), dir.end(), '/')); }

bool inside(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.starts_with(dir) && path[dir.size()] == '/');
}

std::string base_name(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Where a rule applies: outside calls, a tool (of a server), or a server's
// other requests (resources, prompts, ...).
enum class level : std::uint8_t { outside = 0, tool = 1, server = 2 };
using scope_key = std::tuple<level, std::string, std::string>;  // level, server, tool

struct seen {
  std::array<std::set<std::string>, policy::op_count> texts;  // files: paths; others: entries
  std::array<std::size_t, policy::op_count> count{};
  std::set<std::string> calls;
  std::set<long long> pids;
  std::set<std::string> spools;
};

std::string spools_text(const std::set<std::string>& spools) {
  std::string out;
  std::size_t n = 0;
  for (const auto& s : spools) {
    if (n == kSpoolsNamed) {
      out += fmt::format(" and {} more", spools.size() - kSpoolsNamed);
      break;
    }
    if (n++ > 0) out += ", ";
    out += s;
  }
  return out;
}

// The endpoint a network operation is allowed by: the name it was resolved
// from when there is one, else the host as seen; with its port when known.
std::optional<std::string> endpoint_text(const fact& f) {
  const std::string& host = f.aliases.empty() ? f.text : f.aliases.front();
  const auto ip = policy::parse_ip(host);
  std::string out;
  if (ip && ip->size == 16) {
    out = "[" + host + "]";
  } else {
    out = host;
  }
  if (f.port >= 0) out += ":" + std::to_string(f.port);
  try {
    (void)policy::endpoint(out);
  } catch (const std::invalid_argument&) {
    return std::nullopt;
  }
  return out;
}

class builder {
 public:
  builder(const spool_facts& facts, std::vector<std::string>& notes) : facts_(facts), notes_(notes) {}

  json run() {
    for (const fact& f : facts_.facts) {
      if (f.what == fact::kind::operation) add(f);
      if (f.what == fact::kind::tool_call) {
        tools_.insert(f.text);
        ++calls_of_[f.text];
        tool_spools_.insert(f.file);
      }
    }
    json doc = {{"version", 1},
                {"description", fmt::format("suggested by bluepython policy suggest from {} events of {} spool files: {}",
                                            facts_.events, facts_.files.size(), spools_text(facts_.files))}};
    json rules = json::array();
    if (!off("mcp")) rules.push_back(tools_rule());
    for (const subject s : {subject::process, subject::files, subject::network, subject::code}) {
      if (off(policy_tools::category_of(s))) {
        notes_.push_back(fmt::format("the {} category was off in some process: no {} rules",
                                     policy_tools::category_of(s), policy::subject_name(s)));
        continue;
      }
      subject_rules(s, rules);
    }
    doc["rules"] = std::move(rules);
    if (!off("imports")) {
      doc["imports"] = import_lock_of(facts_, notes_);
    } else {
      notes_.push_back("the imports category was off in some process: no import lock");
    }
    if (!off("mcp")) {
      if (auto pins = tool_pins(); pins) doc["tool_pins"] = std::move(*pins);
    }
    return doc;
  }

 private:
  const spool_facts& facts_;
  std::vector<std::string>& notes_;
  std::map<scope_key, std::array<seen, policy::subject_count>> scopes_;
  std::set<std::string> tools_;
  std::map<std::string, std::size_t> calls_of_;
  std::set<std::string> tool_spools_;
  std::set<std::string> ids_;

  [[nodiscard]] bool off(std::string_view category) const {
    return facts_.categories_off.contains(std::string(category));
  }

  static scope_key key_of(const call_where& w) {
    if (!w.in_call) return {level::outside, "", ""};
    if (!w.tool.empty()) return {level::tool, w.server, w.tool};
    return {level::server, w.server, ""};
  }

  void add(const fact& f) {
    const auto s = static_cast<std::size_t>(policy::subject_of(f.op));
    const auto o = static_cast<std::size_t>(f.op);
    seen& where = scopes_[key_of(f.where)][s];
    std::optional<std::string> entry;
    switch (policy::subject_of(f.op)) {
      case subject::files:
        if (!f.text.starts_with('/')) return;  // not absolute: noted when read
        entry = f.text;  // made into prefixes at the end
        break;
      case subject::process: entry = escape_glob(base_name(f.text)); break;
      case subject::network:
        entry = endpoint_text(f);
        if (!entry) {
          notes_.push_back(fmt::format("{} of {} cannot be written as an endpoint", policy::op_name(f.op), f.text));
          return;
        }
        break;
      case subject::code: entry = escape_glob(f.text); break;
      case subject::tools: return;
    }
    where.texts[o].insert(*entry);
    ++where.count[o];
    if (!f.where.call_id.empty()) where.calls.insert(f.where.call_id);
    where.pids.insert(f.pid);
    where.spools.insert(f.file);
  }

  std::string unique_id(std::string id) {
    std::string candidate = id;
    for (int n = 2; !ids_.insert(candidate).second; ++n) candidate = fmt::format("{}#{}", id, n);
    return candidate;
  }

  json tools_rule() {
    json allow = json::array();
    std::size_t calls = 0;
    for (const auto& t : tools_) {
      allow.push_back(escape_glob(t));
      calls += calls_of_[t];
    }
    const std::string why =
        tools_.empty() ? std::string("no tools/call in the spools")
                       : fmt::format("{} tools/call of {} tools; spools: {}", calls, tools_.size(), spools_text(tool_spools_));
    return {{"id", unique_id("tools")}, {"why", why}, {"tools", {{"allow", {{"call", allow}}}}}};
  }

  static std::string counts_text(subject s, const seen& x) {
    std::string out;
    for (std::size_t i = 0; i < policy::op_count; ++i) {
      if (policy::subject_of(static_cast<op>(i)) != s || x.count[i] == 0) continue;
      if (!out.empty()) out += ", ";
      out += fmt::format("{} {}", x.count[i], policy::op_name(static_cast<op>(i)));
    }
    return out + " events";
  }

  static json allow_of(subject s, const seen& x) {
    json allow = json::object();
    for (std::size_t i = 0; i < policy::op_count; ++i) {
      const auto o = static_cast<op>(i);
      if (policy::subject_of(o) != s) continue;
      json list = json::array();
      if (s == subject::files) {
        for (const auto& p : path_patterns(x.texts[i])) list.push_back(p);
      } else {
        for (const auto& e : x.texts[i]) list.push_back(e);
      }
      allow[std::string(policy::op_name(o))] = std::move(list);
    }
    return allow;
  }

  void subject_rules(subject s, json& rules) {
    const auto at = static_cast<std::size_t>(s);
    const std::string name(policy::subject_name(s));
    seen rest;  // requests of no known server: the default rule allows them
    for (const auto& [key, by_subject] : scopes_) {
      const seen& x = by_subject[at];
      if (x.spools.empty()) continue;
      const auto& [lvl, server, tool] = key;
      json scope = json::object();
      std::string id;
      std::string why;
      const std::string what = counts_text(s, x);
      const std::string calls =
          x.calls.empty() ? std::string() : fmt::format(" in {} call{}", x.calls.size(), x.calls.size() == 1 ? "" : "s");
      if (lvl == level::outside) {
        scope["outside_calls"] = true;
        id = name + ":outside-calls";
        why = fmt::format("{} outside calls in {} process{}", what, x.pids.size(), x.pids.size() == 1 ? "" : "es");
      } else if (lvl == level::tool) {
        if (!server.empty()) scope["server"] = escape_glob(server);
        scope["tool"] = escape_glob(tool);
        id = server.empty() ? fmt::format("{}:tool:{}", name, tool) : fmt::format("{}:tool:{}/{}", name, server, tool);
        why = fmt::format("{}{} of tool {}{}", what, calls, tool, server.empty() ? "" : " of server " + server);
      } else if (!server.empty()) {
        scope["server"] = escape_glob(server);
        id = fmt::format("{}:server:{}", name, server);
        why = fmt::format("{}{} of other requests (not tools/call) of server {}", what, calls, server);
      } else {
        for (std::size_t i = 0; i < policy::op_count; ++i) {
          rest.texts[i].insert(x.texts[i].begin(), x.texts[i].end());
          rest.count[i] += x.count[i];
        }
        rest.spools.insert(x.spools.begin(), x.spools.end());
        continue;
      }
      rules.push_back({{"id", unique_id(id)},
                       {"why", fmt::format("{}; spools: {}", why, spools_text(x.spools))},
                       {"scope", scope},
                       {name, {{"allow", allow_of(s, x)}}}});
    }
    std::string why = fmt::format("nothing else: no {} beyond what the rules above allow was seen", name);
    if (!rest.spools.empty()) {
      why += fmt::format("; allows what requests of an unnamed server did ({}; spools: {})", counts_text(s, rest),
                         spools_text(rest.spools));
    }
    rules.push_back({{"id", unique_id(name + ":default")}, {"why", why}, {name, {{"allow", allow_of(s, rest)}}}});
  }

  std::optional<json> tool_pins() {
    std::map<std::string, std::string> pins;
    std::map<std::string, std::set<std::string>> variants;
    for (const fact& f : facts_.facts) {
      if (f.what != fact::kind::definition) continue;
      pins[f.text] = f.digest;
      variants[f.text].insert(f.digest);
    }
    if (pins.empty()) return std::nullopt;
    for (const auto& [tool, digests] : variants) {
      if (digests.size() > 1) {
        notes_.push_back(fmt::format("tool {} was defined {} different ways in the spools: pinned the last one seen", tool,
                                     digests.size()));
      }
    }
    for (const fact& f : facts_.facts) {
      if (f.what == fact::kind::tool_call && f.digest.empty()) {
        notes_.push_back(fmt::format("tool {} was called with no definition of it in the spools before: no tool_pins",
                                     f.text));
        return std::nullopt;
      }
    }
    json out = json::object();
    for (const auto& [tool, digest] : pins) out[tool] = digest;
    return json{{"pins", out}};
  }
};

}  // namespace

std::string escape_glob(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::vector<std::string> path_patterns(const std::set<std::string>& paths) {
  std::set<std::string> dirs;
  std::set<std::string> files;  // directly under /
  for (const auto& p : paths) {
    if (!p.starts_with('/')) continue;
    const std::string parent = parent_of(p);
    if (parent.empty()) {
      files.insert(p);
    } else {
      dirs.insert(parent);
    }
  }
  for (bool changed = true; changed;) {
    changed = false;
    std::map<std::string, std::vector<std::string>> by_parent;
    for (const auto& d : dirs) {
      const std::string parent = parent_of(d);
      if (!parent.empty() && depth_of(parent) >= kCollapseMinDepth) by_parent[parent].push_back(d);
    }
    for (const auto& [parent, children] : by_parent) {
      if (children.size() < kCollapseSiblings) continue;
      for (const auto& c : children) dirs.erase(c);
      dirs.insert(parent);
      changed = true;
    }
  }
  std::vector<std::string> kept;
  for (const auto& d : dirs) {
    if (std::none_of(dirs.begin(), dirs.end(), [&](const std::string& other) { return other != d && inside(d, other); })) {
      kept.push_back(d);
    }
  }
  std::vector<std::string> out;
  out.reserve(kept.size() + files.size());
  for (const auto& d : kept) out.push_back(escape_glob(d) + "/**");
  for (const auto& f : files) {
    if (std::none_of(kept.begin(), kept.end(), [&](const std::string& d) { return inside(f, d); })) out.push_back(escape_glob(f));
  }
  std::sort(out.begin(), out.end());
  return out;
}

json import_lock_of(const spool_facts& facts, std::vector<std::string>& notes) {
  std::map<std::string, std::set<std::string>> seen;
  for (const fact& f : facts.facts) {
    if (f.what != fact::kind::import) continue;
    if (!f.has_file) {
      seen[f.text].insert("builtin");
    } else if (f.digest.empty()) {
      seen[f.text].insert("");  // a file that could not be hashed
    } else {
      seen[f.text].insert(f.digest);
    }
  }
  json lock = json::object();
  json unlisted = json::array();
  for (const auto& [module, values] : seen) {
    if (values.size() == 1 && !values.begin()->empty()) {
      lock[module] = *values.begin();
      continue;
    }
    unlisted.push_back(escape_glob(module));
    notes.push_back(values.size() > 1
                        ? fmt::format("module {} was seen {} different ways (files, hashes): listed as unlisted, not locked",
                                      module, values.size())
                        : fmt::format("module {} came from a file with no hash in the spool: listed as unlisted, not locked",
                                      module));
  }
  json out = {{"lock", lock}};
  if (!unlisted.empty()) out["unlisted"] = unlisted;
  return out;
}

json suggest(const spool_facts& facts, std::vector<std::string>& notes) {
  notes.insert(notes.end(), facts.notes.begin(), facts.notes.end());
  return builder(facts, notes).run();
}

json lock(const spool_facts& facts, json base, std::vector<std::string>& notes) {
  notes.insert(notes.end(), facts.notes.begin(), facts.notes.end());
  json observed = import_lock_of(facts, notes);
  if (!base.is_object()) base = json::object();
  if (!base.contains("version")) base["version"] = 1;
  json& imports = base["imports"];
  if (!imports.is_object()) imports = json::object();
  imports["lock"] = observed["lock"];
  if (observed.contains("unlisted")) {
    json& unlisted = imports["unlisted"];
    if (!unlisted.is_array()) unlisted = json::array();
    for (const auto& name : observed["unlisted"]) {
      if (std::find(unlisted.begin(), unlisted.end(), name) == unlisted.end()) unlisted.push_back(name);
    }
  }
  return base;
}

namespace {

// Prints the document after compiling it once more: what is printed is a
// policy bluepython accepts.
int print_policy(const json& doc, std::vector<std::string> notes, const std::string& home, std::string_view command) {
  try {
    (void)policy::compile(doc, home);
  } catch (const policy::policy_error& e) {
    throw launcher_error::internal(fmt::format("bluepython {}: the policy written does not compile: {}", command, e.what()));
  }
  std::sort(notes.begin(), notes.end());
  notes.erase(std::unique(notes.begin(), notes.end()), notes.end());
  for (const auto& n : notes) {
    const std::string line = fmt::format("bluepython {}: note: {}\n", command, n);
    (void)std::fwrite(line.data(), 1, line.size(), stderr);
  }
  const std::string out = doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
  (void)std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

int run_suggest(const suggest_options& o) {
  const std::vector<spool_line> lines = read_spool(o.paths, o.spool_dir, "policy suggest");
  const spool_facts facts = facts_of(lines);
  std::vector<std::string> notes;
  const json doc = suggest(facts, notes);
  return print_policy(doc, std::move(notes), o.home, "policy suggest");
}

int run_lock(const suggest_options& o) {
  json base = {{"version", 1}};
  if (!o.into.empty()) base = read_policy_file(o.into, o.home)->document();
  const std::vector<spool_line> lines = read_spool(o.paths, o.spool_dir, "policy lock");
  const spool_facts facts = facts_of(lines);
  std::vector<std::string> notes;
  const json doc = lock(facts, std::move(base), notes);
  return print_policy(doc, std::move(notes), o.home, "policy lock");
}

}  // namespace bluepython::policy_tools
