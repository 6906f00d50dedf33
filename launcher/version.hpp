// SPDX-License-Identifier: Apache-2.0
#pragma once

// The release: project(VERSION) of CMakeLists.txt, which launcher/CMakeLists.txt passes
// to every object as BLUEPYTHON_VERSION. A definition rather than a header generated
// into the build tree, so that no object depends on where its build tree is: the
// compiler cache then serves the wheels the objects of the dev build.
#ifndef BLUEPYTHON_VERSION
#error "BLUEPYTHON_VERSION comes from launcher/CMakeLists.txt"
#endif

namespace bluepython {
inline constexpr const char* kVersion = BLUEPYTHON_VERSION;
}  // namespace bluepython
