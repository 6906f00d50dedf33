// SPDX-License-Identifier: Apache-2.0
#include "capture/url_safety.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace bluepython::capture {

bool credential_name(std::string_view name) noexcept {
  static constexpr std::array<std::string_view, 12> kWords = {
      "token", "secret", "password", "passwd", "pwd", "key", "signature", "sig", "auth", "credential", "session", "code"};
  std::array<char, 64> lowered{};
  const std::size_t n = std::min(name.size(), lowered.size());
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    lowered[i] = c == '-' || c == '.' ? '_' : static_cast<char>(std::tolower(c));
  }
  const std::string_view text(lowered.data(), n);
  for (const std::string_view word : kWords) {
    if (text.ends_with(word)) return true;  // api_key, apikey, x-api-key, access_token
    for (std::size_t at = text.find(word); at != std::string_view::npos; at = text.find(word, at + 1)) {
      const bool starts = at == 0 || text[at - 1] == '_';
      const bool ends = at + word.size() == text.size() || text[at + word.size()] == '_';
      if (starts && ends) return true;  // token_type, auth_code, session_id
    }
  }
  return false;
}

std::string safe_url(std::string_view url) {
  const auto scheme_end = url.find("://");
  std::string out;
  out.reserve(url.size() + 16);
  std::size_t rest = 0;
  if (scheme_end != std::string_view::npos && url.find_first_of("/?#") > scheme_end) {
    const std::size_t authority = scheme_end + 3;
    const std::size_t authority_end = std::min(url.find_first_of("/?#", authority), url.size());
    const std::string_view host_part = url.substr(authority, authority_end - authority);
    out.append(url.substr(0, authority));
    const auto at = host_part.rfind('@');
    const auto colon = at == std::string_view::npos ? std::string_view::npos : host_part.substr(0, at).find(':');
    if (colon != std::string_view::npos) {
      out.append(host_part.substr(0, colon));
      out.append(":[REDACTED]");
      out.append(host_part.substr(at));
    } else {
      out.append(host_part);
    }
    rest = authority_end;
  }
  const std::size_t query = url.find('?', rest);
  if (query == std::string_view::npos) {
    out.append(url.substr(rest));
    return out;
  }
  out.append(url.substr(rest, query + 1 - rest));
  const std::size_t fragment = std::min(url.find('#', query), url.size());
  for (std::size_t start = query + 1; start <= fragment;) {
    const std::size_t end = std::min(url.find('&', start), fragment);
    const std::string_view item = url.substr(start, end - start);
    const auto eq = item.find('=');
    if (eq != std::string_view::npos && credential_name(item.substr(0, eq))) {
      out.append(item.substr(0, eq + 1));
      out.append("[REDACTED]");
    } else {
      out.append(item);
    }
    if (end < fragment) out += '&';
    start = end + 1;
  }
  out.append(url.substr(fragment));
  return out;
}

PyObject* py_safe_url(PyObject* /*self*/, PyObject* url) {
  if (!PyUnicode_Check(url)) {
    PyErr_SetString(PyExc_TypeError, "safe_url(): url must be a str");
    return nullptr;
  }
  Py_ssize_t size = 0;
  const char* text = PyUnicode_AsUTF8AndSize(url, &size);
  if (text == nullptr) return nullptr;
  try {
    const std::string safe = safe_url(std::string_view(text, static_cast<std::size_t>(size)));
    return PyUnicode_FromStringAndSize(safe.data(), static_cast<Py_ssize_t>(safe.size()));
  } catch (...) {
    return PyErr_NoMemory();
  }
}

}  // namespace bluepython::capture
