# SPDX-License-Identifier: Apache-2.0
# BLUEPYTHON_SANITIZE applies to every target of this project (used by the
# asan and tsan presets for the unit tests). BLUEPYTHON_FUZZ (the asan preset)
# adds libFuzzer's coverage instrumentation to every object as well, so the
# libFuzzer targets of test/fuzz link the same libraries as the unit tests.
if(BLUEPYTHON_SANITIZE)
  string(REPLACE ";" "," _bp_sanitizers "${BLUEPYTHON_SANITIZE}")
  add_compile_options(-fsanitize=${_bp_sanitizers} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${_bp_sanitizers})
endif()
if(BLUEPYTHON_FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
