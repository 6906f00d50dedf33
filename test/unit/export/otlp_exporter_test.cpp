// SPDX-License-Identifier: Apache-2.0
#include "export/otlp/otlp_exporter.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

#include "http_sink.hpp"

using namespace bluepython;
using bluepython::test::http_sink;
using namespace std::chrono_literals;

namespace {

std::string event_line(int n) {
  return R"({"ts":"2026-11-22T03:03:39.720138Z","event":{"meta":{"name":"python_file_open","type":"event"},)"
         R"("context":{"process":{"pid":1,"ppid":0},"scope":"startup"},"path":"/tmp/f)" +
         std::to_string(n) + R"("}})" + "\n";
}

}  // namespace

TEST_CASE("the exporter posts offered events as OTLP protobuf from its own thread", "[otlp]") {
  http_sink sink(200);
  otlp_settings settings;
  settings.logs_url = sink.url("/v1/logs");
  settings.batch_delay_ms = 20;
  settings.headers = {{"x-team", "blue"}};
  std::vector<std::string> warnings;
  otlp_exporter exporter(settings, [&](const std::string& m) {
    warnings.push_back(m);
    return true;
  });
  // Offers from two threads at once, as the writer and a synchronous drain may.
  std::thread other([&] {
    for (int i = 0; i < 50; ++i) exporter.offer(event_line(i));
  });
  for (int i = 50; i < 100; ++i) exporter.offer(event_line(i));
  other.join();
  exporter.shutdown(5s);
  const auto requests = sink.requests();
  REQUIRE_FALSE(requests.empty());
  for (const auto& r : requests) {
    CHECK(r.rfind("POST /v1/logs HTTP/1.1", 0) == 0);
    CHECK(r.find("Content-Type: application/x-protobuf") != std::string::npos);
    CHECK(r.find("x-team: blue") != std::string::npos);
  }
  std::size_t paths = 0;
  for (const auto& r : requests) {
    for (std::size_t at = r.find("/tmp/f"); at != std::string::npos; at = r.find("/tmp/f", at + 1)) ++paths;
  }
  CHECK(paths == 100);  // every event, once, in a body (the JSON line is the record's body)
  const auto c = exporter.counters();
  CHECK(c.sent_requests == requests.size());
  CHECK(c.failed_requests == 0);
  CHECK(c.dropped_events == 0);
  CHECK(warnings.empty());
}

TEST_CASE("a rejecting collector fails once, warns once, and drops what it refused", "[otlp]") {
  http_sink sink(400);  // not retryable
  otlp_settings settings;
  settings.logs_url = sink.url("/v1/logs");
  settings.batch_delay_ms = 10;
  std::vector<std::string> warnings;
  otlp_exporter exporter(settings, [&](const std::string& m) {
    warnings.push_back(m);
    return false;  // as if the pipeline no longer took events
  });
  for (int i = 0; i < 10; ++i) exporter.offer(event_line(i));
  exporter.shutdown(5s);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("HTTP 400") != std::string::npos);
  const auto unreported = exporter.take_unreported_faults();
  REQUIRE(unreported.size() == 1);
  CHECK(unreported[0] == warnings[0]);
  const auto c = exporter.counters();
  CHECK(c.failed_requests >= 1);
  CHECK(c.dropped_events == 10);
  CHECK(c.sent_requests == 0);
}

TEST_CASE("a full export queue drops and counts instead of waiting", "[otlp]") {
  otlp_settings settings;
  settings.logs_url = "http://127.0.0.1:9/v1/logs";  // discard port: nothing listens
  settings.max_queue_bytes = 64 << 10;
  settings.batch_delay_ms = 60'000;  // nothing leaves the queue meanwhile
  otlp_exporter exporter(settings, [](const std::string&) { return true; });
  const std::string big(1000, 'x');
  for (int i = 0; i < 200; ++i) exporter.offer(big + "\n");  // 200 kB into 64 KiB
  CHECK(exporter.counters().dropped_events >= 130);
  exporter.shutdown(0ms);
}
