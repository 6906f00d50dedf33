#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The smoke subset (test/packaging/smoke_tests.txt) against the installed wheels,
# never the build tree: for each interpreter (packaging/find-pythons.sh, or the
# ones given), two fresh venvs of that interpreter, one per MCP SDK line, get the
# wheel from dist/ and the line's packages from PyPI (installed by uv,
# test/uv_install.sh: pip's own install of the wheel is test_wheels.py's);
# pytest, run from build/test-venv on two workers, then points the suite's
# executables at them.
#
#   bash test/packaging/smoke.sh [PYTHON ...]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

pythons=("$@")
if ((${#pythons[@]} == 0)); then
  mapfile -t pythons < <(bash packaging/find-pythons.sh)
fi
integration=()
reliability=()
while read -r node; do
  case "$node" in
    test/integration/*) integration+=("$node") ;;
    test/reliability/*) reliability+=("$node") ;;
    "") ;;
    *) echo "smoke: $node is in neither test/integration nor test/reliability" >&2; exit 1 ;;
  esac
done < <(sed -e 's/#.*//' -e 's/[[:space:]]*$//' test/packaging/smoke_tests.txt)

for py in "${pythons[@]}"; do
  tag=$("$py" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
  wheels=(dist/bluepython-*-"$tag"-"$tag"-*.whl)
  if [[ ${#wheels[@]} -ne 1 || ! -f ${wheels[0]} ]]; then
    echo "smoke: expected one $tag wheel in dist/, found: ${wheels[*]}" >&2
    exit 1
  fi
  where=$ROOT/build/wheel-test/$tag
  rm -rf "$where"
  started=$SECONDS
  for line in mcp1 mcp2; do
    "$py" -m venv "$where/$line"
    bash test/uv_install.sh "$where/$line/bin/python" "${wheels[0]}" -r "test/requirements-$line.txt"
  done
  echo "smoke: $tag: ${wheels[0]} installed into $where/{mcp1,mcp2}" >&2
  export BLUEPYTHON_BIN=$where/mcp1/bin/bluepython
  export BLUEPYTHON_REF_PYTHON=$where/mcp1/bin/python
  export BLUEPYTHON_TEST_VENV=$where/mcp1
  export BLUEPYTHON_TEST_VENV_MCP1=$where/mcp1
  export BLUEPYTHON_TEST_VENV_MCP2=$where/mcp2
  build/test-venv/bin/python -m pytest -q -p no:cacheprovider -n 2 "${integration[@]}"
  build/test-venv/bin/python -m pytest -q -p no:cacheprovider -n 2 "${reliability[@]}"
  echo "smoke: $tag passed in $((SECONDS - started)) s" >&2
done
