// SPDX-License-Identifier: Apache-2.0
#include "pipeline/event_composer.hpp"

#include <charconv>
#include <iterator>

#include "pipeline/clock.hpp"
#include "pipeline/import_resolver.hpp"
#include "pipeline/json_writer.hpp"
#include "pipeline/sha256.hpp"

namespace bluepython {

void event_composer::set_identity(const process_identity& identity) {
  // The members every event repeats, as text: rebuilt only when the identity
  // changes (fork), so composing an event copies them in two appends.
  envelope_head_ = ",\"origin\":\"bluepython\",\"sensor_id\":";
  envelope_head_ += std::to_string(identity.sensor_id);
  envelope_head_ += ",\"source_event_id\":";
  envelope_tail_ = ",\"component_id\":\"";
  json_writer::append_escaped(envelope_tail_, identity.component_id, kMaxComponentIdBytes);
  envelope_tail_ += "\",\"uuid\":\"";
  envelope_tail_ += identity.uuid;
  envelope_tail_ += "\"},\"context\":{\"process\":{\"pid\":";
  envelope_tail_ += std::to_string(identity.pid);
  envelope_tail_ += ",\"ppid\":";
  envelope_tail_ += std::to_string(identity.ppid);
  envelope_tail_ += '}';
}

event_composer::outcome event_composer::compose(const record_view& r, std::uint64_t id, std::string& batch,
                                                import_resolver* resolver) const noexcept {
  const std::size_t start = batch.size();
  try {
    batch += "{\"ts\":\"";
    append_rfc3339(batch, r.ts_ns);
    batch += "\",\"event\":{\"meta\":{\"name\":\"";
    json_writer::append_escaped(batch, r.name, 256);
    switch (r.type) {
      case event_type::event: batch += "\",\"type\":\"event\""; break;
      case event_type::nonactionable: batch += "\",\"type\":\"nonactionable\""; break;
      case event_type::sensor_lifecycle: batch += "\",\"type\":\"sensor_lifecycle\""; break;
    }
    batch += envelope_head_;
    char digits[24];
    const auto end = std::to_chars(std::begin(digits), std::end(digits), id).ptr;
    batch.append(std::begin(digits), end);
    batch += envelope_tail_;
    if (!r.context.empty()) {
      batch += ',';
      batch += r.context;
    }
    batch += '}';
    if (!r.attributes.empty()) {
      batch += ',';
      batch += r.attributes;
    }
    if (r.kind == record_kind::startup) {
      batch += ",\"config_digest\":\"";
      batch += to_hex(sha256_bytes(r.deferred));
      batch += '"';
    }
    if (r.kind == record_kind::import && resolver != nullptr && !resolver->append_attributes(batch, r.deferred)) {
      batch.resize(start);
      return outcome::filtered;
    }
    batch += "}}\n";
    return outcome::line;
  } catch (...) {
    batch.resize(start);
    return outcome::failed;
  }
}

}  // namespace bluepython
