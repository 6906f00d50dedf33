// SPDX-License-Identifier: Apache-2.0
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "policy/endpoint.hpp"
#include "policy/glob.hpp"
#include "policy/paths.hpp"
#include "policy/policy.hpp"

using namespace bluepython::policy;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using json = nlohmann::json;

TEST_CASE("path globs: * stays in a directory, ** crosses", "[policy]") {
  const glob one("/srv/*.txt", glob_kind::path);
  CHECK(one.matches("/srv/a.txt"));
  CHECK_FALSE(one.matches("/srv/sub/a.txt"));
  const glob deep("/srv/**/*.txt", glob_kind::path);
  CHECK(deep.matches("/srv/sub/x/a.txt"));
  CHECK_FALSE(deep.matches("/srv/a.txt.bak"));
  const glob prefix("/srv/repo/**", glob_kind::path);
  CHECK(prefix.matches("/srv/repo/a/b"));
  CHECK_FALSE(prefix.matches("/srv/repository"));
  CHECK(glob("/a/[!b]c?", glob_kind::path).matches("/a/acd"));
  CHECK_FALSE(glob("/a/[!b]c?", glob_kind::path).matches("/a/bcd"));
  CHECK_FALSE(glob("/a/?", glob_kind::path).matches("/a//"));
  CHECK(glob("/a/\\*", glob_kind::path).matches("/a/*"));
  CHECK_FALSE(glob("/a/\\*", glob_kind::path).matches("/a/b"));
}

TEST_CASE("name globs: * crosses everything, case folding for hosts", "[policy]") {
  CHECK(glob("git_*", glob_kind::name).matches("git_log/x"));
  CHECK(glob("*.Example.com", glob_kind::name, true).matches("API.example.COM"));
  CHECK_FALSE(glob("*.example.com", glob_kind::name, true).matches("example.com"));
}

TEST_CASE("glob matching has no exponential case", "[policy]") {
  const glob g("*a*a*a*a*a*a*a*a*a*a*b", glob_kind::name);
  CHECK_FALSE(g.matches(std::string(5000, 'a')));
}

TEST_CASE("invalid globs are refused with a reason", "[policy]") {
  CHECK_THROWS_WITH(glob("/a/[bc", glob_kind::path), Contains("unterminated"));
  CHECK_THROWS_WITH(glob("abc\\", glob_kind::name), Contains("backslash"));
  CHECK_THROWS_WITH(glob("[z-a]", glob_kind::name), Contains("reversed"));
}

TEST_CASE("endpoints: names, ports, ranges, CIDR, IPv6, aliases", "[policy]") {
  const endpoint api("api.example.com:443");
  CHECK(api.matches("api.example.com", 443));
  CHECK_FALSE(api.matches("api.example.com", 80));
  CHECK(api.matches("api.example.com", -1));  // resolve without a service
  const std::vector<std::string> aliases = {"api.example.com"};
  CHECK(api.matches("93.184.216.34", 443, aliases));
  CHECK_FALSE(api.matches("93.184.216.34", 443));
  const endpoint net("10.0.0.0/8:1024-2048");
  CHECK(net.matches("10.1.2.3", 1500));
  CHECK_FALSE(net.matches("11.1.2.3", 1500));
  CHECK_FALSE(net.matches("10.1.2.3", 3000));
  CHECK(endpoint("127.0.0.1").matches("::ffff:127.0.0.1", 5));
  CHECK(endpoint("[::1]:8080").matches("::1", 8080));
  CHECK(endpoint("fd00::/8").matches("fd12::1", 1));
  CHECK_FALSE(endpoint("fd00::/8").matches("fe80::1", 1));
  CHECK(endpoint("*").matches("anything", 1));
  CHECK(endpoint("*:53").matches("8.8.8.8", 53));
  CHECK_THROWS(endpoint("host:99999"));
  CHECK_THROWS(endpoint("10.0.0.0/40"));
  CHECK_THROWS(endpoint("bad host!:1"));
  CHECK_THROWS(endpoint("[::1"));
}

TEST_CASE("paths resolve symlinks, .. and dangling links", "[policy]") {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("bp-policy-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "repo");
  fs::create_directories(root / "etc");
  fs::create_directory_symlink(root / "etc", root / "repo" / "escape");
  fs::create_symlink(root / "etc" / "new", root / "repo" / "dangling");
  const std::string real_root = fs::canonical(root).string();
  CHECK(resolve_path("escape/passwd", (root / "repo").string()) == real_root + "/etc/passwd");
  CHECK(resolve_path((root / "repo" / ".." / "etc" / "x").string(), "/") == real_root + "/etc/x");
  CHECK(resolve_path((root / "repo" / "dangling").string(), "/") == real_root + "/etc/new");
  CHECK(resolve_path((root / "repo" / "not" / "yet").string(), "/") == real_root + "/repo/not/yet");
  CHECK(normalize_path("/a//b/./c/../d") == "/a/b/d");
  CHECK(normalize_path("/../..") == "/");
  fs::remove_all(root);
}

namespace {

compiled_policy make(const char* text) { return compile(json::parse(text), "/home/u"); }

std::string compile_error(const char* text) {
  try {
    make(text);
  } catch (const policy_error& e) {
    return e.what();
  }
  return "(no error)";
}

operation file_op(op o, std::string_view path) {
  operation x;
  x.what = o;
  x.text = path;
  return x;
}

}  // namespace

TEST_CASE("files: allow lists per operation, deny wins, directories", "[policy]") {
  const auto p = make(R"({"version":1,"rules":[
    {"id":"repo","files":{"allow":{"read":["/srv/repo/**","/usr/**"],"write":["/srv/out/**"]},
                          "deny":{"read":["**/.env"]}}}]})");
  const call_scope none;
  CHECK_FALSE(p.check(file_op(op::read, "/srv/repo/a.py"), none));
  CHECK_FALSE(p.check(file_op(op::read, "/srv/repo"), none));
  const auto outside = p.check(file_op(op::read, "/etc/passwd"), none);
  REQUIRE(outside);
  CHECK(outside->rule_id == "repo");
  CHECK(outside->effective == mode::enforce);
  CHECK_THAT(outside->reason, Contains("not allowed by rule repo"));
  const auto secret = p.check(file_op(op::read, "/srv/repo/.env"), none);
  REQUIRE(secret);
  CHECK_THAT(secret->reason, Contains("denied by rule repo (**/.env)"));
  CHECK_FALSE(p.check(file_op(op::write, "/srv/out/x"), none));
  CHECK(p.check(file_op(op::write, "/srv/repo/x"), none));
  CHECK_FALSE(p.check(file_op(op::create, "/anywhere"), none));  // create is not limited
  CHECK(p.limits(op::read));
  CHECK_FALSE(p.limits(op::create));
}

TEST_CASE("file denials are found by path segment and named by the first rule that denies", "[policy]") {
  const auto p = make(R"({"version":1,"rules":[
    {"id":"keys","files":{"deny":{"read":["**/*.pem"]}}},
    {"id":"srv","files":{"deny":{"read":["/srv/**","/et*/x"]}}},
    {"id":"etc","files":{"deny":{"read":["/etc","/etc/shadow"],"write":["/tmp/locked/**"]}}},
    {"id":"tool-only","scope":{"tool":"t"},"files":{"deny":{"read":["/opt/**"]}}}]})");
  const call_scope none;
  auto denied_by = [&](op o, const char* path, const call_scope& where) {
    const auto v = p.check(file_op(o, path), where);
    return v ? v->rule_id : std::string("-");
  };
  CHECK(denied_by(op::read, "/srv/a.pem", none) == "keys");  // both deny: the first rule names it
  CHECK(denied_by(op::read, "/srv/a.txt", none) == "srv");
  CHECK(denied_by(op::read, "/srv", none) == "srv");  // DIR/** covers DIR itself
  CHECK(denied_by(op::read, "/etc/x", none) == "srv");  // "/et*" can match any first segment
  CHECK(denied_by(op::read, "/etc", none) == "etc");
  CHECK(denied_by(op::read, "/etc/shadow", none) == "etc");
  CHECK(denied_by(op::read, "/etc/passwd", none) == "-");
  CHECK(denied_by(op::read, "/", none) == "-");
  CHECK(denied_by(op::write, "/tmp/locked/a", none) == "etc");
  CHECK(denied_by(op::read, "/tmp/locked/a", none) == "-");
  CHECK(denied_by(op::read, "/opt/x", none) == "-");  // a tool's rule outside that tool
  call_scope in_t;
  in_t.in_call = true;
  in_t.tool = "t";
  CHECK(denied_by(op::read, "/opt/x", in_t) == "tool-only");
}

TEST_CASE("scopes: the most specific allow decides, denies accumulate", "[policy]") {
  const auto p = make(R"({"version":1,"mode":"observe","rules":[
    {"id":"none","process":{"allow":{"spawn":[]},"deny":{"spawn":["rm"]}}},
    {"id":"git-tool","scope":{"tool":"git_*"},"mode":"enforce","process":{"allow":{"spawn":["git",{"exe":"/usr/bin/ls","args":"-l *"}]}}},
    {"id":"startup","scope":{"outside_calls":true},"process":{"allow":{"spawn":["uname"]}}}]})");
  operation git;
  git.what = op::spawn;
  git.text = "/usr/bin/git";
  git.name = "git";
  const call_scope git_call{true, "srv", "git_log"};
  const call_scope other_call{true, "srv", "search"};
  const call_scope outside;
  CHECK_FALSE(p.check(git, git_call));
  const auto v = p.check(git, other_call);
  REQUIRE(v);
  CHECK(v->rule_id == "none");
  CHECK(v->effective == mode::observe);
  operation ls = git;
  ls.text = "/usr/bin/ls";
  ls.name = "ls";
  ls.args = "-l /tmp";
  CHECK_FALSE(p.check(ls, git_call));
  ls.args = "-la /tmp";
  const auto bad_args = p.check(ls, git_call);
  REQUIRE(bad_args);
  CHECK(bad_args->effective == mode::enforce);
  operation rm = git;
  rm.text = "/usr/bin/rm";
  rm.name = "rm";
  CHECK(p.check(rm, git_call));  // the process-wide deny holds inside the tool too
  operation uname = git;
  uname.text = "/usr/bin/uname";
  uname.name = "uname";
  CHECK_FALSE(p.check(uname, outside));
  CHECK(p.check(uname, git_call));
}

TEST_CASE("network, code and tools operations", "[policy]") {
  const auto p = make(R"({"version":1,"rules":[
    {"id":"net","network":{"allow":{"connect":["api.example.com:443","127.0.0.0/8:*"],"resolve":["api.example.com"]}}},
    {"id":"code","code":{"allow":{"dynamic":[],"unpickle":["collections.*"],"native":["libm.so*"]}}},
    {"id":"tools","scope":{"server":"files-*"},"tools":{"allow":{"call":["read_*"]},"deny":{"call":["read_secret"]},
      "arguments":[{"pointer":"/path","pattern":"/srv/*"},{"pointer":"/n","min":1,"max":10},
                   {"pointer":"/mode","enum":["fast","slow"]},{"pointer":"/a~1b","required":true}]}}]})");
  operation c;
  c.what = op::connect;
  c.text = "10.0.0.1";
  c.port = 443;
  const call_scope none;
  CHECK(p.check(c, none));
  c.text = "127.0.0.1";
  c.port = 8000;
  CHECK_FALSE(p.check(c, none));
  operation r;
  r.what = op::resolve;
  r.text = "evil.example.org";
  CHECK(p.check(r, none));
  operation u;
  u.what = op::unpickle;
  u.text = "os.system";
  u.name = "os";
  CHECK(p.check(u, none));
  u.text = "collections.OrderedDict";
  u.name = "collections";
  CHECK_FALSE(p.check(u, none));
  operation d;
  d.what = op::dynamic;
  d.text = "<string>";
  CHECK(p.check(d, none));
  operation n;
  n.what = op::native;
  n.text = "/usr/lib/x86_64-linux-gnu/libm.so.6";
  CHECK_FALSE(p.check(n, none));
  operation t;
  t.what = op::call;
  t.text = "read_secret";
  const call_scope files_call{true, "files-1", "read_secret"};
  CHECK(p.check(t, files_call));
  t.text = "write_file";
  CHECK(p.check(t, files_call));
  t.text = "read_file";
  CHECK_FALSE(p.check(t, files_call));
  CHECK_FALSE(p.check(t, call_scope{true, "other", "x"}));  // the rule is about files-* servers
  CHECK(p.checks_calls());
  auto lookup = [](const std::map<std::string, argument_value>& args) {
    return [&args](const std::vector<std::string>& tokens) {
      std::string key;
      for (const auto& token : tokens) key += "/" + token;
      const auto it = args.find(key);
      return it == args.end() ? argument_value{} : it->second;
    };
  };
  std::map<std::string, argument_value> good = {
      {"/path", {argument_value::string, "/srv/x", 0}}, {"/n", {argument_value::number, "5", 5}},
      {"/mode", {argument_value::string, "fast", 0}}, {"/a/b", {argument_value::boolean, "true", 0}}};
  CHECK_FALSE(p.check_arguments(files_call, lookup(good)));
  auto bad = good;
  bad["/path"] = {argument_value::string, "/etc/passwd", 0};
  const auto v = p.check_arguments(files_call, lookup(bad));
  REQUIRE(v);
  CHECK_THAT(v->reason, Contains("argument /path does not match /srv/*"));
  bad = good;
  bad["/n"] = {argument_value::number, "11", 11};
  CHECK(p.check_arguments(files_call, lookup(bad)));
  bad = good;
  bad["/mode"] = {argument_value::string, "other", 0};
  CHECK(p.check_arguments(files_call, lookup(bad)));
  bad = good;
  bad.erase("/a/b");
  CHECK_THAT(p.check_arguments(files_call, lookup(bad))->reason, Contains("/a~1b is missing"));
}

TEST_CASE("import lock and tool pins", "[policy]") {
  const std::string a(64, 'a');
  const std::string b(64, 'b');
  const auto p = compile(json{{"version", 1},
                              {"imports", {{"mode", "observe"}, {"lock", {{"json", a}, {"sys", "builtin"}}},
                                           {"unlisted", {"encodings.*"}}}},
                              {"tool_pins", {{"pins", {{"search", b}}}}}},
                         "/");
  CHECK_FALSE(p.check_import("json", a));
  CHECK_FALSE(p.check_import("sys", ""));
  CHECK_FALSE(p.check_import("encodings.utf_8", b));
  const auto changed = p.check_import("json", b);
  REQUIRE(changed);
  CHECK(changed->effective == mode::observe);
  CHECK_THAT(changed->reason, Contains("changed on disk"));
  CHECK_THAT(p.check_import("requests", a)->reason, Contains("not in the import lock"));
  CHECK_FALSE(p.check_tool_pin("search", b));
  CHECK_THAT(p.check_tool_pin("search", a)->reason, Contains("changed since it was pinned"));
  CHECK_THAT(p.check_tool_pin("other", b)->reason, Contains("not pinned"));
  CHECK(p.check_tool_pin("search", "")->effective == mode::enforce);
}

TEST_CASE("a global mode override applies to every rule", "[policy]") {
  auto p = make(R"({"version":1,"rules":[{"id":"r","mode":"kill","files":{"allow":{"read":[]}}}]})");
  CHECK(p.check(file_op(op::read, "/x"), {})->effective == mode::kill);
  p.override_mode(mode::observe);
  CHECK(p.check(file_op(op::read, "/x"), {})->effective == mode::observe);
}

TEST_CASE("bad policies name the key and the problem", "[policy]") {
  CHECK_THAT(compile_error(R"({"rules":[]})"), Contains("key \"version\": is required"));
  CHECK_THAT(compile_error(R"({"version":2})"), Contains("must be 1"));
  CHECK_THAT(compile_error(R"({"version":1,"extra":1})"), Contains("key \"extra\": unknown key"));
  CHECK_THAT(compile_error(R"({"version":1,"mode":"block"})"), Contains("one of observe, enforce, kill"));
  CHECK_THAT(compile_error(R"({"version":1,"rules":[{"files":{"allow":{"read":["/a/[b"]}}}]})"),
             Contains("key \"rules[0].files.allow.read[0]\": invalid pattern \"/a/[b\": unterminated"));
  CHECK_THAT(compile_error(R"({"version":1,"rules":[{"files":{"allow":{"read":["relative/x"]}}}]})"),
             Contains("must be absolute"));
  CHECK_THAT(compile_error(R"({"version":1,"rules":[{"files":{"allow":{"spawn":[]}}}]})"),
             Contains("unknown operation for files (one of: read, write, create, delete)"));
  CHECK_THAT(compile_error(R"({"version":1,"rules":[{"id":"a","files":{}},{"id":"a","files":{}}]})"),
             Contains("used twice"));
  CHECK_THAT(compile_error(R"({"version":1,"rules":[{"files":{},"network":{}}]})"), Contains("one subject"));
  CHECK_THAT(compile_error(R"({"version":1,"rules":[{"id":"x"}]})"), Contains("names no subject"));
  CHECK_THAT(compile_error(R"({"version":1,"rules":[{"network":{"allow":{"connect":["a:b"]}}}]})"),
             Contains("invalid endpoint"));
  CHECK_THAT(compile_error(R"({"version":1,"rules":[{"tools":{"arguments":[{"pointer":"x","min":1}]}}]})"),
             Contains("must start with /"));
  CHECK_THAT(compile_error(R"({"version":1,"imports":{"lock":{"json":"abc"}}})"), Contains("SHA-256"));
  CHECK_THAT(compile_error(R"({"version":1,"rules":[{"scope":{"outside_calls":true,"tool":"x"},"files":{}}]})"),
             Contains("cannot be combined"));
  CHECK_THAT(compile_error(R"([1])"), Contains("a policy is an object"));
  // Found by the fuzzer: the empty key, and control characters in a key or a
  // quoted id, still give a one-line error that names the key.
  CHECK(compile_error(R"({"version":1,"":[]})") == "key \"\": unknown key (a policy has version, mode, description, rules, imports, tool_pins)");
  CHECK_THAT(compile_error(R"({"version":1,"a\nb":[]})"), StartsWith("key \"a\\x0ab\": unknown key"));
  CHECK_THAT(compile_error(R"({"version":1,"rules":[{"id":"a\n","files":{}},{"id":"a\n","files":{}}]})"),
             Contains("rule id \"a\\x0a\" is used twice"));
}

TEST_CASE("~/ in path patterns is the home directory", "[policy]") {
  const auto p = make(R"({"version":1,"rules":[{"files":{"allow":{"read":["~/data/**"]}}}]})");
  CHECK_FALSE(p.check(file_op(op::read, "/home/u/data/x"), {}));
  CHECK(p.check(file_op(op::read, "/home/v/data/x"), {}));
}
