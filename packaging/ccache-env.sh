# SPDX-License-Identifier: Apache-2.0
# Sourced by packaging/build.sh and packaging/build-wheels.sh: one compiler cache, in
# the build tree, for the dev build and every wheel.
# - No CCACHE_BASEDIR: the sources are named by absolute path in every build tree, so
#   an object compiled in build/ matches the same object in build/wheel/<tag>/ (with a
#   base directory they would be named relative to trees of different depths). No
#   source includes a header generated into its own tree (launcher/version.hpp says
#   why); only the generated sources themselves are compiled once per tree.
# - CCACHE_NOHASHDIR: the build tree's directory is not part of the key; the debug info
#   of a shared object names the tree that compiled it first.
# - One compiler name (ccache keys on it, and the CMake of a wheel's isolated build
#   environment would pick g++ where the system's picks c++): the system's default.
export CXX=${CXX:-c++}
export CCACHE_DIR=${CCACHE_DIR:-$ROOT/build/ccache}
export CCACHE_NOHASHDIR=1
unset CCACHE_BASEDIR
