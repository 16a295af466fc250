// http_front's config: the security decisions made at start-up.
#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "builtin_stages.hpp"
#include "core/config.hpp"
#include "support/config_fixture.hpp"

using namespace pemx;

namespace {
// A web-less role with just the HTTP stage, configured by `keys`.
std::vector<std::string> errors_for(const std::string& keys) {
  std::string text = "[roles]\nops = [\"http\"]\n[stages.http]\ntype = \"http_front\"\n" + keys;
  auto r = load_config_text(text, "pemx.toml", {}, builtin_stages());
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.str());
  return out;
}
bool mentions(const std::vector<std::string>& errors, const std::string& text) {
  for (const auto& e : errors) {
    if (e.find(text) != std::string::npos) return true;
  }
  return false;
}
}  // namespace

TEST_CASE("a loopback listener needs no tokens", "[unit][http][auth]") {
  CHECK(errors_for("listen = \"127.0.0.1:8080\"\n").empty());
  CHECK(errors_for("listen = \"localhost:0\"\n").empty());
}

TEST_CASE("a remote listener with open writes is refused unless the config says so",
          "[unit][http][auth]") {
  auto e = errors_for("listen = \"0.0.0.0:8080\"\n");
  REQUIRE(e.size() == 1);
  CHECK(e[0].find("stages.http.listen: \"0.0.0.0:8080\" is reachable from other hosts but "
                  "writes are not guarded") != std::string::npos);
  CHECK(errors_for("listen = \"0.0.0.0:8080\"\nallow_unauthenticated_remote = true\n").empty());
  CHECK(errors_for("listen = \"0.0.0.0:8080\"\npush_topic = \"\"\n").empty());
  CHECK(errors_for("listen = \"0.0.0.0:8080\"\nwrite_tokens = [\"0123456789abcdef0123\"]\n")
            .empty());
}

TEST_CASE("tokens must be long, and a tokens file must be readable", "[unit][http][auth]") {
  CHECK(mentions(errors_for("write_tokens = [\"short\"]\n"), "shorter than 16 characters"));
  CHECK(mentions(errors_for("write_tokens_file = \"/nonexistent/pemx-tokens\"\n"),
                 "stages.http.write_tokens_file: cannot read \"/nonexistent/pemx-tokens\""));
  std::string path = "pemx-test-tokens-" + std::to_string(::getpid());
  {
    std::ofstream out(path);
    out << "# comment\n\n  0123456789abcdef-token  \n";
  }
  auto e = errors_for("listen = \"0.0.0.0:8080\"\nwrite_tokens_file = \"" + path + "\"\n");
  std::remove(path.c_str());
  CHECK(e.empty());
}

TEST_CASE("admin tokens follow the write tokens' rules", "[unit][http][auth][reload]") {
  CHECK(errors_for("admin_tokens = [\"0123456789abcdef-admin\"]\n").empty());
  CHECK(mentions(errors_for("admin_tokens = [\"short\"]\n"),
                 "stages.http.admin_tokens: token \"admin_tokens[0]\" is shorter than 16 characters"));
  CHECK(mentions(errors_for("admin_tokens_file = \"/nonexistent/pemx-admin\"\n"),
                 "stages.http.admin_tokens_file: cannot read \"/nonexistent/pemx-admin\""));
  std::string path = "pemx-test-admin-tokens-" + std::to_string(::getpid());
  {
    std::ofstream out(path);
    out << "# comment\n\n  0123456789abcdef-admin  \nshort\n";
  }
  auto e = errors_for("admin_tokens_file = \"" + path + "\"\n");
  std::remove(path.c_str());
  CHECK(mentions(e, "stages.http.admin_tokens_file: token \"admin_tokens_file[1]\" is shorter than 16 "
                    "characters"));
  // Admin tokens do not guard writes: a remote listener with only admin tokens is refused.
  CHECK(mentions(
      errors_for("listen = \"0.0.0.0:8080\"\nadmin_tokens = [\"0123456789abcdef-admin\"]\n"),
      "writes are not guarded"));
}

TEST_CASE("http settings are checked", "[unit][http]") {
  CHECK(mentions(errors_for("listen = \"nope\"\n"), "stages.http.listen: \"nope\" is not host:port"));
  CHECK(mentions(errors_for("listen = \"127.0.0.1:99999\"\n"), "has no valid port"));
  CHECK(mentions(errors_for("push_topic = \"a b\"\n"), "stages.http.push_topic"));
  CHECK(mentions(errors_for("default_limit = 500\nmax_limit = 100\n"),
                 "default_limit: must not exceed max_limit"));
  CHECK(mentions(errors_for("max_body_bytes = 10\n"), "max_body_bytes: value 10 is out of range"));
  CHECK(mentions(errors_for("idle_timeout = 5\n"), "idle_timeout: expected a duration"));
  CHECK(mentions(errors_for("max_header_fields = 0\n"),
                 "max_header_fields: value 0 is out of range"));
  CHECK(mentions(errors_for("max_header_fields = \"many\"\n"), "stages.http.max_header_fields"));
  CHECK(errors_for("max_header_fields = 200\nmax_header_bytes = 16384\n").empty());
}

TEST_CASE("max_connections is a checked key", "[unit][http][accept]") {
  CHECK(errors_for("max_connections = 64\n").empty());
  CHECK(mentions(errors_for("max_connections = 0\n"),
                 "stages.http.max_connections: value 0 is out of range"));
  CHECK(mentions(errors_for("max_connections = \"many\"\n"), "stages.http.max_connections"));
}

// --- http.listen, the old name of listen ----------------------------------------------------

namespace {
using test::Loaded;
using test::load_text;
// Two HTTP stages: `web` with `web_keys`, `ops` on its own port.
std::string two_stages(const std::string& common, const std::string& web_keys) {
  return common + "[roles]\nweb = [\"web\"]\nops = [\"ops\"]\n" +
         "[stages.web]\ntype = \"http_front\"\n" + web_keys +
         "[stages.ops]\ntype = \"http_front\"\nlisten = \"127.0.0.1:8081\"\n";
}
}  // namespace

TEST_CASE("http.listen still sets the listen of every HTTP stage that names none",
          "[unit][http][config][alias]") {
  auto l = load_text(two_stages("[http]\nlisten = \"127.0.0.1:9000\"\n", ""));
  REQUIRE(l.errors.empty());
  CHECK_THAT(l.described["web"], Catch::Matchers::StartsWith("HTTP on 127.0.0.1:9000,"));
  CHECK_THAT(l.described["ops"], Catch::Matchers::StartsWith("HTTP on 127.0.0.1:8081,"));
  // The same value in both places is no conflict.
  CHECK(load_text(two_stages("[http]\nlisten = \"127.0.0.1:9000\"\n",
                             "listen = \"127.0.0.1:9000\"\n"))
            .errors.empty());
}

TEST_CASE("http.listen and a stage's listen, both given and different, are an error naming both",
          "[unit][http][config][alias]") {
  auto l = load_text(two_stages("[http]\nlisten = \"127.0.0.1:9000\"\n",
                                "listen = \"127.0.0.1:9001\"\n"));
  CHECK(l.errors ==
        std::vector<std::string>{
            "pemx.toml:2: http.listen: \"127.0.0.1:9000\" is used by no http_front stage: each "
            "names its own listen (stages.ops.listen = \"127.0.0.1:8081\", stages.web.listen = "
            "\"127.0.0.1:9001\"); http.listen is the old name of that key: keep one of the two"});
}

TEST_CASE("overriding http.listen with --set moves the HTTP stages that followed it, not the others",
          "[unit][http][config][alias][set]") {
  SECTION("a stage naming the old default follows it") {
    auto l = load_text(two_stages("", "listen = \"127.0.0.1:8080\"\n"),
                       {"http.listen=127.0.0.1:0"});
    REQUIRE(l.errors.empty());
    CHECK_THAT(l.described["web"], Catch::Matchers::StartsWith("HTTP on 127.0.0.1:0,"));
    CHECK_THAT(l.described["ops"], Catch::Matchers::StartsWith("HTTP on 127.0.0.1:8081,"));
  }
  SECTION("a stage naming no listen follows it") {
    auto l = load_text(two_stages("[http]\nlisten = \"127.0.0.1:9000\"\n", ""),
                       {"http.listen=127.0.0.1:0"});
    REQUIRE(l.errors.empty());
    CHECK_THAT(l.described["web"], Catch::Matchers::StartsWith("HTTP on 127.0.0.1:0,"));
  }
  SECTION("the stage's own key set on the command line too, differently, is an error") {
    auto l = load_text(two_stages("", "listen = \"127.0.0.1:8080\"\n"),
                       {"stages.web.listen=127.0.0.1:9001", "http.listen=127.0.0.1:9000"});
    REQUIRE(l.errors.size() == 1);
    CHECK_THAT(l.errors[0], Catch::Matchers::StartsWith("--set: http.listen: \"127.0.0.1:9000\" "
                                                        "is used by no http_front stage"));
    CHECK_THAT(l.errors[0], Catch::Matchers::Contains("stages.web.listen = \"127.0.0.1:9001\""));
  }
}

TEST_CASE("pemx.toml: --set http.listen moves the web role's listener, not ops_http",
          "[unit][http][config][alias][set]") {
  std::ifstream in(PEMX_SOURCE_DIR "/pemx.toml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE_FALSE(text.empty());
  auto shipped = load_text(text);
  REQUIRE(shipped.errors.empty());
  CHECK_THAT(shipped.described["http"], Catch::Matchers::StartsWith("HTTP on 127.0.0.1:8080,"));
  auto l = load_text(text, {"http.listen=127.0.0.1:9090"});
  REQUIRE(l.errors.empty());
  CHECK_THAT(l.described["http"], Catch::Matchers::StartsWith("HTTP on 127.0.0.1:9090,"));
  CHECK_THAT(l.described["ops_http"], Catch::Matchers::StartsWith("HTTP on 127.0.0.1:8081,"));
}

TEST_CASE("named tokens and rate limits: errors name the key", "[unit][http][auth]") {
  CHECK(errors_for("[[stages.http.tokens]]\nname = \"ci\"\ntoken = \"0123456789abcdef0123\"\n"
                   "roles = [\"writer\", \"painter\"]\n")
            .size() == 1);
  CHECK(mentions(errors_for("[[stages.http.tokens]]\nname = \"ci\"\ntoken = "
                            "\"0123456789abcdef0123\"\nroles = [\"painter\"]\n"),
                 "stages.http.tokens[0].roles: unknown role \"painter\""));
  CHECK(mentions(errors_for("[[stages.http.tokens]]\nname = \"ci\"\nroles = [\"writer\"]\n"),
                 "stages.http.tokens[0]: set one of token"));
  CHECK(mentions(errors_for("[[stages.http.tokens]]\nname = \"a\"\ntoken = \"0123456789abcdef0123\""
                            "\nroles = [\"writer\"]\n[[stages.http.tokens]]\nname = \"a\"\ntoken = "
                            "\"0123456789abcdef0124\"\nroles = [\"reader\"]\n"),
                 "stages.http.tokens[1].token: the name \"a\" is used twice"));
  CHECK(mentions(errors_for("tokens_file = \"/nonexistent/pemx\"\n"),
                 "stages.http.tokens_file: cannot read \"/nonexistent/pemx\""));
  CHECK(mentions(errors_for("require_read_token = true\n"),
                 "stages.http.require_read_token: no token is configured"));
  CHECK(errors_for("listen = \"0.0.0.0:8080\"\n[[stages.http.tokens]]\nname = \"ci\"\n"
                   "token = \"0123456789abcdef0123\"\nroles = [\"writer\"]\n")
            .empty());
  // A reader's token does not guard writes.
  CHECK(mentions(errors_for("listen = \"0.0.0.0:8080\"\n[[stages.http.tokens]]\nname = \"ci\"\n"
                            "token = \"0123456789abcdef0123\"\nroles = [\"reader\"]\n"),
                 "writes are not guarded"));
  CHECK(errors_for("[stages.http.rate_limits]\nmax_addresses = 100\n[stages.http.rate_limits.push]"
                   "\nper_token = 5\nper_address_burst = 3\n")
            .empty());
  CHECK(mentions(errors_for("[stages.http.rate_limits.push]\nper_tokn = 5\n"),
                 "stages.http.rate_limits.push.per_tokn"));
  CHECK(mentions(errors_for("[stages.http.rate_limits]\nmax_addresses = 1\n"),
                 "stages.http.rate_limits.max_addresses"));
}

TEST_CASE("TLS keys: both or neither, and the files are checked", "[unit][http][tls]") {
  CHECK(mentions(errors_for("tls_cert_file = \"/x/cert.pem\"\n"),
                 "stages.http.tls_key_file: set both tls_cert_file and tls_key_file"));
  CHECK(mentions(errors_for("tls_cert_file = \"/nonexistent/c.pem\"\ntls_key_file = \"/x/k\"\n"),
                 "stages.http.tls_cert_file: cannot read \"/nonexistent/c.pem\""));
  const std::string path = "pemx-test-notacert-" + std::to_string(::getpid());
  { std::ofstream(path) << "hello\n"; }
  auto e = errors_for("tls_cert_file = \"" + path + "\"\ntls_key_file = \"" + path + "\"\n");
  std::remove(path.c_str());
  CHECK(mentions(e, "stages.http.tls_cert_file: \"" + path + "\" is not a PEM certificate"));
}

TEST_CASE("the push's idempotency keys: a duration (0 turns it off) and a bound of at least one "
          "push",
          "[unit][http][idempotency]") {
  CHECK(errors_for("idempotency_window = \"0s\"\n").empty());
  CHECK(errors_for("idempotency_window = \"10m\"\nidempotency_max_entries = 401\n").empty());
  CHECK(mentions(errors_for("idempotency_window = \"2d\"\n"), "stages.http.idempotency_window"));
  CHECK(mentions(errors_for("idempotency_max_entries = 400\n"),
                 "stages.http.idempotency_max_entries"));
  CHECK(mentions(errors_for("idempotency_windw = \"1s\"\n"), "idempotency_window"));
  CHECK(errors_for("idempotency_max_entries_per_token = 401\n").empty());
  CHECK(mentions(errors_for("idempotency_max_entries_per_token = 400\n"),
                 "stages.http.idempotency_max_entries_per_token"));
}

TEST_CASE("the lineage keys: checked, with their key path", "[unit][http][lineage]") {
  CHECK(errors_for("lineage = false\n").empty());
  CHECK(errors_for("lineage_max_concurrent = 4\nlineage_max_scan = 500\n"
                   "lineage_timeout = \"3s\"\nlineage_margin = \"0s\"\n")
            .empty());
  CHECK(mentions(errors_for("lineage_max_concurrent = 0\n"), "stages.http.lineage_max_concurrent"));
  CHECK(mentions(errors_for("lineage_max_scan = 0\n"), "stages.http.lineage_max_scan"));
  CHECK(mentions(errors_for("lineage_timeout = \"10ms\"\n"), "stages.http.lineage_timeout"));
  CHECK(mentions(errors_for("lineage_margin = \"5\"\n"), "stages.http.lineage_margin"));
  CHECK(mentions(errors_for("lineage = \"yes\"\n"), "stages.http.lineage"));
}
