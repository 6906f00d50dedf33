// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "export/otlp/otlp_options.hpp"

namespace bluepython {

// Looks up one environment variable (getenv, or a table in tests); nullptr
// when unset. Returned pointers need only live until the next lookup.
using getenv_fn = std::function<const char*(const char*)>;

// Applies the standard OpenTelemetry SDK variables (OTEL_EXPORTER_OTLP_*,
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_*_EXPORTER,
// OTEL_SDK_DISABLED; docs/configuration.md) onto `o`, over what is there.
// They are shared with the app's own OpenTelemetry SDK, so a value bluepython
// cannot use is ignored, or turns export off with the reason in `o.problem`:
// never throws for a value. Empty variables count as unset.
void apply_otel_environment(otlp_options& o, const getenv_fn& getenv_lookup);

// The OTel SDK list format "key=value,key2=value2" (W3C-baggage-like):
// keys and values percent-decoded and trimmed of blanks; members without
// "=" or with an empty key are skipped, as OpenTelemetry SDKs do.
std::vector<std::pair<std::string, std::string>> parse_otel_pairs(std::string_view text);

}  // namespace bluepython
