// Named tokens, roles and rate limits on the web role, against the real broker: each team's
// token is limited on its own (429 with Retry-After, counted in /metrics) while another token
// goes on pushing; a reader's token may not push (403), no token is a 401; every accepted push
// is logged with its token's name and never the token.
#include <catch2/catch.hpp>

#include <csignal>
#include <thread>

#include "integration/pemx_runner.hpp"
#include "integration/web_util.hpp"
#include "support/http_client.hpp"
#include "support/https_client.hpp"

using namespace pemx::test;
using namespace std::chrono_literals;

namespace {

const std::string kTeamA = "team-a-secret-0123456789";
const std::string kTeamB = "team-b-secret-0123456789";
const std::string kViewer = "viewer-secret-0123456789";

std::map<std::string, std::string> bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}};
}

// The test config (prefixed_config) with `http_keys` added to [stages.http] and `tables` (which
// may extend it: [stages.http.…]) at the end.
std::string config_with(const std::string& prefix, const std::string& http_keys,
                        const std::string& tables) {
  std::string config = prefixed_config(prefix);
  const std::string section = "[stages.http]\n";
  auto at = config.find(section);
  REQUIRE(at != std::string::npos);
  return config.insert(at + section.size(), http_keys) + "\n" + tables;
}

}  // namespace

TEST_CASE("named tokens: roles, a per-token push limit that spares the other tokens, the "
          "token's name in the log",
          "[integration][web][auth]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  create_topic(brokers, p + "-product-event", 1);
  PemxRunner pemx(prefixed_config(p));  // its config is rewritten below, in its directory
  const std::string tokens = pemx.dir().file("tokens");
  pemx.dir().write("tokens", "# name:roles:token\nteam-a:writer:" + kTeamA +
                                 "\nteam-b:writer:" + kTeamB + "\nviewer:reader:" + kViewer +
                                 "\n");
  // A tiny push limit: one a second after a burst of 2, per token; reads are not limited.
  pemx.dir().write("pemx.toml",
                   config_with(p, "tokens_file = \"" + tokens + "\"\n",
                               "[stages.http.rate_limits.push]\nper_token = 1\n"
                               "per_token_burst = 2\n"));
  auto& proc = pemx.start("web", {"--set", "kafka.brokers=" + brokers});
  auto port = wait_port(proc);

  CHECK(http_post(port, "/event", push_body(1, 1, "AUTH1"), {{"Content-Type",
                                                                "application/json"}})
            .status == 401);
  auto forbidden = http_post(port, "/event", push_body(1, 1, "AUTH1"), bearer(kViewer));
  CHECK(forbidden.status == 403);
  CHECK(forbidden.body.find("viewer") != std::string::npos);
  // Reads stay open (no require_read_token), and the reader's token reads too.
  CHECK(http_get(port, "/event?productIds=AUTH1").status == 200);
  CHECK(http_get(port, "/event?productIds=AUTH1", bearer(kViewer)).status == 200);

  REQUIRE(http_post(port, "/event", push_body(1, 1, "AUTH1"), bearer(kTeamA)).status == 201);
  // Then team A's bucket empties: requests that would be refused later anyway (an empty body,
  // 400) count too, and come fast. Bounded: the bucket holds at most 2.
  HttpResponse limited;
  for (int i = 0; i < 20 && limited.status != 429; ++i) {
    limited = http_post(port, "/event", "{}", bearer(kTeamA));
  }
  REQUIRE(limited.status == 429);
  REQUIRE(limited.headers.count("retry-after") == 1);
  CHECK(std::stoi(limited.headers["retry-after"]) >= 1);
  CHECK(parse_json(limited.body)["error"].IsString());
  // Team B is unaffected.
  CHECK(http_post(port, "/event", push_body(2, 1, "AUTH1"), bearer(kTeamB)).status == 201);
  auto metrics = http_get(port, "/metrics").body;
  CHECK(metrics.find("pemx_http_rate_limited_total{route=\"push\",by=\"token\"}") !=
        std::string::npos);
  CHECK(metrics.find("pemx_http_rate_limited_total{route=\"push\",by=\"token\"} 0") ==
        std::string::npos);

  REQUIRE(proc.wait_for_log("\"token\":\"team-b\"", 10s));
  const std::string log = proc.log();
  CHECK(log.find("\"msg\":\"push accepted\",\"token\":\"team-a\"") != std::string::npos);
  CHECK(log.find(kTeamA) == std::string::npos);
  CHECK(log.find(kTeamB) == std::string::npos);
  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
}

TEST_CASE("HTTPS: the page, a token-guarded push routed and stored, the history; plain HTTP on "
          "the TLS port gets nothing",
          "[integration][web][auth][tls]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  create_topic(brokers, p + "-product-event", 1);
  PemxRunner pemx(prefixed_config(p));  // its config is rewritten below, in its directory
  const std::string cert = pemx.dir().file("cert.pem");
  const std::string key = pemx.dir().file("key.pem");
  REQUIRE(make_test_certificate(cert, key, "pemx-test"));
  pemx.dir().write("pemx.toml",
                   config_with(p,
                               "tls_cert_file = \"" + cert + "\"\ntls_key_file = \"" + key +
                                   "\"\n",
                               "[[stages.http.tokens]]\nname = \"team-a\"\ntoken = \"" + kTeamA +
                                   "\"\nroles = [\"writer\"]\n"));
  auto& proc = pemx.start("all", {"--set", "kafka.brokers=" + brokers});
  auto port = wait_port(proc);

  auto page = https_request(port, "GET", "/", cert);
  INFO(page.error);
  CHECK(page.response.status == 200);
  CHECK(https_request(port, "POST", "/event", cert, {{"Content-Type", "application/json"}},
                      push_body(7, 1, "TLS1"))
            .response.status == 401);
  auto pushed = https_request(port, "POST", "/event", cert, bearer(kTeamA),
                              push_body(7, 1, "TLS1"));
  INFO(pushed.error);
  REQUIRE(pushed.response.status == 201);
  HttpsResult history;
  for (auto until = std::chrono::steady_clock::now() + 60s;
       std::chrono::steady_clock::now() < until;) {
    history = https_request(port, "GET", "/event?productIds=TLS1", cert);
    if (history.response.status == 200 && history.response.body.find(event_id(7)) !=
                                              std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(200ms);
  }
  CHECK(history.response.body.find(event_id(7)) != std::string::npos);
  CHECK(http_get(port, "/healthz").status == 0);  // plain HTTP: the handshake fails
  CHECK(proc.log().find("\"tls\":true") != std::string::npos);
  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
}

TEST_CASE("SIGHUP re-reads tokens_file: a revoked token is refused from then on, the others "
          "keep working",
          "[integration][web][auth][reload]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  create_topic(brokers, p + "-product-event", 1);
  PemxRunner pemx(prefixed_config(p));
  const std::string tokens = pemx.dir().file("tokens");
  pemx.dir().write("tokens", "team-a:writer:" + kTeamA + "\nteam-b:writer:" + kTeamB + "\n");
  pemx.dir().write("pemx.toml", config_with(p, "tokens_file = \"" + tokens + "\"\n", ""));
  auto& proc = pemx.start("web", {"--set", "kafka.brokers=" + brokers});
  auto port = wait_port(proc);
  REQUIRE(http_post(port, "/event", push_body(1, 1, "REVOKE1"), bearer(kTeamB)).status == 201);

  // Team B's token leaked: its line goes, and the process is told to reload.
  pemx.dir().write("tokens", "team-a:writer:" + kTeamA + "\n");
  proc.signal(SIGHUP);
  REQUIRE(proc.wait_for_log("\"msg\":\"tokens reloaded\"", 30s));
  CHECK(http_post(port, "/event", push_body(2, 1, "REVOKE1"), bearer(kTeamB)).status == 401);
  CHECK(http_post(port, "/event", push_body(3, 1, "REVOKE1"), bearer(kTeamA)).status == 201);
  // A broken file keeps the tokens in force.
  pemx.dir().write("tokens", "team-a:painter:" + kTeamA + "\n");
  proc.signal(SIGHUP);
  REQUIRE(proc.wait_for_log("tokens not reloaded; the previous ones stay", 30s));
  CHECK(http_post(port, "/event", push_body(4, 1, "REVOKE1"), bearer(kTeamA)).status == 201);
  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
}

TEST_CASE("SIGHUP that revokes a token ends the live streams opened with it",
          "[integration][web][auth][reload][live]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  create_topic(brokers, p + "-product-event", 1);
  PemxRunner pemx(prefixed_config(p));
  const std::string tokens = pemx.dir().file("tokens");
  pemx.dir().write("tokens", "team-a:writer:" + kTeamA + "\nviewer:reader:" + kViewer + "\n");
  pemx.dir().write("pemx.toml", config_with(p, "tokens_file = \"" + tokens + "\"\n", ""));
  // "all": the push is routed and stored, so the stream that stays shows it.
  auto& proc = pemx.start("all", {"--set", "kafka.brokers=" + brokers});
  auto port = wait_port(proc);
  HttpStream viewer(port, "/api/live", {{"Authorization", "Bearer " + kViewer}});
  HttpStream writer(port, "/api/live", {{"Authorization", "Bearer " + kTeamA}});
  REQUIRE(viewer.read_until("event: hello", 10s));
  REQUIRE(writer.read_until("event: hello", 10s));

  // The viewer's token leaked: its line goes, and the process is told to reload.
  pemx.dir().write("tokens", "team-a:writer:" + kTeamA + "\n");
  proc.signal(SIGHUP);
  REQUIRE(proc.wait_for_log("\"msg\":\"tokens reloaded\"", 30s));
  REQUIRE(viewer.read_until("event: revoked", 10s));
  CHECK(viewer.data().find("the token was revoked") != std::string::npos);
  CHECK_FALSE(viewer.read_until("never sent", 10s));
  CHECK(viewer.closed());
  REQUIRE(proc.wait_for_log("live stream closed", 10s));
  CHECK(proc.log().find(kViewer) == std::string::npos);
  // The writer's stream goes on and shows what is stored next.
  REQUIRE(http_post(port, "/event", push_body(1, 1, "LIVEREVOKE"), bearer(kTeamA)).status == 201);
  CHECK(writer.read_until(event_id(1), 60s));
  CHECK(writer.data().find("event: revoked") == std::string::npos);
  CHECK_FALSE(writer.closed());
  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
}
