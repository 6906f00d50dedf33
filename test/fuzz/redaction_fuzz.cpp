// SPDX-License-Identifier: Apache-2.0
// The redactor as the JSON writer applies it: whatever the bytes around a
// secret of the test corpus, as a key, a value, in an array after an option
// or inside free text, the output is valid JSON and the secret is not in it
// (unless the fuzz bytes hold it themselves, glued inside a longer token).
// Input that is valid JSON is also written back through the redacting writer:
// valid JSON of the same shape must come out.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "pipeline/json_writer.hpp"
#include "pipeline/redaction.hpp"

namespace {

struct fake_secret {
  std::string_view text;    // as it appears
  std::string_view secret;  // what must never come out
};

// A sample of test/fixtures/secrets_corpus.json (fake, syntactically valid).
constexpr std::array<fake_secret, 12> kCorpus = {{
    {"AKIALH4VPM77L6S5QMQH", "AKIALH4VPM77L6S5QMQH"},
    {"ghp_UhrwyL398zPKPMvXkgMzr53w1fNtTQAVZOxu", "ghp_UhrwyL398zPKPMvXkgMzr53w1fNtTQAVZOxu"},
    {"glpat-RL9zzXx1QiyuSqrmQ3C2", "glpat-RL9zzXx1QiyuSqrmQ3C2"},
    {"xoxb-229608887810-9466798762322-9XuoTfDx0F7WwivL2hJ7NQ8E", "9XuoTfDx0F7WwivL2hJ7NQ8E"},
    {"sk_live_FGw1U1rQx1jxdhkFOtE3d4x8", "FGw1U1rQx1jxdhkFOtE3d4x8"},
    {"sk-proj-oULcu_wzn6CYaCKyuIBjbfRoCQd5jC2Vi1R-fj8HsH6lkBYb", "oULcu_wzn6CYaCKyuIBjbfRoCQd5jC2Vi1R"},
    {"AIzahnxsh_nYlCxdyFNtHy2I1t9sZ2myfKcI2rh", "hnxsh_nYlCxdyFNtHy2I1t9sZ2myfKcI2rh"},
    {"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJibHVlcHl0aG9uIn0.QqUPNOBAg76KMX7A2t3aS20vYemCTtY609YECrk4PyW",
     "QqUPNOBAg76KMX7A2t3aS20vYemCTtY609YECrk4PyW"},
    {"Bearer q7Zr2LmN9xKp4TvW8sYb3HdF", "q7Zr2LmN9xKp4TvW8sYb3HdF"},
    {"Basic Ymx1ZXB5OnRpZ2VyLWxpbHktOTk=", "Ymx1ZXB5OnRpZ2VyLWxpbHktOTk"},
    {"postgresql://app:Vx8-Qm2zLw7Rk@db.internal:5432/orders", "Vx8-Qm2zLw7Rk"},
    {"password=Tr0ub4dor-and-3", "Tr0ub4dor-and-3"},
}};

// A parsed document written back through the redacting writer.
void write_json(bluepython::json_writer& w, const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::object:
      w.begin_object();
      for (const auto& [k, item] : v.items()) {
        w.key(k);
        write_json(w, item);
      }
      w.end_object();
      break;
    case nlohmann::json::value_t::array:
      w.begin_array();
      for (const auto& item : v) write_json(w, item);
      w.end_array();
      break;
    case nlohmann::json::value_t::string: w.string(v.get_ref<const std::string&>()); break;
    case nlohmann::json::value_t::boolean: w.boolean(v.get<bool>()); break;
    case nlohmann::json::value_t::number_integer: w.integer(v.get<std::int64_t>()); break;
    case nlohmann::json::value_t::number_unsigned: w.unsigned_integer(v.get<std::uint64_t>()); break;
    case nlohmann::json::value_t::number_float: w.number(v.get<double>()); break;
    default: w.null(); break;
  }
}

// Same shape: objects with the same keys, arrays of the same length
// (redaction only ever replaces a scalar by a string).
bool same_shape(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_object()) {
    if (!b.is_object() || a.size() != b.size()) return false;
    for (const auto& [k, item] : a.items()) {
      if (!b.contains(k) || !same_shape(item, b.at(k))) return false;
    }
    return true;
  }
  if (a.is_array()) {
    if (!b.is_array() || a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!same_shape(a[i], b[i])) return false;
    }
    return true;
  }
  return !b.is_object() && !b.is_array();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  static const bluepython::redactor redactor{bluepython::redaction_options{}};
  // Valid JSON in (nesting kept under the writer's depth limit): valid JSON of the same shape out.
  if (const auto in = nlohmann::json::parse(data, data + size, nullptr, false);
      !in.is_discarded() && size < 4096 && std::count(data, data + size, '[') + std::count(data, data + size, '{') < 32) {
    bluepython::json_limits limits;
    limits.redact = &redactor;
    std::string out;
    bluepython::json_writer w(out, limits);
    write_json(w, in);
    const auto back = nlohmann::json::parse(out, nullptr, false);
    if (back.is_discarded() || !same_shape(in, back)) std::abort();
  }
  const fake_secret& pick = kCorpus[data[0] % kCorpus.size()];
  const std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);
  const std::size_t cut = input.empty() ? 0 : data[1] % (input.size() + 1);
  // Spaces keep the fuzz bytes from growing the secret into a longer token.
  std::string text(input.substr(0, cut));
  text += ' ';
  text += pick.text;
  text += ' ';
  text += input.substr(cut);

  bluepython::json_limits limits;
  limits.redact = &redactor;
  std::string out;
  bluepython::json_writer w(out, limits);
  w.begin_object();
  w.key(input);
  w.string(text);
  w.key("argv");
  w.begin_array();
  w.string(input);
  w.string("--password");
  w.string(pick.secret);  // a bare secret after an option naming one
  w.end_array();
  w.key("password");
  w.begin_object();
  w.key(input);
  w.string(pick.secret);
  w.key("n");
  w.integer(static_cast<std::int64_t>(size));
  w.end_object();
  w.end_object();
  const auto doc = nlohmann::json::parse(out, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) std::abort();
  // Only the secret placed at token boundaries is promised gone: the fuzz
  // bytes may hold it themselves, glued inside a longer token.
  if (input.find(pick.secret) == std::string_view::npos && out.find(pick.secret) != std::string::npos) std::abort();
  return 0;
}
