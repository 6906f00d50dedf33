// SPDX-License-Identifier: Apache-2.0
// Any bytes as a policy: either they compile, or they are refused with a
// policy_error naming a key — no other exception may escape. A policy that
// compiles is then asked about operations whose subjects come from the same
// bytes, and its own patterns are matched against them: the matchers must
// neither crash nor take long (no backtracking), whatever the pattern.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "policy/glob.hpp"
#include "policy/policy.hpp"

namespace {

using namespace bluepython::policy;

void ask(const compiled_policy& p, std::string_view subject) {
  static const std::string names[] = {"api.example.com"};
  for (std::size_t i = 0; i < op_count; ++i) {
    operation o;
    o.what = static_cast<op>(i);
    o.text = subject;
    o.name = subject.substr(0, subject.size() / 2);
    o.args = subject;
    o.port = static_cast<int>(subject.size() % 70000) - 1;
    o.aliases = names;
    for (const call_scope& where : {call_scope{}, call_scope{true, subject, subject}, call_scope{true, "s", ""}}) {
      (void)p.check(o, where);
    }
  }
  (void)p.check_import(subject, subject);
  (void)p.check_tool_pin(subject, "");
  (void)p.check_arguments(call_scope{true, "s", subject}, [&](const std::vector<std::string>&) {
    return argument_value{argument_value::string, std::string(subject), 0};
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // The first line as a pattern of each kind against the rest.
  const auto newline = text.find('\n');
  if (newline != std::string_view::npos) {
    for (const glob_kind kind : {glob_kind::path, glob_kind::name}) {
      try {
        const glob g(text.substr(0, newline), kind, kind == glob_kind::name);
        (void)g.matches(text.substr(newline + 1));
      } catch (const std::invalid_argument&) {
      }
    }
    try {
      const endpoint e(text.substr(0, newline));
      (void)e.matches(text.substr(newline + 1), 443);
    } catch (const std::invalid_argument&) {
    }
  }
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return 0;
  try {
    const compiled_policy p = compile(doc, "/home/fuzz");
    ask(p, text.substr(0, 512));
    ask(p, "/etc/passwd");
  } catch (const policy_error& e) {
    if (std::string_view(e.what()).find('\n') != std::string_view::npos || e.key().empty()) std::abort();
  }
  return 0;
}
