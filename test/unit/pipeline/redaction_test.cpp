// SPDX-License-Identifier: Apache-2.0
#include "pipeline/redaction.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "pipeline/json_writer.hpp"

using bluepython::json_limits;
using bluepython::json_writer;
using bluepython::redaction_options;
using bluepython::redactor;
using bluepython::secret_rule;

namespace {

std::string redacted(const redactor& r, std::string_view text) {
  std::string out;
  return r.redact(text, out) != 0 ? out : std::string(text);
}

nlohmann::json corpus() {
  std::ifstream in(BLUEPYTHON_TEST_FIXTURES "/secrets_corpus.json");
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

// Encodes with the writer as the sensor does.
template <class F>
std::string encode(const redactor& r, F&& body) {
  json_limits limits;
  limits.redact = &r;
  std::string out;
  json_writer w(out, limits);
  body(w);
  return out;
}

}  // namespace

TEST_CASE("every secret of the corpus is found by its rule, alone and inside text", "[redaction]") {
  const redactor r{redaction_options{}};
  for (const auto& entry : corpus()) {
    const auto text = entry["text"].get<std::string>();
    const auto secret = entry["secret"].get<std::string>();
    const auto rule = entry["rule"].get<std::string>();
    INFO(rule << ": " << text);
    for (const std::string& where : {text, "error: " + text + " (retrying)", "{\"x\": \"" + text + "\"}"}) {
      const std::string out = redacted(r, where);
      CHECK(out.find(secret) == std::string::npos);
      CHECK(out.find("[REDACTED:" + rule + ":") != std::string::npos);
    }
  }
}

TEST_CASE("the marker keeps the rule and the size; the rest of the text stays", "[redaction]") {
  const redactor r{redaction_options{}};
  CHECK(redacted(r, "push with ghp_UhrwyL398zPKPMvXkgMzr53w1fNtTQAVZOxu now") ==
        "push with [REDACTED:github_token:40] now");
  CHECK(redacted(r, "https://app:Vx8-Qm2zLw7Rk@db.internal/x?q=1") ==
        "https://app:[REDACTED:url_password:13]@db.internal/x?q=1");
  CHECK(redacted(r, "GET /items?api_key=abc123&page=2") == "GET /items?api_key=[REDACTED:key:6]&page=2");
  CHECK(redacted(r, "Authorization: Bearer q7Zr2LmN9xKp4TvW8sYb3HdF") ==
        "Authorization: Bearer [REDACTED:bearer_token:24]");
  CHECK(redacted(r, "mysql --password hunter22 -h db") == "mysql --password [REDACTED:key:8] -h db");
  CHECK(redacted(r, R"(["mysql", "--password", "hunter22"])") == R"(["mysql", "--password", "[REDACTED:key:8]"])");
}

TEST_CASE("ordinary text, identifiers and hashes are left alone", "[redaction]") {
  const redactor r{redaction_options{}};
  for (const std::string_view text : {
           "The quick brown fox jumps over the lazy dog.",
           "session 0f8c2a4e-5b1d-4c3a-9e7f-2d6b8a1c3e5f started",
           "sha256=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
           "/home/user/project/src/tokenizer.py",
           "Basic authentication is described in RFC 7617",
           "max_tokens=512 input_tokens: 40",
           "a == b and progressToken: 3",
           "see https://example.com/docs?page=2#top",
           "skeleton sk-short",
       }) {
    INFO(text);
    CHECK(redacted(r, text) == text);
  }
}

TEST_CASE("key names: case and separators do not matter; MCP's own fields are not secrets", "[redaction]") {
  const redactor r{redaction_options{}};
  for (const auto* name : {"password", "PASSWORD", "db_password", "api_key", "X-Api-Key", "apiKey", "Authorization",
                           "set-cookie", "client_secret", "private_key", "aws_secret_access_key", "access_token",
                           "refreshToken", "GITHUB_TOKEN", "token", "session", "credentials", "passphrase"}) {
    INFO(name);
    CHECK(r.secret_key(name));
  }
  for (const auto* name : {"progressToken", "nextPageToken", "input_tokens", "max_tokens", "session_id", "name",
                           "arguments", "id", "method", "tokens", "keyboard", "author", "passage"}) {
    INFO(name);
    CHECK_FALSE(r.secret_key(name));
  }
}

TEST_CASE("the writer redacts values under secret keys, whole subtrees and argv options", "[redaction]") {
  const redactor r{redaction_options{}};
  const std::string out = encode(r, [](json_writer& w) {
    w.begin_object();
    w.key("password");
    w.string("hunter22");
    w.key("pin");
    w.integer(1234);
    w.key("credentials");
    w.begin_object();
    w.key("user");
    w.string("bob");
    w.key("ok");
    w.boolean(true);
    w.end_object();
    w.key("argv");
    w.begin_array();
    w.string("tool");
    w.string("--api-key");
    w.string("k-1234567");
    w.string("--verbose");
    w.string("file.txt");
    w.end_array();
    w.key("name");
    w.string("after");
    w.end_object();
  });
  const auto doc = nlohmann::json::parse(out);
  CHECK(doc["password"] == "[REDACTED:key:8]");
  CHECK(doc["pin"] == "[REDACTED:key:4]");
  CHECK(doc["credentials"]["user"] == "[REDACTED:key:3]");
  CHECK(doc["credentials"]["ok"] == true);
  CHECK(doc["argv"] == nlohmann::json({"tool", "--api-key", "[REDACTED:key:9]", "--verbose", "file.txt"}));
  CHECK(doc["name"] == "after");
  std::uint64_t keys = 0;
  for (const auto& [rule, n] : r.counts()) {
    if (rule == secret_rule::key) keys = n;
  }
  CHECK(keys == 4);
}

TEST_CASE("a value under a secret key is labelled by its shape when it has one", "[redaction]") {
  const redactor r{redaction_options{}};
  const std::string out = encode(r, [](json_writer& w) {
    w.begin_object();
    w.key("api_key");
    w.string("sk-proj-oULcu_wzn6CYaCKyuIBjbfRoCQd5jC2Vi1R-fj8HsH6lkBYb");
    w.end_object();
  });
  CHECK(nlohmann::json::parse(out)["api_key"] == "[REDACTED:openai_key:56]");
}

TEST_CASE("a secret across the string cut is still found whole", "[redaction]") {
  const redactor r{redaction_options{}};
  json_limits limits;
  limits.redact = &r;
  limits.max_string_bytes = 32;
  std::string out;
  json_writer w(out, limits);
  w.string(std::string(20, 'x') + " ghp_UhrwyL398zPKPMvXkgMzr53w1fNtTQAVZOxu " + std::string(100, 'y'));
  CHECK(out.find("ghp_") == std::string::npos);
  CHECK(out.find("UhrwyL") == std::string::npos);
  CHECK_NOTHROW(nlohmann::json::parse(out));
}

TEST_CASE("rules can be added, kept and turned off; off means off", "[redaction]") {
  redaction_options o;
  o.keys = {"X-Internal-Ref"};
  o.keep_keys = {"session"};
  o.disable = {"jwt"};
  const redactor r{o};
  CHECK(r.secret_key("x_internal_ref"));
  CHECK_FALSE(r.secret_key("session"));
  const std::string jwt =
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJibHVlcHl0aG9uIn0.QqUPNOBAg76KMX7A2t3aS20vYemCTtY609YECrk4PyW";
  CHECK(redacted(r, jwt) == jwt);
  redaction_options off;
  off.enable = false;
  const redactor none{off};
  CHECK(redacted(none, "password=hunter22") == "password=hunter22");
  CHECK_FALSE(none.secret_key("password"));
}

TEST_CASE("the entropy rule is opt-in", "[redaction]") {
  const std::string text = "key material: Zq8Xv2Lm9Pn4Rt7Ws1Yb6Hd3Kf5Gj0Qc";
  CHECK(redacted(redactor{redaction_options{}}, text) == text);
  redaction_options o;
  o.entropy = true;
  CHECK(redacted(redactor{o}, text) == "key material: [REDACTED:high_entropy:32]");
}

TEST_CASE("fingerprints: the same secret gives the same mark under one key, another under another", "[redaction]") {
  const redactor a{redaction_options{}, std::string(64, 'a')};
  const redactor a2{redaction_options{}, std::string(64, 'a')};
  const redactor b{redaction_options{}, std::string(64, 'b')};
  const std::string s = "token=ghp_UhrwyL398zPKPMvXkgMzr53w1fNtTQAVZOxu";
  const std::string ma = redacted(a, s);
  CHECK(ma.starts_with("token=[REDACTED:github_token:40:"));
  CHECK(ma.size() == std::string("token=[REDACTED:github_token:40:]").size() + 16);
  CHECK(ma == redacted(a2, s));
  CHECK(ma != redacted(b, s));
  CHECK(ma != redacted(a, "token=ghp_UhrwyL398zPKPMvXkgMzr53w1fNtTQAVZOxv"));
}

TEST_CASE("the fingerprint key file is created once, private, and read back", "[redaction]") {
  char dir_template[] = "/tmp/bp-fpkey-XXXXXX";
  REQUIRE(::mkdtemp(dir_template) != nullptr);
  const std::string path = std::string(dir_template) + "/state/fingerprint.key";
  std::string error;
  const std::string key = bluepython::load_fingerprint_key(path, error);
  CHECK(error.empty());
  CHECK(key.size() == 64);
  struct stat st{};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(bluepython::load_fingerprint_key(path, error) == key);
  CHECK(std::remove(path.c_str()) == 0);
  CHECK(::rmdir((std::string(dir_template) + "/state").c_str()) == 0);
  CHECK(::rmdir(dir_template) == 0);
}

TEST_CASE("rule names round-trip; key and field cannot be turned off by name", "[redaction]") {
  secret_rule r{};
  CHECK(bluepython::secret_rule_from_name("github_token", r));
  CHECK(r == secret_rule::github_token);
  CHECK_FALSE(bluepython::secret_rule_from_name("key", r));
  CHECK_FALSE(bluepython::secret_rule_from_name("field", r));
  CHECK_FALSE(bluepython::secret_rule_from_name("nope", r));
}

TEST_CASE("field rules: pointers with wildcards redact, keep wins over the built-in rules", "[redaction]") {
  redaction_options o;
  o.fields.push_back({"*", "query*", {"/arguments/dsn", "/arguments/rows/*/ssn", "/result/content/*/text"},
                      {"/arguments/token_hint"}});
  o.fields.push_back({"other-server", "*", {"/arguments/name"}, {}});
  const redactor r{o};
  bluepython::field_paths args;
  r.fields_for("db", "query_users", false, {}, args);
  CHECK(args.redact.size() == 2);
  CHECK(args.keep.size() == 1);
  bluepython::field_paths none;
  r.fields_for("db", "list", false, {}, none);
  CHECK(none.empty());
  const std::string out = encode(r, [&](json_writer& w) {
    w.begin_object();
    w.key("params");
    w.field_scope(&args);
    w.begin_object();
    w.key("name");
    w.string("query_users");
    w.key("arguments");
    w.begin_object();
    w.key("dsn");
    w.string("host=db user=app");
    w.key("token_hint");
    w.string("ghp_UhrwyL398zPKPMvXkgMzr53w1fNtTQAVZOxu");
    w.key("rows");
    w.begin_array();
    w.begin_object();
    w.key("ssn");
    w.integer(123456789);
    w.key("city");
    w.string("Oslo");
    w.end_object();
    w.begin_object();
    w.key("ssn");
    w.string("987-65-4321");
    w.end_object();
    w.end_array();
    w.end_object();
    w.end_object();
    w.key("after");
    w.string("dsn");
    w.end_object();
  });
  const auto doc = nlohmann::json::parse(out);
  const auto& a = doc["params"]["arguments"];
  CHECK(a["dsn"] == "[REDACTED:field:16]");
  CHECK(a["token_hint"] == "ghp_UhrwyL398zPKPMvXkgMzr53w1fNtTQAVZOxu");  // kept on purpose
  CHECK(a["rows"][0]["ssn"] == "[REDACTED:field:9]");
  CHECK(a["rows"][0]["city"] == "Oslo");
  CHECK(a["rows"][1]["ssn"] == "[REDACTED:field:11]");
  CHECK(doc["params"]["name"] == "query_users");
  CHECK(doc["after"] == "dsn");  // the scope ended with its root

  bluepython::field_paths result;
  r.fields_for("db", "query_users", true, "result", result);
  REQUIRE(result.redact.size() == 1);
  CHECK(result.redact[0] == std::vector<std::string>{"result", "content", "*", "text"});
}

TEST_CASE("JSON pointers split with their escapes", "[redaction]") {
  std::vector<std::string> segs;
  CHECK(bluepython::split_pointer("/a~1b/c~0d/0", segs));
  CHECK(segs == std::vector<std::string>{"a/b", "c~d", "0"});
  CHECK_FALSE(bluepython::split_pointer("a/b", segs));
}

TEST_CASE("short password options of the programs that have them", "[redaction]") {
  const redactor r{redaction_options{}};
  auto argv = [&](std::initializer_list<std::string_view> args) {
    return nlohmann::json::parse(encode(r, [&](json_writer& w) {
      w.begin_array();
      for (const auto a : args) w.string(a);
      w.end_array();
    }));
  };
  CHECK(argv({"/usr/bin/mysql", "-u", "root", "-phunter22", "-P", "3306"}) ==
        nlohmann::json({"/usr/bin/mysql", "-u", "root", "-p[REDACTED:key:8]", "-P", "3306"}));
  CHECK(argv({"sshpass", "-p", "hunter22", "ssh", "host"}) ==
        nlohmann::json({"sshpass", "-p", "[REDACTED:key:8]", "ssh", "host"}));
  CHECK(argv({"redis-cli", "-h", "cache", "-a", "hunter22", "PING"}) ==
        nlohmann::json({"redis-cli", "-h", "cache", "-a", "[REDACTED:key:8]", "PING"}));
  // Elsewhere -p is a port, a path or a profile.
  CHECK(argv({"ssh", "-p", "2222", "host"}) == nlohmann::json({"ssh", "-p", "2222", "host"}));
  CHECK(argv({"mkdir", "-p", "/tmp/x"}) == nlohmann::json({"mkdir", "-p", "/tmp/x"}));
}
