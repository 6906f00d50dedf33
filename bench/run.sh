#!/usr/bin/env bash
# Startup benchmark: python vs bluepython in one venv, written to docs/performance.md.
# Usage: bash bench/run.sh [--quick] [--runs N] [--output PATH]
# MCP call benchmark (stdio and Streamable HTTP servers under python vs bluepython,
# its own section of docs/performance.md): bash bench/run.sh --mcp [--quick] [--help]
# Audit-event loops (200k open(), unrelated audit events, subprocess; own section):
# bash bench/run.sh --loops [--quick] [--runs N]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build"
venv="$build/bench-venv"

if [[ ! -x "$build/bluepython" || ! -f "$build/CMakeCache.txt" ]]; then
  echo "bench: $build/bluepython is not built; configure and build first" >&2
  exit 1
fi

# The venv must come from the very Python bluepython embeds, or the two sides
# would not run the same interpreter and stdlib.
base_python="$(sed -n 's/^Python3_EXECUTABLE:[A-Z]*=//p' "$build/CMakeCache.txt")"
if [[ -z "$base_python" || ! -x "$base_python" ]]; then
  echo "bench: no usable Python3_EXECUTABLE in $build/CMakeCache.txt" >&2
  exit 1
fi
base_prefix="$("$base_python" -c 'import sys; print(sys.prefix)')"

if [[ "${1:-}" == "--mcp" ]]; then
  shift
  # The MCP test venvs of test/run_all.sh (pinned mcp 1.x and 2.x lines), made here if missing.
  for line in mcp1 mcp2; do
    mvenv="$build/test-venv-$line"
    if [[ ! -x "$mvenv/bin/python" ]]; then
      "$base_python" -m venv "$mvenv"
    elif [[ "$("$mvenv/bin/python" -c 'import sys; print(sys.base_prefix)')" != "$base_prefix" ]]; then
      echo "bench: $mvenv was made with another Python; delete it (test/run_all.sh remakes it)" >&2
      exit 1
    fi
    if ! "$mvenv/bin/python" -c 'import mcp, fastmcp' 2>/dev/null; then
      "$mvenv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$root/test/requirements-$line.txt"
    fi
    if [[ ! -e "$mvenv/bin/bluepython" ]]; then
      ln -sfn "$build/bluepython" "$mvenv/bin/bluepython"
    fi
  done
  exec "$build/test-venv-mcp1/bin/python" "$root/bench/mcp_calls.py" "$@"
fi

# A venv left over from another base Python (the build was reconfigured) is rebuilt.
if [[ -x "$venv/bin/python" ]] &&
  [[ "$("$venv/bin/python" -c 'import sys; print(sys.base_prefix)' 2>/dev/null)" != "$base_prefix" ]]; then
  echo "bench: $venv was made with another Python; recreating it" >&2
  rm -rf "$venv"
fi
if [[ ! -x "$venv/bin/python" ]]; then
  "$base_python" -m venv "$venv"
fi
# Installed once and then kept: upgrading on every run would make results depend on
# whatever mcp release is current that day (delete the venv to pick up a newer 1.x).
if ! "$venv/bin/python" -c 'import mcp' 2>/dev/null; then
  "$venv/bin/python" -m pip install --quiet 'mcp<2'
fi

# In a venv's bin/, bluepython finds that venv through pyvenv.cfg, like its python.
ln -sfn "$build/bluepython" "$venv/bin/bluepython"

if [[ "${1:-}" == "--loops" ]]; then
  shift
  exec "$venv/bin/python" "$root/bench/audit_loops.py" "$@"
fi
exec "$venv/bin/python" "$root/bench/startup.py" "$@"
