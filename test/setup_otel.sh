#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the telemetry stack the export tests run, from the Go module proxy only,
# into build/otel/bin:
#   otelcol-bluepython  an OpenTelemetry Collector of the official components at one
#                       release (packaging/otelcol: go.mod pins every module)
#   victoria-logs       VictoriaLogs, the log store the queries of the dashboard run
#                       against (docs/export.md says why not Loki)
# The module cache (build/go/mod) and the build cache (build/go/cache) stay in the
# build tree; a no-op when the binaries match their sources.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VICTORIA_LOGS=github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@v1.52.2
BIN=$ROOT/build/otel/bin
export GOMODCACHE=$ROOT/build/go/mod GOCACHE=$ROOT/build/go/cache GOTOOLCHAIN=local
export GOFLAGS=-modcacherw GOBIN=$BIN CGO_ENABLED=0

if ! command -v go >/dev/null; then
  echo "setup_otel: the go command is missing (this machine kind has Go at /usr/local/go)" >&2
  exit 1
fi
mkdir -p "$BIN"
stamp=$( (cat "$ROOT/packaging/otelcol/go.mod" "$ROOT/packaging/otelcol/go.sum" \
  "$ROOT/packaging/otelcol/main.go"; echo "$VICTORIA_LOGS"; go version) | sha256sum | cut -c1-16)
if [[ -x $BIN/otelcol-bluepython && -x $BIN/victoria-logs && -f $BIN/.stamp \
  && $(cat "$BIN/.stamp") == "$stamp" ]]; then
  exit 0
fi
rm -f "$BIN/.stamp"
# -mod=readonly: the build uses exactly what go.mod and go.sum say, or fails.
(cd "$ROOT/packaging/otelcol" && go build -mod=readonly -trimpath -ldflags=-s -o "$BIN/otelcol-bluepython" .)
go install -trimpath -ldflags=-s "$VICTORIA_LOGS"
echo "$stamp" >"$BIN/.stamp"
echo "setup_otel: built $("$BIN/otelcol-bluepython" --version) and $("$BIN/victoria-logs" -version 2>&1 | head -1)"
