// SPDX-License-Identifier: Apache-2.0
// docs/configuration.md's key table and the schema table the parser and
// to_json follow (config_file.cpp) list the same keys with the same types.
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.hpp"

using namespace bluepython;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The `code` spans of one table cell, in order.
std::vector<std::string> code_spans(const std::string& cell) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while ((at = cell.find('`', at)) != std::string::npos) {
    const std::size_t end = cell.find('`', at + 1);
    if (end == std::string::npos) break;
    out.push_back(cell.substr(at + 1, end - at - 1));
    at = end + 1;
  }
  return out;
}

// "bool, `true`" -> "boolean", as config_keys() names the types.
std::string schema_type(const std::string& cell) {
  const std::map<std::string, std::string> words = {
      {" bool or object", "boolean or object"}, {" bool", "boolean"}, {" string or object", "string or object"},
      {" int", "integer"},                      {" string", "string"},
      {" arrays of patterns", "array of strings"}, {" array of strings", "array of strings"},
      {" array of objects", "array of objects"},   {" object of strings", "object of strings"}};
  std::string best;
  for (const auto& [word, type] : words) {
    if (cell.rfind(word, 0) == 0 && word.size() > best.size()) best = word;
  }
  return best.empty() ? "?" + cell : words.at(best);
}

// key -> type of every row of the "## Config file" tables. A cell like
// "`process.include`, `process.exclude` (and `files.`, `network.`)" stands
// for the same keys under each named prefix.
std::map<std::string, std::string> documented_keys(const std::string& doc) {
  const std::size_t start = doc.find("\n## Config file");
  REQUIRE(start != std::string::npos);
  const std::size_t end = doc.find("\n## ", start + 1);
  std::istringstream lines(doc.substr(start, end - start));
  std::map<std::string, std::string> out;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("| `", 0) != 0) continue;
    const std::size_t bar1 = line.find('|', 1);
    const std::size_t bar2 = line.find('|', bar1 + 1);
    const std::string type = schema_type(line.substr(bar1 + 1, bar2 - bar1 - 1));
    std::vector<std::string> keys;
    for (const auto& span : code_spans(line.substr(1, bar1 - 1))) {
      if (!span.empty() && span.back() == '.') {
        const std::size_t n = keys.size();
        for (std::size_t i = 0; i < n; ++i) keys.push_back(span + keys[i].substr(keys[i].find('.') + 1));
      } else {
        keys.push_back(span);
      }
    }
    for (const auto& key : keys) out[key] = type;
  }
  return out;
}

}  // namespace

TEST_CASE("every config key is documented in docs/configuration.md, and every documented key exists",
          "[config][docs]") {
  // The repository from this file's path (CMake compiles sources by absolute path).
  const std::string self = __FILE__;
  const std::string suffix = "test/unit/config/config_docs_test.cpp";
  REQUIRE(self.size() > suffix.size());
  REQUIRE(self.compare(self.size() - suffix.size(), suffix.size(), suffix) == 0);
  const auto documented = documented_keys(read_text(self.substr(0, self.size() - suffix.size()) + "docs/configuration.md"));
  REQUIRE(documented.size() > 20);
  std::map<std::string, std::string> schema;
  for (const auto& [path, type] : config_keys()) schema[path] = std::string(type);
  // A category is documented by its name ("bool or object with `enable`"), not as "<category>.enable".
  for (const auto& [path, type] : std::map<std::string, std::string>(schema)) {
    if (type == "boolean or object") schema.erase(path + ".enable");
  }
  for (const auto& [path, type] : schema) {
    INFO("in the schema: " << path);
    const auto doc = documented.find(path);
    CHECK(doc != documented.end());
    if (doc != documented.end()) CHECK(doc->second == type);
  }
  for (const auto& [path, type] : documented) {
    INFO("in docs/configuration.md: " << path);
    CHECK(schema.count(path) == 1);
  }
}
