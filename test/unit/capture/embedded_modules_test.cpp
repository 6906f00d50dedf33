// SPDX-License-Identifier: Apache-2.0
#include "capture/embedded_modules.hpp"

#include <catch2/catch.hpp>

#include <string>

using bluepython::find_embedded_module;

TEST_CASE("the hooks package, its importer and the private wrapt are built in", "[embedded]") {
  for (const char* name : {"bluepython_hooks", "bluepython_hooks.mcp", "bluepython_hooks.fastmcp",
                           "bluepython_hooks._vendor", "bluepython_hooks._vendor.wrapt"}) {
    INFO(name);
    const auto* m = find_embedded_module(name);
    REQUIRE(m != nullptr);
    CHECK(m->is_package);
    CHECK(std::string(m->name) == name);
  }
  for (const char* name : {"_bluepython_importer", "bluepython_hooks._emit", "bluepython_hooks._vendor.wrapt.importer"}) {
    INFO(name);
    const auto* m = find_embedded_module(name);
    REQUIRE(m != nullptr);
    CHECK_FALSE(m->is_package);
    // A marshalled code object starts with TYPE_CODE ('c'), possibly with the FLAG_REF bit.
    REQUIRE(m->size > 16);
    CHECK((m->code[0] & 0x7f) == 'c');
  }
}

TEST_CASE("lookups of names that are not built in find nothing", "[embedded]") {
  for (const char* name : {"", "wrapt", "bluepython_hook", "bluepython_hooks.", "bluepython_hooks.nope",
                           "bluepython_hooks._vendor.wrapt.nope", "zzz"}) {
    INFO(name);
    CHECK(find_embedded_module(name) == nullptr);
  }
}

TEST_CASE("the table records the bytecode magic of the CPython it was compiled for", "[embedded]") {
  const auto magic = bluepython::embedded_magic();
  REQUIRE(magic.size() == 4);
  CHECK(magic[2] == '\r');
  CHECK(magic[3] == '\n');
}
