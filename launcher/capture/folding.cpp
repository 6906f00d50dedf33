// SPDX-License-Identifier: Apache-2.0
#include "capture/folding.hpp"

#include <atomic>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "pyapi/call_context.hpp"
#include "runtime/sensor.hpp"

namespace bluepython::capture {
namespace {

std::atomic<bool> g_program{false};  // cpython.run_* seen: the main program runs
std::atomic<bool> g_serving{false};  // an MCP session opened

// The context members of a side-effect event: where it happened. Inside a
// call, a per-thread buffer; outside, constant text.
std::string_view scope_context() {
  thread_local std::string context;
  if (call_context::current_json(context)) {
    context.insert(0, "\"scope\":\"call\",");
    return context;
  }
  return g_serving.load(std::memory_order_relaxed)   ? R"("scope":"background")"
         : g_program.load(std::memory_order_relaxed) ? R"("scope":"startup")"
                                                     : R"("scope":"interpreter")";
}

// Folding: an event repeated identically (same name and attributes) within
// one MCP call is written the first time; the repeats are counted and written
// once more, with "repeated": N, when the call ends. Keyed by call_id; at most
// kFoldKeys distinct events per call are tracked (beyond, events pass
// unfolded). Guarded by the GIL.
struct fold_entry {
  std::string name;
  std::string attrs;
  std::string context;
  std::uint64_t repeats = 0;
};
constexpr std::size_t kFoldKeys = 256;
constexpr std::size_t kFoldCalls = 1024;
std::unordered_map<std::string, std::unordered_map<std::string, fold_entry>> g_folds;

}  // namespace

std::string_view call_id_of(std::string_view context) noexcept {
  constexpr std::string_view key = "\"call_id\":\"";
  const auto at = context.find(key);
  if (at == std::string_view::npos) return {};
  const auto start = at + key.size();
  const auto end = context.find('"', start);
  return end == std::string_view::npos ? std::string_view{} : context.substr(start, end - start);
}

namespace {

void write_repeats(std::unordered_map<std::string, fold_entry>& entries) {
  for (auto& [key, entry] : entries) {
    if (entry.repeats == 0) continue;
    std::string attrs = entry.attrs;
    attrs += fmt::format(",\"repeated\":{}", entry.repeats);
    sensor::emit(entry.name, attrs, entry.context, true);
  }
}

}  // namespace

void report(const char* name, std::string_view attrs) {
  const std::string_view context = scope_context();
  const std::string_view call_id = context.starts_with(R"("scope":"call")") ? call_id_of(context) : std::string_view{};
  if (!call_id.empty()) {
    auto folds = g_folds.find(std::string(call_id));
    if (folds == g_folds.end()) {
      if (g_folds.size() >= kFoldCalls) {  // calls that never ended: let them go
        for (auto& [id, entries] : g_folds) write_repeats(entries);
        g_folds.clear();
      }
      folds = g_folds.emplace(std::string(call_id), std::unordered_map<std::string, fold_entry>{}).first;
    }
    std::string key(name);
    key += '\0';
    key += attrs;
    auto& entries = folds->second;
    if (const auto seen = entries.find(key); seen != entries.end()) {
      ++seen->second.repeats;
      return;
    }
    if (entries.size() < kFoldKeys) entries.emplace(std::move(key), fold_entry{name, std::string(attrs), std::string(context), 0});
  }
  sensor::emit(name, attrs, context, true);
}

void report_unfolded(const char* name, std::string_view attrs) {
  sensor::emit(name, attrs, scope_context(), true);
}

bool folds_open() noexcept { return !g_folds.empty(); }

void call_ends(std::string_view call_json) noexcept {
  try {
    const std::string_view call_id = call_id_of(call_json);
    if (call_id.empty()) return;
    const auto folds = g_folds.find(std::string(call_id));
    if (folds == g_folds.end()) return;
    write_repeats(folds->second);
    g_folds.erase(folds);
  } catch (...) {
  }
}

void program_starts() noexcept { g_program.store(true, std::memory_order_relaxed); }

bool program_running() noexcept { return g_program.load(std::memory_order_relaxed); }

void mark_serving() noexcept { g_serving.store(true, std::memory_order_relaxed); }

}  // namespace bluepython::capture
