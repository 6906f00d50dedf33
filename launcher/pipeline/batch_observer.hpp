// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/json_writer.hpp"

namespace bluepython {

// Something that receives every batch the writer thread wrote to the spool,
// such as an exporter (export/otlp). The pipeline owns it and calls it from
// the writer thread only, except for the fork handlers, which run on the
// forking thread while the writer is parked. An observer never slows the
// spool: offer() copies and returns; its own work happens on its own thread.
class batch_observer {
 public:
  virtual ~batch_observer() = default;
  batch_observer() = default;
  batch_observer(const batch_observer&) = delete;
  batch_observer& operator=(const batch_observer&) = delete;

  // Names the observer in its fault events ("where"), e.g. "otlp_export".
  [[nodiscard]] virtual const char* name() const noexcept = 0;
  // A batch of whole NDJSON lines, just written. Never blocks, never throws.
  virtual void offer(std::string_view lines) noexcept = 0;
  // Handles what was offered within `deadline`, then stops for good.
  virtual void shutdown(std::chrono::milliseconds deadline) noexcept = 0;
  // After shutdown(): failures it could not report itself; the pipeline
  // writes them as python_internal_exception events before sensor_shutdown.
  [[nodiscard]] virtual std::vector<std::string> take_unreported_faults() = 0;
  // Members it adds to sensor_shutdown (after shutdown(): final counters).
  virtual void describe(json_writer& w) const = 0;
  // fork(2): prepare takes the observer's locks (so none is held by a thread
  // that will not exist in the child); the parent releases them.
  virtual void prepare_fork() noexcept = 0;
  virtual void after_fork_parent() noexcept = 0;
};

}  // namespace bluepython
