#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the libFuzzer targets (preset "fuzz", clang with ASan+UBSan), replays
# every kept crash input (test/fuzz/regressions/<target>/, each a regular test),
# then fuzzes each target for FUZZ_SECONDS (default 20) from the seed corpus
# test/fuzz/corpus/<target>/. New crash inputs land in build-fuzz/artifacts/:
# add each to regressions/ once fixed. Longer runs: FUZZ_SECONDS=3600 bash test/fuzz/run.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
SECONDS_EACH=${FUZZ_SECONDS:-20}
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz | tail -1
mkdir -p build-fuzz/artifacts
for target in json_writer json_view config; do
  exe="build-fuzz/test/fuzz/fuzz_$target"
  kept=(test/fuzz/regressions/"$target"/*)
  if [[ -e "${kept[0]}" ]]; then
    "$exe" "${kept[@]}" >/dev/null 2>&1 || { echo "fuzz: $target fails on a kept input" >&2; "$exe" "${kept[@]}"; exit 1; }
  fi
  corpus="build-fuzz/corpus/$target"  # grows as it runs; seeded from the repository
  mkdir -p "$corpus"
  cp -n test/fuzz/corpus/"$target"/* "$corpus"/ 2>/dev/null || true
  if ! "$exe" -max_total_time="$SECONDS_EACH" -print_final_stats=0 -artifact_prefix="build-fuzz/artifacts/$target-" \
      "$corpus" >"build-fuzz/$target.log" 2>&1; then
    tail -40 "build-fuzz/$target.log" >&2
    echo "fuzz: $target found a failing input (build-fuzz/artifacts/)" >&2
    exit 1
  fi
  echo "fuzz: $target: $(grep -o 'Done [0-9]* runs' "build-fuzz/$target.log" | tail -1) in ${SECONDS_EACH}s, no failure"
done
