// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bluepython::report {

// What `bluepython report` knows about a spool (docs/report.md), read from its
// event lines; the views (text, JSON, HTML) only format it. Values copied
// verbatim from events stay JSON so that the views print them as they came.

// Side effects of one kind and summary that one call caused, its child
// processes' included.
struct side_effect {
  std::string event;    // meta.name
  std::string summary;  // tools::summary_of()
  std::uint64_t count = 0;  // events, plus their "repeated" counts
  long long pid = 0;        // the process that had them (the last one seen)
  std::string first_ts;
  nlohmann::json attributes = nlohmann::json::object();  // the first event's members (op, path, url, argv, ...)
};

// One request the server received, and its response when there was one.
struct call {
  nlohmann::json request_id;
  std::string session_id;
  std::string method;
  std::string target;  // params.name, else params.uri
  std::string ts;
  std::string call_id;  // "" when no event inside the call carried one
  nlohmann::json duration_ms;
  nlohmann::json error;
  bool answered = false;
  std::vector<side_effect> side_effects;  // by (event, summary)
  std::vector<side_effect> violations;    // python_policy_violation, by summary

  bool failed() const noexcept { return error.is_object(); }
};

// Calls of one (method, target) in a session.
struct operation {
  std::string method;
  std::string target;
  std::uint64_t calls = 0;
  std::uint64_t errors = 0;
  std::optional<double> p50_ms;  // nearest rank, rounded to 3 decimals; empty without durations
  std::optional<double> p95_ms;
};

struct session {
  std::string session_id;
  std::string side;  // "server" or "client"
  nlohmann::json info = nlohmann::json::object();  // server_name, client_name, transport, ...
  std::string start;
  std::string end;
  nlohmann::json duration_ms;
  std::vector<call> calls;            // in request order
  std::vector<operation> operations;  // by (method, target)
  // Requests the server sent the client (sampling/createMessage,
  // elicitation/create, roots/list), by method, from their responses.
  std::vector<operation> server_requests;
  // Notifications by direction ("received", "sent") and method.
  std::map<std::string, std::map<std::string, std::uint64_t>> notifications;
  std::uint64_t messages = 0;  // MCP messages of the session: 0 when it closed (or was refused) before any
};

// One tool, prompt or resource across every server session of the spool.
struct target_summary {
  std::string method;
  std::string target;
  std::uint64_t calls = 0;
  std::uint64_t errors = 0;
  std::uint64_t sessions = 0;
  std::optional<double> p50_ms;
  std::optional<double> p95_ms;
  std::map<std::string, std::uint64_t> side_effects;  // by event name, with repeats
};

// python_policy_violation events of one (rule, action, subject, session, where).
struct violation {
  std::string rule;
  std::string mode;    // the mode that decided: observe, enforce, kill
  std::string action;  // recorded, denied, killed
  std::string reason;
  std::string why;      // the rule's own explanation, when it has one
  std::string summary;  // tools::summary_of(): "DENIED read /etc/hostname (rule r)"
  std::string where;    // "tools/call read", or "outside calls (startup)"
  std::string session_id;  // the session of its call; "" outside calls
  std::string call_id;     // the first call it happened in; "" outside calls
  std::uint64_t count = 0;
  std::string first_ts;

  bool refused() const noexcept { return action != "recorded"; }
};

struct fault {  // python_internal_exception events of one (where, message)
  std::string where;
  std::string message;
  std::uint64_t count = 0;
};

struct process {
  long long pid = 0;
  std::string uuid;
  std::string start;  // first and last event timestamps
  std::string end;
  nlohmann::json argv;      // sensor_startup's python_argv
  nlohmann::json parent;    // sensor_startup's parent (with .call when started inside a call)
  nlohmann::json exit;      // sensor_shutdown's reason; null when there was none
  nlohmann::json counters = nlohmann::json::object();  // sensor_shutdown's counters
  std::vector<std::string> servers;
  std::vector<session> sessions;
  std::map<std::string, std::uint64_t> side_effects_outside_calls;  // by scope
  std::uint64_t imports = 0;
  std::vector<nlohmann::json> hash_changed;     // {fullname, file, pkg, version}
  std::vector<nlohmann::json> record_mismatch;  // ... and record_sha256, sha256
  std::vector<fault> faults;                    // by (where, message)
  std::vector<violation> violations;            // by (rule, action, summary, session, where), first seen first
};

struct totals {
  std::uint64_t processes = 0;
  std::uint64_t sessions = 0;
  std::uint64_t tool_calls = 0;  // tools/call requests
  std::uint64_t tool_errors = 0;
  std::uint64_t events = 0;
  std::uint64_t policy_violations = 0;  // events
  std::uint64_t policy_refused = 0;     // ... of them denied or killed
  // Values redacted, by rule, over all processes (sensor_shutdown's "redacted"; docs/redaction.md).
  std::map<std::string, std::uint64_t> redacted;
};

struct model {
  std::vector<target_summary> targets;  // by (method, target): tools/call, prompts/get, resources/read
  std::vector<process> processes;       // in order of their first event
  report::totals totals;
};

// The model of spool lines ({"ts": ..., "event": {...}}) sorted by time.
// Malformed fields read as empty; never throws but for allocation failure.
model read_model(const std::vector<nlohmann::json>& events);

// Nearest-rank percentile `p` (0..100] of ascending `sorted`; 0 when empty.
double percentile(const std::vector<double>& sorted, double p) noexcept;

}  // namespace bluepython::report
