#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Cross-builds bluepython for Debian 12's arm64 python3.11 on a Debian 12 amd64 machine,
# with Debian's cross toolchain and Debian's arm64 packages installed through multiarch:
#
#   build/aarch64/bluepython                  the executable (aarch64)
#   build/aarch64/libbluepython-core.so       its core (aarch64)
#   build/aarch64/python3.11-arm64/usr/bin/python3.11
#                                             Debian's arm64 python3.11, unpacked (not
#                                             installed: it cannot sit beside the amd64
#                                             python3.11), for test/packaging/test_aarch64.py
#
#   bash packaging/build-aarch64.sh           # as root: packages, build, checks
#
# then: build/test-venv/bin/python -m pytest test/packaging/test_aarch64.py
# (runs the arm64 binaries under qemu-user against the arm64 libpython3.11).
#
# The build machine's /usr/bin/python3.11 runs the build's scripts (cmake/embed_python.py;
# marshal is the same on every architecture); the arm64 headers, libpython and sysconfig
# data come from Debian's arm64 packages (cmake/toolchain-aarch64-linux-gnu.cmake).
# Offline: BLUEPYTHON_WRAPT_WHEEL=<path to the pinned wrapt wheel>. JOBS (default 1) sets
# the build's parallelism; the compiler runs under `nice`.
set -euo pipefail
umask 022
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

PYVER=3.11
HOST_PY=/usr/bin/python$PYVER
TARGET_ARCH=arm64
TRIPLET=aarch64-linux-gnu
BUILD=build/aarch64
APT=(apt-get -o DPkg::Lock::Timeout=900 -o Acquire::Retries=3)

die() {
  echo "build-aarch64: $*" >&2
  exit 1
}
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

[[ $(dpkg --print-architecture) == amd64 ]] || die "this script cross-builds on Debian amd64"

# --- packages -------------------------------------------------------------------
# The build machine's tools, the cross toolchain, qemu-user, and the target's
# libraries and headers (arm64, beside the amd64 ones). fmt is used header-only,
# but its CMake package (fmt::fmt-header-only) is installed per architecture
# (/usr/lib/<multiarch>/cmake/fmt), so the arm64 libfmt-dev is needed too;
# curl's headers are per architecture too (/usr/include/<multiarch>/curl; the core
# loads libcurl.so.4 only when OTLP export starts); nlohmann-json3-dev and
# libcli11-dev are architecture-independent.
needed=(cmake ninja-build file binutils "python$PYVER" python3-pip
        "g++-$TRIPLET" qemu-user-static
        "libpython$PYVER:$TARGET_ARCH" "libpython$PYVER-stdlib:$TARGET_ARCH" "libpython$PYVER-dev:$TARGET_ARCH"
        "libssl-dev:$TARGET_ARCH" "libfmt-dev:$TARGET_ARCH" "libcurl4-openssl-dev:$TARGET_ARCH"
        nlohmann-json3-dev libcli11-dev)
missing=()
for p in "${needed[@]}"; do installed "$p" || missing+=("$p"); done
if ((${#missing[@]})); then
  [[ $(id -u) -eq 0 ]] || die "run as root to install ${missing[*]}"
  if ! dpkg --print-foreign-architectures | grep -qx "$TARGET_ARCH"; then
    echo "build-aarch64: dpkg --add-architecture $TARGET_ARCH" >&2
    dpkg --add-architecture "$TARGET_ARCH"
  fi
  "${APT[@]}" update -qq
  served=() refused=()
  for p in "${missing[@]}"; do
    candidate=$(apt-cache policy "$p" 2>/dev/null | sed -n 's/^ *Candidate: //p')
    if [[ -n $candidate && $candidate != "(none)" ]]; then served+=("$p=$candidate"); else refused+=("$p"); fi
  done
  echo "build-aarch64: served by the registry: ${served[*]:-(nothing to install)}" >&2
  ((${#refused[@]} == 0)) || die "not served by the registry: ${refused[*]}"
  echo "build-aarch64: installing ${missing[*]}" >&2
  # Multi-Arch: same packages keep one version on every architecture: installing
  # an arm64 library may upgrade its amd64 twin to the version the registry serves.
  DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for p in "${needed[@]}"; do installed "$p" || die "$p is not installed"; done

# Debian's arm64 python3.11 (python3.11-minimal, the same version as the arm64
# libpython) is unpacked, not installed: python3.11 is Multi-Arch: allowed, so
# only one architecture of it can be installed, and the amd64 one builds.
pyver_full=$(dpkg-query -W -f='${Version}' "libpython$PYVER:$TARGET_ARCH")
ref=$BUILD/python$PYVER-$TARGET_ARCH
mkdir -p "$BUILD/debs"
if [[ ! -x $ref/usr/bin/python$PYVER || $(cat "$ref/VERSION" 2>/dev/null) != "$pyver_full" ]]; then
  rm -rf "$ref" "$BUILD"/debs/python"$PYVER"-minimal_*
  (cd "$BUILD/debs" && "${APT[@]}" download -qq "python$PYVER-minimal:$TARGET_ARCH=$pyver_full") ||
    die "python$PYVER-minimal:$TARGET_ARCH=$pyver_full is not served by the registry"
  dpkg-deb -x "$BUILD"/debs/python"$PYVER"-minimal_*_"$TARGET_ARCH".deb "$ref"
  echo "$pyver_full" >"$ref/VERSION"
fi

# --- the wrapt wheel the hooks bundle (pure Python) ---------------------------------
wrapt_version=$(sed -n 's/^set(BLUEPYTHON_WRAPT_VERSION \(.*\))$/\1/p' cmake/BluepythonHooks.cmake)
wheel=${BLUEPYTHON_WRAPT_WHEEL:-$ROOT/build/_vendor/wrapt-$wrapt_version-py3-none-any.whl}
if [[ ! -f $wheel ]]; then
  "$HOST_PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary :all: \
    --platform any --implementation py --abi none "wrapt==$wrapt_version" -d "$(dirname "$wheel")"
fi
[[ -f $wheel ]] || die "no $wheel"

# --- build ----------------------------------------------------------------------
configure=(-S . -B "$BUILD" -G Ninja
  -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/toolchain-$TRIPLET.cmake"
  -DCMAKE_BUILD_TYPE=RelWithDebInfo
  -DPython3_EXECUTABLE="$HOST_PY"
  -DBLUEPYTHON_WRAPT_WHEEL="$wheel"
  -DBLUEPYTHON_SPLIT_DEBUG=ON
  -DBLUEPYTHON_BUILD_TESTS=OFF)
echo "build-aarch64: building bluepython for $TRIPLET python$PYVER ($pyver_full) in $BUILD" >&2
cmake "${configure[@]}" >"$BUILD/configure.log" 2>&1 || { cat "$BUILD/configure.log" >&2; die "configure failed"; }
start=$SECONDS
if ! nice -n 19 cmake --build "$BUILD" -j"${JOBS:-1}" >"$BUILD/build.log" 2>&1; then
  tail -n 40 "$BUILD/build.log" >&2
  die "the build failed (all of it in $BUILD/build.log)"
fi
echo "build-aarch64: built in $((SECONDS - start)) s" >&2

# --- checks -----------------------------------------------------------------------
# aarch64 ELF files that need nothing but libc and libm: no libpython, no libstdc++ or
# libgcc_s (linked statically), no libcrypto.
for f in "$BUILD/bluepython" "$BUILD/libbluepython-core.so"; do
  desc=$(file -b "$f")
  echo "build-aarch64: $f: $desc" >&2
  [[ $desc == *"ARM aarch64"* ]] || die "$f is not an aarch64 ELF file"
  needed_libs=$(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | paste -sd' ')
  echo "build-aarch64: $f NEEDED: $needed_libs" >&2
  for lib in $needed_libs; do
    [[ $lib =~ ^(libc\.so\.6|libm\.so\.6|ld-linux-aarch64\.so\.1)$ ]] || die "$f needs $lib"
  done
done
qemu=$(command -v qemu-aarch64-static)
"$qemu" "$BUILD/bluepython" version >&2 || die "$BUILD/bluepython version failed under $qemu"
