// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "config.hpp"
#include "sha256.hpp"

namespace bluepython {

// Completes python_import events on the writer side, off the import path:
// hashes the module file (SHA-256, OpenSSL), finds the installed distribution
// that owns it (the nearest ancestor directory holding *.dist-info folders,
// whose RECORD lists the file), compares the hash with RECORD's, and with the
// hash the previous run saw for the same path (the per-spool baseline).
// Never calls Python. Not thread-safe: writer thread only.
class import_resolver {
 public:
  import_resolver(import_options options, std::string baseline_path);

  // Appends the completing attributes (each preceded by a comma) for the
  // module file `path` (empty: built-in, frozen or namespace; fields are null).
  // Returns false when the event should be left out (fileslist=false and the
  // distribution was already reported).
  bool append_attributes(std::string& out, std::string_view path);

  // Writes the baseline back (atomically, 0600). Safe to call more than once.
  void save_baseline() noexcept;

  struct distribution {
    std::string name;
    std::string version;
    std::string dist_info;  // path of the .dist-info directory
  };
  struct owner {
    const distribution* dist = nullptr;
    std::optional<sha256_digest> record_digest;
  };
  // The distribution owning `path`, if any. Exposed for tests.
  owner find_owner(const std::string& path);

 private:
  // A directory holding *.dist-info folders. RECORD files are read lazily:
  // first those of distributions whose name or top_level.txt matches the
  // file's top-level package, then the rest, until the file is found.
  struct site_dir {
    std::vector<distribution> dists;
    std::vector<bool> loaded;
    std::size_t loaded_count = 0;
    // relative path -> (index into dists, digest if RECORD has one)
    std::unordered_map<std::string, std::pair<std::size_t, std::optional<sha256_digest>>> files;
    // normalized top-level name -> dists that may own it
    std::unordered_map<std::string, std::vector<std::size_t>> by_top_level;
  };
  site_dir* site_for_directory(const std::string& dir);
  void load_record(site_dir& site, std::size_t index);
  void load_baseline();

  // What identifies a file's content without reading it: a hash recorded with
  // the same device, inode, size, mtime and ctime is reused (ctime cannot be
  // set back by the file's owner, so a rewrite is always noticed).
  struct file_stamp {
    std::uint64_t dev = 0;
    std::uint64_t ino = 0;
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::int64_t ctime_ns = 0;
    bool operator==(const file_stamp&) const = default;
  };
  struct known_hash {
    std::string hex;
    file_stamp stamp;
  };

  import_options options_;
  std::string baseline_path_;
  bool baseline_loaded_ = false;
  bool baseline_dirty_ = false;
  std::unordered_map<std::string, known_hash> previous_;  // path -> last run's hash
  std::unordered_map<std::string, known_hash> current_;   // path -> this run's hash
  // directory -> site index (nullptr: not a site directory)
  std::unordered_map<std::string, std::unique_ptr<site_dir>> sites_;
  std::unordered_set<std::string> reported_dists_;
};

}  // namespace bluepython
