// The request guards (guards.hpp): the Host check against DNS rebinding, the bearer token and
// the Origin of writes, and the CORS answer.
#include "http_front/guards.hpp"
#include "http_front/auth.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace pemx::http_front;

TEST_CASE("bearer tokens: exact match only", "[unit][http][auth]") {
  std::vector<NamedToken> tokens = {{"a", "s3cret-token-0123456789", kRoleWriter},
                                    {"b", "another-token-abcdefghij", kRoleWriter}};
  CHECK(find_token(tokens, "Bearer s3cret-token-0123456789") == 0);
  CHECK(find_token(tokens, "Bearer another-token-abcdefghij") == 1);
  CHECK(find_token(tokens, "Bearer s3cret-token-012345678") == -1);
  CHECK(find_token(tokens, "Bearer s3cret-token-01234567890") == -1);
  CHECK(find_token(tokens, "bearer s3cret-token-0123456789") == 0);  // RFC 7235: any case
  CHECK(find_token(tokens, "s3cret-token-0123456789") == -1);
  CHECK(find_token(tokens, "") == -1);
  CHECK(find_token({}, "Bearer x") == -1);
}

TEST_CASE("the Host guard: a loopback listener answers to loopback names only, unless allowed",
          "[unit][http]") {
  const std::vector<std::string> none;
  for (const char* ok : {"127.0.0.1", "127.0.0.1:8080", "localhost", "LOCALHOST:3000", "[::1]:8080",
                         "127.1.2.3:80", ""}) {
    INFO(ok);
    CHECK(host_allowed(ok, "127.0.0.1", none));
  }
  for (const char* bad : {"evil.example", "evil.example:8080", "127.0.0.1.evil.example",
                          "localhost.evil.example", "[::2]:8080", "10.0.0.1"}) {
    INFO(bad);
    CHECK_FALSE(host_allowed(bad, "127.0.0.1", none));
  }
  CHECK(host_allowed("pemx.internal:8080", "127.0.0.1", {"pemx.internal"}));
  CHECK(host_allowed("anything", "127.0.0.1", {"*"}));
  // Another listener: any name while allowed_hosts is empty; its own address and the list else.
  CHECK(host_allowed("pemx.example.com", "0.0.0.0", none));
  CHECK(host_allowed("pemx.example.com:8080", "10.1.2.3", {"pemx.example.com"}));
  CHECK(host_allowed("10.1.2.3:8080", "10.1.2.3", {"pemx.example.com"}));
  CHECK_FALSE(host_allowed("evil.example", "10.1.2.3", {"pemx.example.com"}));
}

TEST_CASE("the Origin of a write: this server's own page, or one of cors_origins",
          "[unit][http][auth]") {
  const std::vector<std::string> none;
  CHECK(origin_allowed("http://127.0.0.1:8080", "127.0.0.1:8080", none));
  CHECK(origin_allowed("https://pemx.example.com", "pemx.example.com", none));
  CHECK_FALSE(origin_allowed("http://127.0.0.1:8081", "127.0.0.1:8080", none));
  CHECK_FALSE(origin_allowed("http://evil.example", "127.0.0.1:8080", none));
  CHECK_FALSE(origin_allowed("ftp://127.0.0.1:8080", "127.0.0.1:8080", none));
  CHECK_FALSE(origin_allowed("http://127.0.0.1:8080/", "127.0.0.1:8080", none));
  CHECK_FALSE(origin_allowed("null", "", none));
  CHECK(origin_allowed("https://app.example", "127.0.0.1:8080", {"https://app.example"}));
  CHECK_FALSE(origin_allowed("https://app.example.evil", "127.0.0.1:8080",
                             {"https://app.example"}));
  CHECK(origin_allowed("http://anything", "127.0.0.1:8080", {"*"}));
}

TEST_CASE("CORS: the allowed origin is echoed, \"*\" answers \"*\", others get no header",
          "[unit][http]") {
  const std::vector<std::string> listed = {"https://a.example", "https://b.example"};
  CHECK(cors_allow_origin("https://b.example", listed) == "https://b.example");
  CHECK_FALSE(cors_allow_origin("https://c.example", listed).has_value());
  CHECK_FALSE(cors_allow_origin("", listed).has_value());  // no Origin: not a CORS request
  CHECK_FALSE(cors_allow_origin("https://a.example", {}).has_value());
  CHECK(cors_allow_origin("https://c.example", {"*"}) == "*");
  CHECK_FALSE(cors_allow_origin("", {"*"}).has_value());
  // The first entry that allows it decides.
  CHECK(cors_allow_origin("https://a.example", {"https://a.example", "*"}) ==
        "https://a.example");
  CHECK(cors_allow_origin("https://a.example", {"*", "https://a.example"}) == "*");
}
