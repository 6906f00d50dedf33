# SPDX-License-Identifier: Apache-2.0
# Warning flags live in their own interface target so every bluepython target
# opts in explicitly and third-party code is never compiled with them.
add_library(bluepython_warnings INTERFACE)
# Not enabled: -Wold-style-cast (CPython's API macros expand to C casts in our
# code) and -Wnull-dereference (GCC 12 false positives inside libstdc++ and
# CLI11 at -O2), -Wmissing-field-initializers (CPython's C structs are
# initialized field by field).
target_compile_options(bluepython_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion
  -Wnon-virtual-dtor -Wcast-align -Wformat=2 -Wimplicit-fallthrough -Wno-missing-field-initializers)
if(BLUEPYTHON_WARNINGS_AS_ERRORS)
  target_compile_options(bluepython_warnings INTERFACE -Werror)
endif()
