#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the Debian package of bluepython for Debian 12's python3.11:
#
#   dist/bluepython_<version>-1_<arch>.deb           /usr/bin/bluepython, its core
#                                                   (/usr/lib/bluepython), man page, copyright
#   dist/bluepython-dbgsym_<version>-1_<arch>.ddeb   their debug info, by build id
#                                                   (/usr/lib/debug/.build-id/...)
#
# then checks both with lintian: an error or a warning fails the build.
#
#   bash packaging/build-deb.sh
#
# The build tree is build/deb/, the staging trees build/deb-pkg/debian/<package>/. The maintainer
# is $DEBFULLNAME <$DEBEMAIL>, else git's user.name and user.email. Offline:
# BLUEPYTHON_WRAPT_WHEEL=<path to the pinned wrapt wheel> (cmake/BluepythonHooks.cmake).
# JOBS (default 2) sets the build's parallelism.
set -euo pipefail
umask 022
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

PY=/usr/bin/python3.11
PYVER=3.11
REVISION=1
BUILD=build/deb
PKGROOT=build/deb-pkg
SRC=packaging/deb

die() {
  echo "build-deb: $*" >&2
  exit 1
}

# --- tools and build dependencies (apt only when something is missing) -------
needed=(cmake ninja-build g++ pkg-config libcli11-dev libfmt-dev nlohmann-json3-dev libssl-dev
        "python$PYVER" "python$PYVER-dev" "libpython$PYVER-dev" python3-pip
        dpkg-dev binutils man-db lintian)
missing=()
for p in "${needed[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "build-deb: installing ${missing[*]}" >&2
  [[ $(id -u) -eq 0 ]] || die "run as root to install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

ARCH=$(dpkg --print-architecture)
MULTIARCH=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
VERSION=$(sed -n 's/^project(bluepython VERSION \([0-9][0-9.]*\)[ )].*/\1/p' CMakeLists.txt)
[[ -n $VERSION ]] || die "no project(bluepython VERSION ...) in CMakeLists.txt"
DEBVERSION=$VERSION-$REVISION
# The maintainer: $DEBFULLNAME/$DEBEMAIL, else the author of the commit built
# (a clean clone on a CI machine has no git identity configured).
MAINTAINER_NAME=${DEBFULLNAME:-$(git log -1 --format=%an 2>/dev/null || true)}
MAINTAINER_EMAIL=${DEBEMAIL:-$(git log -1 --format=%ae 2>/dev/null || true)}
[[ -n $MAINTAINER_NAME && -n $MAINTAINER_EMAIL ]] || die "set DEBFULLNAME and DEBEMAIL (the package's maintainer)"
MAINTAINER="$MAINTAINER_NAME <$MAINTAINER_EMAIL>"
# One date for every timestamp in the packages: the commit's, so a rebuild of
# the same commit gives the same files.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH

# The copyright file names the versions of what is compiled in: check them.
wrapt_version=$(sed -n 's/^set(BLUEPYTHON_WRAPT_VERSION \(.*\))$/\1/p' cmake/BluepythonHooks.cmake)
upstream_of() { dpkg-query -W -f='${Version}' "$1" | sed -e 's/^[0-9]*://' -e 's/[+-].*//'; }
for named in "wrapt $wrapt_version" "fmt $(upstream_of libfmt-dev)" \
             "nlohmann-json $(upstream_of nlohmann-json3-dev)" "CLI11 $(upstream_of libcli11-dev)"; do
  grep -q -- "- $named " "$SRC/copyright" || die "$SRC/copyright does not name $named: update it"
done

# --- build --------------------------------------------------------------------
# Debian's build flags (hardening, -ffile-prefix-map), as dpkg-buildpackage would set them.
eval "$(dpkg-buildflags --export=sh)"
configure=(-S . -B "$BUILD" -G Ninja
  -DCMAKE_BUILD_TYPE=RelWithDebInfo
  -DCMAKE_INSTALL_PREFIX=/usr
  -DCMAKE_CXX_FLAGS="$CPPFLAGS $CXXFLAGS"
  -DCMAKE_EXE_LINKER_FLAGS="$LDFLAGS"
  -DCMAKE_SHARED_LINKER_FLAGS="$LDFLAGS"
  -DPython3_EXECUTABLE="$PY"
  -DBLUEPYTHON_SPLIT_DEBUG=ON
  -DBLUEPYTHON_RECORD_BUILD_PATHS=OFF
  -DBLUEPYTHON_BUILD_TESTS=OFF)
[[ -z ${BLUEPYTHON_WRAPT_WHEEL:-} ]] || configure+=(-DBLUEPYTHON_WRAPT_WHEEL="$BLUEPYTHON_WRAPT_WHEEL")
echo "build-deb: building bluepython $VERSION for $PY in $BUILD" >&2
cmake "${configure[@]}" >/dev/null
if ! cmake --build "$BUILD" -j"${JOBS:-2}" >"$BUILD/build.log" 2>&1; then
  tail -n 40 "$BUILD/build.log" >&2
  die "the build failed (all of it in $BUILD/build.log)"
fi

# --- stage ----------------------------------------------------------------------
# Laid out as debhelper would (debian/<package>/), where dpkg-shlibdeps expects the files.
rm -rf "$PKGROOT"
STAGE=$PKGROOT/debian/bluepython
DBG=$PKGROOT/debian/bluepython-dbgsym
mkdir -p "$STAGE/DEBIAN" "$DBG/DEBIAN"
DESTDIR=$ROOT/$STAGE cmake --install "$BUILD" >/dev/null
exe=$STAGE/usr/bin/bluepython
core=$STAGE/usr/lib/bluepython/libbluepython-core.so
installed=$(cd "$STAGE" && find . -type f -not -path './DEBIAN/*' | sort | tr '\n' ' ')
[[ $installed == "./usr/bin/bluepython ./usr/lib/bluepython/libbluepython-core.so " ]] ||
  die "cmake --install staged unexpected files: $installed"

# Strip as dh_strip does; the debug info was split off by the build
# (BLUEPYTHON_SPLIT_DEBUG) and goes to the -dbgsym package under its build id.
build_id() { readelf -n "$1" 2>/dev/null | sed -n 's/^ *Build ID: *//p'; }
build_ids=()
for pair in "$exe:$BUILD/bluepython.debug" "$core:$BUILD/libbluepython-core.so.debug"; do
  bin=${pair%%:*} debug=${pair#*:}
  if [[ $bin == *.so ]]; then
    strip --remove-section=.comment --remove-section=.note --strip-unneeded "$bin"
    chmod 0644 "$bin"
  else
    strip --remove-section=.comment --remove-section=.note "$bin"
    chmod 0755 "$bin"
  fi
  id=$(build_id "$bin")
  [[ -n $id && $id == "$(build_id "$debug")" ]] || die "$debug does not belong to $bin (build id '$id')"
  mkdir -p "$DBG/usr/lib/debug/.build-id/${id:0:2}"
  objcopy --compress-debug-sections "$debug" "$DBG/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug"
  chmod 0644 "$DBG/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug"
  build_ids+=("$id")
done

doc=$STAGE/usr/share/doc/bluepython
install -d "$doc" "$STAGE/usr/share/man/man1" "$STAGE/usr/share/lintian/overrides"
install -m0644 "$SRC/copyright" "$doc/copyright"
install -m0644 "$SRC/lintian-overrides" "$STAGE/usr/share/lintian/overrides/bluepython"
{
  echo "bluepython ($DEBVERSION) bookworm; urgency=medium"
  echo
  echo "  * bluepython $VERSION for Debian 12's python$PYVER."
  echo
  echo " -- $MAINTAINER  $(date -R -u -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$doc/changelog.Debian.gz"
sed -e "s/@VERSION@/$VERSION/" -e "s/@DATE@/$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)/" "$SRC/bluepython.1" |
  gzip -9n >"$STAGE/usr/share/man/man1/bluepython.1.gz"
chmod 0644 "$doc/changelog.Debian.gz" "$STAGE/usr/share/man/man1/bluepython.1.gz"
install -d "$DBG/usr/share/doc"
ln -s bluepython "$DBG/usr/share/doc/bluepython-dbgsym"

# --- dependencies ---------------------------------------------------------------
# What the binaries link (libc; the C++ runtime and libgcc are static), from the libraries' shlibs/symbols.
# (Not the warning for symbols found in no linked library: the core's are
# libpython's, checked below.)
printf 'Source: bluepython\n\nPackage: bluepython\nArchitecture: any\n' >"$PKGROOT/debian/control"
shlibs=$(cd "$PKGROOT" && dpkg-shlibdeps -O --warnings=2 -e"${exe#"$PKGROOT"/}" -e"${core#"$PKGROOT"/}" |
  sed -n 's/^shlibs:Depends=//p')
[[ -n $shlibs ]] || die "dpkg-shlibdeps found no dependencies"
# libpython is not linked (the executable loads it at run time) but the core
# uses its symbols: the version they need, from libpython's symbols file.
symbols=/var/lib/dpkg/info/libpython$PYVER:$ARCH.symbols
[[ -f $symbols ]] || die "no $symbols (is libpython$PYVER installed?)"
libpython_min=$(nm -D --undefined-only "$core" | awk '{print $NF}' | sed 's/@.*//' | sort -u |
  awk 'NR == FNR { split($1, s, "@"); if ($2 ~ /^[0-9]/) v[s[1]] = $2; next }
       /^_?Py/ { if ($1 in v) print v[$1]; else print "missing " $1 }' "$symbols" - |
  sort -V | tail -n 1)
[[ $libpython_min =~ ^[0-9] ]] || die "the core uses a symbol libpython$PYVER does not export ($libpython_min)"
DEPENDS="$shlibs, libpython$PYVER (>= $libpython_min), python$PYVER"
# OTLP export loads libcurl.so.4 when it starts and needs curl_multi_wakeup (7.68).
RECOMMENDS="libcurl4 (>= 7.68.0)"
# The sources compiled into the binaries: libstdc++ and libcrypto (static), the header-only libraries.
built_using=$(for f in "$(g++ -print-file-name=libstdc++.a)" "$(realpath /usr/lib/"$MULTIARCH"/libcrypto.a)" \
                       /usr/include/fmt/core.h /usr/include/nlohmann/json.hpp /usr/include/CLI/CLI.hpp; do
  pkg=$(dpkg-query -S "$(realpath "$f")" | cut -d: -f1)
  dpkg-query -W -f='${source:Package} (= ${source:Version})\n' "$pkg"
done | sort -u | paste -sd, | sed 's/,/, /g')

installed_size() {  # KiB, as dpkg-gencontrol counts: each file rounded up, 1 per directory or link
  find "$1" -mindepth 1 -not -path "$1/DEBIAN*" -printf '%y %s\n' |
    awk '$1 == "f" { t += int(($2 + 1023) / 1024) } $1 != "f" { t += 1 } END { print t }'
}

cat >"$PKGROOT/description" <<EOF
Description: drop-in python$PYVER that records what a Python program does
 bluepython runs a Python program exactly as python$PYVER does (same arguments,
 output and exit status) and writes what the program does as NDJSON events to
 a local spool: the process tree, every module import with the SHA-256 of its
 file and whether it matches its distribution's RECORD, the MCP (Model Context
 Protocol) traffic of servers and clients built on the mcp or fastmcp
 packages, and side effects such as programs started, files opened and network
 connections, each attributed to the MCP call that caused it.
 .
 With an OpenTelemetry collector configured, the events are also exported over
 OTLP/HTTP, which needs libcurl4. "bluepython tail" shows the events as they
 are written and "bluepython report" summarizes a spool.
 .
 This package serves Debian's python$PYVER. Symlinked into a virtual
 environment made by python$PYVER, bluepython runs that environment's Python.
EOF

{
  echo "Package: bluepython"
  echo "Version: $DEBVERSION"
  echo "Architecture: $ARCH"
  echo "Maintainer: $MAINTAINER"
  echo "Installed-Size: $(installed_size "$STAGE")"
  echo "Depends: $DEPENDS"
  echo "Recommends: $RECOMMENDS"
  echo "Built-Using: $built_using"
  echo "Section: interpreters"
  echo "Priority: optional"
  cat "$PKGROOT/description"
} >"$STAGE/DEBIAN/control"
{
  echo "Package: bluepython-dbgsym"
  echo "Source: bluepython"
  echo "Version: $DEBVERSION"
  echo "Auto-Built-Package: debug-symbols"
  echo "Architecture: $ARCH"
  echo "Maintainer: $MAINTAINER"
  echo "Installed-Size: $(installed_size "$DBG")"
  echo "Depends: bluepython (= $DEBVERSION)"
  echo "Section: debug"
  echo "Priority: optional"
  echo "Description: debug symbols for bluepython"
  echo "Build-Ids: ${build_ids[*]}"
} >"$DBG/DEBIAN/control"

for tree in "$STAGE" "$DBG"; do
  (cd "$tree" && find . -type f -not -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) \
    >"$tree/DEBIAN/md5sums"
  chmod 0644 "$tree/DEBIAN/control" "$tree/DEBIAN/md5sums"
  find "$tree" -type d -exec chmod 0755 {} +
  find "$tree" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
done

# --- packages ---------------------------------------------------------------------
mkdir -p dist
rm -f dist/bluepython_*.deb dist/bluepython-dbgsym_*.ddeb
DEB=dist/bluepython_${DEBVERSION}_$ARCH.deb
DDEB=dist/bluepython-dbgsym_${DEBVERSION}_$ARCH.ddeb
dpkg-deb --build --root-owner-group "$STAGE" "$DEB" >/dev/null
dpkg-deb --build --root-owner-group "$DBG" "$DDEB" >/dev/null

echo "build-deb: lintian $DEB $DDEB" >&2
lintian --fail-on error,warning --display-info "$DEB" "$DDEB"
ls -l "$DEB" "$DDEB" >&2
echo "build-deb: Installed-Size $(sed -n 's/^Installed-Size: //p' "$STAGE/DEBIAN/control") KiB" >&2
