// SPDX-License-Identifier: Apache-2.0
#include "pipeline/spool_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace bluepython;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
  temp_dir() {
    char tmpl[] = "/tmp/bp_spool_XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~temp_dir() { fs::remove_all(path); }
  std::string path;
};

std::vector<fs::path> spool_files(const std::string& dir) {
  std::vector<fs::path> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".ndjson") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::string line(int i) { return "{\"i\":" + std::to_string(i) + "}\n"; }

}  // namespace

TEST_CASE("creates the directory 0700 and a 0600 O_CLOEXEC file named after pid and start", "[spool_writer]") {
  temp_dir tmp;
  spool_options o;
  o.dir = tmp.path + "/a/b/spool";
  spool_writer w(o, 4242, 1'795'000'000'000'000'000);
  const auto res = w.write(line(1), 1);
  CHECK(res.written_lines == 1);
  CHECK(res.fault.empty());
  struct stat st{};
  REQUIRE(::stat(o.dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  const auto files = spool_files(o.dir);
  REQUIRE(files.size() == 1);
  CHECK(files[0].filename() == "python-bluepython-4242-1795000000000-0.ndjson");
  REQUIRE(::stat(files[0].c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(read_all(files[0]) == line(1));
  // The descriptor is close-on-exec: find it through /proc and check.
  bool found_cloexec = false;
  for (const auto& fd_entry : fs::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    if (fs::read_symlink(fd_entry.path(), ec) == files[0]) {
      const int fd = std::stoi(fd_entry.path().filename());
      found_cloexec = (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
    }
  }
  CHECK(found_cloexec);
}

TEST_CASE("rotates at max_file_bytes without splitting batches", "[spool_writer]") {
  temp_dir tmp;
  spool_options o;
  o.dir = tmp.path;
  o.max_file_bytes = 4096;
  spool_writer w(o, 1, 0);
  std::string expected;
  for (int batch = 0; batch < 50; ++batch) {
    std::string data;
    for (int i = 0; i < 10; ++i) data += line(batch * 10 + i);
    expected += data;
    CHECK(w.write(data, 10).written_lines == 10);
  }
  const auto files = spool_files(o.dir);
  CHECK(files.size() > 1);
  std::string joined;
  for (const auto& f : files) {
    const std::string content = read_all(f);
    CHECK(content.back() == '\n');
    CHECK(content.size() <= 4096);
    joined += content;
  }
  // Names sort by sequence while < 10 files; order is preserved.
  CHECK(joined.size() == expected.size());
}

TEST_CASE("quota removes the oldest files of finished processes first", "[spool_writer]") {
  temp_dir tmp;
  // A finished process's old file (pid 999999 does not exist), named as an earlier release did.
  const std::string stale = tmp.path + "/bluepython-999999-1-0.ndjson";
  { std::ofstream(stale) << std::string(6000, 'x') << '\n'; }
  spool_options o;
  o.dir = tmp.path;
  o.max_total_bytes = 8192;
  spool_writer w(o, ::getpid(), 2);
  CHECK(w.write(std::string(3000, 'y') + "\n", 1).written_lines == 1);
  CHECK_FALSE(fs::exists(stale));
}

TEST_CASE("quota never removes a live process's file; the batch is dropped instead", "[spool_writer]") {
  temp_dir tmp;
  // pid 1 is alive.
  const std::string live = tmp.path + "/python-bluepython-1-1-0.ndjson";
  { std::ofstream(live) << std::string(6000, 'x') << '\n'; }
  spool_options o;
  o.dir = tmp.path;
  o.max_total_bytes = 8192;
  spool_writer w(o, ::getpid(), 2);
  const auto first = w.write(std::string(3000, 'y') + "\n", 1);
  CHECK(first.dropped_lines == 1);
  CHECK_THAT(first.fault, Catch::Contains("quota"));
  CHECK(fs::exists(live));
  // Reported once while the condition lasts.
  const auto second = w.write(std::string(3000, 'y') + "\n", 1);
  CHECK(second.dropped_lines == 1);
  CHECK(second.fault.empty());
}

TEST_CASE("an unusable directory drops lines with one fault message", "[spool_writer]") {
  temp_dir tmp;
  const std::string file = tmp.path + "/not-a-dir";
  { std::ofstream(file) << "x"; }
  spool_options o;
  o.dir = file + "/spool";
  spool_writer w(o, 1, 0);
  const auto res = w.write(line(1), 1);
  CHECK(res.dropped_lines == 1);
  CHECK_THAT(res.fault, Catch::Contains("cannot create"));
  // Retried at most once a second: the next immediate write drops quietly.
  const auto again = w.write(line(2), 1);
  CHECK(again.dropped_lines == 1);
  CHECK(again.fault.empty());
}

TEST_CASE("a deleted spool file is replaced by a new one", "[spool_writer]") {
  temp_dir tmp;
  spool_options o;
  o.dir = tmp.path;
  spool_writer w(o, 7, 0);
  REQUIRE(w.write(line(1), 1).written_lines == 1);
  const std::string first = w.current_path();
  fs::remove(first);
  const auto res = w.write(line(2), 1);
  CHECK(res.written_lines == 1);
  CHECK_THAT(res.fault, Catch::Contains("was removed"));
  CHECK(w.current_path() != first);
  CHECK(read_all(w.current_path()) == line(2));
}

TEST_CASE("a forked child forgets the parent's file", "[spool_writer]") {
  temp_dir tmp;
  spool_options o;
  o.dir = tmp.path;
  spool_writer w(o, 7, 0);
  REQUIRE(w.write(line(1), 1).written_lines == 1);
  const std::string parent_file = w.current_path();
  w.reset_in_child(8, 0);
  REQUIRE(w.write(line(2), 1).written_lines == 1);
  CHECK(read_all(parent_file) == line(1));
  CHECK(w.current_path().find("/python-bluepython-8-") != std::string::npos);
}
