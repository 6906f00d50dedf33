#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# clang-tidy over the launcher sources with the checks in .clang-tidy, using
# build/compile_commands.json. Fails on any finding.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
test -f build/compile_commands.json || { echo "clang_tidy: build first" >&2; exit 1; }
files=(launcher/main.cpp launcher/core/*.cpp)
# Two files at a time on a 2-core machine.
printf '%s\n' "${files[@]}" | xargs -P "$(nproc)" -n 2 clang-tidy -p build --quiet --warnings-as-errors='*' 2>&1 \
  | grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated|^Suppressed [0-9]+ warnings|^Use -header-filter|NOLINT' || true
# Run again for the exit status only (xargs masks it in the pipeline above).
printf '%s\n' "${files[@]}" | xargs -P "$(nproc)" -n 2 clang-tidy -p build --quiet --warnings-as-errors='*' >/dev/null 2>&1
