// SPDX-License-Identifier: Apache-2.0
#include "pipeline/import_resolver.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "pipeline/sha256.hpp"

using namespace bluepython;
namespace fs = std::filesystem;

namespace {

// RECORD's encoding of a digest: urlsafe base64 without padding.
std::string record_hash(const std::string& content) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const auto d = sha256_bytes(content);
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (const auto byte : d) {
    acc = (acc << 8U) | byte;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += alphabet[(acc >> static_cast<unsigned>(bits)) & 0x3FU];
    }
  }
  if (bits > 0) out += alphabet[(acc << static_cast<unsigned>(6 - bits)) & 0x3FU];
  return out;
}

struct site_fixture {
  site_fixture() {
    char tmpl[] = "/tmp/bp_site_XXXXXX";
    root = ::mkdtemp(tmpl);
    site = root + "/lib/python3.11/site-packages";
    fs::create_directories(site + "/goodpkg");
    fs::create_directories(site + "/good_pkg-1.2.3.dist-info");
    fs::create_directories(site + "/_hidden_mod");
    write(site + "/goodpkg/__init__.py", "print('hi')\n");
    write(site + "/goodpkg/tampered.py", "x = 2\n");
    write(site + "/_hidden_mod/core.py", "y = 1\n");
    write(site + "/good_pkg-1.2.3.dist-info/METADATA", "Metadata-Version: 2.1\nName: Good-Pkg\nVersion: 1.2.3\n\nbody\n");
    write(site + "/good_pkg-1.2.3.dist-info/top_level.txt", "goodpkg\n_hidden_mod\n");
    write(site + "/good_pkg-1.2.3.dist-info/RECORD",
          "goodpkg/__init__.py,sha256=" + record_hash("print('hi')\n") + ",12\n"
          "goodpkg/tampered.py,sha256=" + record_hash("x = 1\n") + ",6\n"
          "\"_hidden_mod/core.py\",sha256=" + record_hash("y = 1\n") + ",6\n"
          "goodpkg/__pycache__/__init__.cpython-311.pyc,,\n"
          "good_pkg-1.2.3.dist-info/RECORD,,\n");
    write(root + "/app.py", "import goodpkg\n");
  }
  ~site_fixture() { fs::remove_all(root); }
  static void write(const std::string& path, const std::string& content) {
    std::ofstream(path, std::ios::binary) << content;
  }
  nlohmann::json attributes(import_resolver& r, const std::string& path) {
    std::string out = "\"fullname\":\"x\"";
    REQUIRE(r.append_attributes(out, path));
    return nlohmann::json::parse("{" + out + "}");
  }
  std::string root;
  std::string site;
};

}  // namespace

TEST_CASE("a file listed in RECORD gets its distribution and record_match true", "[import_resolver]") {
  site_fixture f;
  import_resolver r({}, f.root + "/baseline.tsv");
  const auto a = f.attributes(r, f.site + "/goodpkg/__init__.py");
  CHECK(a["sha256"] == to_hex(sha256_bytes("print('hi')\n")));
  CHECK(a["size"] == 12);
  CHECK(a["pkg"] == "Good-Pkg");
  CHECK(a["version"] == "1.2.3");
  CHECK(a["record_match"] == true);
  CHECK(a["hash_changed"] == false);
  CHECK_FALSE(a.contains("record_sha256"));
}

TEST_CASE("a modified file is a RECORD mismatch and names the expected hash", "[import_resolver]") {
  site_fixture f;
  import_resolver r({}, "");
  const auto a = f.attributes(r, f.site + "/goodpkg/tampered.py");
  CHECK(a["record_match"] == false);
  CHECK(a["record_sha256"] == to_hex(sha256_bytes("x = 1\n")));
}

TEST_CASE("owners are found through top_level.txt and quoted RECORD paths", "[import_resolver]") {
  site_fixture f;
  import_resolver r({}, "");
  const auto a = f.attributes(r, f.site + "/_hidden_mod/core.py");
  CHECK(a["pkg"] == "Good-Pkg");
  CHECK(a["record_match"] == true);
}

TEST_CASE("files outside any distribution have null package fields", "[import_resolver]") {
  site_fixture f;
  import_resolver r({}, "");
  const auto a = f.attributes(r, f.root + "/app.py");
  CHECK(a["sha256"].is_string());
  CHECK(a["pkg"].is_null());
  CHECK(a["record_match"].is_null());
  const auto missing = f.attributes(r, f.root + "/nope.py");
  CHECK(missing["sha256"].is_null());
  const auto builtin = f.attributes(r, "");
  CHECK(builtin["sha256"].is_null());
  CHECK(builtin["pkg"].is_null());
}

TEST_CASE("hash_changed compares with the previous run's baseline", "[import_resolver]") {
  site_fixture f;
  const std::string baseline = f.root + "/baseline.tsv";
  {
    import_resolver first({}, baseline);
    CHECK(f.attributes(first, f.root + "/app.py")["hash_changed"] == false);
    first.save_baseline();
  }
  site_fixture::write(f.root + "/app.py", "import goodpkg  # changed\n");
  {
    import_resolver second({}, baseline);
    CHECK(f.attributes(second, f.root + "/app.py")["hash_changed"] == true);
    second.save_baseline();
  }
  import_resolver third({}, baseline);
  CHECK(f.attributes(third, f.root + "/app.py")["hash_changed"] == false);
}

TEST_CASE("fileslist=false reports one module per distribution", "[import_resolver]") {
  site_fixture f;
  import_options o;
  o.fileslist = false;
  import_resolver r(o, "");
  std::string out = "\"fullname\":\"a\"";
  CHECK(r.append_attributes(out, f.site + "/goodpkg/__init__.py"));
  out = "\"fullname\":\"b\"";
  CHECK_FALSE(r.append_attributes(out, f.site + "/goodpkg/tampered.py"));
  out = "\"fullname\":\"c\"";
  CHECK(r.append_attributes(out, f.root + "/app.py"));  // no distribution: always reported
}
