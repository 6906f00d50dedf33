#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# clang-tidy over the launcher sources with the checks in .clang-tidy, using
# build/compile_commands.json. Any finding fails the run.
#
# The path-sensitive checks (clang-analyzer-*) run where raw memory, descriptors,
# signals and threads are: pipeline, export, runtime, pyapi, capture, embed, the loader
# and the core's entry. The subsystems of parsing and reporting logic (config, policy,
# tools, cli) get every other check: their files instantiate the most JSON and
# formatting templates, which the analyzer explores for well over half of their
# clang-tidy time, and ASan+UBSan and the fuzz targets exercise that code.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
test -f build/compile_commands.json || { echo "clang_tidy: build first" >&2; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
logic='^launcher/(config|policy|tools|cli)/'
sources=$(printf '%s\n' launcher/core_main.cpp $(find launcher -mindepth 2 -name "*.cpp" | sort) bench/native/*.cpp)
status=0
# Two files per process, one process per core.
grep -vE "$logic" <<<"$sources" |
  xargs -P "$(nproc)" -n 2 clang-tidy -p build --quiet --warnings-as-errors='*' >"$log" 2>&1 || status=$?
grep -E "$logic" <<<"$sources" |
  xargs -P "$(nproc)" -n 2 clang-tidy -p build --quiet --warnings-as-errors='*' '--checks=-clang-analyzer-*' \
  >>"$log" 2>&1 || status=$?
grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated|^Suppressed [0-9]+ warnings|^Use -header-filter|NOLINT' "$log" || true
if [[ $status -ne 0 ]]; then
  echo "clang-tidy: findings above" >&2
  exit 1
fi
echo "clang-tidy: clean"
