// SPDX-License-Identifier: Apache-2.0
// The compiled part of {fmt}, once for the whole program.
//
// Every source includes <fmt/format.h> without FMT_HEADER_ONLY, so the library's
// out-of-line functions (the formatting engine, the shortest float conversion and
// its tables, the Unicode tables) are declared there and defined only here. Built
// header-only, each of the ~50 files that format compiled all of them again: about a
// quarter of such a file's compile time, in every build (dev, wheels, .deb,
// sanitizers). Debian's libfmt.so is not linked, so the core keeps no run-time
// dependency on it; this file is what its source would have compiled.
#include <fmt/format-inl.h>

FMT_BEGIN_NAMESPACE
namespace detail {

// Declared as templates in format.h (extern for char), instantiated for the types
// the program formats.
template auto dragonbox::to_decimal(float x) noexcept -> dragonbox::decimal_fp<float>;
template auto dragonbox::to_decimal(double x) noexcept -> dragonbox::decimal_fp<double>;
template auto thousands_sep_impl<char>(locale_ref) -> thousands_sep_result<char>;
template auto decimal_point_impl(locale_ref) -> char;

}  // namespace detail
FMT_END_NAMESPACE
