# SPDX-License-Identifier: Apache-2.0
# The MCP hooks (hooks/) and a private copy of wrapt, compiled by the embedded
# CPython into a C++ table of code objects that is linked into bluepython.
#
# wrapt comes from PyPI as its pure-Python wheel, pinned by version and
# SHA-256; it is never committed here. Offline builds pass
# -DBLUEPYTHON_WRAPT_WHEEL=/path/to/wrapt-<v>-py3-none-any.whl.
set(BLUEPYTHON_WRAPT_VERSION 2.5.2)
set(BLUEPYTHON_WRAPT_SHA256 61eb54e9540ea522c2c4752a57549a83d3c67e6704ed708403d28e067aaf90f0)
set(_bp_wheel_name "wrapt-${BLUEPYTHON_WRAPT_VERSION}-py3-none-any.whl")
set(BLUEPYTHON_WRAPT_WHEEL "" CACHE FILEPATH "wrapt pure-Python wheel to bundle (downloaded from PyPI if empty)")

set(_bp_vendor "${CMAKE_BINARY_DIR}/_vendor")
if(BLUEPYTHON_WRAPT_WHEEL)
  set(_bp_wheel "${BLUEPYTHON_WRAPT_WHEEL}")
else()
  set(_bp_wheel "${_bp_vendor}/${_bp_wheel_name}")
  if(NOT EXISTS "${_bp_wheel}")
    message(STATUS "Downloading ${_bp_wheel_name} from PyPI")
    execute_process(
      COMMAND "${Python3_EXECUTABLE}" -m pip download --quiet --disable-pip-version-check --no-deps
              --only-binary :all: --platform any --implementation py --python-version "${Python3_VERSION_MAJOR}.${Python3_VERSION_MINOR}" --abi none
              "wrapt==${BLUEPYTHON_WRAPT_VERSION}" -d "${_bp_vendor}"
      RESULT_VARIABLE _bp_rc ERROR_VARIABLE _bp_err)
    if(NOT _bp_rc EQUAL 0 OR NOT EXISTS "${_bp_wheel}")
      message(FATAL_ERROR "could not download ${_bp_wheel_name} with ${Python3_EXECUTABLE} -m pip "
                          "(${_bp_err}); pass -DBLUEPYTHON_WRAPT_WHEEL=<path to the wheel>")
    endif()
  endif()
endif()
file(SHA256 "${_bp_wheel}" _bp_wheel_sha)
if(NOT _bp_wheel_sha STREQUAL BLUEPYTHON_WRAPT_SHA256)
  message(FATAL_ERROR "${_bp_wheel}: SHA-256 ${_bp_wheel_sha}, expected ${BLUEPYTHON_WRAPT_SHA256}")
endif()
set(_bp_wrapt_dir "${_bp_vendor}/wrapt-${BLUEPYTHON_WRAPT_VERSION}")
if(NOT EXISTS "${_bp_wrapt_dir}/wrapt/__init__.py")
  file(ARCHIVE_EXTRACT INPUT "${_bp_wheel}" DESTINATION "${_bp_wrapt_dir}")
endif()
set(BLUEPYTHON_WRAPT_LICENSE "${_bp_wrapt_dir}/wrapt-${BLUEPYTHON_WRAPT_VERSION}.dist-info/licenses/LICENSE")

file(GLOB_RECURSE _bp_hook_sources CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/hooks/*.py")
file(GLOB _bp_wrapt_sources "${_bp_wrapt_dir}/wrapt/*.py")
# The generating command is added by launcher/CMakeLists.txt (a custom
# command's output is visible only to targets of its own directory).
set(BLUEPYTHON_WRAPT_DIR "${_bp_wrapt_dir}/wrapt")
set(BLUEPYTHON_HOOK_SOURCES ${_bp_hook_sources} ${_bp_wrapt_sources})
