#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages bluepython builds and tests with. Idempotent:
# apt is only touched when something is missing. Needs root (or sudo).
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config ccache
  libcli11-dev libfmt-dev catch2 nlohmann-json3-dev libssl-dev libcurl4-openssl-dev
  clang clang-tidy libclang-rt-14-dev
  python3 python3-venv
  jq
)
# The Python to embed must come with its shared library and headers. The
# machine's python3 normally does; if it does not, Debian's python3.11 does
# (with pip: the build downloads the wrapt wheel it bundles with `python -m pip`).
if ! python3 -c 'import sysconfig,sys; sys.exit(0 if sysconfig.get_config_var("Py_ENABLE_SHARED") else 1)' 2>/dev/null; then
  packages+=(python3.11 python3.11-dev python3.11-venv libpython3.11-dev python3-pip)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
