# SPDX-License-Identifier: Apache-2.0
# Finds the CPython a build of bluepython serves. By default this is the
# `python3` first on PATH (the machine's Python); pass -DPython3_EXECUTABLE=...
# (scikit-build-core does, for each wheel) to pick another. One build serves one
# CPython minor version: the core is compiled against its headers and never
# links libpython (the executable loads it at run time: docs/ARCHITECTURE.md,
# "Finding the interpreter"). The unit tests embed it, so they link it.
if(NOT Python3_EXECUTABLE)
  find_program(_bp_python3 python3 REQUIRED)
  execute_process(COMMAND "${_bp_python3}" -c "import sys; print(sys.executable)"
                  OUTPUT_VARIABLE _bp_python3_real OUTPUT_STRIP_TRAILING_WHITESPACE)
  set(Python3_EXECUTABLE "${_bp_python3_real}" CACHE FILEPATH "Python served by bluepython")
endif()
set(_bp_python_components Interpreter Development.Module)
if(BLUEPYTHON_BUILD_TESTS)
  list(APPEND _bp_python_components Development.Embed)
endif()
find_package(Python3 3.10 REQUIRED COMPONENTS ${_bp_python_components})

# Cross-compiling (cmake/toolchain-aarch64-linux-gnu.cmake), Python3_EXECUTABLE is
# the build machine's CPython: it reads the target's facts from the target's
# sysconfig data (Debian's _sysconfigdata__<multiarch>, installed with its stdlib).
set(_bp_sysconfig_env "")
if(CMAKE_CROSSCOMPILING)
  set(BLUEPYTHON_TARGET_SYSCONFIGDATA "_sysconfigdata__${CMAKE_LIBRARY_ARCHITECTURE}" CACHE STRING
      "The target CPython's sysconfig data module, read by the build machine's CPython")
  set(_bp_sysconfig_env ${CMAKE_COMMAND} -E env _PYTHON_SYSCONFIGDATA_NAME=${BLUEPYTHON_TARGET_SYSCONFIGDATA})
endif()
execute_process(
  COMMAND ${_bp_sysconfig_env} "${Python3_EXECUTABLE}" -c [=[
import sys, sysconfig
v = sysconfig.get_config_var
print(";".join(str(x) for x in (
    v("Py_ENABLE_SHARED") or 0, v("Py_GIL_DISABLED") or 0, v("LIBDIR") or "", v("INSTSONAME") or "")))
]=]
  OUTPUT_VARIABLE _bp_py_facts OUTPUT_STRIP_TRAILING_WHITESPACE
  RESULT_VARIABLE _bp_py_facts_rc ERROR_VARIABLE _bp_py_facts_err)
if(NOT _bp_py_facts_rc EQUAL 0)
  message(FATAL_ERROR "bluepython: cannot read the build facts of CPython ${Python3_VERSION}: ${_bp_py_facts_err}")
endif()
list(GET _bp_py_facts 0 _bp_py_shared)
list(GET _bp_py_facts 1 _bp_py_nogil)
list(GET _bp_py_facts 2 BLUEPYTHON_PYTHON_LIBDIR)
list(GET _bp_py_facts 3 _bp_py_soname)
set(_bp_minor "${Python3_VERSION_MAJOR}.${Python3_VERSION_MINOR}")
if(Python3_VERSION_MAJOR EQUAL 3 AND (Python3_VERSION_MINOR LESS 10 OR Python3_VERSION_MINOR GREATER 13))
  message(FATAL_ERROR "bluepython: CPython ${_bp_minor} is not supported (3.10 to 3.13 are); "
                      "build with one of those (-DPython3_EXECUTABLE=...)")
endif()
if(_bp_py_nogil STREQUAL "1")
  message(FATAL_ERROR "bluepython: free-threaded CPython ${_bp_minor}t is not supported (bluepython relies on the GIL); "
                      "build with the standard ${_bp_minor} build")
endif()
if(NOT _bp_py_shared STREQUAL "1")
  message(FATAL_ERROR
    "bluepython: ${Python3_EXECUTABLE} is not a shared-library build of CPython (Py_ENABLE_SHARED=0); "
    "bluepython serves libpython${_bp_minor}.so. Pass -DPython3_EXECUTABLE=<a shared build>.")
endif()
# A build-tree executable records where its libpython and its core are (steps
# 4 of the rule and the core's last candidate): it keeps working when copied
# or symlinked elsewhere. Installed builds (wheels, the .deb) record nothing:
# where they are installed decides.
if(SKBUILD)
  set(_bp_record OFF)
else()
  set(_bp_record ON)
endif()
option(BLUEPYTHON_RECORD_BUILD_PATHS "Record the build's libpython and core in the executable" ${_bp_record})
set(BLUEPYTHON_LIBPYTHON_HINT "")
if(BLUEPYTHON_RECORD_BUILD_PATHS)
  set(BLUEPYTHON_LIBPYTHON_HINT "${BLUEPYTHON_PYTHON_LIBDIR}/${_bp_py_soname}")
endif()
message(STATUS "bluepython serves ${Python3_EXECUTABLE} (${Python3_VERSION}), libpython in ${BLUEPYTHON_PYTHON_LIBDIR}")
