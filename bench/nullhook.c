/* SPDX-License-Identifier: Apache-2.0
 *
 * The floor for audit-hook based observation: importing this module adds one
 * native audit hook that returns at once. Whatever a loop costs with it, over
 * plain python, is CPython's own price for having any hook at all (building
 * each event's argument tuple and calling the hook), which no sensor built on
 * PySys_AddAuditHook can go below. bench/audit_loops.py compiles it with the
 * system C compiler against the benchmarked Python's headers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static int null_hook(const char *event, PyObject *args, void *data) {
  (void)event;
  (void)args;
  (void)data;
  return 0;
}

static struct PyModuleDef nullhook_module = {
    PyModuleDef_HEAD_INIT, "bluepython_bench_nullhook",
    "One native audit hook that does nothing (benchmark floor).", -1, NULL, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit_bluepython_bench_nullhook(void) {
  if (PySys_AddAuditHook(null_hook, NULL) < 0) return NULL;
  return PyModule_Create(&nullhook_module);
}
