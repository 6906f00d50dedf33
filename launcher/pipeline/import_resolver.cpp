// SPDX-License-Identifier: Apache-2.0
#include "pipeline/import_resolver.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "pipeline/fd_util.hpp"
#include "pipeline/json_writer.hpp"

namespace bluepython {
namespace {

constexpr std::size_t kMaxBaselineEntries = 200'000;
constexpr std::size_t kMaxMetadataBytes = 16U << 20U;
constexpr const char* kBaselineHeader = "# bluepython import baseline v2";

// Calls fn(line) for each line of `text` (without the newline) until it
// returns false.
template <typename Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!fn(line)) return;
    if (nl == std::string_view::npos) return;
    text.remove_prefix(nl + 1);
  }
}

// Splits one RECORD line (CSV: path,hash,size; the path may be quoted).
bool parse_record_line(std::string_view line, std::string& path, std::string_view& hash) {
  path.clear();
  hash = {};
  std::size_t i = 0;
  if (!line.empty() && line[0] == '"') {
    ++i;
    while (i < line.size()) {
      if (line[i] == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          path += '"';
          i += 2;
          continue;
        }
        ++i;
        break;
      }
      path += line[i++];
    }
  } else {
    const std::size_t comma = line.find(',');
    path.assign(line.substr(0, comma));
    i = comma == std::string_view::npos ? line.size() : comma;
  }
  if (i >= line.size() || line[i] != ',') return !path.empty();
  ++i;
  const std::size_t comma = line.find(',', i);
  hash = line.substr(i, comma == std::string_view::npos ? std::string_view::npos : comma - i);
  return !path.empty();
}

// Collapses "a/./b" and "a/x/../b" (some tools write RECORD paths that way).
std::string normalize_relative(std::string_view p) {
  if (p.find("./") == std::string_view::npos && p.find("//") == std::string_view::npos) return std::string(p);
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (start <= p.size()) {
    const std::size_t slash = p.find('/', start);
    const std::string_view part =
        p.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part == "..") {
      if (!parts.empty() && parts.back() != "..") parts.pop_back();
      else parts.push_back(part);
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  std::string out;
  for (const auto& part : parts) {
    if (!out.empty()) out += '/';
    out += part;
  }
  return out;
}

// PEP 503 normalization, with '_' as separator (matches import names).
std::string normalize_name(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (const char c : name) {
    if (c == '-' || c == '.' || c == '_') {
      if (out.empty() || out.back() != '_') out += '_';
    } else {
      out += static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
    }
  }
  return out;
}

std::string trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r");
  const auto last = s.find_last_not_of(" \t\r");
  return first == std::string_view::npos ? std::string() : std::string(s.substr(first, last - first + 1));
}

import_resolver::file_stamp stamp_from(const struct stat& st) {
  import_resolver::file_stamp s;
  s.dev = st.st_dev;
  s.ino = st.st_ino;
  s.size = static_cast<std::uint64_t>(st.st_size);
  s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  s.ctime_ns = static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
  return s;
}

void append_stamp(std::string& text, const import_resolver::file_stamp& s) {
  for (const auto v : {s.dev, s.ino, s.size}) {
    text += '\t';
    text += std::to_string(v);
  }
  for (const auto v : {s.mtime_ns, s.ctime_ns}) {
    text += '\t';
    text += std::to_string(v);
  }
}

}  // namespace

import_resolver::import_resolver(import_options options, std::string baseline_path, std::string legacy_path)
    : options_(options), baseline_path_(std::move(baseline_path)), legacy_path_(std::move(legacy_path)) {}

std::optional<import_resolver::file_stamp> import_resolver::stamp_of(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return stamp_from(st);
}

std::optional<import_resolver::file_stamp> import_resolver::record_stamp(const std::string& dist_info) {
  if (const auto it = record_stamps_.find(dist_info); it != record_stamps_.end()) return it->second;
  auto stamp = stamp_of(dist_info + "/RECORD");
  record_stamps_.emplace(dist_info, stamp);
  return stamp;
}

void import_resolver::load_metadata(distribution& dist) {
  if (dist.metadata_loaded) return;
  dist.metadata_loaded = true;
  if (const auto text = read_small_file(dist.dist_info + "/METADATA", kMaxMetadataBytes)) {
    for_each_line(*text, [&](std::string_view line) {
      if (line.empty()) return false;  // end of the header block
      if (dist.name.empty() && line.starts_with("Name:")) dist.name = trim(line.substr(5));
      if (dist.version.empty() && line.starts_with("Version:")) dist.version = trim(line.substr(8));
      return true;
    });
  }
  // Fall back to the folder name: <name>-<version>.dist-info
  const std::string folder = dist.dist_info.substr(dist.dist_info.find_last_of('/') + 1);
  const std::string stem = folder.substr(0, folder.size() - std::strlen(".dist-info"));
  const auto dash = stem.find('-');
  if (dist.name.empty()) dist.name = stem.substr(0, dash);
  if (dist.version.empty() && dash != std::string::npos) dist.version = stem.substr(dash + 1);
}

void import_resolver::load_record(site_dir& site, std::size_t index) {
  distribution& dist = site.dists[index];
  if (dist.record_loaded) return;
  dist.record_loaded = true;
  ++site.records_loaded;
  const auto text = read_small_file(dist.dist_info + "/RECORD", kMaxMetadataBytes);
  if (!text) return;
  std::string path;
  std::string_view hash;
  for_each_line(*text, [&](std::string_view line) {
    if (!parse_record_line(line, path, hash)) return true;
    std::string b64;
    if (hash.starts_with("sha256=")) b64.assign(hash.substr(7));
    site.files.emplace(normalize_relative(path), std::make_pair(index, std::move(b64)));
    return true;
  });
}

import_resolver::site_dir* import_resolver::site_for_directory(const std::string& dir) {
  if (auto it = sites_.find(dir); it != sites_.end()) return it->second.get();
  std::unique_ptr<site_dir> site;
  if (DIR* d = open_dir_high(dir.empty() ? "/" : dir.c_str())) {
    while (const dirent* entry = ::readdir(d)) {
      const std::string_view name(entry->d_name);
      if (name.size() <= 10 || !name.ends_with(".dist-info")) continue;
      if (!site) site = std::make_unique<site_dir>();
      distribution dist;
      dist.dist_info.append(dir).append("/").append(name);
      const std::string_view stem = name.substr(0, name.size() - 10);
      site->by_name[normalize_name(stem.substr(0, stem.find('-')))].push_back(site->dists.size());
      site->dists.push_back(std::move(dist));
    }
    ::closedir(d);
  }
  auto [it, inserted] = sites_.emplace(dir, std::move(site));
  return it->second.get();
}

import_resolver::ownership import_resolver::find_owner(const std::string& path) {
  ownership result;
  // The standard library (outside its site-packages) has no distributions.
  if (!stdlib_prefix_.empty() && path.starts_with(stdlib_prefix_) &&
      path.find("-packages/", stdlib_prefix_.size()) == std::string::npos) {
    return result;
  }
  std::size_t slash = path.find_last_of('/');
  while (slash != std::string::npos && slash > 0) {
    const std::string dir = path.substr(0, slash);
    site_dir* site = site_for_directory(dir);
    if (site == nullptr) {
      slash = path.find_last_of('/', slash - 1);
      continue;
    }
    const std::string relative = normalize_relative(std::string_view(path).substr(slash + 1));
    auto lookup = [&]() -> bool {
      const auto it = site->files.find(relative);
      if (it == site->files.end()) return false;
      distribution& dist = site->dists[it->second.first];
      load_metadata(dist);
      result.dist_info = dist.dist_info;
      result.name = dist.name;
      result.version = dist.version;
      if (const auto digest = digest_from_urlsafe_b64(it->second.second)) result.record_hex = to_hex(*digest);
      if (const auto stamp = record_stamp(dist.dist_info)) result.record_stamp = *stamp;
      return true;
    };
    if (lookup()) return result;
    std::string top = relative.substr(0, relative.find('/'));
    if (relative.find('/') == std::string::npos) top = top.substr(0, top.find('.'));  // name.py, name.cpython-*.so
    const std::string key = normalize_name(top);
    auto try_all = [&](const std::vector<std::size_t>& indexes) {
      for (const std::size_t index : indexes) load_record(*site, index);
      return lookup();
    };
    if (const auto it = site->by_name.find(key); it != site->by_name.end() && try_all(it->second)) return result;
    if (!site->top_levels_loaded) {
      site->top_levels_loaded = true;
      for (std::size_t index = 0; index < site->dists.size(); ++index) {
        if (const auto text = read_small_file(site->dists[index].dist_info + "/top_level.txt", 1U << 16U)) {
          for_each_line(*text, [&](std::string_view line) {
            if (!line.empty()) site->by_top_level[normalize_name(line)].push_back(index);
            return true;
          });
        }
      }
    }
    if (const auto it = site->by_top_level.find(key); it != site->by_top_level.end() && try_all(it->second)) {
      return result;
    }
    for (std::size_t index = 0; index < site->dists.size() && site->records_loaded < site->dists.size(); ++index) {
      if (site->dists[index].record_loaded) continue;
      load_record(*site, index);
      if (lookup()) return result;
    }
    return result;  // the nearest site directory decides
  }
  return result;
}

void import_resolver::load_baseline() {
  baseline_loaded_ = true;
  if (!options_.baseline || baseline_path_.empty()) return;
  auto text = read_small_file(baseline_path_, 64U << 20U);
  if (!text && !legacy_path_.empty()) text = read_small_file(legacy_path_, 64U << 20U);
  if (!text) return;
  bool header = true;
  for_each_line(*text, [&](std::string_view line) {
    if (header) {
      header = false;
      return line == kBaselineHeader;  // another format: start over
    }
    if (previous_.size() >= kMaxBaselineEntries) return false;
    // hex, stamp(5), dist_info, name, version, record_hex, record stamp(5), path
    std::string_view fields[15];
    std::size_t pos = 0;
    for (auto& field : fields) {
      const auto tab = line.find('\t', pos);
      if (tab == std::string_view::npos) return true;  // malformed: skip
      field = line.substr(pos, tab - pos);
      pos = tab + 1;
    }
    if (fields[0].size() != 64 || pos >= line.size()) return true;
    try {
      // Numbers as written by save_baseline; anything else makes the line malformed.
      auto parse = [](std::string_view v, auto& out) {
        const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
        if (ec != std::errc() || end != v.data() + v.size()) throw std::invalid_argument("baseline field");
      };
      auto to_u = [&](std::string_view v) {
        std::uint64_t out = 0;
        parse(v, out);
        return out;
      };
      auto to_i = [&](std::string_view v) {
        std::int64_t out = 0;
        parse(v, out);
        return out;
      };
      auto stamp_at = [&](std::size_t i) {
        return file_stamp{to_u(fields[i]), to_u(fields[i + 1]), to_u(fields[i + 2]), to_i(fields[i + 3]),
                          to_i(fields[i + 4])};
      };
      known_file entry;
      entry.hex = std::string(fields[0]);
      entry.stamp = stamp_at(1);
      entry.owner.dist_info = std::string(fields[6]);
      entry.owner.name = std::string(fields[7]);
      entry.owner.version = std::string(fields[8]);
      entry.owner.record_hex = std::string(fields[9]);
      entry.owner.record_stamp = stamp_at(10);
      previous_.emplace(std::string(line.substr(pos)), std::move(entry));
    } catch (...) {
    }
    return true;
  });
}

bool import_resolver::append_attributes(std::string& out, std::string_view path_view) {
  if (!baseline_loaded_) load_baseline();
  const std::string path(path_view);
  std::optional<std::string> hex;
  std::optional<file_stamp> stamp;
  ownership owner;
  bool owner_known = false;
  if (!path.empty() && options_.hash) stamp = stamp_of(path);
  if (stamp) {
    const known_file* known = nullptr;
    if (const auto it = current_.find(path); it != current_.end()) known = &it->second;
    else if (const auto prev = previous_.find(path); prev != previous_.end()) known = &prev->second;
    if (options_.hash_cache && known != nullptr && known->stamp == *stamp) {
      hex = known->hex;
      // The stored owner holds while that distribution's RECORD is the same
      // file it was (no owner: the stored answer is re-derived below).
      if (!known->owner.dist_info.empty()) {
        const auto now = record_stamp(known->owner.dist_info);
        if (now && *now == known->owner.record_stamp) {
          owner = known->owner;
          owner_known = true;
        }
      }
    } else if (const auto digest = sha256_file(path)) {
      hex = to_hex(*digest);
    }
  }
  if (!owner_known && !path.empty()) owner = find_owner(path);
  if (!options_.fileslist && !owner.dist_info.empty()) {
    if (!reported_dists_.insert(owner.dist_info).second) return false;
  }

  out += ',';  // continues the attributes the producer wrote
  json_writer w(out);
  w.key("sha256");
  if (hex) {
    w.string(*hex);
    w.key("size");
    w.unsigned_integer(stamp->size);
  } else {
    w.null();
  }
  const bool owned = !owner.dist_info.empty();
  w.key("pkg");
  if (owned) w.string(owner.name); else w.null();
  w.key("version");
  if (owned) w.string(owner.version); else w.null();
  w.key("record_match");
  if (hex && owned && !owner.record_hex.empty()) {
    const bool match = *hex == owner.record_hex;
    w.boolean(match);
    if (!match) {
      w.key("record_sha256");
      w.string(owner.record_hex);
    }
  } else {
    w.null();
  }
  bool changed = false;
  if (hex) {
    known_file entry{*hex, *stamp, owner};
    if (auto cur = current_.find(path); cur != current_.end()) {
      changed = cur->second.hex != *hex;  // re-imported in this process after a change
      baseline_dirty_ = baseline_dirty_ || changed;
      cur->second = std::move(entry);
    } else {
      const auto prev = previous_.find(path);
      changed = prev != previous_.end() && prev->second.hex != *hex;
      if (prev == previous_.end() || changed || !(prev->second.stamp == *stamp) ||
          prev->second.owner.dist_info != owner.dist_info ||
          !(prev->second.owner.record_stamp == owner.record_stamp)) {
        baseline_dirty_ = true;
      }
      if (current_.size() < kMaxBaselineEntries) current_.emplace(path, std::move(entry));
    }
  }
  w.key("hash_changed");
  w.boolean(changed);
  return true;
}

void import_resolver::save_baseline() noexcept {
  if (!options_.baseline || !baseline_dirty_ || baseline_path_.empty()) return;
  baseline_dirty_ = false;
  try {
    // Merge: entries of the previous run this process did not see are kept.
    for (const auto& [path, entry] : previous_) {
      if (current_.size() >= kMaxBaselineEntries) break;
      current_.emplace(path, entry);
    }
    std::string text = kBaselineHeader;
    text += '\n';
    for (const auto& [path, e] : current_) {
      const auto bad = [](const std::string& s) { return s.find_first_of("\t\n") != std::string::npos; };
      if (bad(path) || bad(e.owner.dist_info) || bad(e.owner.name) || bad(e.owner.version)) continue;
      text += e.hex;
      append_stamp(text, e.stamp);
      for (const std::string* s : {&e.owner.dist_info, &e.owner.name, &e.owner.version, &e.owner.record_hex}) {
        text += '\t';
        text += *s;
      }
      append_stamp(text, e.owner.record_stamp);
      text += '\t';
      text += path;
      text += '\n';
    }
    const auto slash = baseline_path_.rfind('/');
    std::string error;
    if (slash != std::string::npos && slash > 0) (void)make_private_dirs(baseline_path_.substr(0, slash), error);
    if (write_file_atomically(baseline_path_, text, 0600) && !legacy_path_.empty()) {
      (void)::unlink(legacy_path_.c_str());
    }
  } catch (...) {
  }
}

}  // namespace bluepython
