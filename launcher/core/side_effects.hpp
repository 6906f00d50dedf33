// SPDX-License-Identifier: Apache-2.0
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string_view>

namespace bluepython::side_effects {

// What the app's code does, reported from the native audit hook, each event
// attributed: context.scope is "call" (with context.mcp, the MCP call in
// effect in the thread or task that raised it), "interpreter" (before the
// main program started: site, .pth files), "startup" (before the process's
// first MCP session opened) or "background" (after, outside any call).

// Reports one audit event if it is a side effect of a category that is on:
//   process: subprocess.Popen, os.system, os.exec, os.posix_spawn, os.spawn,
//            pty.spawn (python_process_spawn), os.fork, os.forkpty
//            (python_process_fork), os.kill, os.killpg (python_process_signal);
//   files:   open (python_file_open), os.remove/rmdir/mkdir/rename/link/
//            symlink/chmod/chown/truncate, shutil.copyfile/copytree/move/
//            rmtree/unpack_archive/make_archive, tempfile.mkstemp/mkdtemp
//            (python_file_change);
//   network: socket.connect/sendto/sendmsg, http.client.connect
//            (python_net_connect), socket.bind (python_net_bind),
//            socket.getaddrinfo/gethostbyname (python_net_resolve),
//            urllib.Request (python_net_request);
//   code:    compile, marshal.loads, pickle.find_class (python_code_dynamic),
//            ctypes.dlopen/dlsym, sqlite3.load_extension
//            (python_code_native_load).
// Opens and code loading done by the import system are left out. Returns
// true when the name was one of these. Needs the GIL (as every audit hook
// call has); never raises.
bool on_event(const char* event, PyObject* args) noexcept;

// cpython.run_*: the main program starts. Side effects before it (site and
// .pth files, sitecustomize) are scope "interpreter".
void program_starts() noexcept;

// cpython.run_file: the interpreter reading the main program is not reported.
void note_main_file(PyObject* path) noexcept;

// _bluepython.wrap_fork_exec(original): the replacement the hooks install for
// _posixsubprocess.fork_exec (reports the spawns no audit event announced,
// and passes the MCP call in effect to the child). New reference.
PyObject* wrap_fork_exec(PyObject* original) noexcept;

// The MCP call (its context.mcp JSON text) is about to end: writes the
// folded repeats of its events (see "repeated" in docs/events.md).
void call_ends(std::string_view call_json) noexcept;

// An import happened (the audit hook's `import` event): installs the
// fork_exec wrapper once _posixsubprocess (and subprocess) are loaded.
void on_import() noexcept;

// From the first MCP session on, side effects outside a call are
// "background" rather than "startup".
void mark_serving() noexcept;

}  // namespace bluepython::side_effects
