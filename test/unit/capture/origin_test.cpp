// SPDX-License-Identifier: Apache-2.0
#include "capture/origin.hpp"

#include <catch2/catch.hpp>

#include <string_view>

using bluepython::capture::classify_file_name;
using bluepython::capture::origin;

namespace {

origin classify(std::string_view name) { return classify_file_name(name.data(), name.size()); }

}  // namespace

TEST_CASE("the import system's own files are its machinery", "[origin]") {
  for (const char* name : {"<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>",
                           "<frozen zipimport>", "<frozen getpath>", "<frozen runpy>", "/usr/lib/python3.11/runpy.py",
                           "<bluepython>/bluepython_hooks/_emit.py",
                           "/usr/lib/python3.11/importlib/metadata/__init__.py",
                           "/usr/lib/python3.11/importlib/resources/_common.py"}) {
    INFO(name);
    CHECK(classify(name) == origin::import_system);
  }
}

TEST_CASE("shutil and tempfile report their operations themselves", "[origin]") {
  CHECK(classify("/usr/lib/python3.11/shutil.py") == origin::self_reporting);
  // tempfile's creations are events of their own; its clean-up's removals are reported
  CHECK(classify("/usr/lib/python3.11/tempfile.py") == origin::temp_files);
}

TEST_CASE("traceback, linecache and warnings read source lines to show errors", "[origin]") {
  for (const char* name : {"/usr/lib/python3.11/traceback.py", "/usr/lib/python3.11/linecache.py",
                           "/usr/lib/python3.11/warnings.py"}) {
    INFO(name);
    CHECK(classify(name) == origin::diagnostics);
  }
  CHECK(classify("/srv/app/traceback_helpers.py") == origin::app);
}

TEST_CASE("code generators of the standard library and common packages", "[origin]") {
  for (const char* name : {"/usr/lib/python3.11/collections/__init__.py", "/usr/lib/python3.11/dataclasses.py",
                           "/usr/lib/python3.11/typing.py", "/usr/lib/python3.11/inspect.py",
                           "/venv/lib/python3.11/site-packages/attr/_make.py",
                           "/venv/lib/python3.11/site-packages/typing_inspection/typing_objects.py"}) {
    INFO(name);
    CHECK(classify(name) == origin::code_generator);
  }
}

TEST_CASE("everything else is the app, near misses included", "[origin]") {
  for (const char* name : {"", "server.py", "/srv/app/server.py", "<string>", "<stdin>", "<frozen os>",
                           "/srv/app/my_shutil.py", "/srv/app/shutil.py.bak", "/srv/importlib/other.py",
                           "/srv/app/typing.pyi", "/srv/app/runpy.pyc", "<bluepython>", "/usr/lib/python3.11/pathlib.py",
                           "/usr/lib/python3.11/collections/abc.py"}) {
    INFO(name);
    CHECK(classify(name) == origin::app);
  }
}

TEST_CASE("the size given is the name: what follows is not read", "[origin]") {
  constexpr std::string_view text = "/usr/lib/python3.11/shutil.py.not-this";
  CHECK(classify_file_name(text.data(), std::string_view("/usr/lib/python3.11/shutil.py").size()) ==
        origin::self_reporting);
  CHECK(classify_file_name(text.data(), text.size()) == origin::app);
}
