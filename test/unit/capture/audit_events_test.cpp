// SPDX-License-Identifier: Apache-2.0
#include "capture/audit_events.hpp"

#include <catch2/catch.hpp>

#include <string>

#include "capture/handlers.hpp"

using bluepython::capture::audit_event;
using bluepython::capture::audit_events;
using bluepython::capture::find_audit_event;
using bluepython::capture::gate;
using bluepython::capture::subject_kind;

TEST_CASE("every row of the table is found by its name", "[audit_events]") {
  REQUIRE(audit_events().size() > 40);
  for (const audit_event& e : audit_events()) {
    const std::string name(e.name);
    INFO(name);
    CHECK(find_audit_event(name.c_str()) == &e);
  }
}

TEST_CASE("the names the interpreter raises most are refused", "[audit_events]") {
  for (const char* name : {"object.__getattr__", "object.__setattr__", "sys._getframe", "sys._getframemodulename",
                           "builtins.id", "exec", "os.listdir", "os.scandir", "os.exe", "os.execv", "opEn", "ope",
                           "openx", "import ", "socket.connect_ex", "subprocess.Popen2", "", "o", "\xc3\xa9t\xc3\xa9",
                           "o\xc3\xa9"}) {
    INFO(name);
    CHECK(find_audit_event(name) == nullptr);
  }
}

TEST_CASE("every side-effect row says what it becomes and has a handler", "[audit_events]") {
  for (const audit_event& e : audit_events()) {
    const std::string name(e.name);
    INFO(name);
    CHECK(e.handle != nullptr);
    if (e.when == gate::category) {
      REQUIRE(e.reports != nullptr);
      CHECK(std::string(e.reports).starts_with("python_"));
    }
    if (e.handle == &bluepython::capture::file_change) CHECK(e.op != nullptr);
  }
}

TEST_CASE("subjects and members name arguments that can exist", "[audit_events]") {
  // No event in the table has more than four arguments.
  for (const audit_event& e : audit_events()) {
    const std::string name(e.name);
    INFO(name);
    for (const auto& s : e.subjects) {
      if (s.kind == subject_kind::none) {
        CHECK(s.index == -1);
      } else {
        CHECK(s.index >= 0);
        CHECK(s.index < 4);
      }
    }
    for (const auto& m : e.members) {
      CHECK(m.index < 4);
      if (m.key == nullptr) CHECK(m.index == -1);
      // Only file changes have optional members (no target): they skip those.
      if (m.key != nullptr && e.handle != &bluepython::capture::file_change) CHECK(m.index >= 0);
    }
    // A member that names a subject's argument reports what the filter saw.
    if (e.handle == &bluepython::capture::report_members && e.subjects[0].kind == subject_kind::arg) {
      bool reported = false;
      for (const auto& m : e.members) reported = reported || (m.key != nullptr && m.index == e.subjects[0].index);
      CHECK(reported);
    }
  }
}

TEST_CASE("the start of the program and imports are handled whatever the categories", "[audit_events]") {
  for (const char* name : {"cpython.run_file", "cpython.run_module", "cpython.run_command", "import"}) {
    INFO(name);
    const audit_event* e = find_audit_event(name);
    REQUIRE(e != nullptr);
    CHECK(e->when == gate::always);
  }
  const audit_event* exec = find_audit_event("os.exec");
  REQUIRE(exec != nullptr);
  CHECK(exec->flush_after);
  CHECK(std::string(exec->reports) == "python_process_spawn");
}
