# SPDX-License-Identifier: Apache-2.0
# BLUEPYTHON_SANITIZE applies to every target of this project (used by the
# asan and tsan presets for the unit tests).
if(BLUEPYTHON_SANITIZE)
  string(REPLACE ";" "," _bp_sanitizers "${BLUEPYTHON_SANITIZE}")
  add_compile_options(-fsanitize=${_bp_sanitizers} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${_bp_sanitizers})
endif()
