// SPDX-License-Identifier: Apache-2.0
#include "import_resolver.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "fd_util.hpp"
#include "json_writer.hpp"

namespace bluepython {
namespace {

constexpr std::size_t kMaxBaselineEntries = 200'000;
constexpr const char* kBaselineHeader = "# bluepython import baseline v1";

// Splits one RECORD line (CSV: path,hash,size; the path may be quoted).
bool parse_record_line(std::string_view line, std::string& path, std::string& hash) {
  path.clear();
  hash.clear();
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
  hash.assign(line.substr(i, comma == std::string_view::npos ? std::string_view::npos : comma - i));
  return !path.empty();
}

// Collapses "a/./b" and "a/x/../b" (RECORD paths are relative to the site
// directory; some tools write them with ./ prefixes).
std::string normalize_relative(std::string_view p) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (start <= p.size()) {
    const std::size_t slash = p.find('/', start);
    const std::string_view part = p.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
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

// Calls fn(line) for each line of `text` (without the newline).
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

constexpr std::size_t kMaxMetadataBytes = 16U << 20U;

void read_metadata(const std::string& dist_info, std::string& name, std::string& version) {
  const auto text = read_small_file(dist_info + "/METADATA", kMaxMetadataBytes);
  if (!text) return;
  for_each_line(*text, [&](std::string_view view) {
    const std::string line(view);
    if (line.empty()) return false;  // end of the header block
    if (name.empty() && line.starts_with("Name:")) name = line.substr(5);
    if (version.empty() && line.starts_with("Version:")) version = line.substr(8);
    return true;
  });
  auto trim = [](std::string& s) {
    const auto first = s.find_first_not_of(" \t\r");
    const auto last = s.find_last_not_of(" \t\r");
    s = first == std::string::npos ? std::string() : s.substr(first, last - first + 1);
  };
  trim(name);
  trim(version);
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

}  // namespace

import_resolver::import_resolver(import_options options, std::string baseline_path)
    : options_(options), baseline_path_(std::move(baseline_path)) {}

void import_resolver::load_record(site_dir& site, std::size_t index) {
  if (site.loaded[index]) return;
  site.loaded[index] = true;
  ++site.loaded_count;
  const auto text = read_small_file(site.dists[index].dist_info + "/RECORD", kMaxMetadataBytes);
  if (!text) return;
  std::string path;
  std::string hash;
  for_each_line(*text, [&](std::string_view line) {
    if (!parse_record_line(line, path, hash)) return true;
    std::optional<sha256_digest> digest;
    if (hash.starts_with("sha256=")) digest = digest_from_urlsafe_b64(std::string_view(hash).substr(7));
    site.files.emplace(normalize_relative(path), std::make_pair(index, digest));
    return true;
  });
}

import_resolver::site_dir* import_resolver::site_for_directory(const std::string& dir) {
  if (auto it = sites_.find(dir); it != sites_.end()) return it->second.get();
  std::vector<std::string> dist_infos;
  if (DIR* d = open_dir_high(dir.empty() ? "/" : dir.c_str())) {
    while (const dirent* entry = ::readdir(d)) {
      const std::string_view name(entry->d_name);
      if (name.size() > 10 && name.ends_with(".dist-info")) dist_infos.emplace_back(name);
    }
    ::closedir(d);
  }
  std::unique_ptr<site_dir> site;
  if (!dist_infos.empty()) {
    site = std::make_unique<site_dir>();
    for (const auto& entry : dist_infos) {
      distribution dist;
      dist.dist_info.append(dir).append("/").append(entry);
      read_metadata(dist.dist_info, dist.name, dist.version);
      const std::string stem = entry.substr(0, entry.size() - std::strlen(".dist-info"));
      const auto dash = stem.find('-');
      if (dist.name.empty()) dist.name = stem.substr(0, dash);
      if (dist.version.empty() && dash != std::string::npos) dist.version = stem.substr(dash + 1);
      const std::size_t index = site->dists.size();
      site->by_top_level[normalize_name(dist.name)].push_back(index);
      if (const auto top = read_small_file(dist.dist_info + "/top_level.txt", 1U << 16U)) {
        for_each_line(*top, [&](std::string_view line) {
          if (!line.empty()) site->by_top_level[normalize_name(line)].push_back(index);
          return true;
        });
      }
      site->dists.push_back(std::move(dist));
    }
    site->loaded.assign(site->dists.size(), false);
  }
  auto [it, inserted] = sites_.emplace(dir, std::move(site));
  return it->second.get();
}

import_resolver::owner import_resolver::find_owner(const std::string& path) {
  owner result;
  std::size_t slash = path.find_last_of('/');
  while (slash != std::string::npos && slash > 0) {
    const std::string dir = path.substr(0, slash);
    if (site_dir* site = site_for_directory(dir)) {
      const std::string relative = normalize_relative(std::string_view(path).substr(slash + 1));
      auto lookup = [&]() -> bool {
        const auto it = site->files.find(relative);
        if (it == site->files.end()) return false;
        result.dist = &site->dists[it->second.first];
        result.record_digest = it->second.second;
        return true;
      };
      if (lookup()) return result;
      // Likely owners first: the top-level package named like the dist.
      std::string top = relative.substr(0, relative.find('/'));
      if (const auto dot = top.find('.'); dot != std::string::npos && top.find('/') == std::string::npos &&
                                          relative.find('/') == std::string::npos) {
        top = top.substr(0, dot);  // a top-level module file: name.py / name.cpython-*.so
      }
      if (const auto it = site->by_top_level.find(normalize_name(top)); it != site->by_top_level.end()) {
        for (const std::size_t index : it->second) load_record(*site, index);
        if (lookup()) return result;
      }
      for (std::size_t index = 0; index < site->dists.size() && site->loaded_count < site->dists.size(); ++index) {
        if (site->loaded[index]) continue;
        load_record(*site, index);
        if (lookup()) return result;
      }
      return result;  // the nearest site directory decides
    }
    slash = path.find_last_of('/', slash - 1);
  }
  return result;
}

void import_resolver::load_baseline() {
  baseline_loaded_ = true;
  if (!options_.baseline || baseline_path_.empty()) return;
  const auto text = read_small_file(baseline_path_, 64U << 20U);
  if (!text) return;
  bool header = true;
  for_each_line(*text, [&](std::string_view view) {
    if (header) {
      header = false;
      return view == kBaselineHeader;  // unknown format: start over
    }
    if (previous_.size() >= kMaxBaselineEntries) return false;
    const std::string line(view);
    // hex \t dev \t ino \t size \t mtime_ns \t ctime_ns \t path
    known_hash entry;
    std::size_t pos = 0;
    std::string fields[6];
    bool ok = true;
    for (auto& field : fields) {
      const auto tab = line.find('\t', pos);
      if (tab == std::string::npos) {
        ok = false;
        break;
      }
      field = line.substr(pos, tab - pos);
      pos = tab + 1;
    }
    if (!ok || fields[0].size() != 64 || pos >= line.size()) return true;
    try {
      entry.hex = fields[0];
      entry.stamp.dev = std::stoull(fields[1]);
      entry.stamp.ino = std::stoull(fields[2]);
      entry.stamp.size = std::stoull(fields[3]);
      entry.stamp.mtime_ns = std::stoll(fields[4]);
      entry.stamp.ctime_ns = std::stoll(fields[5]);
    } catch (...) {
      return true;
    }
    previous_.emplace(line.substr(pos), std::move(entry));
    return true;
  });
}

bool import_resolver::append_attributes(std::string& out, std::string_view path_view) {
  if (!baseline_loaded_) load_baseline();
  const std::string path(path_view);
  std::optional<std::string> hex;
  file_stamp stamp;
  struct stat st{};
  if (!path.empty() && options_.hash && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    stamp.dev = st.st_dev;
    stamp.ino = st.st_ino;
    stamp.size = static_cast<std::uint64_t>(st.st_size);
    stamp.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    stamp.ctime_ns = static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
    const known_hash* known = nullptr;
    if (const auto it = current_.find(path); it != current_.end()) known = &it->second;
    else if (const auto prev = previous_.find(path); prev != previous_.end()) known = &prev->second;
    if (options_.hash_cache && known != nullptr && known->stamp == stamp) {
      hex = known->hex;
    } else if (const auto digest = sha256_file(path)) {
      hex = to_hex(*digest);
    }
  }
  owner own;
  if (!path.empty()) own = find_owner(path);
  if (!options_.fileslist && own.dist != nullptr) {
    if (!reported_dists_.insert(own.dist->dist_info).second) return false;
  }

  out += ',';  // continues the attributes the producer wrote
  json_writer w(out);
  w.key("sha256");
  if (hex) {
    w.string(*hex);
    w.key("size");
    w.unsigned_integer(stamp.size);
  } else {
    w.null();
  }
  w.key("pkg");
  if (own.dist != nullptr) w.string(own.dist->name); else w.null();
  w.key("version");
  if (own.dist != nullptr) w.string(own.dist->version); else w.null();
  w.key("record_match");
  if (hex && own.record_digest) {
    const std::string expected = to_hex(*own.record_digest);
    const bool match = *hex == expected;
    w.boolean(match);
    if (!match) {
      w.key("record_sha256");
      w.string(expected);
    }
  } else {
    w.null();
  }
  bool changed = false;
  if (hex) {
    if (auto cur = current_.find(path); cur != current_.end()) {
      changed = cur->second.hex != *hex;  // re-imported in this process after a change
      cur->second = {*hex, stamp};
      baseline_dirty_ = baseline_dirty_ || changed;
    } else {
      const auto prev = previous_.find(path);
      changed = prev != previous_.end() && prev->second.hex != *hex;
      if (prev == previous_.end() || !(prev->second.stamp == stamp) || changed) baseline_dirty_ = true;
      if (current_.size() < kMaxBaselineEntries) current_.emplace(path, known_hash{*hex, stamp});
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
      if (path.find('\n') != std::string::npos) continue;
      text += e.hex;
      for (const auto v : {e.stamp.dev, e.stamp.ino, e.stamp.size}) {
        text += '\t';
        text += std::to_string(v);
      }
      for (const auto v : {e.stamp.mtime_ns, e.stamp.ctime_ns}) {
        text += '\t';
        text += std::to_string(v);
      }
      text += '\t';
      text += path;
      text += '\n';
    }
    const std::string tmp = baseline_path_ + ".tmp." + std::to_string(::getpid());
    const int fd = open_high(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOCTTY, 0600);
    if (fd < 0) return;
    const char* p = text.data();
    std::size_t left = text.size();
    bool ok = true;
    while (left > 0) {
      const ssize_t n = ::write(fd, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ok = false;
        break;
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    ::close(fd);
    if (!ok || std::rename(tmp.c_str(), baseline_path_.c_str()) != 0) ::unlink(tmp.c_str());
  } catch (...) {
  }
}

}  // namespace bluepython
