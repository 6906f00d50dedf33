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

#include "pipeline/options.hpp"
#include "pipeline/sha256.hpp"

namespace bluepython {

// Completes python_import events on the writer side, off the import path:
// hashes the module file (SHA-256, OpenSSL), finds the installed distribution
// that owns it (the nearest ancestor directory holding *.dist-info folders,
// whose RECORD lists the file), compares the hash with RECORD's, and with the
// hash the previous run saw for the same path (the per-spool baseline).
//
// Steady state costs stat(2) calls, not reads: the baseline keeps, per file,
// its hash and owner together with the file's and the RECORD's identity
// (device, inode, size, mtime, ctime); when both are unchanged the stored
// answer is reused. Never calls Python. Not thread-safe: writer thread only.
class import_resolver {
 public:
  // `baseline_path` is read and written (in the state directory); `legacy_path`, where
  // earlier releases kept it (the spool directory), is read when the first is missing
  // and removed once the baseline is saved at its new place.
  import_resolver(import_options options, std::string baseline_path, std::string legacy_path = {});

  // Files under this directory (the standard library) that are not in a
  // site-packages folder belong to no distribution: no lookup is made.
  void set_stdlib_dir(std::string dir) { stdlib_prefix_ = std::move(dir) + "/"; }

  // Appends the completing attributes (each preceded by a comma) for the
  // module file `path` (empty: built-in, frozen or namespace; fields are null).
  // Returns false when the event should be left out (fileslist=false and the
  // distribution was already reported).
  bool append_attributes(std::string& out, std::string_view path);

  // Writes the baseline back (atomically, 0600) if anything changed.
  void save_baseline() noexcept;

  struct file_stamp {
    std::uint64_t dev = 0;
    std::uint64_t ino = 0;
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::int64_t ctime_ns = 0;
    bool operator==(const file_stamp&) const = default;
  };

  struct ownership {
    std::string dist_info;  // empty: no distribution owns the file
    std::string name;
    std::string version;
    std::string record_hex;  // the file's hash as RECORD lists it; empty if none
    file_stamp record_stamp;
  };
  // The distribution owning `path`. Exposed for tests.
  ownership find_owner(const std::string& path);

 private:
  struct distribution {
    std::string dist_info;   // path of the .dist-info directory
    std::string name;        // from METADATA, read when first needed
    std::string version;
    bool metadata_loaded = false;
    bool record_loaded = false;
  };
  // A directory holding *.dist-info folders. Lazily: RECORD files are read
  // first for distributions whose folder name matches the file's top-level
  // package, then (after reading top_level.txt files) for those that declare
  // it, then the rest, until the file is found.
  struct site_dir {
    std::vector<distribution> dists;
    std::size_t records_loaded = 0;
    bool top_levels_loaded = false;
    // relative path -> (index into dists, RECORD's base64 hash or "")
    std::unordered_map<std::string, std::pair<std::size_t, std::string>> files;
    std::unordered_map<std::string, std::vector<std::size_t>> by_name;       // normalized dist name
    std::unordered_map<std::string, std::vector<std::size_t>> by_top_level;  // from top_level.txt
  };
  struct known_file {
    std::string hex;
    file_stamp stamp;
    ownership owner;  // valid while owner.record_stamp matches RECORD
  };

  site_dir* site_for_directory(const std::string& dir);
  void load_record(site_dir& site, std::size_t index);
  void load_metadata(distribution& dist);
  std::optional<file_stamp> stamp_of(const std::string& path);
  std::optional<file_stamp> record_stamp(const std::string& dist_info);
  void load_baseline();

  import_options options_;
  std::string baseline_path_;
  std::string legacy_path_;
  std::string stdlib_prefix_;  // "<stdlib dir>/", or empty
  bool baseline_loaded_ = false;
  bool baseline_dirty_ = false;
  std::unordered_map<std::string, known_file> previous_;  // path -> last run
  std::unordered_map<std::string, known_file> current_;   // path -> this run
  std::unordered_map<std::string, std::unique_ptr<site_dir>> sites_;  // nullptr: not a site dir
  std::unordered_map<std::string, std::optional<file_stamp>> record_stamps_;
  std::unordered_set<std::string> reported_dists_;
};

}  // namespace bluepython
