// SPDX-License-Identifier: Apache-2.0
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

// Native wrappers that follow the app across processes where no audit event
// does. _posixsubprocess.fork_exec (what subprocess and multiprocessing start
// children with; no audit event before Python 3.14): reports the spawns
// subprocess.Popen did not announce, and hands the MCP call in effect to that
// child alone through its environment (BLUEPYTHON_PARENT_CALL).
// os.posix_spawn / posix_spawnp (subprocess's usual path on 3.13+): hand the
// call to the child the same way, through a copied env mapping.
// multiprocessing.spawn.get_preparation_data / prepare: link forkserver
// workers to the process and call that asked for them (python_process_link).
// All need the GIL and never raise into the app.
namespace bluepython::capture {

// _bluepython.wrap_fork_exec(original): the replacement for fork_exec. New
// reference, or nullptr with TypeError for a non-callable.
PyObject* wrap_fork_exec(PyObject* original) noexcept;
// Installs the fork_exec wrapper once _posixsubprocess (and subprocess) are
// loaded; a few dict lookups until both are done.
void install_fork_exec_wrapper() noexcept;
// An import happened: installs whatever wrapper has become possible.
void install_spawn_wrappers() noexcept;
// The env an os.posix_spawn audit event carries, as the app passed it: our
// wrapper gives posix_spawn a copy with BLUEPYTHON_PARENT_CALL added.
PyObject* app_spawn_env(PyObject* env) noexcept;

}  // namespace bluepython::capture
