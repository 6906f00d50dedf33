# SPDX-License-Identifier: Apache-2.0
# Cross-compiling for Debian's arm64 (aarch64-linux-gnu) on a Debian amd64 machine,
# with Debian's cross toolchain (g++-aarch64-linux-gnu) and arm64 libraries and
# headers installed side by side through multiarch (dpkg --add-architecture arm64):
# they live under /usr/lib/aarch64-linux-gnu and /usr/include/aarch64-linux-gnu,
# so the root stays `/` and no sysroot is needed. packaging/build-aarch64.sh uses it:
#
#   cmake -S . -B build/aarch64 \
#     -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64-linux-gnu.cmake \
#     -DPython3_EXECUTABLE=/usr/bin/python3.11
#
# Python3_EXECUTABLE is the build machine's CPython of the same minor version: it runs
# the build's scripts (cmake/embed_python.py: marshal is the same on every architecture).
# Everything about the target's CPython comes from Debian's arm64 libpython3.X-dev:
# FindPython3, when cross-compiling, takes the headers from its
# aarch64-linux-gnu-python3.X-config, and cmake/BluepythonPython.cmake reads its
# build facts from the target's sysconfig data (_sysconfigdata__aarch64-linux-gnu).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# pkg-config (which FindOpenSSL asks first) reads the target's .pc files only, as a
# pkg-config for the target would; else it names the amd64 libcrypto.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
unset(ENV{PKG_CONFIG_PATH})

# The target's CPython is Debian's, in /usr: FindPython3 looks there first for
# aarch64-linux-gnu-python3.X-config (else a python3.X-config earlier on PATH, such as a
# pyenv shim, would be taken and refused as the wrong architecture).
if(NOT DEFINED Python3_ROOT_DIR)
  set(Python3_ROOT_DIR /usr)
endif()

# Target programs (try_run, ctest) run under qemu-user when it is installed.
find_program(BLUEPYTHON_QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64)
if(BLUEPYTHON_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${BLUEPYTHON_QEMU_AARCH64})
endif()
