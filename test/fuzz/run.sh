#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the libFuzzer targets (build preset "fuzz": in the ASan+UBSan tree of the
# unit tests, build-asan/, whose objects they share), replays
# every kept crash input (test/fuzz/regressions/<target>/, each a regular test),
# then fuzzes each target from the seed corpus test/fuzz/corpus/<target>/:
# - by default a fixed seed and FUZZ_RUNS inputs (200000; the test command
#   gives 30000) each, so a run is repeatable and CI does not pass or fail by luck;
# - with FUZZ_SECONDS=N, N seconds each with a random seed: real fuzzing
#   sessions, e.g. FUZZ_SECONDS=3600 bash test/fuzz/run.sh
# New crash inputs land in build-asan/fuzz/artifacts/: add each to regressions/
# once fixed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
if [[ -n "${FUZZ_SECONDS:-}" ]]; then
  budget=(-max_total_time="$FUZZ_SECONDS")
  what="${FUZZ_SECONDS}s"
else
  budget=(-seed=1 -runs="${FUZZ_RUNS:-200000}")
  what="seed 1"
fi
cmake --preset asan >/dev/null
cmake --build --preset fuzz | tail -1
out=build-asan/fuzz
mkdir -p "$out/artifacts"
for target in json_writer json_view config policy redaction; do
  exe="build-asan/test/fuzz/fuzz_$target"
  kept=(test/fuzz/regressions/"$target"/*)
  if [[ -e "${kept[0]}" ]]; then
    "$exe" "${kept[@]}" >/dev/null 2>&1 || { echo "fuzz: $target fails on a kept input" >&2; "$exe" "${kept[@]}"; exit 1; }
  fi
  corpus="$out/corpus/$target"  # grows as it runs; seeded from the repository
  mkdir -p "$corpus"
  cp -n test/fuzz/corpus/"$target"/* "$corpus"/ 2>/dev/null || true
  if [[ -z "${FUZZ_SECONDS:-}" ]]; then  # the same corpus every time, for a repeatable run
    rm -rf "$corpus" && mkdir -p "$corpus" && cp test/fuzz/corpus/"$target"/* "$corpus"/
  fi
  if ! "$exe" "${budget[@]}" -print_final_stats=0 -artifact_prefix="$out/artifacts/$target-" \
      "$corpus" >"$out/$target.log" 2>&1; then
    tail -40 "$out/$target.log" >&2
    echo "fuzz: $target found a failing input ($out/artifacts/)" >&2
    exit 1
  fi
  echo "fuzz: $target: $(grep -o 'Done [0-9]* runs in [0-9]* second' "$out/$target.log" | tail -1)s ($what), no failure"
done
