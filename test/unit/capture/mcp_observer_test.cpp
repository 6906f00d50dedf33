// SPDX-License-Identifier: Apache-2.0
#include "capture/mcp_observer.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "pyapi/py_ref.hpp"
#include "python_fixture.hpp"

using bluepython::py_ref;
using nlohmann::json;

namespace {

// __main__ gets McpObserver, message classes (Request 0, Notification 1,
// Response 2, Error 3, as the hooks map them) and observer(tag) making a
// settled server-side observer whose session_id is `tag`.
void define_observer() {
  bluepython::test::python();
  static const bool ready = [] {
    REQUIRE(PyType_Ready(&bluepython::mcp_observer::type) == 0);
    PyObject* main = PyImport_AddModule("__main__");
    REQUIRE(PyObject_SetAttrString(main, "McpObserver", reinterpret_cast<PyObject*>(&bluepython::mcp_observer::type)) ==
            0);
    bluepython::test::run_python(
        "class Message:\n"
        "    def __init__(self, **fields):\n"
        "        self.jsonrpc = '2.0'\n"
        "        self.__dict__.update(fields)\n"
        "class Request(Message): pass\n"
        "class Notification(Message): pass\n"
        "class Response(Message): pass\n"
        "class Error(Message): pass\n"
        "KINDS = {Request: 0, Notification: 1, Response: 2, Error: 3}\n"
        "def observer(tag):\n"
        "    o = McpObserver(0, KINDS)\n"
        "    o.session_id = tag\n"
        "    o.server_name = 'unit'\n"
        "    o.transport = 'stdio'\n"
        "    o.fast = True\n"
        "    return o\n");
    return true;
  }();
  (void)ready;
}

// The python_mcp_event attributes whose session_id is `tag`, in spool order.
std::vector<json> events_of(const std::string& tag) {
  std::vector<json> found;
  for (const auto& line : bluepython::test::spool_lines()) {
    if (line.find("python_mcp_event") == std::string::npos || line.find(tag) == std::string::npos) continue;
    const json event = json::parse(line);
    const json& attrs = event["event"];  // meta, context and the attributes
    if (attrs.value("session_id", json()) == tag) found.push_back(attrs);
  }
  return found;
}

bool truth(const char* expression) {
  PyObject* globals = PyModule_GetDict(PyImport_AddModule("__main__"));
  const py_ref value(PyRun_String(expression, Py_eval_input, globals, globals));
  if (!value) {
    PyErr_Print();
    FAIL("cannot evaluate " << expression);
  }
  return value.get() == Py_True;
}

}  // namespace

TEST_CASE("an observer that is not settled reports nothing", "[mcp_observer][python]") {
  define_observer();
  bluepython::test::run_python("o = McpObserver(0, KINDS)\no.session_id = 'obs-unsettled'\n");
  CHECK_FALSE(truth("o.observe(Request(id=1, method='tools/call', params={}), True)"));
  CHECK(truth("len(o.inbound) == 0"));
  CHECK(events_of("obs-unsettled").empty());
}

TEST_CASE("a request and its response: two events, latency and the method asked", "[mcp_observer][python]") {
  define_observer();
  bluepython::test::run_python("o = observer('obs-pair')\n");
  CHECK(truth("o.observe(Request(id=7, method='tools/call', params={'name': 'echo'}), True)"));
  CHECK(truth("7 in o.inbound"));
  CHECK(truth("o.observe(Response(id=7, result={'content': [], 'isError': True}), False)"));
  CHECK(truth("len(o.inbound) == 0"));
  CHECK(truth("o.observe(Notification(method='notifications/progress', params=None), False)"));
  const auto events = events_of("obs-pair");
  REQUIRE(events.size() == 3);
  CHECK(events[0]["event"] == "server_received_request");
  CHECK(events[0]["message"]["params"] == json{{"name", "echo"}});
  CHECK(events[0]["method"] == "tools/call");
  CHECK(events[0]["source"] == 1);
  CHECK(events[0]["server_name"] == "unit");
  CHECK(events[0]["transport"] == "stdio");
  CHECK(events[1]["event"] == "server_send_response");
  CHECK(events[1]["id"] == 7);
  CHECK(events[1]["request_method"] == "tools/call");
  CHECK(events[1]["error"] == json{{"type", "tool_error"}});
  CHECK(events[1]["duration_ms"].is_number());
  CHECK(events[1]["source"] == 0);
  CHECK(events[2]["event"] == "server_send_notification");
  CHECK_FALSE(events[2]["message"].contains("params"));
}

TEST_CASE("what the Python path must take is declined, nothing changed", "[mcp_observer][python]") {
  define_observer();
  bluepython::test::run_python(
      "o = observer('obs-declined')\n"
      "o.inbound['s'] = (0.0, 'tools/call')\n"
      "o.outbound[9] = (0.0, 'tools/list')\n");
  CHECK_FALSE(truth("o.observe(Request(id=1, method='initialize', params={}), True)"));
  CHECK_FALSE(truth("o.observe(Request(id=2, method='x', params=[1]), True)"));  // params not a dict
  CHECK_FALSE(truth("o.observe(Error(id=3, error={}), True)"));
  CHECK_FALSE(truth("o.observe(Response(id='unknown', result={}), False)"));  // may echo an int id
  CHECK_FALSE(truth("o.observe(Response(id=9, result={'tools': []}), True)"));  // tools/list results
  CHECK_FALSE(truth("o.observe(object(), True)"));                              // not a message class
  CHECK(truth("o.inbound == {'s': (0.0, 'tools/call')} and o.outbound == {9: (0.0, 'tools/list')}"));
  CHECK(events_of("obs-declined").empty());
}

TEST_CASE("app code run while encoding may replace the observer's fields", "[mcp_observer][python]") {
  define_observer();
  // str() of the server name replaces it and raises: the encoder still names
  // the object's type after the str() failed (the field held the only
  // reference).
  bluepython::test::run_python(
      "class Name:\n"
      "    def __str__(self):\n"
      "        o.server_name = 'replaced'\n"
      "        o.client_name = 'replaced'\n"
      "        raise RuntimeError('no text')\n"
      "class Emptying:\n"
      "    def __str__(self):\n"
      "        params.clear()\n"
      "        return 'emptied'\n"
      "o = observer('obs-hostile')\n"
      "o.server_name = Name()\n"
      "params = {'a': Emptying(), 'b': [str(i) * 3 for i in range(40)]}\n");
  CHECK(truth("o.observe(Request(id=1, method='tools/call', params=params), True)"));
  const auto events = events_of("obs-hostile");
  REQUIRE(events.size() == 1);
  CHECK(events[0]["server_name"] == "<unrepresentable Name>");
  CHECK(events[0]["message"]["params"] == json{{"a", "emptied"}});
}
