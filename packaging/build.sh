#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Configures and builds bluepython (preset "dev") into build/. Prints nothing
# on success unless something had to be rebuilt.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash packaging/setup-debian.sh
PY=$(bash packaging/find-python.sh)
# Through ccache, into the cache the wheels use (packaging/build-wheels.sh): the wheel for
# this interpreter then compiles nothing, and the others only what sees Python.h.
source packaging/ccache-env.sh
if [[ ! -f build/CMakeCache.txt ]] || ! grep -qE "^Python3_EXECUTABLE:[A-Z]+=$PY$" build/CMakeCache.txt; then
  cmake --preset dev -DPython3_EXECUTABLE:FILEPATH="$PY" -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
fi
cmake --build --preset dev -- -j"$(nproc)" | grep -vE '^\[[0-9]+/[0-9]+\]|^ninja: no work' || true
test -x build/bluepython
