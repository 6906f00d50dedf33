// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "pipeline/event_pipeline.hpp"

// The process-wide sensor: the effective config, the event pipeline, and the
// process's place in a tree of bluepython processes. Created once, before the
// interpreter; never destroyed (so no static-destruction order issues at
// exit). The emit functions may be called from any thread at any time after
// start() and are noexcept.
namespace bluepython::sensor {

struct startup_info {
  std::vector<std::string> argv;         // bluepython's own argv
  std::vector<std::string> python_argv;  // what CPython was given
  std::string python_version;            // Py_GetVersion()
};

// Builds the pipeline for `cfg`, emits sensor_startup, and installs fork
// handling and a C atexit fallback. The writer starts with start_writer().
// Exports BLUEPYTHON_PARENT so child processes can name this one.
void start(const config& cfg, const startup_info& info);

[[nodiscard]] bool started() noexcept;
// OTLP trace export is on in this process.
[[nodiscard]] bool exports_traces() noexcept;
// The app's own OpenTelemetry instrumentation makes MCP server spans.
void step_aside_server_spans() noexcept;
[[nodiscard]] const config& settings() noexcept;
[[nodiscard]] event_pipeline* pipeline() noexcept;

// Emits one event stamped now. `attributes` and `context` are pre-encoded
// JSON members without braces (may be empty).
bool emit(std::string_view name, std::string_view attributes, std::string_view context = {},
          bool actionable = true) noexcept;
// Emits a python_import record the writer completes (hash, distribution).
bool emit_import(std::string_view attributes, std::string_view file) noexcept;
// Emits python_internal_exception {where, message}.
void report_internal(std::string_view where, std::string_view message) noexcept;

// Drains everything emitted so far (exec, os._exit). Bounded wait.
void flush(std::chrono::milliseconds timeout = std::chrono::milliseconds(1000)) noexcept;
// os.exec: flush, and tell the journal that nothing after this is missing.
void flush_before_exec() noexcept;

// The MCP call in effect (JSON object text, or empty) in the thread about to
// call fork(): the child's sensor_startup names it as parent.call.
void set_fork_call(std::string call) noexcept;

// Final sensor_shutdown, drain, join. Idempotent.
void stop(const char* reason) noexcept;

// Installs the SIGTERM/SIGHUP handler that flushes and then dies by the same
// signal (only where the disposition is still the default).
void install_signal_handlers() noexcept;

// Installs the best-effort crash handler (SIGSEGV, SIGBUS, SIGILL, SIGFPE,
// SIGABRT) that lets the writer drain and write sensor_shutdown before the
// default action runs (only where the disposition is still the default).
void install_crash_handlers() noexcept;

// Tells the import resolver where the standard library is (before
// start_writer: the resolver belongs to the writer thread afterwards).
void set_stdlib_dir(const std::string& dir) noexcept;

// Starts the writer thread. Called once the interpreter is initialized, so
// no descriptor of ours exists while CPython checks fds 0-2.
void start_writer() noexcept;

// Python's after_in_child fork hook: starts the child's writer.
void start_child_writer() noexcept;

// Publishes this process's handoff file (config/handoff.hpp), once: called
// just before the process starts a child (the spawn and fork audit events,
// the _posixsubprocess.fork_exec wrapper), so a process that starts none
// never writes one. Needs the GIL (it serializes callers). Never throws.
void publish_handoff() noexcept;

// Prints one warning line to stderr, once per process.
void warn_once(std::string_view message) noexcept;

// Current pid / this sensor's uuid (updated in fork children).
[[nodiscard]] int pid() noexcept;
[[nodiscard]] std::string uuid();

}  // namespace bluepython::sensor
