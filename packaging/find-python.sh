#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Prints the Python that bluepython embeds: $BLUEPYTHON_PYTHON if set, else
# the machine's python3 when it is a shared-library build, else Debian's
# /usr/bin/python3.11. Resolves pyenv-style shims to the real executable.
set -euo pipefail
usable() {
  "$1" -c 'import sys, sysconfig
sys.exit(0 if sys.version_info >= (3, 10) and sysconfig.get_config_var("Py_ENABLE_SHARED") else 1)' 2>/dev/null
}
for candidate in "${BLUEPYTHON_PYTHON:-}" "$(command -v python3 || true)" /usr/bin/python3.11; do
  [[ -n "$candidate" && -x "$candidate" ]] || continue
  if usable "$candidate"; then
    "$candidate" -c 'import sys; print(sys.executable)'
    exit 0
  fi
done
echo "find-python: no shared-library CPython >= 3.10 found (set BLUEPYTHON_PYTHON)" >&2
exit 1
