// Hot reload of the routing rules on the real broker (PEMX_TEST_BROKERS): SIGHUP swaps the
// rules of a running dist role between two events (the earlier events on the old topic with
// the old pemx-rules-version, the later on the new topic with the new one, none lost, none
// doubled); an invalid config keeps the running rules and names the key; POST
// /api/admin/reload in role all is guarded by admin_tokens (403 without any, 401 without the
// right one) and answers the version. With the broker paused (SIGSTOP): missing_topics =
// "fail" refuses a reload whose targets cannot be checked, and SIGTERM during a reload's
// target check drains at once (the reload runs off the supervisor's thread and is cancelled).
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <set>
#include <thread>

#include "integration/broker_pause.hpp"
#include "integration/pemx_runner.hpp"
#include "integration/web_util.hpp"

using Catch::Matchers::Contains;
using namespace pemx::test;
using namespace std::chrono_literals;

namespace {

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  REQUIRE(text.find(from, at + from.size()) == std::string::npos);
  return text.replace(at, from.size(), to);
}

// The storage rule's topic line of prefixed_config(p).
std::string storage_rule(const std::string& p) {
  return "topic = \"" + p + "-product-event-storage-pemx\"";
}

// The router's rules version as `pemx check-config` prints it for a config file.
std::string checked_version(const std::string& file) {
  auto r = run(PEMX_BINARY, {"check-config", "--config", file});
  INFO(r.err);
  REQUIRE(r.code == 0);
  const std::string tag = "rules version: ";
  auto at = r.out.find(tag);
  REQUIRE(at != std::string::npos);
  return r.out.substr(at + tag.size(), 16);
}

void produce_events(const std::string& brokers, const std::string& topic, int first, int count) {
  std::vector<std::pair<std::string, std::string>> messages;
  for (int n = first; n < first + count; ++n) {
    messages.emplace_back("RELOAD" + std::to_string(n), event_json(n, "RELOAD" + std::to_string(n),
                                                                   created_at(n)));
  }
  produce(brokers, topic, messages);
}

// The eventIds of the messages, each once (a duplicate fails the test), and every message's
// pemx-rules-version.
std::set<std::string> ids_with_version(const std::vector<Message>& messages,
                                       const std::string& version) {
  std::set<std::string> ids;
  for (const auto& m : messages) {
    auto it = m.headers.find("pemx-rules-version");
    REQUIRE(it != m.headers.end());
    CHECK(it->second == version);
    CHECK(ids.insert(json_field(m.value, "eventId")).second);
  }
  return ids;
}

// How many times `text` is in the process's log.
std::size_t log_count(const Process& proc, const std::string& text) {
  const std::string log = proc.log();
  std::size_t n = 0;
  for (auto at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
  return n;
}

// Polls (a generous bound) until `text` is in the log `n` times.
bool wait_log_count(const Process& proc, const std::string& text, std::size_t n,
                    std::chrono::seconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (log_count(proc, text) < n) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

std::set<std::string> expected_ids(int first, int count) {
  std::set<std::string> ids;
  for (int n = first; n < first + count; ++n) ids.insert(event_id(n));
  return ids;
}

}  // namespace

TEST_CASE("SIGHUP swaps the rules of a running dist role between two events; an invalid "
          "config keeps them",
          "[integration][reload]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  const std::string topic_a = p + "-product-event-storage-pemx";
  const std::string topic_b = p + "-storage-b";
  for (const auto& t : {p + "-product-event", topic_a, topic_b, p + "-product-event-dlq-pemx",
                        p + "-product-price-update-v1-EU"}) {
    create_topic(brokers, t, 1);
  }
  const std::string config_a = prefixed_config(p);
  const std::string config_b = replaced(config_a, storage_rule(p), "topic = \"" + topic_b + "\"");
  PemxRunner pemx(config_a);
  const std::string file = pemx.dir().file("pemx.toml");
  const std::string version_a = checked_version(file);

  auto& proc = pemx.start("dist", {"--set", "kafka.brokers=" + brokers});
  REQUIRE(proc.wait_for_log("role starting", 60s));
  constexpr int kBatch = 20;
  produce_events(brokers, p + "-product-event", 0, kBatch);
  auto on_a = consume_all(brokers, topic_a, kBatch, 60s);
  REQUIRE(on_a.size() == kBatch);

  pemx.dir().write("pemx.toml", config_b);
  const std::string version_b = checked_version(file);
  REQUIRE(version_b != version_a);
  proc.signal(SIGHUP);
  REQUIRE(proc.wait_for_log("\"msg\":\"config reloaded\"", 30s));
  CHECK_THAT(proc.log(), Contains("\"swapped\":\"router\""));
  produce_events(brokers, p + "-product-event", kBatch, kBatch);
  auto on_b = consume_all(brokers, topic_b, kBatch, 60s, 2s);
  on_a = consume_all(brokers, topic_a, kBatch, 30s, 2s);
  INFO(proc.log());
  CHECK(ids_with_version(on_a, version_a) == expected_ids(0, kBatch));
  CHECK(ids_with_version(on_b, version_b) == expected_ids(kBatch, kBatch));
  // The ops listener shows the running version.
  const auto port = wait_port(proc);
  auto metrics = http_get(port, "/metrics");
  CHECK_THAT(metrics.body, Contains("pemx_rules_info{stage=\"router\",version=\"" + version_b +
                                    "\"} 1"));

  // An invalid rule: refused, named, counted; the events still go to B.
  pemx.dir().write("pemx.toml",
                   replaced(config_b, "topic = \"" + topic_b + "\"", "topic = \"{unclosed\""));
  proc.signal(SIGHUP);
  REQUIRE(proc.wait_for_log("reload refused; the running rules stay", 30s));
  CHECK_THAT(proc.log(), Contains("stages.router.rules[3].topic"));
  produce_events(brokers, p + "-product-event", 2 * kBatch, 5);
  on_b = consume_all(brokers, topic_b, kBatch + 5, 60s, 2s);
  CHECK(ids_with_version(on_b, version_b) == expected_ids(kBatch, kBatch + 5));
  metrics = http_get(port, "/metrics");
  CHECK_THAT(metrics.body, Contains("pemx_rules_reload_failures_total 1"));
  CHECK_THAT(metrics.body, Contains("pemx_rules_reloads_total 1"));
  CHECK(proc.running());

  proc.signal(SIGTERM);
  auto code = proc.wait(60s);
  REQUIRE(code);
  CHECK(*code == 0);
}

TEST_CASE("POST /api/admin/reload in role all: 403 without admin tokens, 401 without the "
          "right one, the version with it",
          "[integration][reload]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  const std::string config = prefixed_config(p);
  PemxRunner pemx(config);
  const std::string token = "admin-token-" + p;
  {
    auto& proc = pemx.start("all", {"--set", "kafka.brokers=" + brokers});
    const auto port = wait_port(proc);
    auto r = http_post(port, "/api/admin/reload", "", {{"Authorization", "Bearer " + token}});
    CHECK(r.status == 403);
    CHECK_THAT(r.body, Contains("admin_tokens"));
    proc.signal(SIGTERM);
    REQUIRE(proc.wait(60s));
  }
  auto& proc = pemx.start("all", {"--set", "kafka.brokers=" + brokers, "--set",
                                  "stages.http.admin_tokens=[\"" + token + "\"]"});
  const auto port = wait_port(proc);
  CHECK(http_post(port, "/api/admin/reload", "").status == 401);
  CHECK(http_post(port, "/api/admin/reload", "", {{"Authorization", "Bearer " + token + "x"}})
            .status == 401);
  CHECK(http_get(port, "/api/admin/reload").status == 405);

  const std::string version_a = checked_version(pemx.dir().file("pemx.toml"));
  auto same = http_post(port, "/api/admin/reload", "", {{"Authorization", "Bearer " + token}});
  CHECK(same.status == 200);
  CHECK(json_field(same.body, "version") == version_a);

  pemx.dir().write("pemx.toml", replaced(config, storage_rule(p),
                                         "topic = \"" + p + "-storage-b\""));
  const std::string version_b = checked_version(pemx.dir().file("pemx.toml"));
  auto changed = http_post(port, "/api/admin/reload", "", {{"Authorization", "Bearer " + token}});
  INFO(changed.body);
  CHECK(changed.status == 200);
  CHECK_THAT(changed.body, Contains(R"("ok":true)"));
  CHECK(json_field(changed.body, "version") == version_b);
  CHECK_THAT(changed.body, Contains(R"("swapped":["router"])"));
  auto info = http_get(port, "/api/info");
  CHECK_THAT(info.body, Contains(R"("rules":{"version":")" + version_b + "\""));
  CHECK_THAT(info.body, Contains(R"("reloads":2,"reloadFailures":0)"));

  pemx.dir().write("pemx.toml", replaced(config, storage_rule(p), "topic = \"{unclosed\""));
  auto refused = http_post(port, "/api/admin/reload", "", {{"Authorization", "Bearer " + token}});
  CHECK(refused.status == 422);
  CHECK_THAT(refused.body, Contains("stages.router.rules[3].topic"));
  CHECK(json_field(refused.body, "version") == version_b);
  CHECK_THAT(http_get(port, "/api/info").body, Contains(R"("reloadFailures":1)"));

  proc.signal(SIGTERM);
  auto code = proc.wait(60s);
  REQUIRE(code);
  CHECK(*code == 0);
}

// The attack on reload: with the broker paused, a reload's target check waited on the
// supervisor's thread (SIGTERM waited for it), and with missing_topics = "fail" the unchecked
// rules were applied anyway.
TEST_CASE("a paused broker during a reload: fail refuses the unchecked rules; SIGTERM during "
          "a reload's target check drains at once",
          "[integration][reload][broker_hang]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  const std::string topic_b = p + "-storage-b";
  for (const auto& t : {p + "-product-event", p + "-product-event-storage-pemx", topic_b,
                        p + "-product-event-dlq-pemx", p + "-product-price-update-v1-EU"}) {
    create_topic(brokers, t, 1);
  }
  const std::string config_a = prefixed_config(p);
  auto router_keys = [](const std::string& text, const std::string& keys) {
    return replaced(text, "schema_mode = \"off\"\n", "schema_mode = \"off\"\n" + keys);
  };
  PemxRunner pemx(config_a);
  const std::string version_a = checked_version(pemx.dir().file("pemx.toml"));
  auto& proc = pemx.start("dist", {"--set", "kafka.brokers=" + brokers, "--set",
                                   "shutdown.drain_timeout=5s"});
  REQUIRE(proc.wait_for_log("role starting", 60s));
  const auto port = wait_port(proc);
  const std::string config_b = replaced(config_a, storage_rule(p), "topic = \"" + topic_b + "\"");

  BrokerPause paused(broker_pid(brokers));
  // 1. fail: the check cannot confirm the topics within 2 s, so the reload is refused.
  pemx.dir().write("pemx.toml", router_keys(config_b, "missing_topics = \"fail\"\n"
                                                      "missing_topics_timeout = \"2s\"\n"));
  proc.signal(SIGHUP);
  REQUIRE(proc.wait_for_log("reload refused; the running rules stay", 60s));
  INFO(proc.log());
  CHECK_THAT(proc.log(), Contains("could not be checked on cluster kafka"));
  CHECK_THAT(proc.log(), !Contains("applying them anyway") && !Contains("config reloaded"));
  auto metrics = http_get(port, "/metrics");
  CHECK_THAT(metrics.body, Contains("pemx_rules_reload_failures_total 1"));
  CHECK_THAT(metrics.body, Contains("pemx_rules_reloads_total 0"));
  CHECK_THAT(metrics.body, Contains("pemx_rules_info{stage=\"router\",version=\"" + version_a +
                                    "\"} 1"));

  // 2. A check that would wait ten minutes: SIGTERM during it drains at once and exits well
  //    before the check would have ended.
  pemx.dir().write("pemx.toml", router_keys(config_b, "missing_topics_timeout = \"10m\"\n"));
  const auto sighup = std::chrono::steady_clock::now();
  proc.signal(SIGHUP);
  REQUIRE(wait_log_count(proc, "SIGHUP: reloading the config", 2, 30s));
  proc.signal(SIGTERM);
  auto code = proc.wait(60s);  // drain_timeout 5 s; the check's deadline is 10 min away
  REQUIRE(code);
  CHECK(std::chrono::steady_clock::now() - sighup < 5min);
  const std::string log = proc.log();
  CHECK_THAT(log, Contains("signal received; draining"));
  CHECK_THAT(log, Contains("was cancelled: the process is stopping"));
  CHECK_THAT(log, !Contains("config reloaded"));
}
