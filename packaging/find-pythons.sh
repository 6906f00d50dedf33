#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prints the CPython interpreters bluepython is built and tested for, one path
# per line: $BLUEPYTHON_PYTHONS (space-separated) if set, else the newest
# pyenv-installed 3.10, 3.11, 3.12 and 3.13 (shared-library builds only).
# A missing minor version is named on stderr, never silently skipped.
set -euo pipefail
if [[ -n "${BLUEPYTHON_PYTHONS:-}" ]]; then
  printf '%s\n' $BLUEPYTHON_PYTHONS
  exit 0
fi
root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
status=0
for minor in 10 11 12 13; do
  found=""
  for dir in $(ls -d "$root"/versions/3."$minor".* 2>/dev/null | sort -V -r); do
    exe="$dir/bin/python3.$minor"
    if [[ -x "$exe" ]] && "$exe" -c 'import sys, sysconfig
sys.exit(0 if sysconfig.get_config_var("Py_ENABLE_SHARED") and not sysconfig.get_config_var("Py_GIL_DISABLED") else 1)'; then
      found=$exe
      break
    fi
  done
  if [[ -z "$found" ]]; then
    echo "find-pythons: no shared-library CPython 3.$minor under $root/versions (set BLUEPYTHON_PYTHONS)" >&2
    status=1
  else
    echo "$found"
  fi
done
exit $status
