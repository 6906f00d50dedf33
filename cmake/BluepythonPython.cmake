# SPDX-License-Identifier: Apache-2.0
# Finds the CPython that bluepython embeds. By default this is the `python3`
# first on PATH (the machine's Python); pass -DPython3_EXECUTABLE=... to pick
# another. It must be a shared-library build: bluepython links libpython so
# extension modules resolve their symbols from it exactly as under `python`.
if(NOT Python3_EXECUTABLE)
  find_program(_bp_python3 python3 REQUIRED)
  execute_process(COMMAND "${_bp_python3}" -c "import sys; print(sys.executable)"
                  OUTPUT_VARIABLE _bp_python3_real OUTPUT_STRIP_TRAILING_WHITESPACE)
  set(Python3_EXECUTABLE "${_bp_python3_real}" CACHE FILEPATH "Python embedded by bluepython")
endif()
find_package(Python3 3.10 REQUIRED COMPONENTS Interpreter Development.Embed)
execute_process(
  COMMAND "${Python3_EXECUTABLE}" -c
          "import sysconfig; print(sysconfig.get_config_var('Py_ENABLE_SHARED') or 0)"
  OUTPUT_VARIABLE _bp_py_shared OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _bp_py_shared STREQUAL "1")
  message(FATAL_ERROR
    "${Python3_EXECUTABLE} is not a shared-library build of CPython (Py_ENABLE_SHARED=0); "
    "bluepython needs libpython3.x.so. Pass -DPython3_EXECUTABLE=<a shared build>.")
endif()
execute_process(
  COMMAND "${Python3_EXECUTABLE}" -c "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))"
  OUTPUT_VARIABLE BLUEPYTHON_PYTHON_LIBDIR OUTPUT_STRIP_TRAILING_WHITESPACE)
message(STATUS "bluepython embeds ${Python3_EXECUTABLE} (${Python3_VERSION}), libpython in ${BLUEPYTHON_PYTHON_LIBDIR}")
