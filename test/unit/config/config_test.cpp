// SPDX-License-Identifier: Apache-2.0
#include "config/config.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "config/error.hpp"

using namespace bluepython;
using nlohmann::json;

namespace {

struct fake_env {
  std::map<std::string, std::string> vars;
  getenv_fn fn() const {
    return [this](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

std::string write_temp(const std::string& content) {
  char name[] = "/tmp/bp_cfg_XXXXXX";
  const int fd = ::mkstemp(name);
  REQUIRE(fd >= 0);
  ::close(fd);
  std::ofstream(name, std::ios::binary) << content;
  return name;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const launcher_error& e) {
    CHECK(e.exit_code() == 2);
    return e.what();
  }
  FAIL("no error thrown");
  return {};
}

}  // namespace

TEST_CASE("defaults: every category on, spool under HOME", "[config]") {
  fake_env env{{{"HOME", "/nonexistent-home"}}};
  const config cfg = load_config({}, env.fn());
  for (std::size_t i = 0; i < category_count; ++i) CHECK(cfg.enabled(static_cast<category>(i)));
  CHECK(cfg.spool.dir == "/nonexistent-home/.bluepython/spool");
  CHECK(cfg.spool.flush_interval_ms == 50);
  CHECK(cfg.source_file.empty());
}

TEST_CASE("file < environment < flags", "[config]") {
  const std::string file = write_temp(R"({"spool": {"dir": "/from-file"}, "events_to_stderr": true})");
  fake_env env{{{"HOME", "/h"}, {"BLUEPYTHON_CONFIG", file}}};
  CHECK(load_config({}, env.fn()).spool.dir == "/from-file");
  CHECK(load_config({}, env.fn()).events_to_stderr);
  env.vars["BLUEPYTHON_SPOOL_DIR"] = "/from-env";
  CHECK(load_config({}, env.fn()).spool.dir == "/from-env");
  config_flags flags;
  flags.spool_dir = "/from-flag";
  CHECK(load_config(flags, env.fn()).spool.dir == "/from-flag");
  std::remove(file.c_str());
}

TEST_CASE("the config flag wins over BLUEPYTHON_CONFIG", "[config]") {
  const std::string a = write_temp(R"({"spool": {"dir": "/a"}})");
  const std::string b = write_temp(R"({"spool": {"dir": "/b"}})");
  fake_env env{{{"HOME", "/h"}, {"BLUEPYTHON_CONFIG", a}}};
  config_flags flags;
  flags.config_file = b;
  const config cfg = load_config(flags, env.fn());
  CHECK(cfg.spool.dir == "/b");
  CHECK(cfg.source_file == b);
  std::remove(a.c_str());
  std::remove(b.c_str());
}

TEST_CASE("enable and disable lists", "[config]") {
  fake_env env{{{"HOME", "/h"}, {"BLUEPYTHON_DISABLE", "all"}, {"BLUEPYTHON_ENABLE", "imports"}}};
  config cfg = load_config({}, env.fn());
  // Within a layer enable applies first, then disable.
  CHECK_FALSE(cfg.enabled(category::imports));
  env.vars.erase("BLUEPYTHON_ENABLE");
  config_flags flags;
  flags.enable = {"imports", "mcp"};
  cfg = load_config(flags, env.fn());
  CHECK(cfg.enabled(category::imports));
  CHECK(cfg.enabled(category::mcp));
  CHECK_FALSE(cfg.enabled(category::files));
  flags.enable = {"bogus"};
  CHECK_THAT(error_of([&] { load_config(flags, env.fn()); }), Catch::Contains("unknown category \"bogus\""));
  env.vars["BLUEPYTHON_ENABLE"] = "imports, nope";
  CHECK_THAT(error_of([&] { load_config({}, env.fn()); }), Catch::Contains("BLUEPYTHON_ENABLE"));
}

TEST_CASE("BlueRock bluerock-oss.json keys are accepted", "[config]") {
  config cfg;
  apply_config_json(cfg, json::parse(R"({"enable": true, "mcp": {"enable": true},
      "imports": {"enable": true, "fileslist": false}, "debug": true})"), "bluerock-oss.json");
  CHECK(cfg.enabled(category::mcp));
  CHECK(cfg.enabled(category::imports));
  CHECK_FALSE(cfg.imports.fileslist);
  CHECK(cfg.debug);
  apply_config_json(cfg, json::parse(R"({"enable": false})"), "f");
  for (std::size_t i = 0; i < category_count; ++i) CHECK_FALSE(cfg.enabled(static_cast<category>(i)));
}

TEST_CASE("every bad key and type is a one-line error naming file and key", "[config]") {
  struct bad_case {
    const char* doc;
    const char* expected;
  };
  const bad_case cases[] = {
      {R"({"nope": 1})", "unknown key \"nope\""},
      {R"({"spool": {"max_file_bytes": "big"}})", "key \"spool.max_file_bytes\" must be an integer"},
      {R"({"spool": {"max_file_bytes": 10}})", "key \"spool.max_file_bytes\" must be an integer in [4096"},
      {R"({"spool": {"max_file_bytes": -5}})", "spool.max_file_bytes"},
      {R"({"spool": {"max_file_bytes": 1.5}})", "spool.max_file_bytes"},
      {R"({"spool": {"dir": 3}})", "key \"spool.dir\" must be a string"},
      {R"({"spool": {"dir": ""}})", "must not be empty"},
      {R"({"spool": {"flush_interval_ms": 0}})", "spool.flush_interval_ms"},
      {R"({"spool": {"extra": 0}})", "unknown key \"spool.extra\""},
      {R"({"spool": []})", "key \"spool\" must be an object"},
      {R"({"mcp": "yes"})", "key \"mcp\" must be a boolean or an object"},
      {R"({"mcp": {"fileslist": true}})", "unknown key \"mcp.fileslist\""},
      {R"({"imports": {"fileslist": 1}})", "key \"imports.fileslist\" must be a boolean"},
      {R"({"enable": "true"})", "key \"enable\" must be a boolean"},
      {R"({"debug": null})", "key \"debug\" must be a boolean, got null"},
      {R"({"queue": {"max_bytes": 1}})", "queue.max_bytes"},
      {R"({"limits": {"max_depth": 0}})", "limits.max_depth"},
      {R"({"limits": {"wat": 0}})", "unknown key \"limits.wat\""},
      {R"([1, 2])", "top level must be an object"},
      {R"({"files": {"exclude": "/tmp/*"}})", "key \"files.exclude\" must be an array of strings, got string"},
      {R"({"network": {"include": [1]}})", "key \"network.include[0]\" must be a string, got integer"},
      {R"({"code": {"include": [""]}})", "key \"code.include[0]\" must not be empty"},
      {R"({"mcp": {"exclude": ["x"]}})", "unknown key \"mcp.exclude\""},
      {R"({"imports": {"include": ["x"]}})", "unknown key \"imports.include\""},
  };
  for (const auto& c : cases) {
    INFO(c.doc);
    config cfg;
    const std::string msg = error_of([&] { apply_config_json(cfg, json::parse(c.doc), "/etc/x.json"); });
    CHECK_THAT(msg, Catch::StartsWith("bluepython: config error: /etc/x.json: "));
    CHECK_THAT(msg, Catch::Contains(c.expected));
    CHECK(msg.find('\n') == std::string::npos);
  }
}

TEST_CASE("unreadable, invalid and huge files are errors", "[config]") {
  CHECK_THAT(error_of([] { read_config_file("/nonexistent/bp.json"); }),
             Catch::Contains("/nonexistent/bp.json: cannot read file"));
  CHECK_THAT(error_of([] { read_config_file("/tmp"); }), Catch::Contains("not a regular file"));
  const std::string invalid = write_temp("{\"spool\": ");
  CHECK_THAT(error_of([&] { read_config_file(invalid); }), Catch::Contains("invalid JSON at byte"));
  const std::string huge = write_temp(std::string(2 << 20, ' '));
  CHECK_THAT(error_of([&] { read_config_file(huge); }), Catch::Contains("the limit is"));
  std::remove(invalid.c_str());
  std::remove(huge.c_str());
}

TEST_CASE("bad environment values are errors", "[config]") {
  fake_env env{{{"HOME", "/h"}, {"BLUEPYTHON_EVENTS_TO_STDERR", "maybe"}}};
  CHECK_THAT(error_of([&] { load_config({}, env.fn()); }), Catch::Contains("BLUEPYTHON_EVENTS_TO_STDERR"));
  env.vars.erase("BLUEPYTHON_EVENTS_TO_STDERR");
  env.vars["BLUEPYTHON_FLUSH_INTERVAL_MS"] = "0";
  CHECK_THAT(error_of([&] { load_config({}, env.fn()); }), Catch::Contains("BLUEPYTHON_FLUSH_INTERVAL_MS"));
  env.vars["BLUEPYTHON_FLUSH_INTERVAL_MS"] = "20";
  CHECK(load_config({}, env.fn()).spool.flush_interval_ms == 20);
}

TEST_CASE("digest follows the effective settings", "[config]") {
  config a;
  config b;
  CHECK(a.digest() == b.digest());
  CHECK(a.digest().size() == 64);
  b.categories[0] = false;
  CHECK(a.digest() != b.digest());
}

TEST_CASE("side-effect categories take include and exclude patterns", "[config]") {
  config cfg;
  cfg.spool.dir = "/spool";  // as resolved before any handoff
  const std::string digest = cfg.digest();
  apply_config_json(cfg, json::parse(R"({"files": {"exclude": ["/proc/*", "*.log"]},
      "network": {"include": ["169.254.*"]}, "process": true})"), "f");
  const auto& files = cfg.filters[static_cast<std::size_t>(category::files)];
  CHECK(files.exclude == std::vector<std::string>{"/proc/*", "*.log"});
  CHECK(files.include.empty());
  CHECK(cfg.filters[static_cast<std::size_t>(category::network)].include == std::vector<std::string>{"169.254.*"});
  CHECK(cfg.enabled(category::files));
  // Round trip through the config schema (what a child gets from its parent).
  config copy;
  apply_config_json(copy, cfg.to_json(), "handoff");
  CHECK(copy.digest() == cfg.digest());
  CHECK(cfg.digest() != digest);
  // Defaults carry no pattern members (their digest is unchanged by this feature).
  CHECK_FALSE(config{}.to_json()["files"].contains("exclude"));
}

TEST_CASE("to_json reads back, before and after the spool directory is resolved", "[config]") {
  // Found by fuzz_config: an unresolved (empty) spool.dir was written as "" and refused on reading.
  config unresolved;
  config again;
  REQUIRE_NOTHROW(apply_config_json(again, unresolved.to_json(), "round trip"));
  CHECK(again.digest() == unresolved.digest());
  config resolved;
  resolved.spool.dir = "/var/spool/bp";
  config back;
  apply_config_json(back, resolved.to_json(), "round trip");
  CHECK(back.spool.dir == "/var/spool/bp");
  CHECK(back.digest() == resolved.digest());
}

TEST_CASE("a config error stays one line whatever the key holds", "[config]") {
  // Found by fuzz_config: an unknown key with a newline in it split the message.
  config cfg;
  try {
    apply_config_json(cfg, json::parse(R"({"otlp": {"\ndpoint\u0007": 1}})"), "f.json");
    FAIL("no error");
  } catch (const launcher_error& e) {
    const std::string message = e.what();
    CHECK(message.find('\n') == std::string::npos);
    CHECK(message.find("\\x0adpoint\\x07") != std::string::npos);
  }
}

TEST_CASE("a config document with a key twice or a number out of range is refused in one line", "[config]") {
  const auto refused = [](const std::string& text) {
    try {
      (void)parse_config_text(text, "/etc/bp.json");
    } catch (const launcher_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(refused(R"({"debug": true, "debug": false})") ==
        R"(bluepython: config error: /etc/bp.json: key "debug" appears twice in one object)");
  CHECK(refused(R"({"spool": {"dir": "/a", "dir": "/b"}})").find(R"(key "dir" appears twice)") != std::string::npos);
  CHECK(refused(R"({"queue": {"max_bytes": 1e400}})") ==
        "bluepython: config error: /etc/bp.json: invalid JSON: a number is out of range");
  CHECK(refused(R"({"debug": tru)").find("invalid JSON at byte") != std::string::npos);
  // The same key in sibling objects, or in objects inside an array, is fine.
  CHECK(refused(R"({"files": {"enable": true}, "network": {"enable": true}})").empty());
  CHECK(refused(R"({"x": [{"a": 1}, {"a": 2}]})").empty());
}

TEST_CASE("OTEL_* variables take precedence over the config file's otlp object", "[config][otlp]") {
  const std::string file = write_temp(R"({"otlp": {"endpoint": "http://file:4318", "service_name": "from-file",
      "timeout_ms": 500, "headers": {"x-file": "1"}, "resource_attributes": {"team": "file"}}})");
  fake_env env{{{"HOME", "/h"}, {"BLUEPYTHON_CONFIG", file}}};
  config cfg = load_config({}, env.fn());
  CHECK(cfg.otlp.url("logs") == "http://file:4318/v1/logs");
  CHECK(cfg.otlp.service_name == "from-file");
  CHECK(cfg.otlp.timeout_ms == 500);

  env.vars["OTEL_EXPORTER_OTLP_ENDPOINT"] = " http://env:4318/ ";
  env.vars["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = "http://traces:1/t";
  env.vars["OTEL_SERVICE_NAME"] = "from-env";
  env.vars["OTEL_EXPORTER_OTLP_TIMEOUT"] = " 250 ";
  env.vars["OTEL_EXPORTER_OTLP_HEADERS"] = "authorization=Bearer%20x , bad, =nokey,k%2C=v%3D";
  env.vars["OTEL_RESOURCE_ATTRIBUTES"] = "deployment.environment=ci,team=sec%2Cops";
  env.vars["OTEL_METRICS_EXPORTER"] = " NONE";
  cfg = load_config({}, env.fn());
  CHECK(cfg.otlp.endpoint == "http://env:4318/");
  CHECK(cfg.otlp.url("logs") == "http://env:4318/v1/logs");
  CHECK(cfg.otlp.url("traces") == "http://traces:1/t");
  CHECK(cfg.otlp.url("metrics").empty());
  CHECK(cfg.otlp.service_name == "from-env");
  CHECK(cfg.otlp.timeout_ms == 250);
  // Headers replace the file's; resource attributes are added to them.
  using pairs = std::vector<std::pair<std::string, std::string>>;
  CHECK(cfg.otlp.headers == pairs{{"authorization", "Bearer x"}, {"k,", "v="}});
  CHECK(cfg.otlp.resource_attributes ==
        pairs{{"team", "file"}, {"deployment.environment", "ci"}, {"team", "sec,ops"}});
  CHECK(cfg.otlp.active());
  std::remove(file.c_str());
}

TEST_CASE("OTEL_* values bluepython cannot use are ignored or turn export off, never fatal", "[config][otlp]") {
  fake_env env{{{"HOME", "/h"}, {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"}}};
  env.vars["OTEL_EXPORTER_OTLP_TIMEOUT"] = "soon";
  config cfg = load_config({}, env.fn());
  CHECK(cfg.otlp.timeout_ms == 10'000);
  CHECK(cfg.otlp.active());
  env.vars["OTEL_EXPORTER_OTLP_TIMEOUT"] = "0";
  CHECK(load_config({}, env.fn()).otlp.timeout_ms == 10'000);
  env.vars["OTEL_EXPORTER_OTLP_PROTOCOL"] = " HTTP/Protobuf ";
  CHECK(load_config({}, env.fn()).otlp.active());
  env.vars["OTEL_EXPORTER_OTLP_LOGS_PROTOCOL"] = "grpc";
  cfg = load_config({}, env.fn());
  CHECK_FALSE(cfg.otlp.active());
  CHECK(cfg.otlp.url("traces").empty());
  CHECK(cfg.otlp.problem ==
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL=grpc is not supported (bluepython exports OTLP over http/protobuf); "
        "export is off");
  env.vars.erase("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL");
  env.vars["OTEL_SDK_DISABLED"] = "True";
  cfg = load_config({}, env.fn());
  CHECK_FALSE(cfg.otlp.enable);
  CHECK(cfg.otlp.problem.empty());
  CHECK(cfg.otlp.url("logs").empty());
  env.vars["OTEL_SDK_DISABLED"] = "";  // empty: unset
  CHECK(load_config({}, env.fn()).otlp.enable);
  // Not configured: nothing exported, and the otlp object stays out of to_json (and the digest).
  fake_env bare{{{"HOME", "/h"}, {"OTEL_SERVICE_NAME", "svc"}}};
  cfg = load_config({}, bare.fn());
  CHECK(cfg.otlp.url("logs").empty());
  CHECK_FALSE(cfg.to_json().contains("otlp"));
}

TEST_CASE("to_json writes every setting in config-file schema", "[config]") {
  // Written before the schema table replaced the parallel parse/write code:
  // the handoff format and the digest of given settings must not change.
  const json defaults = R"({"enable": true, "debug": false, "events_to_stderr": false,
      "spool": {"max_file_bytes": 33554432, "max_total_bytes": 268435456, "flush_interval_ms": 50},
      "queue": {"max_bytes": 4194304},
      "limits": {"max_string_bytes": 65536, "max_depth": 64, "max_items": 10000},
      "imports": {"enable": true, "stdlib": true, "hash": true, "fileslist": true, "baseline": true,
                  "hash_cache": true},
      "mcp": {"enable": true}, "process": {"enable": true}, "files": {"enable": true},
      "network": {"enable": true}, "code": {"enable": true}})"_json;
  CHECK(config{}.to_json() == defaults);
  CHECK(config{}.digest() == "dafab194b866bb64d44fb5772638cf290d42d3269126465416c74cd3453eac84");

  const json full = R"({"enable": false, "debug": true, "events_to_stderr": true,
      "spool": {"dir": "/s", "max_file_bytes": 4096, "max_total_bytes": 8192, "flush_interval_ms": 7},
      "queue": {"max_bytes": 65536},
      "limits": {"max_string_bytes": 16, "max_depth": 3, "max_items": 5},
      "imports": {"enable": false, "stdlib": false, "hash": false, "fileslist": false, "baseline": false,
                  "hash_cache": false},
      "mcp": {"enable": false}, "process": {"enable": true, "include": ["a"], "exclude": ["b", "c"]},
      "files": {"enable": false, "exclude": ["/proc/*"]}, "network": {"enable": true, "include": ["h"]},
      "code": {"enable": true},
      "otlp": {"enable": false, "endpoint": "http://e", "logs_endpoint": "http://l", "traces_endpoint": "http://t",
               "metrics_endpoint": "http://m", "logs": false, "traces": false, "metrics": false,
               "timeout_ms": 1, "batch_delay_ms": 2, "metric_interval_ms": 100, "shutdown_timeout_ms": 0,
               "max_queue_bytes": 65536, "capture_tool_io": true, "service_name": "svc",
               "resource_attributes": {"a": "1", "b": "2"}}})"_json;
  config cfg;
  json given = full;
  given["otlp"]["headers"] = {{"authorization", "secret"}};
  apply_config_json(cfg, given, "full.json");
  CHECK(cfg.otlp.headers.size() == 1);
  CHECK(cfg.to_json() == full);  // headers are never written
  CHECK(cfg.digest() == "2f36e750ac4f717e67dc909342ed331a5beeb77aa95da470110b44070ab82d66");
  // Only an endpoint makes the otlp object appear.
  config endpoint_only;
  apply_config_json(endpoint_only, R"({"otlp": {"metrics_endpoint": "http://m", "service_name": "s"}})"_json, "f");
  CHECK(endpoint_only.to_json()["otlp"] ==
        R"({"enable": true, "metrics_endpoint": "http://m", "service_name": "s", "logs": true, "traces": true,
            "metrics": true, "timeout_ms": 10000, "batch_delay_ms": 1000, "metric_interval_ms": 60000,
            "shutdown_timeout_ms": 1000, "max_queue_bytes": 16777216, "capture_tool_io": false})"_json);
  config no_endpoint;
  apply_config_json(no_endpoint, R"({"otlp": {"service_name": "s", "timeout_ms": 5}})"_json, "f");
  CHECK_FALSE(no_endpoint.to_json().contains("otlp"));
}
