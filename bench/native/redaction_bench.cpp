// SPDX-License-Identifier: Apache-2.0
// What redaction costs the encoder: the attributes of MCP events written by
// the JSON writer with redaction off and on (the defaults), interleaved in
// rounds on one thread, compared by the median of the per-round ratios.
//
//   bluepython_redaction_bench [--rounds N] [--shape request|response|result_1mib]
//
// Three shapes, each an event the sensor writes on every call:
// - request: a tools/call request (name, 4 arguments, _meta with a progressToken);
// - response: its result (text content, structuredContent);
// - result_1mib: a result whose text is 1 MiB (cut at limits.max_string_bytes,
//   64 KiB, as the sensor writes it).
// Prints one JSON line per shape: ns per event off and on, and the ratio.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/json_writer.hpp"
#include "pipeline/redaction.hpp"

namespace {

using namespace bluepython;

void request(json_writer& w) {
  w.key("event");
  w.string("server_received_request");
  w.key("id");
  w.integer(42);
  w.key("message");
  w.begin_object();
  w.key("jsonrpc");
  w.string("2.0");
  w.key("id");
  w.integer(42);
  w.key("method");
  w.string("tools/call");
  w.key("params");
  w.begin_object();
  w.key("name");
  w.string("search_issues");
  w.key("arguments");
  w.begin_object();
  w.key("repo");
  w.string("acme/payments-api");
  w.key("query");
  w.string("is:open label:bug sort:updated-desc timeout in the retry loop");
  w.key("limit");
  w.integer(25);
  w.key("include_closed");
  w.boolean(false);
  w.end_object();
  w.key("_meta");
  w.begin_object();
  w.key("progressToken");
  w.integer(7);
  w.end_object();
  w.end_object();
  w.end_object();
  w.key("session_id");
  w.string("3f2c9a1e8b7d4c6f");
  w.key("client_id");
  w.string("claude-code");
  w.key("source");
  w.integer(1);
  w.key("server_name");
  w.string("github");
  w.key("method");
  w.string("tools/call");
  w.key("transport");
  w.string("stdio");
  w.key("protocol_version");
  w.string("2025-11-25");
}

void response(json_writer& w, std::string_view text) {
  w.key("event");
  w.string("server_send_response");
  w.key("id");
  w.integer(42);
  w.key("message");
  w.begin_object();
  w.key("jsonrpc");
  w.string("2.0");
  w.key("id");
  w.integer(42);
  w.key("result");
  w.begin_object();
  w.key("content");
  w.begin_array();
  w.begin_object();
  w.key("type");
  w.string("text");
  w.key("text");
  w.string(text);
  w.end_object();
  w.end_array();
  w.key("structuredContent");
  w.begin_object();
  w.key("count");
  w.integer(3);
  w.end_object();
  w.key("isError");
  w.boolean(false);
  w.end_object();
  w.end_object();
  w.key("session_id");
  w.string("3f2c9a1e8b7d4c6f");
  w.key("duration_ms");
  w.number(12.5);
}

template <class Body>
double ns_per_event(const json_limits& limits, int events, Body&& body) {
  std::string out;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < events; ++i) {
    out.clear();
    json_writer w(out, limits);
    body(w);
  }
  const auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  if (out.empty()) std::abort();
  return ns / events;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 21;
  std::string_view only;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a(argv[i]);
    if (a == "--rounds" && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--shape" && i + 1 < argc) {
      only = argv[++i];
    } else {
      (void)std::fprintf(stderr, "bluepython_redaction_bench: unknown argument %s\nusage: bluepython_redaction_bench [--rounds N] [--shape NAME]\n", argv[i]);
      return 2;
    }
  }
  const redactor r{redaction_options{}};
  json_limits off;
  json_limits on;
  on.redact = &r;
  std::string prose;
  const std::string_view line =
      "Issue #4182 retry loop times out after 30s when the upstream returns 502; see run 99812 for the trace, "
      "path /srv/app/payments/retry.py:118, owner @dana, labels bug, p2.\n";
  while (prose.size() < (1U << 20U)) prose += line;
  const std::string small_text = std::string(line) + std::string(line) + std::string(line);
  struct shape {
    const char* name;
    int events;
    std::function<void(json_writer&)> body;
  };
  const std::vector<shape> shapes = {
      {"request", 20000, [](json_writer& w) { request(w); }},
      {"response", 20000, [&](json_writer& w) { response(w, small_text); }},
      {"result_1mib", 200, [&](json_writer& w) { response(w, prose); }},
  };
  for (const auto& s : shapes) {
    if (!only.empty() && only != s.name) continue;
    std::vector<double> ratios;
    std::vector<double> offs;
    std::vector<double> ons;
    for (int round = 0; round < rounds; ++round) {
      // ABBA: drift hits both sides alike.
      const bool flip = (round % 2) != 0;
      const double a = ns_per_event(flip ? on : off, s.events, s.body);
      const double b = ns_per_event(flip ? off : on, s.events, s.body);
      const double t_off = flip ? b : a;
      const double t_on = flip ? a : b;
      offs.push_back(t_off);
      ons.push_back(t_on);
      ratios.push_back(t_on / t_off);
    }
    std::printf("{\"shape\": \"%s\", \"ns_off\": %.1f, \"ns_on\": %.1f, \"ratio\": %.3f}\n", s.name, median(offs),
                median(ons), median(ratios));
  }
  return 0;
}
