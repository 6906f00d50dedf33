#!/usr/bin/env bash
# Startup benchmark: python vs bluepython in one venv, written to docs/performance.md.
# Usage: bash bench/run.sh [--quick] [--runs N] [--output PATH]
# MCP call benchmark (stdio and Streamable HTTP servers under python vs bluepython,
# its own section of docs/performance.md): bash bench/run.sh --mcp [--quick] [--help]
# Audit-event loops (200k open(), unrelated audit events, subprocess; own section):
# bash bench/run.sh --loops [--quick] [--runs N]
# Side by side: python, bluepython (mcp+imports), bluepython (everything on) and BlueRock's
# sensor (its own venvs), its own section: bash bench/run.sh --compare [--quick] [--runs N]
# Start-up per interpreter (each interpreter of packaging/find-pythons.sh, with its wheel
# from dist/ pip-installed into a venv of its own; own section):
# bash bench/run.sh --interpreters [--quick] [--runs N]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build"
venv="$build/bench-venv"

if [[ "${1:-}" == "--interpreters" ]]; then
  shift
  # One venv per interpreter, build/bench-venv-py3.X: that interpreter's wheel from dist/
  # installed by pip (as users install it) and the mcp 1.x line of the tests. A venv is
  # reused while its wheel and requirements are the same files; otherwise remade.
  # An interpreter without a wheel is passed on as such and reported, not skipped.
  mapfile -t pythons < <(bash "$root/packaging/find-pythons.sh" || true)
  if ((${#pythons[@]} == 0)); then
    echo "bench: packaging/find-pythons.sh found no interpreter" >&2
    exit 1
  fi
  specs=()
  runner=""
  for py in "${pythons[@]}"; do
    version="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    tag="cp${version/./}"
    wheel="$(ls -t "$root"/dist/bluepython-*-"$tag"-"$tag"-*.whl 2>/dev/null | head -n 1 || true)"
    if [[ -z "$wheel" ]]; then
      specs+=("$version=$py=")
      continue
    fi
    ivenv="$build/bench-venv-py$version"
    stamp="$(sha256sum "$wheel" "$root/test/requirements-mcp1.txt" | sha256sum | cut -c1-16) $(basename "$wheel")"
    if [[ ! -f "$ivenv/.bench-stamp" || "$(cat "$ivenv/.bench-stamp")" != "$stamp" ]]; then
      echo "bench: making $ivenv ($(basename "$wheel"))" >&2
      rm -rf "$ivenv"
      "$py" -m venv "$ivenv"
      "$ivenv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel" \
        -r "$root/test/requirements-mcp1.txt"
      echo "$stamp" >"$ivenv/.bench-stamp"
    fi
    specs+=("$version=$py=$ivenv")
    runner="$ivenv/bin/python"
  done
  # The driver needs only the standard library: any measured venv's python runs it.
  [[ -n "$runner" ]] || runner="${pythons[-1]}"
  exec "$runner" "$root/bench/interpreters.py" "$@" -- "${specs[@]}"
fi

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

# A venv of the base Python at $1, made if missing; one left from another base Python is an error.
ensure_venv() {
  if [[ ! -x "$1/bin/python" ]]; then
    "$base_python" -m venv "$1"
  elif [[ "$("$1/bin/python" -c 'import sys; print(sys.base_prefix)')" != "$base_prefix" ]]; then
    echo "bench: $1 was made with another Python; delete it" >&2
    exit 1
  fi
}

if [[ "${1:-}" == "--compare" ]]; then
  shift
  # A frozen copy of the executable and its core for the whole run: build/ may be rebuilt
  # meanwhile. Copied under a temporary name and renamed, so no half-written file runs.
  # The core goes next to the copy, where the executable looks first.
  mkdir -p "$build/bench-bin"
  for file in bluepython libbluepython-core.so; do
    cp "$build/$file" "$build/bench-bin/.$file.$$"
    mv -f "$build/bench-bin/.$file.$$" "$build/bench-bin/$file"
  done
  if ! "$build/bench-bin/bluepython" version --json >/dev/null; then
    echo "bench: the copy of $build/bluepython does not run (caught mid-build?); try again" >&2
    exit 1
  fi
  # Venvs of their own, like build/test-venv-mcp1/-mcp2 (the same requirements), so that the
  # integration tests, which re-link those venvs' bluepython, cannot swap the binary mid-run.
  pip=(-m pip install --quiet --disable-pip-version-check)
  for line in mcp1 mcp2; do
    mvenv="$build/bench-venv-$line"
    ensure_venv "$mvenv"
    "$mvenv/bin/python" "${pip[@]}" -r "$root/test/requirements-$line.txt"
    ln -sfn "$build/bench-bin/bluepython" "$mvenv/bin/bluepython"
    # BlueRock's sensor (PyPI: bluerock[oss]) with the same mcp, fastmcp and uvicorn. That
    # venv holds BlueRock's own top-level package `bluepython`: ours is never linked there.
    bvenv="$build/bench-venv-bluerock"
    [[ "$line" == mcp1 ]] || bvenv="$bvenv-$line"
    ensure_venv "$bvenv"
    uvicorn="$("$mvenv/bin/python" -c 'import importlib.metadata as m; print(m.version("uvicorn"))')"
    mapfile -t pins < <(grep -E '^(mcp|fastmcp)==' "$root/test/requirements-$line.txt")
    # A line BlueRock cannot be installed with is reported as not run, not fatal.
    if ! "$bvenv/bin/python" "${pip[@]}" "bluerock[oss]==${BLUEROCK_VERSION:-0.2.0}" "${pins[@]}" \
      "uvicorn==$uvicorn"; then
      echo "bench: could not install BlueRock into $bvenv; its $line rows will say n/a" >&2
    fi
  done
  exec "$build/bench-venv-mcp1/bin/python" "$root/bench/compare.py" "$@"
fi

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
