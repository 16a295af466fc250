// The Server's token check and rate limits over a loopback socket (port 0): require_read_token
// makes reads need a token, a reload (set_credentials) revokes one, a per-address read limit
// answers 429 with Retry-After and counts it, while a known token is counted on its own bucket;
// a reload ends the live streams of a revoked token; two Authorization headers are a 400.
#include "http_front/server.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "pemx/activity.hpp"
#include "plugins/http_front/empty_reader.hpp"
#include "support/http_client.hpp"

using namespace pemx;
using namespace pemx::http_front;
using pemx::http_front::test::EmptyReader;
using pemx::test::http_request;
using pemx::test::HttpResponse;
using pemx::test::HttpStream;
using namespace std::chrono_literals;

namespace {

const std::string kReader = "reader-secret-0123456789";
const std::string kOther = "other-secret-0123456789";

struct AuthServer {
  explicit AuthServer(ServerSettings s) {
    s.port = 0;
    s.io_threads = 1;
    s.query_threads = 1;
    s.idle_timeout = 5s;
    s.push_enabled = false;
    activity.role = "web";
    activity.offer("stored");
    server = std::make_unique<Server>(s, Logger{}, metrics, std::make_shared<EmptyReader>(),
                                      nullptr, &activity);
    server->start();
  }
  ~AuthServer() { server->stop(); }
  HttpResponse get(const std::string& target, const std::string& token = "") {
    if (token.empty()) return http_request(server->port(), "GET", target);
    return http_request(server->port(), "GET", target, {{"Authorization", "Bearer " + token}});
  }
  std::map<std::string, std::string> bearer(const std::string& token) {
    return {{"Authorization", "Bearer " + token}};
  }
  Metrics metrics;
  Activity activity;
  std::unique_ptr<Server> server;
};

Credentials two_readers(bool required) {
  Credentials c;
  c.tokens = {{"dash", kReader, kRoleReader}, {"other", kOther, kRoleReader | kRoleAdmin}};
  c.require_read_token = required;
  return c;
}

}  // namespace

TEST_CASE("require_read_token: reads need a known token, probes do not; a reload revokes one",
          "[unit][http][auth]") {
  ServerSettings s;
  s.credentials = two_readers(true);
  AuthServer srv(s);
  auto missing = srv.get("/event?productIds=A");
  CHECK(missing.status == 401);
  CHECK(missing.headers["www-authenticate"].rfind("Bearer", 0) == 0);
  CHECK(srv.get("/api/info").status == 401);
  CHECK(srv.get("/event?productIds=A", "not-a-token-at-all-0000").status == 401);
  CHECK(srv.get("/event?productIds=A", kReader).status == 200);
  CHECK(srv.get("/api/info", kOther).status == 200);
  CHECK(srv.get("/healthz").status == 200);
  CHECK(srv.get("/metrics").status == 200);
  // The operator removes "dash" and reloads.
  Credentials fewer = two_readers(true);
  fewer.tokens.erase(fewer.tokens.begin());
  srv.server->set_credentials(fewer);
  CHECK(srv.get("/event?productIds=A", kReader).status == 401);
  CHECK(srv.get("/event?productIds=A", kOther).status == 200);
}

TEST_CASE("a per-address read limit answers 429 with Retry-After; a token has its own bucket",
          "[unit][http][rate]") {
  ServerSettings s;
  s.credentials = two_readers(false);
  auto& read = s.rate_limits.routes[static_cast<std::size_t>(RateRoute::kRead)];
  read.per_address = {1, 3};
  read.per_token = {1, 5};
  s.rate_limits.max_addresses = 16;
  AuthServer srv(s);
  HttpResponse limited;
  int allowed = 0;
  for (int i = 0; i < 10 && limited.status != 429; ++i) {
    limited = srv.get("/event?productIds=A");
    if (limited.status == 200) ++allowed;
  }
  REQUIRE(limited.status == 429);
  CHECK(allowed >= 3);
  REQUIRE(limited.headers.count("retry-after") == 1);
  CHECK(std::stoi(limited.headers["retry-after"]) >= 1);
  CHECK(limited.body.find("\"error\"") != std::string::npos);
  // The same address with a token is counted on the token's bucket.
  CHECK(srv.get("/event?productIds=A", kReader).status == 200);
  // Probes are never limited.
  CHECK(srv.get("/healthz").status == 200);
  auto metrics = srv.get("/metrics").body;
  CHECK(metrics.find("pemx_http_rate_limited_total{route=\"read\",by=\"address\"} 1") !=
        std::string::npos);
  CHECK(metrics.find("pemx_http_rate_limited_total{route=\"read\",by=\"token\"} 0") !=
        std::string::npos);
}

TEST_CASE("a reload keeps the rate-limit buckets of the tokens that stay", "[unit][http][rate]") {
  ServerSettings s;
  s.credentials = two_readers(false);
  s.rate_limits.routes[static_cast<std::size_t>(RateRoute::kRead)].per_token = {1, 3};
  AuthServer srv(s);
  HttpResponse limited;
  for (int i = 0; i < 10 && limited.status != 429; ++i) {
    limited = srv.get("/event?productIds=A", kReader);
  }
  REQUIRE(limited.status == 429);
  srv.server->set_credentials(two_readers(false));  // the same tokens, reloaded
  CHECK(srv.get("/event?productIds=A", kReader).status == 429);  // no fresh burst
  CHECK(srv.get("/event?productIds=A", kOther).status == 200);
}

TEST_CASE("guessing tokens is rate limited by address: unknown tokens get 401, then 429",
          "[unit][http][rate][auth]") {
  ServerSettings s;
  s.credentials = two_readers(true);
  s.rate_limits.routes[static_cast<std::size_t>(RateRoute::kRead)].per_address = {1, 2};
  AuthServer srv(s);
  CHECK(srv.get("/event?productIds=A", "guess-0000000000000001").status == 401);
  CHECK(srv.get("/event?productIds=A", "guess-0000000000000002").status == 401);
  HttpResponse limited;
  for (int i = 0; i < 10 && limited.status != 429; ++i) {
    limited = srv.get("/event?productIds=A", "guess-00000000000001" + std::to_string(i));
  }
  CHECK(limited.status == 429);
  CHECK(srv.get("/event?productIds=A", kReader).status == 200);  // a known token: its own bucket
}

TEST_CASE("guessing admin tokens is rate limited by address too; the admin token is not",
          "[unit][http][rate][auth]") {
  ServerSettings s;
  s.credentials = two_readers(false);
  s.credentials.admins = true;
  s.rate_limits.routes[static_cast<std::size_t>(RateRoute::kRead)].per_address = {1, 2};
  AuthServer srv(s);
  auto reload = [&](const std::string& token) {
    return http_request(srv.server->port(), "POST", "/api/admin/reload",
                        {{"Authorization", "Bearer " + token}});
  };
  HttpResponse limited;
  for (int i = 0; i < 10 && limited.status != 429; ++i) {
    limited = reload("guess-00000000000001" + std::to_string(i));
    if (limited.status != 429) CHECK(limited.status == 401);
  }
  CHECK(limited.status == 429);
  CHECK(!limited.headers["retry-after"].empty());
  for (int i = 0; i < 3; ++i) CHECK(reload(kOther).status != 429);
}

TEST_CASE("a reload that revokes a token ends the live streams opened with it",
          "[unit][http][auth][live]") {
  ServerSettings s;
  s.credentials = two_readers(false);
  AuthServer srv(s);
  const auto port = srv.server->port();
  HttpStream revoked(port, "/api/live", srv.bearer(kReader));
  HttpStream kept(port, "/api/live", srv.bearer(kOther));
  HttpStream open(port, "/api/live");  // reads are open: no token
  REQUIRE(revoked.read_until("event: hello", 10s));
  REQUIRE(kept.read_until("event: hello", 10s));
  REQUIRE(open.read_until("event: hello", 10s));
  // The operator removes "dash" and reloads.
  Credentials fewer = two_readers(false);
  fewer.tokens.erase(fewer.tokens.begin());
  srv.server->set_credentials(fewer);
  REQUIRE(revoked.read_until("event: revoked", 10s));
  CHECK(revoked.read_until(R"({"reason":"the token was revoked"})", 10s));
  // Then the server closes the connection.
  CHECK_FALSE(revoked.read_until("never sent", 10s));
  CHECK(revoked.closed());
  // The others go on: their next keep-alive or event would follow, no "revoked".
  CHECK_FALSE(kept.read_until("event: revoked", 1s));
  CHECK_FALSE(kept.closed());
  CHECK_FALSE(open.closed());
  // A reload that requires a token for reads ends the anonymous stream; the known token's stays.
  srv.server->set_credentials(two_readers(true));
  REQUIRE(open.read_until("event: revoked", 10s));
  CHECK(open.data().find("reads now need a token") != std::string::npos);
  CHECK_FALSE(open.read_until("never sent", 10s));
  CHECK(open.closed());
  CHECK_FALSE(kept.read_until("event: revoked", 1s));
  CHECK_FALSE(kept.closed());
}

TEST_CASE("two Authorization headers are a 400 naming the header", "[unit][http][auth]") {
  ServerSettings s;
  s.credentials = two_readers(true);
  AuthServer srv(s);
  // One known token and one unknown, in either order: neither is silently chosen.
  for (const auto& [first, second] : {std::pair{kReader, kOther + "x"}, std::pair{kOther + "x",
                                                                                   kReader}}) {
    auto r = pemx::test::http_raw(srv.server->port(),
                                  "GET /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                  "Authorization: Bearer " + first + "\r\n"
                                  "Authorization: Bearer " + second + "\r\n"
                                  "Connection: close\r\n\r\n");
    CHECK(r.status == 400);
    CHECK(r.body.find("more than one Authorization header") != std::string::npos);
  }
  CHECK(srv.get("/api/info", kReader).status == 200);
}
