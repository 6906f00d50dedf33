// SPDX-License-Identifier: Apache-2.0
#include "pyapi/py_json.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <string>

#include "pyapi/py_ref.hpp"
#include "python_fixture.hpp"

using bluepython::encode_python_value;
using bluepython::json_limits;
using bluepython::json_writer;
using bluepython::py_ref;

namespace {

// The JSON text of what `expression` evaluates to (in __main__, after `setup`).
std::string encoded(const char* expression, const json_limits& limits = {}, bool binary_summary = false) {
  bluepython::test::python();
  PyObject* main = PyImport_AddModule("__main__");  // borrowed
  PyObject* globals = PyModule_GetDict(main);       // borrowed
  const py_ref value(PyRun_String(expression, Py_eval_input, globals, globals));
  if (!value) {
    PyErr_Print();
    FAIL("cannot evaluate " << expression);
  }
  std::string out;
  json_writer w(out, limits);
  encode_python_value(w, value.get(), binary_summary);
  CHECK(PyErr_Occurred() == nullptr);
  CHECK(nlohmann::json::accept(out));
  return out;
}

}  // namespace

TEST_CASE("Python values become their JSON counterparts", "[py_json][python]") {
  CHECK(encoded("None") == "null");
  CHECK(encoded("[True, False]") == "[true,false]");
  CHECK(encoded("-42") == "-42");
  CHECK(encoded("2**70") == R"("1180591620717411303424")");  // every digit, as text
  CHECK(encoded("1.5") == "1.5");
  CHECK(encoded("float('nan')") == "null");
  CHECK(encoded("'h\\u00e9'") == "\"h\xc3\xa9\"");
  CHECK(encoded("b'raw'") == R"("raw")");
  CHECK(encoded("bytearray(b'ba')") == R"("ba")");
  CHECK(encoded("(1, 'a')") == R"([1,"a"])");
  CHECK(encoded("{'k': [1, {'n': None}], 3: 'int key'}") == R"({"k":[1,{"n":null}],"3":"int key"})");
  CHECK(encoded("{7}") == "[7]");
  CHECK(encoded("frozenset()") == "[]");
  CHECK(encoded("__import__('pathlib').PurePosixPath('/a/b')") == R"("/a/b")");  // anything else: str()
}

TEST_CASE("subclasses of containers are encoded as their base", "[py_json][python]") {
  bluepython::test::run_python(
      "class L(list):\n"
      "    def __iter__(self):\n"
      "        raise RuntimeError('not used')\n"
      "class D(dict):\n"
      "    def items(self):\n"
      "        raise RuntimeError('not used')\n");
  CHECK(encoded("L([1, 2])") == "[1,2]");
  CHECK(encoded("D(a=1)") == R"({"a":1})");
}

TEST_CASE("limits cut long containers and deep nesting with a marker", "[py_json][python]") {
  json_limits limits;
  limits.max_items = 3;
  limits.max_depth = 3;
  CHECK(encoded("list(range(5))", limits) == R"([0,1,2,"...[2 more items cut by bluepython]"])");
  CHECK(encoded("tuple(range(3))", limits) == "[0,1,2]");
  CHECK(encoded("{i: i for i in range(5)}", limits) ==
        R"({"0":0,"1":1,"2":2,"...":"[2 more keys cut by bluepython]"})");
  CHECK(encoded("[[[[1]]]]", limits) == R"([[["...[nesting cut by bluepython]"]]])");
}

TEST_CASE("lone surrogates become U+FFFD, in values and keys", "[py_json][python]") {
  // One U+FFFD per byte of the surrogate's (invalid) UTF-8 form.
  constexpr const char* fffd3 = "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd";
  CHECK(encoded("'a\\ud800b'") == std::string("\"a") + fffd3 + "b\"");
  CHECK(encoded("{'\\udfff': 1}") == std::string("{\"") + fffd3 + "\":1}");
}

TEST_CASE("str() that fails or changes what is being encoded", "[py_json][python]") {
  bluepython::test::run_python(
      "class Fails:\n"
      "    def __str__(self):\n"
      "        raise RuntimeError('no text')\n"
      "class Clears:\n"
      "    def __init__(self, target):\n"
      "        self.target = target\n"
      "    def __str__(self):\n"
      "        self.target.clear()\n"
      "        return 'cleared'\n"
      "def emptied_list():\n"
      "    lst = [str(i) * 3 for i in range(40)]\n"
      "    lst.insert(1, Clears(lst))\n"
      "    return lst\n"
      "def emptied_by_key():\n"
      "    d = {}\n"
      "    d[Clears(d)] = [str(i) * 3 for i in range(40)]\n"
      "    d['after'] = [1, 2]\n"
      "    return d\n"
      "def emptied_by_value():\n"
      "    d = {'a': None, 'b': [str(i) for i in range(40)]}\n"
      "    d['a'] = Clears(d)\n"
      "    return d\n"
      "def grown_by_value():\n"
      "    d = {}\n"
      "    class Grows:\n"
      "        def __str__(self):\n"
      "            for i in range(100):\n"
      "                d[f'new{i}'] = i\n"
      "            return 'grew'\n"
      "    d['a'] = Grows()\n"
      "    return d\n");
  CHECK(encoded("Fails()") == R"("<unrepresentable Fails>")");
  CHECK(encoded("{Fails(): 1}") == R"({"<key>":1})");
  // The items present when the list was met are encoded, whatever str() did.
  const std::string list = encoded("emptied_list()");
  CHECK(list.starts_with(R"(["000","cleared","111",)"));
  CHECK(list.ends_with(R"("393939"])"));
  const std::string by_key = encoded("emptied_by_key()");
  CHECK(by_key.starts_with(R"({"cleared":["000",)"));
  CHECK(encoded("emptied_by_value()") == R"({"a":"cleared"})");
  CHECK(encoded("grown_by_value()").starts_with(R"({"a":"grew")"));
}

TEST_CASE("an exception pending before encoding is kept, ours are not left", "[py_json][python]") {
  bluepython::test::run_python("class Fails:\n    def __str__(self):\n        raise RuntimeError('ours')\n");
  PyObject* main = PyImport_AddModule("__main__");
  const py_ref value(PyRun_String("[Fails(), 2**80]", Py_eval_input, PyModule_GetDict(main), PyModule_GetDict(main)));
  REQUIRE(value);
  PyErr_SetString(PyExc_KeyError, "the app's");
  std::string out;
  json_writer w(out);
  encode_python_value(w, value.get());
  CHECK(out == R"(["<unrepresentable Fails>","1208925819614629174706176"])");
  REQUIRE(PyErr_ExceptionMatches(PyExc_KeyError));
  PyErr_Clear();
}

TEST_CASE("MCP base64 payloads are summarized on request", "[py_json][python]") {
  const char* content = "{'type': 'image', 'data': 'QUJDRA==', 'mimeType': 'image/png'}";
  CHECK(encoded(content) == R"({"type":"image","data":"QUJDRA==","mimeType":"image/png"})");
  CHECK(encoded(content, {}, true) ==
        R"({"type":"image","data":{"bluepython_omitted":"base64","base64_chars":8,"bytes":4},"mimeType":"image/png"})");
  CHECK(encoded("{'type': 'text', 'data': 'QUJD'}", {}, true) == R"({"type":"text","data":"QUJD"})");
  CHECK(encoded("{'uri': 'x', 'blob': 'QUI='}", {}, true) ==
        R"({"uri":"x","blob":{"bluepython_omitted":"base64","base64_chars":4,"bytes":2}})");
}
