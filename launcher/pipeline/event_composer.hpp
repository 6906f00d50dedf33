// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <string>

#include "pipeline/event_queue.hpp"

namespace bluepython {

class import_resolver;

// Who is writing: stamped into every event's envelope.
struct process_identity {
  int pid = 0;
  int ppid = 0;
  std::string uuid;      // per-process sensor instance id
  int sensor_id = 1;
  std::int64_t start_ns = 0;
  std::string component_id;  // what is monitored (config "component_id", else the host name)
};

// Turns a queued record into its NDJSON line: ts, meta (name, type, origin,
// sensor_id, source_event_id, component_id, uuid), context.process plus the record's own
// context, then the attributes; import records are completed by the
// resolver, sensor_startup gets its config digest. Used by the writer thread
// and by a journal recovery, which composes a dead process's records with
// that process's identity.
class event_composer {
 public:
  explicit event_composer(const process_identity& identity) { set_identity(identity); }
  void set_identity(const process_identity& identity);

  enum class outcome : std::uint8_t { line, filtered, failed };
  // Appends the line for `r` with source_event_id `id` to `batch`.
  // filtered: the resolver left the import out (nothing appended); failed:
  // out of memory (nothing appended).
  outcome compose(const record_view& r, std::uint64_t id, std::string& batch,
                  import_resolver* resolver) const noexcept;

 private:
  std::string envelope_head_;  // from "origin" up to the source_event_id value
  std::string envelope_tail_;  // from "uuid" through context.process
};

}  // namespace bluepython
