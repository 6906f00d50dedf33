// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

#include "export/otlp/otlp_encode.hpp"

namespace bluepython::otlp {

// A python_llm_request event (its members, parsed) ending at `end_ns` as an
// OpenTelemetry GenAI client span: name "{operation} {model}", kind CLIENT,
// start from duration_ms, gen_ai.* and server.* attributes, ERROR status with
// error.type on failure. Ids and parent are the mapper's to set.
span genai_span(const nlohmann::json& event, std::uint64_t end_ns);

}  // namespace bluepython::otlp
