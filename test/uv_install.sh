#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs packages into an existing virtualenv with uv (from PyPI, kept in build/uv),
# which takes seconds where pip takes a minute per venv: the test command makes eleven.
# The packages are the same pip would choose; .pyc files are compiled as pip does.
#
#   bash test/uv_install.sh VENV_PYTHON [pip install arguments ...]
#
# Users install with pip (docs/deploying.md); test/packaging/test_wheels.py checks that path.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
UV_VERSION=0.13.8
tools=$ROOT/build/uv
if [[ ! -x $tools/bin/uv ]] || [[ $("$tools/bin/uv" --version) != "uv $UV_VERSION"* ]]; then
  rm -rf "$tools"
  "$(bash "$ROOT/packaging/find-python.sh")" -m venv "$tools"
  "$tools/bin/python" -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
fi
python=$1
shift
# The system's certificate store, as pip uses it (a proxy's CA may be in it). Files are
# copied, not hard-linked from uv's cache, so that no two venvs share an installed file.
export UV_NATIVE_TLS=1 UV_CACHE_DIR=$ROOT/build/uv-cache UV_LINK_MODE=copy
exec "$tools/bin/uv" pip install -q --compile-bytecode --python "$python" "$@"
