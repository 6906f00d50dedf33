// SPDX-License-Identifier: Apache-2.0
#include "export/otlp/otlp_genai.hpp"

#include <algorithm>
#include <exception>
#include <string>

#include "export/otlp/json_members.hpp"

namespace bluepython::otlp {

span genai_span(const nlohmann::json& event, std::uint64_t ts) {
  span s;
  s.kind = span_kind::client;
  const std::string operation = text_of(member_of(event, "operation"));
  const std::string model = text_of(member_of(event, "request_model"));
  s.name = model.empty() ? operation : operation + " " + model;
  const nlohmann::json& duration = member_of(event, "duration_ms");
  const double ms = duration.is_number() ? duration.get<double>() : 0.0;
  const auto elapsed = static_cast<std::uint64_t>(std::max(0.0, ms) * 1e6);
  s.end_ns = ts;
  s.start_ns = ts > elapsed ? ts - elapsed : ts;
  s.attrs.emplace_back("gen_ai.operation.name", operation);
  s.attrs.emplace_back("gen_ai.provider.name", member_of(event, "provider"));
  s.attrs.emplace_back("gen_ai.request.model", member_of(event, "request_model"));
  s.attrs.emplace_back("gen_ai.response.model", member_of(event, "response_model"));
  s.attrs.emplace_back("gen_ai.usage.input_tokens", member_of(event, "input_tokens"));
  s.attrs.emplace_back("gen_ai.usage.output_tokens", member_of(event, "output_tokens"));
  // server.address / server.port of the API's base URL
  const std::string server = text_of(member_of(event, "server"));
  if (const auto scheme = server.find("://"); scheme != std::string::npos) {
    std::string host = server.substr(scheme + 3);
    host = host.substr(0, host.find('/'));
    host = host.substr(host.rfind('@') == std::string::npos ? 0 : host.rfind('@') + 1);
    const auto colon = host.rfind(':');
    const bool has_port = colon != std::string::npos && host.find(']', colon) == std::string::npos;
    s.attrs.emplace_back("server.address", has_port ? host.substr(0, colon) : host);
    if (has_port) {
      try {
        s.attrs.emplace_back("server.port", std::stoi(host.substr(colon + 1)));
      } catch (const std::exception&) {
      }
    } else {
      s.attrs.emplace_back("server.port", server.starts_with("https") ? 443 : 80);
    }
  }
  if (const std::string error = text_of(member_of(event, "error")); !error.empty()) {
    s.status = status_code::error;
    s.status_message = error;
    s.attrs.emplace_back("error.type", error.substr(0, error.find(':')));
  }
  return s;
}

}  // namespace bluepython::otlp
