# SPDX-License-Identifier: Apache-2.0
# Embeds a text asset in the executable: writes OUTPUT, a C++ file defining
#   std::string_view NAMESPACE::FUNCTION() noexcept
# that returns the bytes of INPUT, less a first line holding only an SPDX
# comment (the file's licence line is not part of what it serves).
#   cmake -DINPUT=page.html -DOUTPUT=page.cpp -DNAMESPACE=ns -DFUNCTION=page -P embed_asset.cmake
foreach(_var INPUT OUTPUT NAMESPACE FUNCTION)
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "embed_asset.cmake: -D${_var}=... is required")
  endif()
endforeach()

set(_offset 0)
file(STRINGS "${INPUT}" _first LIMIT_COUNT 1)
if(_first MATCHES "^(<!--|/\\*|//|#) *SPDX-License-Identifier:")
  string(LENGTH "${_first}" _offset)
  math(EXPR _offset "${_offset} + 1")
endif()
file(READ "${INPUT}" _hex OFFSET ${_offset} HEX)
string(LENGTH "${_hex}" _hex_length)
math(EXPR _size "${_hex_length} / 2")
# Every byte as \xNN (an escape ends at the next backslash), 32 bytes a line.
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" _escaped "${_hex}")
string(REGEX REPLACE "(................................................................................................................................)"
       "\\1\"\n    \"" _escaped "${_escaped}")

get_filename_component(_name "${INPUT}" NAME)
set(_text "// Generated from ${_name} by cmake/embed_asset.cmake: do not edit.
#include <string_view>

namespace ${NAMESPACE} {

std::string_view ${FUNCTION}() noexcept {
  static constexpr char bytes[] =
    \"${_escaped}\";
  static_assert(sizeof bytes == ${_size} + 1);
  return {bytes, sizeof bytes - 1};
}

}  // namespace ${NAMESPACE}
")
# Rewritten only when it changes, so that an unchanged asset compiles nothing.
file(CONFIGURE OUTPUT "${OUTPUT}" CONTENT "${_text}" @ONLY)
