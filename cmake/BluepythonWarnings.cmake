# SPDX-License-Identifier: Apache-2.0
# Warning flags live in their own interface target so every bluepython target
# opts in explicitly and third-party code is never compiled with them.
add_library(bluepython_warnings INTERFACE)
target_compile_options(bluepython_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
  -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Wnull-dereference
  -Wformat=2 -Wimplicit-fallthrough)
if(BLUEPYTHON_WARNINGS_AS_ERRORS)
  target_compile_options(bluepython_warnings INTERFACE -Werror)
endif()
