#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Configures and builds bluepython (preset "dev") into build/. Prints nothing
# on success unless something had to be rebuilt.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash packaging/setup-debian.sh
PY=$(bash packaging/find-python.sh)
if [[ ! -f build/CMakeCache.txt ]] || ! grep -qE "^Python3_EXECUTABLE:[A-Z]+=$PY$" build/CMakeCache.txt; then
  cmake --preset dev -DPython3_EXECUTABLE:FILEPATH="$PY" >/dev/null
fi
cmake --build --preset dev -- -j"$(nproc)" | grep -vE '^\[[0-9]+/[0-9]+\]|^ninja: no work' || true
test -x build/bluepython
