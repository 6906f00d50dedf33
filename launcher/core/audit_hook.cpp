// SPDX-License-Identifier: Apache-2.0
#include "audit_hook.hpp"

#include <cstring>
#include <string>
#include <string_view>

#include "import_monitor.hpp"
#include "json_writer.hpp"
#include "py_json.hpp"
#include "sensor.hpp"
#include "side_effects.hpp"

namespace bluepython::audit_hook {
namespace {

// cpython.run_file / run_module / run_command / run_stdin / run_startup /
// run_interactivehook: how the main program starts.
void on_run(const char* mode, PyObject* args) noexcept {
  PyObject *et, *ev, *tb;
  PyErr_Fetch(&et, &ev, &tb);
  try {
    std::string attrs;
    json_writer w(attrs, sensor::settings().limits);
    w.key("mode");
    w.string(mode);
    w.key("target");
    if (args != nullptr && PyTuple_Check(args) && PyTuple_GET_SIZE(args) > 0) {
      encode_python_value(w, PyTuple_GET_ITEM(args, 0));
    } else {
      w.null();
    }
    sensor::emit("python_run", attrs);
  } catch (...) {
  }
  PyErr_Clear();
  PyErr_Restore(et, ev, tb);
}

}  // namespace

int on_event(const char* event, PyObject* args, void* /*user_data*/) noexcept {
  // Hot path: most audit events (object.__getattr__, sys._getframe,
  // builtins.id, exec, ...) are decided on the first character or two.
  switch (event[0]) {
    case 'c':
      if (event[1] == 'p') {
        if (std::strncmp(event, "cpython.run_", 12) == 0) {
          if (std::strcmp(event + 12, "file") == 0 && args != nullptr && PyTuple_Check(args) &&
              PyTuple_GET_SIZE(args) > 0) {
            side_effects::note_main_file(PyTuple_GET_ITEM(args, 0));
          }
          side_effects::program_starts();
          on_run(event + 12, args);
        }
        return 0;
      }
      side_effects::on_event(event, args);  // compile, ctypes.*
      return 0;
    case 'i':
      if (event[1] == 'm' && std::strcmp(event, "import") == 0) {
        if (!import_monitor::installed() && args != nullptr && PyTuple_Check(args) && PyTuple_GET_SIZE(args) > 0) {
          import_monitor::note_startup_import(PyTuple_GET_ITEM(args, 0));
        }
        side_effects::on_import();
      }
      return 0;
    case 'o':
      if (event[1] == 'b') return 0;  // object.__getattr__ and the like
      side_effects::on_event(event, args);
      // The process image is about to be replaced: everything emitted so
      // far (this exec included) must be on disk first.
      if (event[1] == 's' && std::strcmp(event, "os.exec") == 0) sensor::flush();
      return 0;
    case 's':
      if (event[1] == 'y') return 0;  // sys.*
      side_effects::on_event(event, args);
      return 0;
    case 'h':
    case 'm':
    case 'p':
    case 't':
    case 'u':
      side_effects::on_event(event, args);
      return 0;
    default:
      return 0;
  }
}

bool install() noexcept { return PySys_AddAuditHook(&on_event, nullptr) == 0; }

}  // namespace bluepython::audit_hook
