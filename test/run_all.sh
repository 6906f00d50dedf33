#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite from a fresh Debian 12 machine: system packages, build,
# unit tests (also under ASan+UBSan and TSan), lint, integration tests.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
step() { printf '\n=== %s (%d s so far)\n' "$*" "$SECONDS"; }

step "layering: no subsystem includes one above it (docs/ARCHITECTURE.md)"
python3 test/check_layers.py

step "build (and, beside it, the test virtualenvs, Node tools, telemetry stack and Chromium)"
bash packaging/setup-debian.sh
# What only downloads and installs runs while the compiler works: its log is shown when it
# is waited for, below.
fetch_log=$ROOT/build/setup-beside-build.log
mkdir -p build
(
  set -euo pipefail
  py=$(bash packaging/find-python.sh)
  echo "--- test virtualenvs (build/test-venv, build/test-venv-mcp1, build/test-venv-mcp2)"
  for venv in test-venv:requirements.txt test-venv-mcp1:requirements-mcp1.txt test-venv-mcp2:requirements-mcp2.txt; do
    [[ -x build/${venv%%:*}/bin/python ]] || "$py" -m venv "build/${venv%%:*}"
    bash test/uv_install.sh "build/${venv%%:*}/bin/python" -r "test/${venv#*:}"
  done
  echo "--- Node tools (build/npm: MCP conformance suite, TypeScript SDK)"
  bash test/setup_npm.sh
  echo "--- Chromium (headless: the HTML report test)"
  if ! command -v chromium >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  fi
  echo "--- Telemetry stack (build/otel: an OpenTelemetry Collector and VictoriaLogs, from the Go module proxy)"
  bash test/setup_otel.sh
) >"$fetch_log" 2>&1 &
fetch_pid=$!
trap 'kill "$fetch_pid" 2>/dev/null || true' EXIT  # a failed build does not leave it running
bash packaging/build.sh
PY=$(sed -n 's/^Python3_EXECUTABLE:[A-Z]*=//p' build/CMakeCache.txt)

step "unit tests"
ctest --preset dev

step "test virtualenvs, Node tools, telemetry stack, Chromium: waiting for their set-up"
fetch_rc=0
wait "$fetch_pid" || fetch_rc=$?
trap - EXIT
cat "$fetch_log"
if [[ $fetch_rc -ne 0 ]]; then
  echo "run_all: setting up the test tools failed (above)" >&2
  exit "$fetch_rc"
fi

step "lint: ruff"
build/test-venv/bin/ruff check --config .ruff.toml test bench packaging hooks

step "lint: clang-tidy"
bash test/clang_tidy.sh

# One pytest run per suite (they share test/integration/conftest.py); the first failing
# suite's status is the script's. Extra arguments go to pytest.
run_pytest() {
  local rc=0
  build/test-venv/bin/python -m pytest "$@" -q -p no:cacheprovider || rc=$?
  if [[ $rc -ne 0 ]]; then exit $rc; fi
}

step "hooks unit layer (pytest under bluepython, on the real SDKs of both lines)"
for line in mcp1 mcp2; do
  ln -sfn "$ROOT/build/bluepython" "build/test-venv-$line/bin/bluepython"
  spool=$(mktemp -d)
  rc=0
  BLUEPYTHON_SPOOL_DIR="$spool" "build/test-venv-$line/bin/bluepython" -m pytest test/hooks -q -p no:cacheprovider || rc=$?
  rm -rf "$spool"
  if [[ $rc -ne 0 ]]; then exit $rc; fi
done

# Each test has its own spool, processes and ports, and about half of a test's time is
# waiting on a child, so two workers (pytest-xdist) take 4 minutes where one takes 7.
step "integration tests"
run_pytest test/integration -n 2

step "reliability suite (docs/reliability.md)"
run_pytest test/reliability -n 2

step "wheels: one per CPython 3.10-3.13 (packaging/build-wheels.sh, into dist/)"
bash packaging/build-wheels.sh

step "wheels: tags, stripping, pip install, refusals, the Docker recipe (test/packaging)"
run_pytest test/packaging/test_wheels.py
run_pytest test/packaging/test_docker_recipe.py

# The interpreter of the dev build ($PY) ran the whole suite above on the same sources;
# test_wheels.py installs its wheel with pip and runs it. The smoke subset covers the others.
step "wheels: the smoke subset from the installed wheel, in fresh venvs of the other interpreters"
others=()
while read -r py; do
  [[ $(realpath "$py") == "$(realpath "$PY")" ]] || others+=("$py")
done < <(bash packaging/find-pythons.sh)
bash test/packaging/smoke.sh "${others[@]}"

step ".deb for Debian 12's python3.11: build (packaging/build-deb.sh), install, run, remove"
bash packaging/build-deb.sh
run_pytest test/packaging/test_deb.py

# Opt-in (about 10 minutes, and it adds the arm64 architecture to the machine's dpkg):
# the cross-build for Debian 12's arm64 python3.11, smoke-tested under qemu-user.
if [[ "${BLUEPYTHON_AARCH64:-0}" == "1" ]]; then
  step "aarch64: cross-build (packaging/build-aarch64.sh), run under qemu-user"
  bash packaging/build-aarch64.sh
  run_pytest test/packaging/test_aarch64.py
fi

if [[ "${BLUEPYTHON_SKIP_SANITIZERS:-0}" != "1" ]]; then
  step "unit tests under ASan+UBSan"
  cmake --preset asan >/dev/null
  cmake --build --preset asan | tail -1
  ctest --preset asan

  step "unit tests under TSan"
  cmake --preset tsan >/dev/null
  cmake --build --preset tsan | tail -1
  ctest --preset tsan
fi
# 30,000 inputs per target here (one to two minutes for all five); test/fuzz/run.sh alone runs
# 200,000, and FUZZ_SECONDS=N real sessions.
step "fuzz: kept crash inputs, then a short run of each libFuzzer target"
FUZZ_RUNS=${FUZZ_RUNS:-30000} bash test/fuzz/run.sh

step "all tests passed"
echo "the test command took $SECONDS s"
