// SPDX-License-Identifier: Apache-2.0
#include "policy/paths.hpp"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

namespace bluepython::policy {

std::string normalize_path(std::string_view absolute) {
  std::vector<std::string_view> parts;
  std::size_t at = 0;
  while (at <= absolute.size()) {
    auto next = absolute.find('/', at);
    if (next == std::string_view::npos) next = absolute.size();
    const std::string_view part = absolute.substr(at, next - at);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    at = next + 1;
  }
  std::string out;
  for (const auto part : parts) {
    out += '/';
    out += part;
  }
  return out.empty() ? std::string("/") : out;
}

std::string resolve_path(std::string_view path, std::string_view cwd) {
  std::string full;
  if (!path.starts_with('/')) {
    full.assign(cwd);
    full += '/';
  }
  full += path;
  if (full.size() >= PATH_MAX) return normalize_path(full);
  // Walk back from the end until a prefix resolves; what was cut off is the
  // part that does not exist yet.
  std::string head = full;
  std::string tail;
  char resolved[PATH_MAX];
  for (int depth = 0; depth < 64; ++depth) {
    if (::realpath(head.c_str(), resolved) != nullptr) {
      std::string out(resolved);
      if (tail.empty()) return out;
      out += '/';
      out += tail;
      return normalize_path(out);
    }
    while (head.size() > 1 && head.back() == '/') head.pop_back();
    const auto slash = head.rfind('/');
    if (slash == std::string::npos || head.size() <= 1) break;
    // A dangling symbolic link: what is created through it is its target.
    struct stat st{};
    if (::lstat(head.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      char target[PATH_MAX];
      const ssize_t n = ::readlink(head.c_str(), target, sizeof target - 1);
      if (n > 0) {
        std::string next(target, static_cast<std::size_t>(n));
        if (!next.starts_with('/')) next.insert(0, head, 0, slash + 1);
        if (!tail.empty()) {
          next += '/';
          next += tail;
        }
        head = std::move(next);
        tail.clear();
        continue;
      }
    }
    std::string last = head.substr(slash + 1);
    if (!tail.empty()) {
      last += '/';
      last += tail;
    }
    tail = std::move(last);
    head.resize(slash == 0 ? 1 : slash);
  }
  return normalize_path(full);
}

}  // namespace bluepython::policy
