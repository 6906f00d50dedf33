// SPDX-License-Identifier: Apache-2.0
#include "capture/url_safety.hpp"

#include <catch2/catch.hpp>

using bluepython::capture::credential_name;
using bluepython::capture::safe_url;

TEST_CASE("a URL loses its password and credential-like query values, nothing else", "[url]") {
  CHECK(safe_url("https://example.com/robots.txt") == "https://example.com/robots.txt");
  CHECK(safe_url("https://u:p4ss@example.com:8443/x?y=1#f") == "https://u:[REDACTED]@example.com:8443/x?y=1#f");
  CHECK(safe_url("https://u@example.com/") == "https://u@example.com/");  // a user name alone stays
  CHECK(safe_url("http://h/p?q=cats&api_key=abc&page=2") == "http://h/p?q=cats&api_key=[REDACTED]&page=2");
  CHECK(safe_url("http://h/p?access_token=t&X-Amz-Signature=s#frag") ==
        "http://h/p?access_token=[REDACTED]&X-Amz-Signature=[REDACTED]#frag");
  CHECK(safe_url("http://h/p?key") == "http://h/p?key");  // no value to hide
  CHECK(safe_url("http://h/p?") == "http://h/p?");
  CHECK(safe_url("/relative?password=x") == "/relative?password=[REDACTED]");
  CHECK(safe_url("not a url") == "not a url");
  CHECK(safe_url("http://h/a@b:c/path") == "http://h/a@b:c/path");  // '@' in the path is not user information
}

TEST_CASE("credential-like parameter names", "[url]") {
  for (const char* name : {"token", "api_key", "apikey", "x-api-key", "Access_Token", "client_secret", "password",
                           "sig", "code", "session_id", "auth"}) {
    CHECK(credential_name(name));
  }
  for (const char* name : {"q", "page", "monkeys", "author", "decode_html", "sort"}) {
    CHECK_FALSE(credential_name(name));
  }
}
