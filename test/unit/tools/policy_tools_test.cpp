// SPDX-License-Identifier: Apache-2.0
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "config/error.hpp"
#include "policy/policy.hpp"
#include "spool_dir.hpp"
#include "tools/policy_check.hpp"
#include "tools/policy_spool.hpp"
#include "tools/policy_suggest.hpp"

using namespace bluepython;
using namespace bluepython::policy_tools;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A spool directory of its own, removed at the end of the test.
struct spool_dir : testing::spool_dir {
  spool_dir() : testing::spool_dir("bp_policy_tools") {}
};

constexpr const char* kServer = "aaaa-1111";
constexpr const char* kChild = "bbbb-2222";
int g_seq = 0;

json line(const std::string& uuid, long long pid, const std::string& name, json fields = json::object(),
          json context = json::object()) {
  context["process"] = {{"pid", pid}};
  fields["meta"] = {{"name", name}, {"uuid", uuid}};
  fields["context"] = context;
  return {{"ts", fmt::format("2025-01-01T00:00:{:02}.{:06}Z", g_seq / 1000, g_seq % 1000)}, {"event", fields}};
}

json in_call(const std::string& tool, int id) {
  return {{"scope", "call"},
          {"mcp",
           {{"call_id", fmt::format("{}:{}", kServer, id)}, {"session_id", "s-1"}, {"request_id", id},
            {"method", "tools/call"}, {"target", tool}, {"server_name", "files"}}}};
}

json outside() { return {{"scope", "startup"}}; }

json next(const std::string& uuid, long long pid, const std::string& name, json fields, json context) {
  ++g_seq;
  return line(uuid, pid, name, std::move(fields), std::move(context));
}

const json kSchema = {{"type", "object"}, {"properties", {{"path", {{"type", "string"}}}}}};

// A server (cwd /srv/app) that registers two tools, reads its config at
// start-up, then: `touch` writes two files and makes a directory, `run`
// spawns git and connects to the address api.example.com resolved to; a
// child process (spawned) writes a log. Imports: a source module, a builtin.
std::vector<json> server_lines() {
  g_seq = 0;
  std::vector<json> out;
  out.push_back(next(kServer, 10, "sensor_startup",
                     {{"cwd", "/srv/app"}, {"categories", {"imports", "mcp", "process", "files", "network", "code"}}},
                     outside()));
  out.push_back(next(kServer, 10, "python_import",
                     {{"fullname", "mymod"}, {"kind", "source"}, {"file", "/srv/app/mymod.py"}, {"sha256", std::string(64, 'a')}},
                     outside()));
  out.push_back(next(kServer, 10, "python_import", {{"fullname", "_io"}, {"kind", "builtin"}, {"file", nullptr}, {"sha256", nullptr}},
                     outside()));
  for (const char* tool : {"touch", "run"}) {
    out.push_back(next(kServer, 10, "python_mcp_server_add",
                       {{"element", {{"type", "tool"}, {"name", tool}, {"title", nullptr}, {"description", "does it"},
                                     {"parameters", kSchema}}},
                        {"server_name", "files"}},
                       outside()));
  }
  out.push_back(next(kServer, 10, "python_file_open",
                     {{"via", "open"}, {"path", "conf/app.toml"}, {"access", "read"}, {"create", false}}, outside()));
  auto request = [&](const std::string& tool, int id, json arguments) {
    out.push_back(next(kServer, 10, "python_mcp_event",
                       {{"event", "server_received_request"},
                        {"id", id},
                        {"method", "tools/call"},
                        {"server_name", "files"},
                        {"session_id", "s-1"},
                        {"message", {{"method", "tools/call"}, {"params", {{"name", tool}, {"arguments", arguments}}}}}},
                       {{"scope", "background"}}));
  };
  request("touch", 1, {{"path", "/data/out/a.txt"}});
  out.push_back(next(kServer, 10, "python_file_open",
                     {{"via", "open"}, {"path", "/data/out/a.txt"}, {"access", "write"}, {"create", true}}, in_call("touch", 1)));
  out.push_back(next(kServer, 10, "python_file_change",
                     {{"via", "os.rename"}, {"op", "rename"}, {"path", "/data/out/a.txt"}, {"target", "/data/done/a.txt"}},
                     in_call("touch", 1)));
  out.push_back(next(kServer, 10, "python_file_change", {{"via", "os.mkdir"}, {"op", "mkdir"}, {"path", "/data/out/sub"}},
                     in_call("touch", 1)));
  request("run", 2, {{"path", "x"}});
  out.push_back(next(kServer, 10, "python_process_spawn",
                     {{"via", "subprocess.Popen"}, {"executable", "git"}, {"argv", {"git", "status"}}}, in_call("run", 2)));
  out.push_back(next(kServer, 10, "python_net_resolve", {{"via", "socket.getaddrinfo"}, {"host", "api.example.com"}, {"port", 443}},
                     in_call("run", 2)));
  out.push_back(next(kServer, 10, "python_net_connect",
                     {{"via", "socket.connect"}, {"family", "inet"}, {"host", "93.184.216.34"}, {"port", 443}},
                     in_call("run", 2)));
  out.push_back(next(kChild, 11, "sensor_startup", {{"cwd", "/srv/app"}}, outside()));
  out.push_back(next(kChild, 11, "python_file_open",
                     {{"via", "open"}, {"path", "/var/log/app/child.log"}, {"access", "write"}, {"create", false}}, outside()));
  return out;
}

spool_facts facts_from(const spool_dir& dir, std::vector<spool_line>& storage) {
  storage = read_spool({dir.path.string()}, "", "check");
  return facts_of(storage);
}

check_result check_with(const json& policy_doc, const spool_dir& dir) {
  const auto compiled = policy::compile(policy_doc, "/home/u");
  std::vector<spool_line> lines;
  const spool_facts facts = facts_from(dir, lines);
  return check(compiled, facts);
}

json suggested(const spool_dir& dir) {
  std::vector<spool_line> lines;
  const spool_facts facts = facts_from(dir, lines);
  std::vector<std::string> notes;
  return suggest(facts, notes);
}

const json* rule_named(const json& doc, const std::string& id) {
  for (const auto& r : doc["rules"]) {
    if (r["id"] == id) return &r;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("path prefixes: a parent directory each, siblings collapse, nested ones drop", "[tools][policy]") {
  CHECK(path_patterns({"/data/out/a.txt", "/data/out/b.txt", "/data/done/a.txt"}) ==
        std::vector<std::string>{"/data/done/**", "/data/out/**"});
  // Four sibling directories under /home/u/proj (two levels deep) become it.
  CHECK(path_patterns({"/home/u/proj/a/1", "/home/u/proj/b/1", "/home/u/proj/c/1", "/home/u/proj/d/1", "/etc/hosts"}) ==
        std::vector<std::string>{"/etc/**", "/home/u/proj/**"});
  // ... but never into a directory one level deep.
  CHECK(path_patterns({"/tmp/a/1", "/tmp/b/1", "/tmp/c/1", "/tmp/d/1"}).size() == 4);
  // A directory inside another listed one is dropped; a file under / is itself.
  CHECK(path_patterns({"/a/b/c/d.txt", "/a/b/e.txt", "/f.txt"}) == std::vector<std::string>{"/a/b/**", "/f.txt"});
  CHECK(path_patterns({"/x/we*ird[1]/f"}) == std::vector<std::string>{"/x/we\\*ird\\[1]/**"});
  CHECK(escape_glob("a?b\\c") == "a\\?b\\\\c");
}

TEST_CASE("events become the operations the run-time gates decide on", "[tools][policy]") {
  spool_dir dir;
  dir.write("python-bluepython-10-1-0.ndjson", server_lines());
  std::vector<spool_line> lines;
  const spool_facts facts = facts_from(dir, lines);
  CHECK(facts.events == server_lines().size());
  std::vector<std::string> ops;
  for (const auto& f : facts.facts) {
    if (f.what == fact::kind::operation) ops.push_back(fmt::format("{} {}", policy::op_name(f.op), f.text));
  }
  CHECK(ops == std::vector<std::string>{"read /srv/app/conf/app.toml", "write /data/out/a.txt", "create /data/out/a.txt",
                                        "delete /data/out/a.txt", "write /data/done/a.txt", "create /data/out/sub",
                                        "spawn git", "resolve api.example.com", "connect 93.184.216.34",
                                        "write /var/log/app/child.log"});
  const auto connect = std::find_if(facts.facts.begin(), facts.facts.end(),
                                    [](const fact& f) { return f.what == fact::kind::operation && f.op == policy::op::connect; });
  CHECK(connect->aliases == std::vector<std::string>{"api.example.com"});
  CHECK(connect->where.tool == "run");
  CHECK(connect->where.server == "files");
  const auto call = std::find_if(facts.facts.begin(), facts.facts.end(), [](const fact& f) { return f.what == fact::kind::tool_call; });
  CHECK(call->text == "touch");
  CHECK(call->digest == policy::definition_digest("touch", "does it", kSchema));
}

TEST_CASE("a suggested policy passes check on its spool and catches what was not seen", "[tools][policy]") {
  spool_dir dir;
  dir.write("python-bluepython-10-1-0.ndjson", server_lines());
  const json doc = suggested(dir);
  REQUIRE_NOTHROW(policy::compile(doc, "/home/u"));
  // Deterministic: the same spool, the same document.
  CHECK(suggested(dir) == doc);

  const json* touch_files = rule_named(doc, "files:tool:files/touch");
  REQUIRE(touch_files != nullptr);
  CHECK((*touch_files)["scope"] == json{{"server", "files"}, {"tool", "touch"}});
  CHECK((*touch_files)["files"]["allow"]["write"] == json{"/data/done/**", "/data/out/**"});
  CHECK((*touch_files)["files"]["allow"]["create"] == json{"/data/out/**"});
  CHECK((*touch_files)["files"]["allow"]["read"] == json::array());
  CHECK((*touch_files)["why"].get<std::string>().find("in 1 call of tool touch of server files") != std::string::npos);
  const json* outside_files = rule_named(doc, "files:outside-calls");
  REQUIRE(outside_files != nullptr);
  CHECK((*outside_files)["files"]["allow"]["read"] == json{"/srv/app/conf/**"});
  CHECK((*outside_files)["files"]["allow"]["write"] == json{"/var/log/app/**"});
  CHECK((*rule_named(doc, "process:tool:files/run"))["process"]["allow"]["spawn"] == json{"git"});
  CHECK((*rule_named(doc, "network:tool:files/run"))["network"]["allow"]["connect"] == json{"api.example.com:443"});
  CHECK((*rule_named(doc, "tools"))["tools"]["allow"]["call"] == json{"run", "touch"});
  CHECK((*rule_named(doc, "network:default"))["network"]["allow"]["connect"] == json::array());
  CHECK(doc["imports"]["lock"] == json{{"_io", "builtin"}, {"mymod", std::string(64, 'a')}});
  CHECK(doc["tool_pins"]["pins"]["run"] == policy::definition_digest("run", "does it", kSchema));

  const check_result clean = check_with(doc, dir);
  CHECK(clean.clean());
  CHECK(clean.operations_checked > 10);

  SECTION("a spawn nobody asked for") {
    ++g_seq;
    dir.write("python-bluepython-10-1-0.ndjson",
              {line(kServer, 10, "python_process_spawn",
                    {{"via", "subprocess.Popen"}, {"executable", "/usr/bin/curl"}, {"argv", {"curl", "http://x"}}},
                    in_call("touch", 1))},
              true);
    const check_result r = check_with(doc, dir);
    REQUIRE(r.violations.size() == 1);
    const json& v = r.violations[0];
    CHECK(v["rule"] == "process:default");
    CHECK(v["subject"]["executable"] == "/usr/bin/curl");
    CHECK(v["call"]["tool"] == "touch");
    CHECK(v["source"] == "spool");
    CHECK(render_text(r).find("/usr/bin/curl http://x in tool touch of files") != std::string::npos);
    CHECK(to_json(r)["clean"] == false);
  }
  SECTION("a write outside the prefixes, a tool not seen, a changed module and a changed tool") {
    ++g_seq;
    dir.write("python-bluepython-10-1-0.ndjson",
              {line(kServer, 10, "python_file_open",
                    {{"via", "open"}, {"path", "/home/u/.ssh/id_rsa"}, {"access", "read"}, {"create", false}},
                    in_call("touch", 1))},
              true);
    ++g_seq;
    dir.write("python-bluepython-12-1-0.ndjson",
              {line("cccc", 12, "python_import",
                    {{"fullname", "mymod"}, {"kind", "source"}, {"file", "/srv/app/mymod.py"}, {"sha256", std::string(64, 'b')}},
                    outside()),
               next("cccc", 12, "python_mcp_server_add",
                    {{"element", {{"type", "tool"}, {"name", "run"}, {"description", "does more"}, {"parameters", kSchema}}}},
                    outside()),
               next("cccc", 12, "python_mcp_event",
                    {{"event", "server_received_request"},
                     {"method", "tools/call"},
                     {"server_name", "files"},
                     {"message", {{"params", {{"name", "run"}}}}}},
                    outside()),
               next("cccc", 12, "python_mcp_event",
                    {{"event", "server_received_request"},
                     {"method", "tools/call"},
                     {"server_name", "files"},
                     {"message", {{"params", {{"name", "erase"}}}}}},
                    outside())});
    const check_result r = check_with(doc, dir);
    std::vector<std::string> rules;
    for (const auto& v : r.violations) rules.push_back(v["rule"]);
    CHECK(rules == std::vector<std::string>{"files:tool:files/touch", "imports.lock", "tool_pins", "tools"});
    CHECK(r.violations[2]["subject"]["definition"] == policy::definition_digest("run", "does more", kSchema));
  }
}

TEST_CASE("check: argument rules, recorded violations and bad input", "[tools][policy]") {
  spool_dir dir;
  dir.write("python-bluepython-10-1-0.ndjson", server_lines());
  const json doc = {{"version", 1},
                    {"rules",
                     {{{"id", "paths-in-data"},
                       {"why", "touch works in /data"},
                       {"scope", {{"tool", "touch"}}},
                       {"tools", {{"arguments", {{{"pointer", "/path"}, {"pattern", "/data/**"}}}}}}},
                      {{"id", "no-git"}, {"process", {{"deny", {{"spawn", {"git"}}}}}}}}}};
  check_result r = check_with(doc, dir);
  REQUIRE(r.violations.size() == 1);
  CHECK(r.violations[0]["rule"] == "no-git");
  CHECK(r.violations[0]["reason"] == "spawn denied by rule no-git (git)");

  ++g_seq;
  dir.write("python-bluepython-10-1-0.ndjson",
            {line(kServer, 10, "python_mcp_event",
                  {{"event", "server_received_request"},
                   {"method", "tools/call"},
                   {"server_name", "files"},
                   {"message", {{"params", {{"name", "touch"}, {"arguments", {{"path", "/etc/passwd"}}}}}}}},
                  {{"scope", "background"}}),
             next(kServer, 10, "python_policy_violation",
                  {{"rule", "old"}, {"mode", "enforce"}, {"action", "denied"}, {"reason", "read not allowed by rule old"},
                   {"subject", {{"kind", "files"}, {"op", "read"}, {"path", "/etc/passwd"}}}},
                  in_call("touch", 9))},
            true);
  r = check_with(doc, dir);
  REQUIRE(r.violations.size() == 3);
  CHECK(r.violations[1]["rule"] == "paths-in-data");
  CHECK(r.violations[1]["why"] == "touch works in /data");
  CHECK(r.violations[2]["source"] == "run time");
  CHECK(r.violations[2]["action"] == "denied");
  CHECK(render_text(r).find("(at run time: denied)") != std::string::npos);

  check_options o;
  o.policy_file = (dir.path / "missing.json").string();
  o.paths = {dir.path.string()};
  try {
    (void)run_check(o);
    FAIL("no error");
  } catch (const launcher_error& e) {
    CHECK(e.exit_code() == 2);
  }
  std::ofstream(dir.path / "policy.json") << doc.dump();
  o.policy_file = (dir.path / "policy.json").string();
  o.paths = {(dir.path / "nothing").string()};
  try {
    (void)run_check(o);
    FAIL("no error");
  } catch (const launcher_error& e) {
    CHECK(e.exit_code() == 2);
    CHECK(std::string(e.what()).find("bluepython check: no file or directory") == 0);
  }
}

TEST_CASE("policy lock: the observed imports into a policy's document", "[tools][policy]") {
  spool_dir dir;
  std::vector<json> lines = server_lines();
  // The same module from two different files: not lockable to one hash.
  lines.push_back(next(kChild, 11, "python_import",
                       {{"fullname", "mymod"}, {"kind", "source"}, {"file", "/other/mymod.py"}, {"sha256", std::string(64, 'c')}},
                       outside()));
  dir.write("python-bluepython-10-1-0.ndjson", lines);
  std::vector<spool_line> storage;
  const spool_facts facts = facts_from(dir, storage);
  std::vector<std::string> notes;
  const json base = {{"version", 1}, {"mode", "observe"}, {"imports", {{"mode", "kill"}, {"lock", {{"gone", "builtin"}}}}},
                     {"rules", {{{"id", "r"}, {"process", {{"deny", {{"spawn", {"sh"}}}}}}}}}};
  const json doc = lock(facts, base, notes);
  CHECK(doc["mode"] == "observe");
  CHECK(doc["rules"] == base["rules"]);
  CHECK(doc["imports"]["mode"] == "kill");
  CHECK(doc["imports"]["lock"] == json{{"_io", "builtin"}});
  CHECK(doc["imports"]["unlisted"] == json{"mymod"});
  REQUIRE(notes.size() == 1);
  CHECK(notes[0].find("module mymod was seen 2 different ways") == 0);
  REQUIRE_NOTHROW(policy::compile(doc, "/home/u"));
  CHECK(check(policy::compile(doc, "/home/u"), facts).clean());
}
