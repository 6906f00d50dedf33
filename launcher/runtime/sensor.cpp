// SPDX-License-Identifier: Apache-2.0
#include "runtime/sensor.hpp"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "pipeline/clock.hpp"
#include "pipeline/fd_util.hpp"
#include "config/handoff.hpp"
#include "pipeline/json_writer.hpp"
#include "export/otlp/otlp_exporter.hpp"
#include "pipeline/redaction.hpp"
#include "pipeline/spool_writer.hpp"
#include "runtime/identity.hpp"
#include "version.hpp"

namespace bluepython::sensor {
namespace {

struct parent_link {
  int pid = 0;
  std::string uuid;
  std::string call;  // the parent's MCP call that started us (a JSON object), if any
};

// The MCP call in effect in the thread calling os.fork (set just before the
// fork; the child's sensor_startup names it).
thread_local std::string t_fork_call;

// BLUEPYTHON_PARENT_CALL, put into this child's environment alone by the
// parent's fork_exec wrapper: a JSON object (checked, re-encoded). Removed
// from our environment so our own children do not inherit it.
std::string read_parent_call() {
  const char* v = std::getenv("BLUEPYTHON_PARENT_CALL");
  std::string call;
  if (v != nullptr && std::strlen(v) <= 8192) {
    try {
      const auto parsed = nlohmann::json::parse(v);
      if (parsed.is_object()) call = parsed.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } catch (...) {
    }
  }
  ::unsetenv("BLUEPYTHON_PARENT_CALL");
  return call;
}

struct state {
  config cfg;
  startup_info info;
  std::unique_ptr<event_pipeline> pipeline;
  import_resolver* resolver = nullptr;  // owned by the pipeline
  otlp_exporter* exporter = nullptr;     // owned by the pipeline (its batch observer), if exporting
  parent_link parent;  // from BLUEPYTHON_PARENT, if any
  std::string executable;
  std::string config_text;  // canonical settings; the writer hashes them
  std::atomic<bool> warned{false};
  std::atomic<bool> stopped{false};
  bool child_writer_pending = false;
  std::unique_ptr<redactor> redact;  // counts survive in it until the process ends
  std::string startup_warning;
  // The handoff file exists (published before this process's first child;
  // a fork child starts without one of its own).
  std::atomic<bool> handoff_published{false};
};

state* g_state = nullptr;  // leaked on purpose: lives until the process ends

// SIGTERM/SIGHUP handling. The handler must never wait for a lock the
// interrupted thread holds: a thread inside emit() or stop() is marked
// critical, and a signal arriving there is deferred to the end of that
// section. Otherwise the handler asks the writer to drain and to re-raise the
// signal with its default action, and parks the interrupted thread meanwhile
// (bounded: if the writer cannot finish, the process dies anyway).
thread_local int t_critical = 0;
std::atomic<int> g_deferred_signal{0};
std::atomic<bool> g_fatal_requested{false};
std::atomic<bool> g_shutdown_done{false};
std::atomic<bool> g_shutdown_thread_set{false};
pthread_t g_shutdown_thread{};
constexpr int kFatalWaitMs = 5000;
// A crashed process is not kept alive as long: if the writer cannot finish
// (the crash left a lock it needs held), the crash goes ahead without it.
constexpr int kCrashWaitMs = 1000;

parent_link read_parent_env() {
  parent_link link;
  const char* v = std::getenv("BLUEPYTHON_PARENT");
  if (v == nullptr) return link;
  const std::string_view text(v);
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return link;
  int pid = 0;
  for (const char c : text.substr(0, colon)) {
    if (c < '0' || c > '9') return link;
    pid = pid * 10 + (c - '0');
  }
  link.pid = pid;
  link.uuid = std::string(text.substr(colon + 1, 36));
  link.call = read_parent_call();
  return link;
}

void export_parent_env(const process_identity& id) {
  ::setenv("BLUEPYTHON_PARENT", fmt::format("{}:{}", id.pid, id.uuid).c_str(), 1);
}

void on_sink_fault(const std::string& message) noexcept {
  warn_once(fmt::format("bluepython: warning: {} (events are being dropped and counted)", message));
}

// OTLP resource attributes of this process (docs/export.md).
otlp::attributes export_resource(const state& s, const process_identity& id) {
  otlp::attributes r;
  const otlp_options& o = s.cfg.otlp;
  std::string service = o.service_name;
  for (const auto& [k, v] : o.resource_attributes) {
    if (k == "service.name" && service.empty()) service = v;
  }
  r.emplace_back("service.name", service.empty() ? "unknown_service:bluepython" : service);
  r.emplace_back("service.instance.id", id.uuid);
  r.emplace_back("process.pid", id.pid);
  r.emplace_back("process.parent_pid", id.ppid);
  r.emplace_back("process.executable.path", s.executable);
  r.emplace_back("process.runtime.name", "cpython");
  const std::string& version = s.info.python_version;
  r.emplace_back("process.runtime.version", version.substr(0, version.find(' ')));
  r.emplace_back("process.runtime.description", version);
  if (std::string host = host_name(); !host.empty()) r.emplace_back("host.name", std::move(host));
  r.emplace_back("telemetry.sdk.name", "bluepython");
  r.emplace_back("telemetry.sdk.language", "python");
  r.emplace_back("telemetry.sdk.version", kVersion);
  r.emplace_back("bluepython.version", kVersion);
  for (const auto& pair : o.resource_attributes) {
    const std::string& k = pair.first;
    if (k == "service.name") continue;
    const auto same = std::find_if(r.begin(), r.end(), [&](const otlp::attribute& a) { return a.first == k; });
    if (same != r.end()) {
      same->second = pair.second;  // what the operator says wins
    } else {
      r.emplace_back(k, pair.second);
    }
  }
  return r;
}

// Export failures: one warning (shared with every other), and an event
// while the pipeline still takes them (else the pipeline writes it at
// shutdown, from the exporter's unreported faults).
bool on_export_fault(const std::string& message) noexcept {
  warn_once(fmt::format("bluepython: warning: {}", message));
  try {
    std::string attrs;
    json_writer w(attrs);
    w.key("where");
    w.string("otlp_export");
    w.key("message");
    w.string(message);
    return emit("python_internal_exception", attrs, {}, true);
  } catch (...) {
    return false;
  }
}

void start_exporter(state& s, const process_identity& id) {
  const otlp_options& o = s.cfg.otlp;
  if (!o.problem.empty() && (!o.endpoint.empty() || !o.logs_endpoint.empty() || !o.traces_endpoint.empty() ||
                             !o.metrics_endpoint.empty())) {
    warn_once(fmt::format("bluepython: warning: {}", o.problem));
    return;
  }
  otlp_settings settings;
  settings.logs_url = o.url("logs");
  settings.traces_url = o.url("traces");
  settings.metrics_url = o.url("metrics");
  if (!settings.enabled()) return;
  settings.headers = o.headers;
  settings.timeout_ms = o.timeout_ms;
  settings.batch_delay_ms = o.batch_delay_ms;
  settings.metric_interval_ms = o.metric_interval_ms;
  settings.shutdown_timeout_ms = o.shutdown_timeout_ms;
  settings.max_queue_bytes = o.max_queue_bytes;
  settings.capture_tool_io = o.capture_tool_io;
  settings.resource = export_resource(s, id);
  auto exporter = std::make_unique<otlp_exporter>(std::move(settings), &on_export_fault);
  s.exporter = exporter.get();
  s.pipeline->set_observer(std::move(exporter), std::chrono::milliseconds(o.shutdown_timeout_ms));
}

void emit_startup(const char* via, const parent_link& parent) {
  state& s = *g_state;
  std::string attrs;
  json_writer w(attrs, s.cfg.limits);
  w.key("bluepython_version");
  w.string(kVersion);
  w.key("argv");
  w.begin_array();
  for (const auto& a : s.info.argv) w.string(a);
  w.end_array();
  w.key("python_argv");
  w.begin_array();
  for (const auto& a : s.info.python_argv) w.string(a);
  w.end_array();
  w.key("executable");
  w.string(s.executable);
  char cwd[PATH_MAX];
  w.key("cwd");
  if (::getcwd(cwd, sizeof cwd) != nullptr) w.string(cwd); else w.null();
  w.key("host");
  if (const std::string host = host_name(); !host.empty()) w.string(host); else w.null();
  w.key("python");
  w.begin_object();
  w.key("implementation");
  w.string("CPython");
  w.key("version");
  w.string(s.info.python_version);
  w.end_object();
  w.key("config_file");
  if (s.cfg.source_file.empty()) w.null(); else w.string(s.cfg.source_file);
  w.key("categories");
  w.begin_array();
  for (std::size_t i = 0; i < category_count; ++i) {
    if (s.cfg.enabled(static_cast<category>(i))) w.string(category_names[i]);
  }
  w.end_array();
  w.key("spool_dir");
  w.string(s.cfg.spool.dir);
  w.key("uid");
  w.integer(::getuid());
  w.key("parent");
  if (parent.pid == 0) {
    w.null();
  } else {
    w.begin_object();
    w.key("pid");
    w.integer(parent.pid);
    w.key("uuid");
    w.string(parent.uuid);
    w.key("via");
    w.string(via);
    w.key("direct");
    w.boolean(parent.pid == ::getppid());
    if (!parent.call.empty()) {
      w.key("call");
      w.raw(parent.call);
    }
    w.end_object();
  }
  record_view r;
  r.kind = record_kind::startup;
  r.name = "sensor_startup";
  r.type = event_type::sensor_lifecycle;
  r.ts_ns = wall_time_ns();
  r.attributes = attrs;
  r.deferred = s.config_text;
  s.pipeline->emit(r);
}

void atfork_prepare() {
  if (g_state != nullptr && g_state->pipeline) g_state->pipeline->prepare_fork();
}

void atfork_parent() {
  t_fork_call.clear();
  if (g_state != nullptr && g_state->pipeline) g_state->pipeline->after_fork_parent();
}

void atfork_child() {
  if (g_state == nullptr || !g_state->pipeline) return;
  state& s = *g_state;
  try {
    parent_link parent{s.pipeline->identity().pid, s.pipeline->identity().uuid, std::move(t_fork_call)};
    t_fork_call.clear();
    process_identity id;
    id.pid = ::getpid();
    id.ppid = ::getppid();
    id.uuid = make_uuid();
    id.start_ns = wall_time_ns();
    id.component_id = s.pipeline->identity().component_id;
    // The exporter was prepared for the fork by the pipeline, or not at all.
    if (s.pipeline->after_fork_child(id) && s.exporter != nullptr) {
      s.exporter->after_fork_child(export_resource(s, id));
    }
    g_fatal_requested.store(false);
    g_deferred_signal.store(0);
    if (s.redact) s.redact->reset_counts();
    s.warned.store(false);
    s.handoff_published.store(false);
    s.child_writer_pending = true;
    export_parent_env(id);
    if (!s.stopped.load()) emit_startup("fork", parent);
  } catch (...) {
  }
}

void c_atexit() { stop("exit"); }

[[noreturn]] void die_by(int signo) noexcept {
  (void)::signal(signo, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signo);
  (void)::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  (void)::raise(signo);
  ::_exit(128 + signo);  // not reached: the default action terminates
}

void sleep_ms(int ms) noexcept {
  timespec ts{0, static_cast<long>(ms) * 1'000'000L};
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// Async-signal-safe apart from the atomics and the eventfd write.
void finish_fatal(int signo) noexcept {
  if (g_state->stopped.load()) {
    if (g_shutdown_thread_set.load() && ::pthread_equal(::pthread_self(), g_shutdown_thread) != 0) {
      g_deferred_signal.store(signo);  // stop() re-raises when it is done
      return;
    }
    for (int waited = 0; waited < kFatalWaitMs && !g_shutdown_done.load(); ++waited) sleep_ms(1);
    die_by(signo);
  }
  if (!g_fatal_requested.exchange(true)) g_state->pipeline->request_fatal_signal(signo);
  for (int waited = 0; waited < kFatalWaitMs && !g_state->pipeline->fatal_done(); ++waited) sleep_ms(1);
  die_by(signo);
}

// The order of the checks matters: stop() stops the writer thread before it
// writes sensor_shutdown, so "the writer is not running" alone does not mean
// there is nothing left to lose. A signal inside stop() (or any critical
// section) waits for its end; one on another thread while stop() runs waits
// in finish_fatal for the shutdown to be on disk.
void fatal_signal_handler(int signo) {
  if (g_state == nullptr || !g_state->pipeline) die_by(signo);
  if (t_critical > 0) {
    g_deferred_signal.store(signo);
    return;
  }
  if (!g_state->stopped.load() && !g_state->pipeline->running()) die_by(signo);
  finish_fatal(signo);
}

// SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT: best effort. The faulting
// instruction would fault again if the handler returned, so it never does:
// it asks the writer to drain and write sensor_shutdown (reason: the signal),
// which then re-raises the signal with its default action (core dump and
// exit status as without bluepython), and dies by itself if that takes too
// long. A crash inside bluepython's own code (t_critical), during shutdown or
// in a process whose writer is not running dies at once. The writer thread
// blocks every signal, so a crash there gets the default action directly.
void crash_signal_handler(int signo) {
  if (g_state == nullptr || !g_state->pipeline || !g_state->pipeline->running() || t_critical > 0 ||
      g_state->stopped.load()) {
    die_by(signo);
  }
  if (!g_fatal_requested.exchange(true)) g_state->pipeline->request_fatal_signal(signo);
  for (int waited = 0; waited < kCrashWaitMs && !g_state->pipeline->fatal_done(); ++waited) sleep_ms(1);
  die_by(signo);
}

// Ends a critical section; runs a signal that arrived during it.
void leave_critical() noexcept {
  if (--t_critical == 0 && g_deferred_signal.load(std::memory_order_relaxed) != 0) {
    if (const int signo = g_deferred_signal.exchange(0); signo != 0) finish_fatal(signo);
  }
}

}  // namespace

void start(const config& cfg, const startup_info& info) {
  auto* s = new state();
  s->cfg = cfg;
  s->info = info;
  s->executable = self_executable();
  s->config_text = cfg.to_json().dump();
  s->parent = read_parent_env();

  process_identity id;
  id.pid = ::getpid();
  id.ppid = ::getppid();
  id.uuid = make_uuid();
  id.start_ns = wall_time_ns();
  id.component_id = !cfg.component_id.empty() ? cfg.component_id : host_name();
  if (id.component_id.empty()) id.component_id = "unknown";

  // Redaction first: sensor_startup's argv goes through it too.
  s->redact = make_redactor(cfg.redaction, s->parent.pid == 0, s->startup_warning);
  if (cfg.redaction.enable) s->cfg.limits.redact = s->redact.get();

  pipeline_options options;
  options.redactions = cfg.redaction.enable ? s->redact.get() : nullptr;
  options.queue_bytes = cfg.queue.max_bytes;
  options.flush_interval = std::chrono::milliseconds(cfg.spool.flush_interval_ms);
  options.mirror_to_stderr = cfg.events_to_stderr;
  options.state_dir = cfg.spool.state_dir;
  options.spool_dir = cfg.spool.dir;
  options.sweep = true;
  options.fsync = cfg.spool.fsync;
  options.fsync_interval = std::chrono::milliseconds(cfg.spool.fsync_interval_ms);
  auto sink = std::make_unique<spool_writer>(cfg.spool, id.pid, id.start_ns);
  std::unique_ptr<import_resolver> resolver;
  if (cfg.enabled(category::imports)) {
    const char* const file = "/import-baseline.tsv";  // in the state dir; earlier, in the spool
    resolver = std::make_unique<import_resolver>(cfg.imports, cfg.spool.state_dir + file, cfg.spool.dir + file);
    s->resolver = resolver.get();
  }
  s->pipeline = std::make_unique<event_pipeline>(options, std::move(sink), id, std::move(resolver), &on_sink_fault);
  (void)s->pipeline->attach_journal();
  g_state = s;
  try {
    start_exporter(*s, id);
  } catch (...) {
    // No exporter: the spool is unaffected.
  }

  emit_startup("exec", s->parent);
  if (!s->startup_warning.empty()) warn_once(s->startup_warning);
  export_parent_env(id);
  ::pthread_atfork(&atfork_prepare, &atfork_parent, &atfork_child);
  (void)std::atexit(&c_atexit);
}

bool started() noexcept { return g_state != nullptr; }

void step_aside_server_spans() noexcept {
  if (g_state == nullptr || !g_state->pipeline) return;
  if (g_state->exporter != nullptr) g_state->exporter->step_aside_server_spans();
}

bool exports_traces() noexcept {
  if (g_state == nullptr || !g_state->pipeline) return false;
  return g_state->exporter != nullptr && g_state->exporter->exports_traces();
}

void set_fork_call(std::string call) noexcept { t_fork_call = std::move(call); }

const config& settings() noexcept {
  static const config defaults;
  return g_state != nullptr ? g_state->cfg : defaults;
}

event_pipeline* pipeline() noexcept { return g_state != nullptr ? g_state->pipeline.get() : nullptr; }

bool emit(std::string_view name, std::string_view attributes, std::string_view context, bool actionable) noexcept {
  if (g_state == nullptr || g_state->stopped.load(std::memory_order_relaxed)) return false;
  record_view r;
  r.name = name;
  r.type = actionable ? event_type::event : event_type::nonactionable;
  r.ts_ns = wall_time_ns();
  r.context = context;
  r.attributes = attributes;
  ++t_critical;
  const bool ok = g_state->pipeline->emit(r);
  leave_critical();
  return ok;
}

bool emit_import(std::string_view attributes, std::string_view file) noexcept {
  if (g_state == nullptr || g_state->stopped.load(std::memory_order_relaxed)) return false;
  record_view r;
  r.kind = record_kind::import;
  r.name = "python_import";
  r.ts_ns = wall_time_ns();
  r.attributes = attributes;
  r.deferred = file;
  ++t_critical;
  const bool ok = g_state->pipeline->emit(r);
  leave_critical();
  return ok;
}

void report_internal(std::string_view where, std::string_view message) noexcept {
  try {
    std::string attrs;
    json_writer w(attrs, settings().limits);
    w.key("where");
    w.string(where);
    w.key("message");
    w.string(message);
    emit("python_internal_exception", attrs);
    if (g_state != nullptr && g_state->cfg.debug) {
      warn_once(fmt::format("bluepython: internal error in {}: {}", where, message));
    }
  } catch (...) {
  }
}

void flush(std::chrono::milliseconds timeout) noexcept {
  if (g_state != nullptr && !g_state->stopped.load()) g_state->pipeline->flush(timeout);
}

void flush_before_exec() noexcept {
  if (g_state != nullptr && !g_state->stopped.load()) g_state->pipeline->flush_for_exec(std::chrono::milliseconds(1000));
}

void stop(const char* reason) noexcept {
  if (g_state == nullptr) return;
  ++t_critical;
  if (g_state->stopped.exchange(true)) {
    --t_critical;
    return;
  }
  g_shutdown_thread = ::pthread_self();
  g_shutdown_thread_set.store(true);
  if (g_state->handoff_published.load()) handoff::retract(g_state->pipeline->identity().pid);
  g_state->pipeline->shutdown(std::chrono::milliseconds(5000), reason);
  g_shutdown_done.store(true);
  --t_critical;
  // A SIGTERM that arrived while this thread was shutting down: everything
  // is on disk now, so die the way the signal asked.
  if (const int signo = g_deferred_signal.exchange(0); signo != 0) die_by(signo);
}

namespace {

void install_if_default(int signo, void (*handler)(int)) noexcept {
  struct sigaction current{};
  if (::sigaction(signo, nullptr, &current) != 0) return;
  if (current.sa_handler != SIG_DFL || (current.sa_flags & SA_SIGINFO) != 0) return;
  struct sigaction action{};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART | SA_ONSTACK;
  ::sigaction(signo, &action, nullptr);
}

}  // namespace

void install_signal_handlers() noexcept {
  for (const int signo : {SIGTERM, SIGHUP}) install_if_default(signo, &fatal_signal_handler);
}

void install_crash_handlers() noexcept {
  for (const int signo : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) install_if_default(signo, &crash_signal_handler);
}

void set_stdlib_dir(const std::string& dir) noexcept {
  try {
    if (g_state != nullptr && g_state->resolver != nullptr && !g_state->pipeline->running()) {
      g_state->resolver->set_stdlib_dir(dir);
    }
  } catch (...) {
  }
}

void start_writer() noexcept {
  if (g_state != nullptr && !g_state->stopped.load()) g_state->pipeline->start();
}

void start_child_writer() noexcept {
  if (g_state == nullptr || !g_state->child_writer_pending) return;
  g_state->child_writer_pending = false;
  g_state->pipeline->start();
}

void publish_handoff() noexcept {
  if (g_state == nullptr || g_state->stopped.load() || g_state->handoff_published.exchange(true)) return;
  handoff::publish(g_state->config_text, g_state->pipeline->identity().pid, g_state->pipeline->identity().uuid);
}

void warn_once(std::string_view message) noexcept {
  if (g_state != nullptr && g_state->warned.exchange(true)) return;
  try {
    std::string line(message);
    line += '\n';
    (void)write_all(STDERR_FILENO, line.data(), line.size());
  } catch (...) {
  }
}

int pid() noexcept { return g_state != nullptr ? g_state->pipeline->identity().pid : ::getpid(); }

std::string uuid() { return g_state != nullptr ? g_state->pipeline->identity().uuid : std::string(); }

}  // namespace bluepython::sensor
