// Several clusters on two real brokers on loopback (PEMX_TEST_BROKERS and PEMX_TEST_BROKERS_B,
// both started by scripts/test.sh): a rule sends region EU's price updates to [clusters.eu]
// (the second broker), US ones to the main [kafka] cluster; each broker's topic holds exactly
// its region's events; and while the second broker does not answer (SIGSTOPped), the group's
// committed offset stays before the first EU event not yet acknowledged there, whatever the
// main cluster acknowledged after it; once it answers again everything arrives and commits.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "integration/broker_pause.hpp"
#include "integration/pemx_runner.hpp"

using namespace pemx::test;
using namespace std::chrono_literals;

namespace {

std::string event_id(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "7a2d3b45-2222-4bbb-8ccc-%012d", n);
  return buf;
}

std::pair<std::string, std::string> price(int n, const std::string& region) {
  const std::string product = "PRODUCT" + std::to_string(n);
  return {product, R"({"eventId":")" + event_id(n) +
                       R"(","eventType":"ProductPriceUpdate","productId":")" + product +
                       R"(","region":")" + region +
                       R"(","createdAt":"2024-07-26T14:41:17.123Z","data":{"newPrice":1.5}})"};
}

std::set<std::string> ids_of(const std::vector<Message>& messages) {
  std::set<std::string> ids;
  for (const auto& m : messages) ids.insert(json_field(m.value, "eventId"));
  return ids;
}

std::set<std::string> ids(std::initializer_list<int> numbers) {
  std::set<std::string> out;
  for (int n : numbers) out.insert(event_id(n));
  return out;
}

// The dist role with a second cluster "eu": EU price updates go there, US ones to [kafka].
std::string two_cluster_config(const std::string& p, const std::string& brokers_b) {
  return R"(
[kafka]
brokers = "localhost:9092"
[clusters.eu]
brokers = ")" + brokers_b + R"("
[roles]
dist = ["in", "router", "out"]
[queues.events]
capacity = 64
[queues.routed]
capacity = 64
[queues.done]
capacity = 256
[stages.in]
type = "kafka_ingest"
topics = [")" + p + R"(-product-event"]
group_id = ")" + p + R"(-group"
output = "events"
acks = "done"
commit_interval = "100ms"
[stages.router]
type = "rules_router"
input = "events"
output = "routed"
dead_letter_topic = ")" + p + R"(-dlq"
missing_topics = "fail"
[[stages.router.rules]]
name = "prices-eu"
match = [{ field = "eventType", equals = "ProductPriceUpdate" }, { field = "region", equals = "EU" }]
topic = ")" + p + R"(-prices"
cluster = "eu"
[[stages.router.rules]]
name = "prices-us"
match = [{ field = "eventType", equals = "ProductPriceUpdate" }, { field = "region", equals = "US" }]
topic = ")" + p + R"(-prices"
[stages.out]
type = "kafka_sink"
input = "routed"
acks = "done"
)";
}

}  // namespace

TEST_CASE("a rule's cluster: EU events on the second broker, US on the main one; offsets "
          "commit only after both clusters acknowledged",
          "[integration][clusters]") {
  const char* env_b = std::getenv("PEMX_TEST_BROKERS_B");
  if (env_b == nullptr || *env_b == '\0') {
    WARN("SKIPPED: PEMX_TEST_BROKERS_B is not set (scripts/test.sh starts a second broker with "
         "tests/broker/kafka.sh start and exports its address)");
    return;
  }
  const std::string a = test_brokers();
  const std::string b = env_b;
  const std::string p = unique_prefix();
  const std::string input = p + "-product-event";
  const std::string prices = p + "-prices";
  const std::string group = p + "-group";
  // One input partition: the committed offset is the position in this one sequence.
  create_topic(a, input, 1);
  create_topic(a, prices, 3);
  create_topic(a, p + "-dlq", 1);
  create_topic(b, prices, 3);

  // Offsets 0..3.
  produce(a, input, {price(1, "US"), price(2, "EU"), price(3, "US"), price(4, "EU")});
  PemxRunner pemx(two_cluster_config(p, b));
  auto& proc = pemx.start_on(a);
  REQUIRE(wait_committed(a, group, input, 4, 45s));
  {
    INFO(proc.log());
    CHECK(proc.log().find(R"("cluster":"eu","checked":1)") != std::string::npos);
  }
  // Exactly each region's events on its cluster: nothing on the wrong broker.
  CHECK(ids_of(consume_all(a, prices, 2, 20s)) == ids({1, 3}));
  CHECK(ids_of(consume_all(b, prices, 2, 20s)) == ids({2, 4}));

  // The second broker stops answering. Offsets 4 (US), 5 (EU), 6 (US): the main cluster
  // acknowledges 4 and 6, the EU output of 5 waits, so the commit stops at 5.
  {
    BrokerPause paused(broker_pid(b));
    produce(a, input, {price(5, "US"), price(6, "EU"), price(7, "US")});
    CHECK(ids_of(consume_all(a, prices, 4, 20s)) == ids({1, 3, 5, 7}));
    REQUIRE(wait_committed(a, group, input, 5, 20s));
    // Offset 6's record was acknowledged by the main cluster before this point (its message
    // is on it); for several commit intervals the commit must not pass offset 5.
    const auto until = std::chrono::steady_clock::now() + 2s;
    std::int64_t highest = 0;
    while (std::chrono::steady_clock::now() < until) {
      highest = std::max(highest, committed_total(a, group, input));
      std::this_thread::sleep_for(100ms);
    }
    CHECK(highest == 5);
    // The sink's watch of the second cluster names that cluster's brokers key.
    CHECK(proc.wait_for_log("check that the brokers of clusters.eu.brokers run", 20s));
    paused.resume();
  }
  // It answers again: the EU event arrives and everything commits.
  REQUIRE(wait_committed(a, group, input, 7, 45s));
  {
    // Its "answers again" line gives how long it was silent: the pause, not hours.
    const std::string again = R"("brokers":"clusters.eu.brokers","silent_ms":)";
    REQUIRE(proc.wait_for_log(again, 20s));
    const std::string log = proc.log();
    const auto at = log.find(again) + again.size();
    INFO(log.substr(at - again.size(), 80));
    CHECK(std::stoll(log.substr(at, log.find_first_of(",}", at) - at)) < 10LL * 60 * 1000);
  }
  CHECK(ids_of(consume_all(b, prices, 3, 20s)) == ids({2, 4, 6}));
  CHECK(ids_of(consume_all(a, prices, 4, 20s)) == ids({1, 3, 5, 7}));
  proc.signal(SIGTERM);
  CHECK(proc.wait(30s) == 0);
  // The sink's counters per cluster (the last stats line, written at exit).
  INFO(proc.log());
  CHECK(proc.log().find(R"(pemx_kafka_sink_delivered_total{stage=\"out\",cluster=\"eu\"} 3)") !=
        std::string::npos);
  CHECK(proc.log().find(R"(pemx_kafka_sink_delivered_total{stage=\"out\",cluster=\"kafka\"} 4)") !=
        std::string::npos);
}
