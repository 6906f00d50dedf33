// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string_view>

// Where a side effect happened, and folding of repeats. Every side-effect
// event goes out through report(): its context gets `scope` ("call" with
// context.mcp, the MCP call in effect in the thread or task that raised it;
// "interpreter" before the main program started; "startup" before the first
// MCP session opened; "background" after, outside any call). Within one call,
// an event repeated identically (same name and attributes) is written the
// first time; the repeats are counted and written once more with
// "repeated": N when the call ends. All need the GIL.
namespace bluepython::capture {

// Queues one side-effect event with its scope context (folded within a call).
void report(const char* name, std::string_view attrs);
// Queues one event with its scope context, never folded (policy violations:
// each is its own decision).
void report_unfolded(const char* name, std::string_view attrs);
// The MCP call (its context.mcp JSON text) is about to end: writes the
// folded repeats of its events. Never throws.
void call_ends(std::string_view call_json) noexcept;
// Whether any call has repeats folded and not yet written (when none, a call
// ending has nothing to write). Needs the GIL.
[[nodiscard]] bool folds_open() noexcept;
// The call_id member of a context.mcp JSON text (exposed for tests).
std::string_view call_id_of(std::string_view context) noexcept;
// cpython.run_*: the main program starts (scope "startup" from now on).
void program_starts() noexcept;
// Whether the main program has started (scope "startup" or later).
[[nodiscard]] bool program_running() noexcept;
// From the first MCP session on, scope "background" outside calls.
void mark_serving() noexcept;

}  // namespace bluepython::capture
