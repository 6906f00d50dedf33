// SPDX-License-Identifier: Apache-2.0
#include "export/otlp/otel_environment.hpp"

#include <catch2/catch.hpp>
#include <map>
#include <string>

using namespace bluepython;

namespace {

getenv_fn table(const std::map<std::string, std::string>& vars) {
  return [&vars](const char* name) -> const char* {
    const auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

}  // namespace

TEST_CASE("OTel key=value lists are percent-decoded and trimmed; malformed members are skipped", "[otlp][env]") {
  using pairs = std::vector<std::pair<std::string, std::string>>;
  CHECK(parse_otel_pairs("").empty());
  CHECK(parse_otel_pairs(" a = 1 ,b=x%3Dy, novalue, =v,c=,%zz=%4") ==
        pairs{{"a", "1"}, {"b", "x=y"}, {"c", ""}, {"%zz", "%4"}});
  CHECK(parse_otel_pairs("k=v,") == pairs{{"k", "v"}});
}

TEST_CASE("OTEL_* variables override what is there; unusable values never throw", "[otlp][env]") {
  otlp_options o;
  o.endpoint = "http://file";
  o.service_name = "file";
  o.headers = {{"x-file", "1"}};
  o.resource_attributes = {{"a", "1"}};
  std::map<std::string, std::string> vars = {{"OTEL_EXPORTER_OTLP_ENDPOINT", ""},  // empty: unset
                                             {"OTEL_SERVICE_NAME", "\tenv "},
                                             {"OTEL_EXPORTER_OTLP_HEADERS", "h=1"},
                                             {"OTEL_RESOURCE_ATTRIBUTES", "b=2"},
                                             {"OTEL_EXPORTER_OTLP_TIMEOUT", "12x"},
                                             {"OTEL_TRACES_EXPORTER", "otlp"},
                                             {"OTEL_LOGS_EXPORTER", "None"}};
  REQUIRE_NOTHROW(apply_otel_environment(o, table(vars)));
  CHECK(o.endpoint == "http://file");
  CHECK(o.service_name == "env");
  CHECK(o.headers == decltype(o.headers){{"h", "1"}});
  CHECK(o.resource_attributes == decltype(o.resource_attributes){{"a", "1"}, {"b", "2"}});
  CHECK(o.timeout_ms == 10'000);
  CHECK(o.traces);
  CHECK_FALSE(o.logs);
  CHECK(o.url("logs").empty());
  CHECK(o.url("traces") == "http://file/v1/traces");
  CHECK(o.problem.empty());
  vars = {{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"}};
  apply_otel_environment(o, table(vars));
  CHECK_FALSE(o.active());
  CHECK(o.problem.find("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json is not supported") == 0);
}
