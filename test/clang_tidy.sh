#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# clang-tidy over the launcher sources with the checks in .clang-tidy, using
# build/compile_commands.json. Any finding fails the run.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
test -f build/compile_commands.json || { echo "clang_tidy: build first" >&2; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# Two files per process, one process per core.
printf '%s\n' launcher/core_main.cpp $(find launcher -mindepth 2 -name "*.cpp" | sort) bench/native/*.cpp |
  xargs -P "$(nproc)" -n 2 clang-tidy -p build --quiet --warnings-as-errors='*' >"$log" 2>&1 || status=$?
grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated|^Suppressed [0-9]+ warnings|^Use -header-filter|NOLINT' "$log" || true
if [[ $status -ne 0 ]]; then
  echo "clang-tidy: findings above" >&2
  exit 1
fi
echo "clang-tidy: clean"
