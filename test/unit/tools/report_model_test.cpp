// SPDX-License-Identifier: Apache-2.0
#include "tools/report_model.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "spool_dir.hpp"
#include "tools/event_summary.hpp"
#include "tools/report.hpp"
#include "tools/report_page.hpp"

using namespace bluepython;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A spool directory of its own, removed at the end of the test.
struct spool_dir : testing::spool_dir {
  spool_dir() : testing::spool_dir("bp_report") {}
};

constexpr const char* kServer = "11111111-aaaa";
constexpr const char* kChild = "22222222-bbbb";
constexpr const char* kSession = "sess-0123456789abcdef";

std::string call_id(int request_id) { return std::string(kServer) + ":" + std::to_string(request_id); }

// One spool line, as the sensor writes it (docs/events.md).
json line(const std::string& ts, const std::string& uuid, long long pid, const std::string& name, json fields = json::object(),
          json context = json::object()) {
  context["process"] = {{"pid", pid}};
  fields["meta"] = {{"name", name}, {"uuid", uuid}};
  fields["context"] = context;
  return {{"ts", "2025-01-01T00:00:" + ts + "Z"}, {"event", fields}};
}

json in_call(int request_id) {
  return {{"scope", "call"},
          {"mcp",
           {{"call_id", call_id(request_id)}, {"session_id", kSession}, {"request_id", request_id},
            {"method", "tools/call"}, {"target", request_id == 5 ? "boom" : "work"}}}};
}

json request(const std::string& ts, int id, const std::string& tool) {
  return line(ts, kServer, 100, "python_mcp_event",
              {{"event", "server_received_request"}, {"session_id", kSession}, {"id", id}, {"method", "tools/call"},
               {"message", {{"params", {{"name", tool}}}}}});
}

json response(const std::string& ts, int id, double ms, bool failed = false) {
  json fields = {{"event", "server_send_response"}, {"session_id", kSession}, {"id", id}, {"duration_ms", ms}};
  if (failed) fields["error"] = {{"type", "tool_error"}};
  return line(ts, kServer, 100, "python_mcp_event", fields);
}

// A server process: four calls of "work" (10, 20, 30 and 40 ms) and one
// failing "boom"; call 2 writes a file twice and spawns a child, which writes
// a file of its own; an import changed, one does not match its RECORD, one
// internal fault; 3 events dropped.
void write_spool(const spool_dir& dir) {
  const json ext_call = {{"call_id", call_id(2)}, {"target", "work"}};
  dir.write("python-bluepython-100-1-1.ndjson",
            {line("00.000", kServer, 100, "sensor_startup", {{"python_argv", {"server.py"}}}),
             line("00.100", kServer, 100, "python_mcp_session_created",
                  {{"source", 0}, {"session_id", kSession}, {"transport", "stdio"}, {"client_name", "cli"}}),
             request("01.000", 1, "work"), response("01.010", 1, 10),
             request("02.000", 2, "work"),
             line("02.001", kServer, 100, "python_file_open", {{"access", "write"}, {"path", "a.txt"}}, in_call(2)),
             line("02.002", kServer, 100, "python_file_open", {{"access", "write"}, {"path", "a.txt"}, {"repeated", 1}},
                  in_call(2)),
             line("02.003", kServer, 100, "python_process_spawn", {{"argv", {"child", "-x"}}}, in_call(2)),
             response("02.020", 2, 20),
             request("03.000", 3, "work"), response("03.030", 3, 30),
             request("04.000", 4, "work"), response("04.040", 4, 40),
             request("05.000", 5, "boom"), response("05.001", 5, 1, true),
             line("06.000", kServer, 100, "python_file_open", {{"access", "read"}, {"path", "cfg"}},
                  {{"scope", "startup"}}),
             line("06.100", kServer, 100, "python_import",
                  {{"fullname", "mymod"}, {"file", "/app/mymod.py"}, {"hash_changed", true}}),
             line("06.200", kServer, 100, "python_import",
                  {{"fullname", "pkg.mod"}, {"file", "/site/pkg/mod.py"}, {"pkg", "pkg"}, {"version", "1.0"},
                   {"record_match", false}, {"record_sha256", "aa"}, {"sha256", "bb"}}),
             line("06.300", kServer, 100, "python_import", {{"fullname", "json"}}),
             line("06.400", kServer, 100, "python_internal_exception", {{"where", "hook"}, {"message", "oops"}}),
             line("06.500", kServer, 100, "python_internal_exception", {{"where", "hook"}, {"message", "oops"}}),
             line("07.000", kServer, 100, "sensor_shutdown", {{"reason", "exit"}, {"dropped", 3}})});
  dir.write("python-bluepython-200-1-1.ndjson",
            {line("02.004", kChild, 200, "sensor_startup",
                  {{"python_argv", {"child", "-x"}}, {"parent", {{"pid", 100}, {"uuid", kServer}, {"call", ext_call}}}}),
             line("02.005", kChild, 200, "python_file_open", {{"access", "write"}, {"path", "b.txt"}},
                  {{"scope", "startup"}}),
             line("02.006", kChild, 200, "sensor_shutdown", {{"reason", "exit"}})});
}

}  // namespace

TEST_CASE("the report sums up each tool across sessions, and shows what else a session carried", "[report]") {
  spool_dir dir;
  auto session_line = [](const std::string& ts, const char* name, const char* sid) {
    return line(ts, kServer, 100, name, {{"source", 0}, {"session_id", sid}, {"transport", "streamable-http"}});
  };
  auto msg = [](const std::string& ts, const char* sid, json fields) {
    fields["session_id"] = sid;
    return line(ts, kServer, 100, "python_mcp_event", fields);
  };
  auto effect = [](const std::string& ts, const char* sid, int id, json fields) {
    json context = {{"scope", "call"},
                    {"mcp", {{"call_id", call_id(id)}, {"session_id", sid}, {"request_id", id},
                             {"method", "tools/call"}, {"target", "work"}}}};
    return line(ts, kServer, 100, "python_file_open", std::move(fields), context);
  };
  std::vector<json> lines;
  for (const char* sid : {"s-one", "s-two"}) {
    const int id = std::string(sid) == "s-one" ? 1 : 2;
    lines.push_back(session_line("01.000", "python_mcp_session_created", sid));
    lines.push_back(msg("01.001", sid, {{"event", "server_received_request"}, {"id", id}, {"method", "tools/call"},
                                        {"client_name", "inspector"}, {"message", {{"params", {{"name", "work"}}}}}}));
    lines.push_back(effect("01.002", sid, id, {{"via", "open"}, {"path", "/tmp/a"}, {"access", "read"}}));
    lines.push_back(msg("01.003", sid, {{"event", "server_send_response"}, {"id", id}, {"duration_ms", 10.0 * id}}));
  }
  lines.push_back(msg("01.004", "s-one", {{"event", "server_send_request"}, {"id", 9}, {"method", "sampling/createMessage"}}));
  lines.push_back(msg("01.005", "s-one", {{"event", "server_received_response"}, {"id", 9}, {"duration_ms", 7.0},
                                          {"request_method", "sampling/createMessage"}}));
  lines.push_back(msg("01.006", "s-one", {{"event", "server_received_notification"},
                                          {"method", "notifications/initialized"}}));
  lines.push_back(msg("01.007", "s-one", {{"event", "server_send_notification"}, {"method", "notifications/message"}}));
  lines.push_back(msg("01.008", "s-one", {{"event", "server_send_notification"}, {"method", "notifications/message"}}));
  lines.push_back(session_line("02.000", "python_mcp_session_created", "s-refused"));
  lines.push_back(session_line("02.001", "python_mcp_session_terminated", "s-refused"));
  dir.write("python-bluepython-100-1-1.ndjson", lines);
  report::options o;
  o.spool_dir = dir.path.string();
  const report::model m = report::read_model(report::read_events(o));
  REQUIRE(m.targets.size() == 1);
  const report::target_summary& work = m.targets[0];
  CHECK((work.method == "tools/call" && work.target == "work" && work.calls == 2 && work.sessions == 2));
  CHECK((work.p50_ms == 10.0 && work.p95_ms == 20.0));
  CHECK(work.side_effects.at("python_file_open") == 2);
  REQUIRE(m.processes.size() == 1);
  const auto& sessions = m.processes[0].sessions;
  REQUIRE(sessions.size() == 3);
  const report::session& one = sessions[0];
  REQUIRE(one.server_requests.size() == 1);
  CHECK((one.server_requests[0].method == "sampling/createMessage" && one.server_requests[0].calls == 1));
  CHECK(one.server_requests[0].p50_ms == 7.0);
  CHECK(one.notifications.at("received").at("notifications/initialized") == 1);
  CHECK(one.notifications.at("sent").at("notifications/message") == 2);
  CHECK(sessions[2].messages == 0);
  CHECK(one.info.at("transport") == "streamable-http");
  CHECK(sessions[1].info.at("client_name") == "inspector");  // from its messages: its session events lack it
  CHECK(one.calls[0].side_effects[0].attributes == json{{"via", "open"}, {"path", "/tmp/a"}, {"access", "read"}});
  const std::string text = report::render_text(m);
  CHECK_THAT(text, Catch::Matchers::Contains("no MCP message: closed or refused before any request"));
  CHECK_THAT(text, Catch::Matchers::Contains("request to the client: sampling/createMessage 1"));
  CHECK_THAT(text, Catch::Matchers::Contains("notifications sent: notifications/message x2"));
  const auto pos = text.find("tool, prompt or resource (all sessions)");
  CHECK((pos != std::string::npos && pos < text.find("\nprocess ")));
  CHECK_THAT(text, Catch::Matchers::Contains("file_open 2"));
  const json j = report::to_json(m);
  CHECK(j["targets"][0]["sessions"] == 2);
  CHECK(j["processes"][0]["sessions"][0]["calls"][0]["side_effects"][0]["attributes"]["path"] == "/tmp/a");
}

TEST_CASE("the report model counts calls, errors, latency, side effects, imports and faults", "[report]") {
  spool_dir dir;
  write_spool(dir);
  report::options o;
  o.spool_dir = dir.path.string();
  const auto events = report::read_events(o);
  REQUIRE(events.size() == 25);
  const report::model m = report::read_model(events);

  CHECK(m.totals.processes == 2);
  CHECK(m.totals.sessions == 1);
  CHECK(m.totals.tool_calls == 5);
  CHECK(m.totals.tool_errors == 1);
  CHECK(m.totals.events == 25);
  REQUIRE(m.processes.size() == 2);
  const report::process& server = m.processes[0];  // in order of first events
  const report::process& child = m.processes[1];
  CHECK(server.pid == 100);
  CHECK(child.pid == 200);
  CHECK(child.parent.at("call").at("call_id") == call_id(2));

  REQUIRE(server.sessions.size() == 1);
  const report::session& s = server.sessions[0];
  CHECK(s.side == "server");
  CHECK(s.info.at("transport") == "stdio");
  REQUIRE(s.calls.size() == 5);
  REQUIRE(s.operations.size() == 2);
  const report::operation& boom = s.operations[0];  // by (method, target)
  const report::operation& work = s.operations[1];
  CHECK(boom.target == "boom");
  CHECK((boom.calls == 1 && boom.errors == 1));
  CHECK(work.target == "work");
  CHECK((work.calls == 4 && work.errors == 0));
  CHECK(work.p50_ms.value_or(0) == Approx(20));  // nearest rank of 10, 20, 30, 40
  CHECK(work.p95_ms.value_or(0) == Approx(40));

  // Call 2 has its own effects and the child's; the others have none.
  const report::call& second = s.calls[1];
  CHECK(second.call_id == call_id(2));
  REQUIRE(second.side_effects.size() == 3);
  const auto& own = second.side_effects[0];
  CHECK((own.event == "python_file_open" && own.summary == "write a.txt"));
  // The first occurrence, then a folded line for the one repeat after it
  // ("repeated": 1): two opens in all.
  CHECK((own.count == 2 && own.pid == 100));
  const auto& childs = second.side_effects[1];
  CHECK((childs.summary == "write b.txt" && childs.count == 1 && childs.pid == 200));
  CHECK((second.side_effects[2].event == "python_process_spawn" && second.side_effects[2].summary == "child -x"));
  for (const auto* other : {&s.calls[0], &s.calls[2], &s.calls[3], &s.calls[4]}) CHECK(other->side_effects.empty());
  CHECK(s.calls[4].failed());
  CHECK(server.side_effects_outside_calls == std::map<std::string, std::uint64_t>{{"startup", 1}});
  CHECK(child.side_effects_outside_calls.empty());

  CHECK(server.imports == 3);
  REQUIRE(server.hash_changed.size() == 1);
  CHECK(server.hash_changed[0].at("fullname") == "mymod");
  REQUIRE(server.record_mismatch.size() == 1);
  CHECK(server.record_mismatch[0].at("fullname") == "pkg.mod");
  CHECK(server.record_mismatch[0].at("sha256") == "bb");
  REQUIRE(server.faults.size() == 1);
  CHECK((server.faults[0].where == "hook" && server.faults[0].message == "oops" && server.faults[0].count == 2));
  CHECK(server.counters.at("dropped") == 3);
  CHECK(server.exit == "exit");
}

TEST_CASE("the report views say what the model says", "[report]") {
  spool_dir dir;
  write_spool(dir);
  report::options o;
  o.spool_dir = dir.path.string();
  const report::model m = report::read_model(report::read_events(o));
  const std::string text = report::render_text(m);
  CHECK_THAT(text, Catch::Contains("2 processes, 1 sessions, 5 tool calls (1 failed), 25 events"));
  CHECK_THAT(text, Catch::Contains("python_file_open write b.txt (pid 200)"));
  CHECK_THAT(text, Catch::Contains("RECORD mismatch: pkg.mod /site/pkg/mod.py (pkg 1.0)"));
  CHECK_THAT(text, Catch::Contains("internal exception x2: hook: oops"));
  CHECK_THAT(text, Catch::Contains("dropped events: 3"));
  const json j = report::to_json(m);
  CHECK(j["totals"]["tool_errors"] == 1);
  CHECK(j["processes"][0]["sessions"][0]["operations"][1]["p95_ms"] == 40.0);
}

TEST_CASE("policy violations: per call, per process by rule and place, in the totals and the views", "[report]") {
  spool_dir dir;
  const json denied = {{"rule", "ro"},
                       {"mode", "enforce"},
                       {"action", "denied"},
                       {"reason", "read not allowed by rule ro"},
                       {"why", "one folder only"},
                       {"subject", {{"kind", "files"}, {"op", "read"}, {"path", "/etc/shadow"}}}};
  json recorded = {{"rule", "net"},
                   {"mode", "observe"},
                   {"action", "recorded"},
                   {"reason", "connect not allowed by rule net"},
                   {"subject", {{"kind", "network"}, {"op", "connect"}, {"host", "10.0.0.1"}, {"port", 443}}}};
  const json ext_call = {{"call_id", call_id(2)}, {"target", "work"}};
  dir.write("python-bluepython-100-1-1.ndjson",
            {line("00.000", kServer, 100, "sensor_startup", {{"python_argv", {"server.py"}}}),
             line("00.500", kServer, 100, "python_policy_violation", recorded, {{"scope", "startup"}}),
             request("02.000", 2, "work"),
             line("02.001", kServer, 100, "python_policy_violation", denied, in_call(2)),
             line("02.002", kServer, 100, "python_policy_violation", denied, in_call(2)),
             response("02.020", 2, 20, true)});
  dir.write("python-bluepython-200-1-1.ndjson",
            {line("02.004", kChild, 200, "sensor_startup",
                  {{"python_argv", {"child"}}, {"parent", {{"pid", 100}, {"uuid", kServer}, {"call", ext_call}}}}),
             line("02.005", kChild, 200, "python_policy_violation", denied, {{"scope", "startup"}})});
  report::options o;
  o.spool_dir = dir.path.string();
  const report::model m = report::read_model(report::read_events(o));
  CHECK(m.totals.policy_violations == 4);
  CHECK(m.totals.policy_refused == 3);
  REQUIRE(m.processes.size() == 2);
  const report::process& server = m.processes[0];
  REQUIRE(server.violations.size() == 2);
  CHECK(server.violations[0].rule == "net");  // first seen first
  CHECK(server.violations[0].where == "outside calls (startup)");
  CHECK_FALSE(server.violations[0].refused());
  CHECK(server.violations[1].summary == "DENIED read /etc/shadow (rule ro)");
  CHECK(server.violations[1].where == "tools/call work");
  CHECK(server.violations[1].count == 2);
  CHECK(server.violations[1].call_id == call_id(2));
  CHECK(server.violations[1].session_id == kSession);
  CHECK(server.violations[0].session_id.empty());
  CHECK(server.violations[1].why == "one folder only");
  // The child's violation belongs to the call that started the child.
  REQUIRE(m.processes[1].violations.size() == 1);
  CHECK(m.processes[1].violations[0].where == "tools/call work");
  const report::call& c = server.sessions.at(0).calls.at(0);
  REQUIRE(c.violations.size() == 1);  // one summary, from both processes
  CHECK(c.violations[0].count == 3);
  CHECK(c.side_effects.empty());  // a refused operation is not a side effect

  const std::string text = report::render_text(m);
  CHECK_THAT(text, Catch::Contains("4 policy violations (3 refused)"));
  CHECK_THAT(text, Catch::Contains("policy violations: 3 (2 refused, 1 recorded only)"));
  CHECK_THAT(text, Catch::Contains("    session sess-0123456:\n      DENIED read /etc/shadow (rule ro) x2 in tools/call work\n"));
  CHECK_THAT(text, Catch::Contains("    outside calls:\n      RECORDED connect"));
  CHECK_THAT(text, Catch::Contains("RECORDED connect 10.0.0.1:443 (rule net) in outside calls (startup)"));
  CHECK_THAT(text, Catch::Contains("why: one folder only"));
  const json j = report::to_json(m);
  CHECK(j["totals"]["policy_refused"] == 3);
  CHECK(j["processes"][0]["policy_violations"][1]["where"] == "tools/call work");
  CHECK(j["processes"][0]["sessions"][0]["calls"][0]["policy_violations"][0]["count"] == 3);
}

TEST_CASE("the HTML page embeds the data once and keeps its CSP", "[report]") {
  const std::string_view page = report::report_page();
  CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);  // the asset's SPDX line is not served
  const auto slot = page.find("{{report-data}}");
  REQUIRE(slot != std::string_view::npos);
  CHECK(page.find("{{report-data}}", slot + 1) == std::string_view::npos);
  report::model m;
  report::process p;
  p.argv = {"</script><b>"};
  m.processes.push_back(p);
  const std::string html = report::render_html(m);
  CHECK_THAT(html, Catch::Contains("content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'\""));
  CHECK_THAT(html, !Catch::Contains("{{report-data}}"));
  CHECK_THAT(html, Catch::Contains(R"(<\/script><b>)"));
  CHECK_THAT(html, !Catch::Contains("</script><b>"));
}

TEST_CASE("spool files are the python-bluepython-*.ndjson files of a directory (and an earlier release's), sorted",
          "[report][tail]") {
  spool_dir dir;
  dir.write("python-bluepython-2-1-1.ndjson", {});
  dir.write("python-bluepython-1-1-1.ndjson", {});
  dir.write("bluepython-3-1-0.ndjson", {});  // an earlier release's name
  dir.write("other.ndjson", {});
  dir.write("python-1234-5678.0.ndjson", {});  // another sensor's file in a shared directory
  dir.write("python-bluepython-3.json", {});
  dir.write("python-bluepython-.ndjson", {});
  fs::create_directory(dir.path / "python-bluepython-4-1-0.ndjson");
  const auto files = tools::spool_files_in(dir.path.string());
  REQUIRE(files.size() == 3);
  CHECK(fs::path(files[0]).filename() == "bluepython-3-1-0.ndjson");
  CHECK(fs::path(files[1]).filename() == "python-bluepython-1-1-1.ndjson");
  CHECK(fs::path(files[2]).filename() == "python-bluepython-2-1-1.ndjson");
  CHECK(tools::spool_files_in((dir.path / "missing").string()).empty());
}

TEST_CASE("event summaries name what happened in a few words", "[report][tail]") {
  // os.rename(b, a): path b, target a.
  CHECK(tools::summary_of("python_file_change", {{"op", "rename"}, {"path", "b"}, {"target", "a"}}) == "rename b -> a");
  CHECK(tools::summary_of("python_file_change", {{"op", "symlink"}, {"path", "l"}, {"target", "t"}}) == "symlink l -> t");
  CHECK(tools::summary_of("python_net_request", {{"method", "GET"}, {"url", "http://h/x"}, {"status", 404}}) ==
        "GET http://h/x -> 404");
  CHECK(tools::summary_of("python_net_request",
                          {{"method", "GET"}, {"url", "http://h/x"}, {"status", nullptr}, {"error", "ConnectError: no"}}) ==
        "GET http://h/x failed (ConnectError)");
  // shutil.copyfile(a, b): path b (written), target a (its source).
  CHECK(tools::summary_of("python_file_change", {{"op", "copy"}, {"path", "b"}, {"target", "a"}}) == "copy b <- a");
  CHECK(tools::summary_of("python_net_connect", {{"host", "example.org"}, {"port", 443}}) == "example.org:443");
  CHECK(tools::summary_of("python_mcp_event", {{"event", "server_send_response"}, {"request_method", "tools/call"},
                                               {"id", 4}, {"duration_ms", 1.25}, {"error", {{"type", "tool_error"}}}}) ==
        "server_send_response tools/call #4 1.2 ms error tool_error");
  CHECK(tools::summary_of("python_import", {{"fullname", "m"}, {"hash_changed", true}}) == "m (hash changed)");
  CHECK(tools::summary_of("something_new", {{"meta", {}}, {"context", {}}, {"x", 1}}) == R"({"x":1})");
  CHECK(tools::field(json::array(), "x").is_null());
  CHECK(tools::text(json()).empty());
  CHECK(tools::argv_text(json{"a", "b c"}) == "a b c");
}
