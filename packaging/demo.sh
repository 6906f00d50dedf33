#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The demo from a fresh Debian 12 machine: installs what is missing, builds
# bluepython, runs an MCP client that starts an MCP server over stdio (both
# under bluepython), and prints a summary of the events they produced.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash packaging/build.sh
PY=$(sed -n 's/^Python3_EXECUTABLE:[A-Z]*=//p' build/CMakeCache.txt)
VENV=build/demo-venv
if [[ ! -x $VENV/bin/python ]]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "mcp==1.30.0"
# bluepython in a venv's bin/ behaves like that venv's python.
ln -sf "$ROOT/build/bluepython" "$VENV/bin/bluepython"
SPOOL=$ROOT/build/demo-spool
rm -f "$SPOOL"/python-*.ndjson "$SPOOL"/bluepython-*.ndjson
echo "--- bluepython run --spool-dir $SPOOL -- packaging/demo/demo_client.py"
"$VENV/bin/bluepython" run --spool-dir "$SPOOL" -- packaging/demo/demo_client.py
echo "--- summary"
"$VENV/bin/python" packaging/demo/summarize.py "$SPOOL"
