#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The test command's CPU-bound work whose results are needed only at its end:
# clang-tidy, the ASan+UBSan and TSan unit-test builds, and the fuzz run, one
# after another. test/run_all.sh starts this at idle priority (SCHED_IDLE) once
# the development build is done, so it takes only the CPU time the test suites
# leave unused (they wait on children a good part of the time) and never slows
# them down; the steps at the end wait for what is still left.
#
#   bash test/background.sh DIR
#
# For each job NAME: DIR/NAME.log (its output), then DIR/NAME.status (its exit code).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
dir=$1
mkdir -p "$dir"

job() {
  local name=$1 rc=0
  shift
  "$@" >"$dir/$name.log" 2>&1 || rc=$?
  echo "$rc" >"$dir/$name.status.new" && mv "$dir/$name.status.new" "$dir/$name.status"
}

job clang-tidy bash test/clang_tidy.sh
if [[ "${BLUEPYTHON_SKIP_SANITIZERS:-0}" != "1" ]]; then
  job asan-build bash -c 'cmake --preset asan >/dev/null && cmake --build --preset asan | tail -1'
  job tsan-build bash -c 'cmake --preset tsan >/dev/null && cmake --build --preset tsan | tail -1'
fi
job fuzz bash test/fuzz/run.sh
