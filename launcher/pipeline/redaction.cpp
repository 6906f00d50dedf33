// SPDX-License-Identifier: Apache-2.0
#include "pipeline/redaction.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <initializer_list>

#include "pipeline/fd_util.hpp"
#include "pipeline/secret_text.hpp"
#include "pipeline/sha256.hpp"

namespace bluepython {
namespace {

using namespace secret_text;  // NOLINT(google-build-using-namespace): the scan is written in its terms

constexpr std::array<std::string_view, secret_rule_count> kRuleNames = {
    "key",          "aws_access_key_id", "github_token", "gitlab_token",      "slack_token",  "slack_webhook",
    "stripe_key",   "openai_key",        "anthropic_key", "google_api_key",   "google_oauth", "npm_token",
    "pypi_token",   "huggingface_token", "sendgrid_key", "digitalocean_token", "jwt",         "private_key",
    "bearer_token", "basic_auth",        "url_password", "high_entropy",      "field",
};

// Key names whose values are secrets are compared normalized (lowercase, no
// '-', '_', '.', ' '); builtin_secret_key below lists them.
// Endings in "token" that are not secrets (MCP's progressToken, paging).
constexpr std::array<std::string_view, 8> kTokenNotSecret = {
    "progresstoken", "pagetoken", "nextpagetoken", "continuationtoken", "synctoken", "maxtoken", "cancellationtoken",
    "resumetoken",
};

// The key name normalized into `buf`; empty when too long to be one of ours.
std::string_view normalize_key(std::string_view name, std::array<char, 64>& buf) noexcept {
  std::size_t k = 0;
  for (const char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '-' || c == '_' || c == '.' || c == ' ') continue;
    if (k == buf.size()) return {};
    buf[k++] = static_cast<char>(lower(c));
  }
  return {buf.data(), k};
}

bool ends_with_any(std::string_view n, std::initializer_list<std::string_view> endings) noexcept {
  for (const auto e : endings) {
    if (ends_with(n, e)) return true;
  }
  return false;
}

// By the last character first: most keys are ruled out by it or by one
// comparison. docs/redaction.md lists the names.
bool builtin_secret_key(std::string_view n) noexcept {
  if (n.size() < 3) return false;
  switch (n.back()) {
    case 'd':
      return n == "pwd" || ends_with_any(n, {"password", "passwd", "privatekeyid"});
    case 'e':
      return ends_with_any(n, {"passphrase", "cookie"});
    case 't':
      return n == "jwt" || ends_with(n, "secret");
    case 'y':
      return ends_with(n, "key") && ends_with_any(n, {"apikey", "accesskey", "secretkey", "privatekey", "signingkey",
                                                     "encryptionkey", "masterkey", "accountkey"});
    case 'n':
      if (ends_with(n, "token")) {
        for (const auto no : kTokenNotSecret) {
          if (ends_with(n, no)) return false;
        }
        return true;
      }
      return n == "session" || n == "dsn" || n == "pin" || ends_with(n, "authorization");
    case 's':
      return n == "pass" || n == "cookies" || ends_with(n, "credentials");
    case 'g':
      return ends_with(n, "connectionstring");
    case 'l':
      return n == "credential" || ends_with(n, "webhookurl");
    case 'h':
      return n == "auth";
    case 'p':
      return n == "otp";
    default:
      return false;
  }
}

}  // namespace

std::string_view secret_rule_name(secret_rule r) noexcept { return kRuleNames[static_cast<std::size_t>(r)]; }

bool secret_rule_from_name(std::string_view name, secret_rule& out) noexcept {
  for (std::size_t i = 0; i < secret_rule_count; ++i) {
    if (kRuleNames[i] == name) {
      out = static_cast<secret_rule>(i);
      return out != secret_rule::key && out != secret_rule::field;
    }
  }
  return false;
}

bool split_pointer(std::string_view pointer, std::vector<std::string>& out) {
  out.clear();
  if (pointer.empty() || pointer[0] != '/') return false;
  std::size_t at = 1;
  for (;;) {
    const std::size_t slash = pointer.find('/', at);
    const std::string_view raw = pointer.substr(at, slash == std::string_view::npos ? std::string_view::npos : slash - at);
    std::string seg;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '~' && i + 1 < raw.size() && (raw[i + 1] == '0' || raw[i + 1] == '1')) {
        seg += raw[i + 1] == '0' ? '~' : '/';
        ++i;
      } else {
        seg += raw[i];
      }
    }
    out.push_back(std::move(seg));
    if (slash == std::string_view::npos) return true;
    at = slash + 1;
  }
}

redactor::redactor(const redaction_options& options, std::string fingerprint_key)
    : enabled_(options.enable), entropy_(options.entropy), fingerprint_key_(std::move(fingerprint_key)) {
  rule_on_.fill(true);
  rule_on_[static_cast<std::size_t>(secret_rule::high_entropy)] = options.entropy;
  for (const auto& name : options.disable) {
    secret_rule r{};
    if (secret_rule_from_name(name, r)) rule_on_[static_cast<std::size_t>(r)] = false;
  }
  for (const auto& rule : options.fields) {
    compiled_field f{rule.server, rule.tool, {}, {}};
    auto place = [&](const std::string& pointer, bool keep) {
      std::vector<std::string> segs;
      if (!split_pointer(pointer, segs) || segs.empty()) return;
      if (segs.front() == "arguments") {
        (keep ? f.arguments.keep : f.arguments.redact).push_back(std::move(segs));
      } else if (segs.front() == "result") {
        segs.erase(segs.begin());
        (keep ? f.result.keep : f.result.redact).push_back(std::move(segs));
      }
    };
    for (const auto& p : rule.redact) place(p, false);
    for (const auto& p : rule.keep) place(p, true);
    fields_.push_back(std::move(f));
  }
  std::array<char, 64> buf{};
  for (const auto& k : options.keys) {
    const auto n = normalize_key(k, buf);
    if (!n.empty()) extra_keys_.emplace_back(n);
  }
  for (const auto& k : options.keep_keys) {
    const auto n = normalize_key(k, buf);
    if (!n.empty()) keep_keys_.emplace_back(n);
  }
}

bool redactor::secret_key(std::string_view name) const noexcept {
  if (!enabled_ || name.empty() || name.size() > 64) return false;
  std::array<char, 64> buf;  // NOLINT(cppcoreguidelines-pro-type-member-init): normalize_key fills what it returns
  const std::string_view n = normalize_key(name, buf);
  if (n.empty()) return false;
  for (const auto& k : extra_keys_) {
    if (n == k) return true;
  }
  if (!builtin_secret_key(n)) return false;
  return std::find(keep_keys_.begin(), keep_keys_.end(), n) == keep_keys_.end();
}

void redactor::scan(std::string_view text, std::vector<secret_span>& out, std::size_t scan_limit) const {
  if (!enabled_) return;
  const std::string_view s = text.substr(0, std::min(text.size(), scan_limit));
  const std::size_t n = s.size();
  auto on = [&](secret_rule r) { return rule_on_[static_cast<std::size_t>(r)]; };
  // A secret cut by the scan limit runs to the end of the text.
  auto add = [&](std::size_t b, std::size_t e, secret_rule r) {
    if (e <= b) return;
    out.push_back({b, e >= n ? text.size() : e, r});
  };
  // After "://" at `sep`: credentials in the authority, Slack webhook paths.
  // Returns where the scan goes on.
  auto url_at = [&](std::size_t sep) -> std::size_t {
    const std::size_t auth = sep + 3;
    std::size_t stop = auth;
    while (stop < n) {
      const auto x = static_cast<unsigned char>(s[stop]);
      if (x <= ' ' || x == '/' || x == '?' || x == '#' || x == '"' || x == '\'' || x == '<' || x == '>') break;
      ++stop;
    }
    // Slack's incoming webhooks: the path is the credential.
    if (s.substr(auth, stop - auth) == "hooks.slack.com" && starts_with_at(s, stop, "/services/") &&
        on(secret_rule::slack_webhook)) {
      const std::size_t b = stop + 10;
      std::size_t e = b;
      while (e < n) {
        const auto x = static_cast<unsigned char>(s[e]);
        if (x <= ' ' || x == '?' || x == '#' || x == '"' || x == '\'' || x == '<' || x == '>') break;
        ++e;
      }
      add(b, e, secret_rule::slack_webhook);
      return std::max(e, auth);
    }
    const std::size_t at = s.substr(auth, stop - auth).rfind('@');
    if (at == std::string_view::npos || !on(secret_rule::url_password)) return auth;
    const std::size_t colon = s.substr(auth, at).find(':');
    if (colon != std::string_view::npos && colon + 1 < at &&
        !already_redacted(s.substr(auth + colon + 1, at - colon - 1))) {
      add(auth + colon + 1, auth + at, secret_rule::url_password);
    }
    return auth + at + 1;
  };
  std::size_t i = 0;
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (!is_alnum(c)) {
      if (c == ':' && starts_with_at(s, i, "://")) {
        i = url_at(i);
        continue;
      }
      if (c == '-' && starts_with_at(s, i, "-----BEGIN ") && on(secret_rule::private_key)) {
        const std::size_t line = s.find('\n', i);
        const std::string_view header = s.substr(i, (line == std::string_view::npos ? n : line) - i);
        if (header.find("PRIVATE KEY") != std::string_view::npos) {
          const std::size_t end_marker = s.find("-----END ", i + 11);
          std::size_t e = n;
          if (end_marker != std::string_view::npos) {
            const std::size_t close = s.find("-----", end_marker + 9);
            e = close == std::string_view::npos ? n : close + 5;
          }
          add(i, e, secret_rule::private_key);
          i = e;
          continue;
        }
      }
      ++i;
      continue;
    }
    // Inside a token, no new one starts; after "--" or a lone '-' (options) one does.
    const bool after_dash = i > 0 && s[i - 1] == '-' &&
                            (i < 2 || s[i - 2] == '-' || !is_token_char(static_cast<unsigned char>(s[i - 2])));
    if (i > 0 && !after_dash && is_token_char(static_cast<unsigned char>(s[i - 1]))) {
      i = run_end(s, i, [](unsigned char x) { return is_alnum(x); });
      continue;
    }
    // A token starts at i. Every provider shape is 15 bytes or more: shorter
    // words (most of any text) skip the shape table.
    const std::size_t word_end = run_end(s, i, is_key_char);
    if (word_end - i >= 15 || (word_end < n && s[word_end] == '.')) {
      if (const shape_match m = shape_at(s, i); m.end != 0 && on(m.rule)) {
        add(i, m.end, m.rule);
        i = m.end;
        continue;
      }
    }
    if (entropy_ && word_end - i >= 24) {
      const std::size_t te = run_end(s, i, [](unsigned char x) { return is_token_char(x) || x == '+' || x == '/'; });
      if (looks_random(s.substr(i, te - i))) {
        add(i, te, secret_rule::high_entropy);
        i = te;
        continue;
      }
    }
    if (word_end >= n) {
      i = word_end;
      continue;
    }
    const char next = s[word_end];
    // A URL: its "://" is handled on its own (below), whatever came before.
    if (next == ':' && starts_with_at(s, word_end, "://")) {
      i = word_end;
      continue;
    }
    // Authorization schemes in free text.
    if (next == ' ' && (word_end - i == 5 || word_end - i == 6)) {
      const std::size_t tb = word_end + 1;
      if (word_end - i == 6 && starts_with_nocase(s, i, "bearer") && on(secret_rule::bearer_token)) {
        const std::size_t te = run_end(s, tb, [](unsigned char x) {
          return is_token_char(x) || x == '.' || x == '~' || x == '+' || x == '/' || x == '=';
        });
        if (te - tb >= 8) {
          add(tb, te, secret_rule::bearer_token);
          i = te;
          continue;
        }
      } else if (word_end - i == 5 && starts_with_nocase(s, i, "basic") && on(secret_rule::basic_auth)) {
        const std::size_t te = run_end(s, tb, is_b64_char);
        if (te - tb >= 8 && base64_has_colon(s.substr(tb, te - tb))) {
          add(tb, te, secret_rule::basic_auth);
          i = te;
          continue;
        }
      }
    }
    // key=value, key: value, "key": "value", --key value
    // Only a word followed by a separator (after a closing quote and
    // spaces) can be a key: the rest of the words skip the key check.
    std::size_t sep = word_end + ((next == '"' || next == '\'') ? 1 : 0);
    while (sep < n && s[sep] == ' ') ++sep;
    const bool dashes = i >= 2 && s[i - 1] == '-' && s[i - 2] == '-';
    if (sep < n && (s[sep] == '=' || s[sep] == ':' || (dashes && (next == ' ' || s[sep] == ',')))) {
      const auto [vb, ve] = value_after_key(s, i, word_end, dashes);
      if (ve > vb && !already_redacted(s.substr(vb, ve - vb)) && secret_key(s.substr(i, word_end - i))) {
        // A value of a known shape is labelled by it ("token=ghp_…": github_token).
        const shape_match m = shape_at(s, vb);
        secret_rule rule = m.end == ve && on(m.rule) ? m.rule : secret_rule::key;
        if (rule == secret_rule::key && vb >= 7 && starts_with_nocase(s, vb - 7, "bearer ")) rule = secret_rule::bearer_token;
        if (rule == secret_rule::key && vb >= 6 && starts_with_nocase(s, vb - 6, "basic ")) rule = secret_rule::basic_auth;
        add(vb, ve, rule);
        i = ve;
        continue;
      }
    }
    i = word_end;
  }
}

void redactor::append_marker(std::string& out, secret_rule rule, std::string_view secret) const {
  counts_[static_cast<std::size_t>(rule)].fetch_add(1, std::memory_order_relaxed);
  out += "[REDACTED:";
  out += secret_rule_name(rule);
  out += ':';
  char digits[24];
  const auto res = std::to_chars(std::begin(digits), std::end(digits), secret.size());
  out.append(digits, res.ptr);
  if (!fingerprint_key_.empty()) {
    // HMAC-SHA256 (RFC 2104) of the secret under the installation's key.
    std::string pad(64, '\0');
    std::string k = fingerprint_key_.size() > 64 ? std::string(reinterpret_cast<const char*>(
                                                                   sha256_bytes(fingerprint_key_).data()), 32)
                                                 : fingerprint_key_;
    std::string inner;
    inner.reserve(64 + secret.size());
    for (std::size_t i = 0; i < 64; ++i) inner += static_cast<char>((i < k.size() ? k[i] : 0) ^ 0x36);
    inner.append(secret);
    const sha256_digest ih = sha256_bytes(inner);
    std::string outer;
    outer.reserve(96);
    for (std::size_t i = 0; i < 64; ++i) outer += static_cast<char>((i < k.size() ? k[i] : 0) ^ 0x5c);
    outer.append(reinterpret_cast<const char*>(ih.data()), ih.size());
    const std::string hex = to_hex(sha256_bytes(outer));
    out += ':';
    out.append(hex, 0, 16);
  }
  out += ']';
}

namespace {

// Nothing can be found in a short text without a separator (':', '=', a
// space, '-') or a token long enough for a provider shape: most keys' values.
bool clearly_plain(std::string_view text) noexcept {
  if (text.size() >= 15) return false;
  for (const char ch : text) {
    if (ch == ':' || ch == '=' || ch == ' ' || ch == '-' || ch == '\t') return false;
  }
  return true;
}

}  // namespace

std::size_t redactor::redact(std::string_view text, std::string& out, std::size_t scan_limit) const {
  if (!enabled_ || clearly_plain(text)) return 0;
  std::vector<secret_span> spans;
  scan(text, spans, scan_limit);
  if (spans.empty()) return 0;
  out.clear();
  out.reserve(text.size());
  std::size_t at = 0;
  for (const auto& sp : spans) {
    out.append(text.substr(at, sp.begin - at));
    append_marker(out, sp.rule, text.substr(sp.begin, sp.end - sp.begin));
    at = sp.end;
  }
  out.append(text.substr(at));
  return spans.size();
}

void redactor::fields_for(std::string_view server, std::string_view tool, bool result, std::string_view prefix,
                          field_paths& out) const {
  const std::string server_name(server);
  const std::string tool_name(tool);
  for (const auto& f : fields_) {
    if (::fnmatch(f.server.c_str(), server_name.c_str(), 0) != 0 || ::fnmatch(f.tool.c_str(), tool_name.c_str(), 0) != 0) {
      continue;
    }
    const field_paths& from = result ? f.result : f.arguments;
    auto copy = [&](const std::vector<std::vector<std::string>>& in, std::vector<std::vector<std::string>>& to) {
      for (const auto& p : in) {
        to.push_back(p);
        if (!prefix.empty()) to.back().insert(to.back().begin(), std::string(prefix));
      }
    };
    copy(from.redact, out.redact);
    copy(from.keep, out.keep);
  }
}

secret_rule redactor::label_of(std::string_view value) const noexcept {
  if (value.empty()) return secret_rule::key;
  const shape_match m = shape_at(value, 0);
  return m.end == value.size() && rule_on_[static_cast<std::size_t>(m.rule)] ? m.rule : secret_rule::key;
}

std::vector<std::pair<secret_rule, std::uint64_t>> redactor::counts() const {
  std::vector<std::pair<secret_rule, std::uint64_t>> out;
  for (std::size_t i = 0; i < secret_rule_count; ++i) {
    const std::uint64_t n = counts_[i].load(std::memory_order_relaxed);
    if (n != 0) out.emplace_back(static_cast<secret_rule>(i), n);
  }
  return out;
}

void redactor::reset_counts() noexcept {
  for (auto& c : counts_) c.store(0, std::memory_order_relaxed);
}

std::unique_ptr<redactor> make_redactor(const redaction_options& options, bool root, std::string& warning) {
  std::string key;
  if (options.enable && options.fingerprint) {
    std::string error;
    key = load_fingerprint_key(options.fingerprint_key_file, error);
    if (key.empty()) warning = "bluepython: warning: " + error + "; markers carry no fingerprint";
  }
  if (!options.enable && root) {
    warning =
        "bluepython: warning: redaction is off (redaction.enable / BLUEPYTHON_REDACTION): secrets in tool "
        "arguments, results, argv and URLs are recorded as they are";
  }
  return std::make_unique<redactor>(options, std::move(key));
}

std::string load_fingerprint_key(const std::string& path, std::string& error) {
  auto read_key = [&]() -> std::string {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return {};
    char buf[129];
    const ssize_t got = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (got < 32) {
      error = "the fingerprint key file " + path + " is shorter than 32 bytes";
      return {};
    }
    std::string key(buf, static_cast<std::size_t>(got));
    while (!key.empty() && (key.back() == '\n' || key.back() == ' ')) key.pop_back();
    return key;
  };
  if (std::string key = read_key(); !key.empty() || !error.empty()) return key;
  const auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) (void)::mkdir(path.substr(0, slash).c_str(), 0700);
  unsigned char raw[32];
  if (::getrandom(raw, sizeof raw, 0) != static_cast<ssize_t>(sizeof raw)) {
    error = "no random bytes for a fingerprint key";
    return {};
  }
  sha256_digest d{};
  std::memcpy(d.data(), raw, sizeof raw);
  std::string hex = to_hex(d) + "\n";
  // Written whole under a temporary name, then linked to its name: a
  // process starting at the same time reads either no key or all of it.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    error = "cannot create the fingerprint key file " + path + ": " + std::strerror(errno);
    return {};
  }
  const bool ok = write_all(fd, hex.data(), hex.size());
  ::close(fd);
  const int linked = ok ? ::link(tmp.c_str(), path.c_str()) : -1;
  const int link_errno = errno;
  (void)::unlink(tmp.c_str());
  if (!ok) {
    error = "cannot write the fingerprint key file " + path;
    return {};
  }
  if (linked != 0) {
    if (link_errno == EEXIST) return read_key();  // another process made it first
    error = "cannot create the fingerprint key file " + path + ": " + std::strerror(link_errno);
    return {};
  }
  hex.pop_back();
  return hex;
}

}  // namespace bluepython
