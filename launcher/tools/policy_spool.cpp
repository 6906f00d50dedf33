// SPDX-License-Identifier: Apache-2.0
// Spool events as the policy's operations: the offline twin of the run-time
// gates (capture/policy_gate.cpp, the guards of capture/audit_events.cpp).
#include "tools/policy_spool.hpp"

#include <algorithm>
#include <array>
#include <fstream>
#include <map>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "config/error.hpp"
#include "policy/endpoint.hpp"
#include "policy/paths.hpp"
#include "tools/event_summary.hpp"

namespace bluepython::policy_tools {
namespace {

using json = nlohmann::json;
using policy::op;
using tools::field;
using tools::text;

std::string base_name_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// A port as the gates read it: a number, or a string of digits; -1 otherwise
// (a service name, none).
int port_of(const json& v) {
  if (v.is_number_integer()) {
    const auto p = v.get<long long>();
    return p >= 0 && p <= 65535 ? static_cast<int>(p) : -1;
  }
  const std::string t = v.is_string() ? v.get<std::string>() : std::string();
  if (t.empty() || t.size() > 5 || t.find_first_not_of("0123456789") != std::string::npos) return -1;
  const int p = std::stoi(t);
  return p <= 65535 ? p : -1;
}

// What one process has shown so far, for the events after it.
struct process_state {
  std::string cwd;  // sensor_startup.cwd; "" when its start was not read
  // Names looked up (host, port; -1: no port), most recent last.
  std::vector<std::pair<std::string, int>> resolved;
  std::map<std::string, std::string> definitions;  // tool -> latest definition digest
  std::set<std::string> registered;                // tools the server registered (not only listed)
};

class reader {
 public:
  explicit reader(spool_facts& out) : out_(out) {}

  void read(const spool_line& l) {
    ++out_.events;
    out_.files.insert(l.file);
    const json& event = field(l.line, "event");
    const std::string name = tools::name_of_line(l.line);
    const std::string uuid = text(field(field(event, "meta"), "uuid"));
    process_state& p = procs_[uuid];
    fact base;
    base.ts = text(field(l.line, "ts"));
    base.uuid = uuid;
    base.file = l.file;
    base.event = &event;
    const json& context = field(event, "context");
    const json& pid = field(field(context, "process"), "pid");
    if (pid.is_number_integer()) base.pid = pid.get<long long>();
    base.where = where_of(context);

    if (name == "sensor_startup") {
      startup(p, event);
    } else if (name == "python_file_open") {
      file_open(p, base, event);
    } else if (name == "python_file_change") {
      file_change(p, base, event);
    } else if (name == "python_process_spawn") {
      spawn(base, event);
    } else if (name == "python_net_connect" || name == "python_net_bind" || name == "python_net_resolve") {
      network(p, base, name, event);
    } else if (name == "python_code_dynamic" || name == "python_code_native_load") {
      code(p, base, name, event);
    } else if (name == "python_mcp_event") {
      request(p, base, event);
    } else if (name == "python_mcp_server_add") {
      definition(p, base, event);
    } else if (name == "python_import") {
      import(base, event);
    } else if (name == "python_policy_violation") {
      base.what = fact::kind::recorded_violation;
      base.subject = field(event, "subject");
      out_.facts.push_back(std::move(base));
    }
  }

 private:
  spool_facts& out_;
  std::map<std::string, process_state> procs_;  // by sensor uuid

  static call_where where_of(const json& context) {
    call_where w;
    const json& mcp = field(context, "mcp");
    w.in_call = text(field(context, "scope")) == "call" || mcp.is_object();
    if (!w.in_call) return w;
    w.server = text(field(mcp, "server_name"));
    w.method = text(field(mcp, "method"));
    if (w.method == "tools/call") w.tool = text(field(mcp, "target"));
    w.session_id = text(field(mcp, "session_id"));
    w.call_id = text(field(mcp, "call_id"));
    return w;
  }

  void startup(process_state& p, const json& event) {
    p.cwd = text(field(event, "cwd"));
    const json& on = field(event, "categories");
    if (!on.is_array()) return;
    for (const char* c : {"imports", "mcp", "process", "files", "network", "code"}) {
      if (std::find(on.begin(), on.end(), json(c)) == on.end()) out_.categories_off.insert(c);
    }
  }

  // A recorded path as the policy matches it: absolute, `.` and `..` applied
  // by text. A relative path of a process whose start was not read stays as
  // it is (no allow pattern matches it; suggest says so).
  std::string absolute(const process_state& p, const std::string& given) {
    if (given.starts_with('/')) return policy::normalize_path(given);
    if (p.cwd.empty()) {
      out_.notes.push_back(fmt::format("relative path {} in a process whose start-up (and so its directory) is not in the spool", given));
      return given;
    }
    return policy::normalize_path(p.cwd + "/" + given);
  }

  void add_path(const process_state& p, const fact& base, op o, const json& path, const std::string& via) {
    if (!path.is_string() || path.get_ref<const std::string&>().empty()) return;
    fact f = base;
    f.what = fact::kind::operation;
    f.op = o;
    const std::string& given = path.get_ref<const std::string&>();
    f.text = absolute(p, given);
    f.subject = {{"kind", "files"}, {"op", policy::op_name(o)}, {"path", f.text}, {"via", via}};
    if (f.text != given) f.subject["given"] = given;
    out_.facts.push_back(std::move(f));
  }

  void file_open(const process_state& p, const fact& base, const json& event) {
    const std::string access = text(field(event, "access"));
    const std::string via = text(field(event, "via"));
    const json& path = field(event, "path");
    if (access != "write") add_path(p, base, op::read, path, via);
    if (access != "read") add_path(p, base, op::write, path, via);
    if (field(event, "create") == true) add_path(p, base, op::create, path, via);
  }

  void file_change(const process_state& p, const fact& base, const json& event) {
    const std::string change = text(field(event, "op"));
    const std::string via = text(field(event, "via"));
    const json& path = field(event, "path");
    const json& target = field(event, "target");
    if (change == "remove" || change == "rmdir" || change == "rmtree") {
      add_path(p, base, op::remove, path, via);
    } else if (change == "mkdir" || change == "mkstemp" || change == "mkdtemp" || change == "link" ||
               change == "symlink") {
      add_path(p, base, op::create, path, via);
    } else if (change == "rename" || change == "move") {
      add_path(p, base, op::remove, path, via);
      add_path(p, base, op::write, target, via);
    } else if (change == "chmod" || change == "chown" || change == "truncate" || change == "make_archive") {
      add_path(p, base, op::write, path, via);
    } else if (change == "copy" || change == "copytree" || change == "unpack_archive") {
      add_path(p, base, op::write, path, via);
      add_path(p, base, op::read, target, via);
    }
  }

  void spawn(const fact& base, const json& event) {
    const json& argv = field(event, "argv");
    fact f = base;
    f.what = fact::kind::operation;
    f.op = op::spawn;
    if (argv.is_array()) {
      for (std::size_t i = 0; i < argv.size(); ++i) {
        if (i == 0) {
          f.name = text(argv[i]);
          continue;
        }
        if (i > 1) f.args += ' ';
        f.args += text(argv[i]);
      }
    }
    f.text = text(field(event, "executable"));
    if (f.text.empty()) f.text = f.name;
    if (f.text.empty()) return;
    f.subject = {{"kind", "process"}, {"op", "spawn"},        {"executable", f.text},
                 {"argv0", f.name},   {"args", f.args},      {"via", text(field(event, "via"))}};
    out_.facts.push_back(std::move(f));
  }

  void network(process_state& p, const fact& base, const std::string& name, const json& event) {
    const std::string host = text(field(event, "host"));
    if (host.empty()) return;  // a Unix socket (address), or nothing to match
    fact f = base;
    f.what = fact::kind::operation;
    f.op = name == "python_net_connect" ? op::connect : name == "python_net_bind" ? op::bind : op::resolve;
    f.text = host;
    f.port = port_of(field(event, "port"));
    if (f.op == op::resolve) {
      if (!policy::parse_ip(host)) {
        p.resolved.emplace_back(host, f.port);
        if (p.resolved.size() > 4096) p.resolved.erase(p.resolved.begin());
      }
    } else if (policy::parse_ip(host)) {
      // At run time the gate knows which names the address came from; the
      // spool only says which names were looked up before: those on the
      // same port (or on none), most recent first.
      for (auto it = p.resolved.rbegin(); it != p.resolved.rend() && f.aliases.size() < 16; ++it) {
        if ((it->second < 0 || it->second == f.port) &&
            std::find(f.aliases.begin(), f.aliases.end(), it->first) == f.aliases.end()) {
          f.aliases.push_back(it->first);
        }
      }
    }
    f.subject = {{"kind", "network"}, {"op", policy::op_name(f.op)}, {"host", host}, {"via", text(field(event, "via"))}};
    if (f.port >= 0) f.subject["port"] = std::to_string(f.port);
    if (!f.aliases.empty()) f.subject["names"] = f.aliases.front();
    out_.facts.push_back(std::move(f));
  }

  void code(const process_state& p, const fact& base, const std::string& name, const json& event) {
    const std::string via = text(field(event, "via"));
    fact f = base;
    f.what = fact::kind::operation;
    const char* key = "file";
    if (name == "python_code_native_load") {
      // dlsym looks a symbol up in a library loaded (and checked) before;
      // dlopen(None) is the program itself: no file is loaded.
      if (via == "ctypes.dlsym" || !field(event, "library").is_string()) return;
      f.op = op::native;
      f.text = text(field(event, "library"));
      if (f.text.find('/') != std::string::npos) f.text = absolute(p, f.text);
      key = "library";
    } else if (via == "pickle.find_class") {
      f.op = op::unpickle;
      f.name = text(field(event, "module"));
      f.text = f.name + "." + text(field(event, "name"));
      key = "class";
    } else if (via == "marshal.loads") {
      f.op = op::dynamic;
      f.text = via;
    } else {
      f.op = op::dynamic;
      f.text = text(field(event, "filename"));
    }
    if (f.text.empty()) return;
    f.subject = {{"kind", "code"}, {"op", policy::op_name(f.op)}, {key, f.text}, {"via", via}};
    out_.facts.push_back(std::move(f));
  }

  void request(process_state& p, const fact& base, const json& event) {
    const std::string kind = text(field(event, "event"));
    if (kind == "server_send_response" && text(field(event, "request_method")) == "tools/list") {
      listed(p, base, event);
      return;
    }
    if (kind != "server_received_request") return;
    const json& message = field(event, "message");
    std::string method = text(field(event, "method"));
    if (method.empty()) method = text(field(message, "method"));
    if (method != "tools/call") return;
    const json& params = field(message, "params");
    fact f = base;
    f.what = fact::kind::tool_call;
    f.op = op::call;
    f.text = text(field(params, "name"));
    f.arguments = field(params, "arguments");
    if (const auto it = p.definitions.find(f.text); it != p.definitions.end()) f.digest = it->second;
    // The call is checked inside its handler: in the call, whatever the
    // request event's own context says.
    f.where.in_call = true;
    f.where.server = text(field(event, "server_name"));
    f.where.tool = f.text;
    f.where.method = method;
    f.where.session_id = text(field(event, "session_id"));
    f.subject = {{"kind", "tools"}, {"op", "call"}, {"tool", f.text}};
    out_.facts.push_back(std::move(f));
  }

  // A tools/list answer the server sent: the definitions of tools it never
  // registered (a low-level Server's), as the run-time pin check takes them.
  void listed(process_state& p, const fact& base, const json& event) {
    const json& tools = field(field(field(event, "message"), "result"), "tools");
    if (!tools.is_array()) return;
    for (const json& tool : tools) {
      const json& name = field(tool, "name");
      if (!name.is_string() || p.registered.count(name.get<std::string>()) != 0) continue;
      fact f = base;
      f.what = fact::kind::definition;
      f.text = name.get<std::string>();
      f.digest = policy::definition_digest(name, field(tool, "description"), field(tool, "inputSchema"));
      f.where.server = text(field(event, "server_name"));
      if (const auto it = p.definitions.find(f.text); it != p.definitions.end() && it->second == f.digest) continue;
      p.definitions[f.text] = f.digest;
      out_.facts.push_back(std::move(f));
    }
  }

  void definition(process_state& p, const fact& base, const json& event) {
    const json& element = field(event, "element");
    if (text(field(element, "type")) != "tool" || !field(element, "name").is_string()) return;
    fact f = base;
    f.what = fact::kind::definition;
    f.text = text(field(element, "name"));
    f.digest = policy::definition_digest(field(element, "name"), field(element, "description"), field(element, "parameters"));
    f.where.server = text(field(event, "server_name"));
    p.definitions[f.text] = f.digest;
    p.registered.insert(f.text);
    out_.facts.push_back(std::move(f));
  }

  void import(const fact& base, const json& event) {
    fact f = base;
    f.what = fact::kind::import;
    f.text = text(field(event, "fullname"));
    if (f.text.empty()) return;
    f.has_file = field(event, "file").is_string();
    f.name = text(field(event, "kind"));
    if (field(event, "sha256").is_string()) f.digest = field(event, "sha256").get<std::string>();
    f.subject = {{"kind", "imports"}, {"op", "import"}, {"module", f.text}};
    if (f.has_file) f.subject["file"] = field(event, "file");
    if (!f.digest.empty()) f.subject["sha256"] = f.digest;
    out_.facts.push_back(std::move(f));
  }
};

}  // namespace

std::vector<spool_line> read_spool(const std::vector<std::string>& paths, const std::string& default_dir,
                                   std::string_view command) {
  std::vector<spool_line> lines;
  for (const auto& f : tools::spool_files_of(paths, default_dir, command)) {
    std::ifstream in(f);
    if (!in) throw launcher_error::usage(fmt::format("bluepython {}: cannot read {}", command, f));
    const std::string file = base_name_of(f);
    std::string line;
    while (std::getline(in, line)) {
      json doc = json::parse(line, nullptr, false);
      if (doc.is_object()) lines.push_back({std::move(doc), file});
    }
  }
  std::stable_sort(lines.begin(), lines.end(), [](const spool_line& a, const spool_line& b) {
    return text(field(a.line, "ts")) < text(field(b.line, "ts"));
  });
  return lines;
}

spool_facts facts_of(const std::vector<spool_line>& lines) {
  spool_facts out;
  reader r(out);
  for (const auto& l : lines) r.read(l);
  std::sort(out.notes.begin(), out.notes.end());
  out.notes.erase(std::unique(out.notes.begin(), out.notes.end()), out.notes.end());
  return out;
}

policy::operation fact::as_operation() const noexcept {
  policy::operation o;
  o.what = op;
  o.text = text;
  o.name = name;
  o.args = args;
  o.port = port;
  o.aliases = aliases;
  return o;
}

policy::call_scope fact::as_scope() const noexcept {
  return policy::call_scope{.in_call = where.in_call, .server = where.server, .tool = where.tool};
}

policy::argument_value value_at(const json& root, const std::vector<std::string>& tokens) {
  const json* cur = &root;
  for (const std::string& token : tokens) {
    if (cur->is_object()) {
      const auto it = cur->find(token);
      if (it == cur->end()) return {};
      cur = &*it;
    } else if (cur->is_array()) {
      if (token.empty() || token.size() > 9 || token.find_first_not_of("0123456789") != std::string::npos) return {};
      const auto at = std::stoul(token);
      if (at >= cur->size()) return {};
      cur = &(*cur)[at];
    } else {
      return {};
    }
  }
  policy::argument_value out;
  if (cur->is_string()) {
    out.kind = policy::argument_value::string;
    out.text = cur->get<std::string>();
  } else if (cur->is_boolean()) {
    out.kind = policy::argument_value::boolean;
    out.text = cur->get<bool>() ? "true" : "false";
  } else if (cur->is_number()) {
    out.kind = policy::argument_value::number;
    out.numeric = cur->get<double>();
    out.text = cur->dump();
  } else if (cur->is_null()) {
    out.kind = policy::argument_value::null;
  } else {
    out.kind = policy::argument_value::other;
    out.text = cur->dump(-1, ' ', false, json::error_handler_t::replace);
  }
  return out;
}

std::string_view category_of(policy::subject s) noexcept {
  constexpr std::array<std::string_view, policy::subject_count> names = {"mcp", "process", "files", "network", "code"};
  return names[static_cast<std::size_t>(s)];
}

}  // namespace bluepython::policy_tools
