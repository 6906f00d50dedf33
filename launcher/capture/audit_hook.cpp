// SPDX-License-Identifier: Apache-2.0
#include "capture/audit_hook.hpp"

#include <string>

#include "capture/audit_events.hpp"
#include "capture/event_args.hpp"
#include "capture/filters.hpp"
#include "capture/folding.hpp"
#include "capture/handlers.hpp"
#include "capture/import_monitor.hpp"
#include "capture/origin.hpp"
#include "capture/policy_gate.hpp"
#include "capture/spawn_wrappers.hpp"
#include "pyapi/py_json.hpp"
#include "pyapi/py_ref.hpp"
#include "runtime/sensor.hpp"

namespace bluepython::capture {
namespace {

// A side effect: category on, the app's doing, through the filters, then its
// handler. Encoding the arguments can run app code, which can raise audit
// events of its own: those are ours and are not reported (busy_guard).
void side_effect(const audit_event& e, PyObject* args) noexcept {
  if (!sensor::settings().enabled(e.cat)) return;
  const busy_guard guard;
  if (!guard.entered()) return;
  const saved_exception saved;
  try {
    if (e.seen != nullptr && !e.seen(e, args)) return;
    if (e.wanted != nullptr && !e.wanted(e, args)) return;
    if (!passes(e, args)) return;
    e.handle(e, args);
  } catch (...) {
    // Out of memory: the event is lost; the app goes on.
  }
}

}  // namespace

// cpython.run_file / run_module / run_command / run_stdin / run_startup /
// run_interactivehook: how the main program starts (python_run). Side
// effects before it (site, .pth files, sitecustomize) were scope
// "interpreter"; the interpreter reading the main file is not reported.
void program_run(const audit_event& e, PyObject* args) {
  const std::string_view mode = e.name.substr(e.name.find("run_") + 4);
  if (mode == "file") note_main_file(arg(args, 0));
  program_starts();
  forget_installation();  // site moved sys.prefix to the virtualenv meanwhile
  const saved_exception saved;
  std::string attrs;
  json_writer w(attrs, sensor::settings().limits);
  w.key("mode");
  w.string(mode);
  w.key("target");
  value_or_null(w, arg(args, 0));
  sensor::emit(e.reports, attrs);
}

// import: names imported before the import monitor exists, and the spawn
// wrappers once their modules are loaded.
void module_import(const audit_event& /*e*/, PyObject* args) {
  if (!import_monitor::installed()) {
    if (PyObject* name = arg(args, 0); name != nullptr) import_monitor::note_startup_import(name);
  }
  install_spawn_wrappers();
  policy_gate::install_wrappers();
}

}  // namespace bluepython::capture

namespace bluepython::audit_hook {

int on_event(const char* event, PyObject* args, void* /*user_data*/) noexcept {
  const capture::audit_event* e = capture::find_audit_event(event);
  if (e == nullptr) return 0;  // nearly every event: refused by the prefilter
  if (e->starts_child) sensor::publish_handoff();
  // The policy first: a denied operation is reported as a violation only.
  // The policy governs the program: the interpreter's own start (site,
  // pyvenv.cfg, .pth files; scope "interpreter") is not checked.
  if (e->check != nullptr && capture::policy_gate::active() != nullptr && !capture::busy_guard::busy() &&
      capture::program_running()) {
    const capture::busy_guard guard;
    try {
      if (e->check(*e, args) < 0) return -1;
    } catch (...) {
      // Out of memory deciding: the operation goes on.
    }
  }
  if (e->when == capture::gate::always) {
    try {
      e->handle(*e, args);
    } catch (...) {
    }
  } else {
    capture::side_effect(*e, args);
  }
  // The process image is about to be replaced: everything emitted so far
  // (this exec included) must be on disk first.
  if (e->flush_after) sensor::flush_before_exec();
  return 0;
}

bool install() noexcept { return PySys_AddAuditHook(&on_event, nullptr) == 0; }

}  // namespace bluepython::audit_hook
