// The push's producer answers within push_timeout + Pusher::kDeadlineCheck whatever the broker
// does; here nothing listens on the broker's port (librdkafka's own message timeout would
// answer up to a second late: it scans for expired messages once a second).
#include "http_front/pusher.hpp"

#include <catch2/catch.hpp>

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <future>
#include <optional>
#include <string>

#include "kafka/client.hpp"
#include "kafka/embedded.hpp"
#include "kafka/factory.hpp"
#include "pemx/metrics.hpp"

using namespace pemx;
using namespace pemx::http_front;
using namespace std::chrono_literals;

TEST_CASE("a push to a broker that does not answer fails within push_timeout plus the margin",
          "[unit][http_front]") {
  Metrics metrics;
  Readiness readiness;
  kafka::KafkaConfig k;
  const auto timeout = 300ms;
  Pusher pusher(k, "127.0.0.1:1", "product-event", timeout, Logger(), metrics, "http",
                &readiness);
  for (int round = 0; round < 3; ++round) {
    std::promise<std::optional<std::string>> answered;
    auto started = std::chrono::steady_clock::now();
    pusher.push({PushEvent{"P1", R"({"eventId":"x"})"}},
                [&](std::optional<std::string> error, std::vector<Delivered> delivered) {
                  CHECK(delivered.empty());
                  answered.set_value(error);
                });
    auto future = answered.get_future();
    REQUIRE(future.wait_for(10s) == std::future_status::ready);
    auto took = std::chrono::steady_clock::now() - started;
    auto error = future.get();
    REQUIRE(error);
    INFO("round " << round << ": " << *error << " after "
                  << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
    CHECK(took >= timeout);
    // + scheduling on a busy machine (and under ASan in CI). librdkafka's own expiry, which
    // the push used to wait for, comes a second or more after the timeout.
    CHECK(took < timeout + Pusher::kDeadlineCheck + 500ms);
  }
  pusher.stop();
  CHECK(metrics.render_prometheus().find("pemx_http_front_push_timeouts_total 3") !=
        std::string::npos);
}

TEST_CASE("a push that fails in part reports, once settled, which events Kafka holds",
          "[unit][http_front][push]") {
  // Two partitions; the second has no leader, so what goes there times out.
  kafka::EmbeddedConfig config;
  config.partitions = 2;
  config.topics = {"push-settled"};
  auto cluster = kafka::EmbeddedCluster::start(config);
  REQUIRE(cluster);
  REQUIRE(cluster.value()->set_partition_leader("push-settled", 1, -1));
  Metrics metrics;
  Readiness readiness;
  kafka::KafkaConfig k;
  Pusher pusher(k, cluster.value()->bootstrap(), "push-settled", 1500ms, Logger(), metrics,
                "http", &readiness);
  std::vector<PushEvent> events;
  for (int i = 0; i < 16; ++i) {  // keys spread over both partitions (murmur2)
    events.push_back({"P" + std::to_string(i), R"({"eventId":")" + std::to_string(i) + "\"}"});
  }
  std::promise<std::optional<std::string>> answered;
  std::promise<std::vector<std::optional<Delivered>>> settled;
  pusher.push(
      std::move(events),
      [&](std::optional<std::string> error, std::vector<Delivered>) { answered.set_value(error); },
      [&](std::vector<std::optional<Delivered>> outcomes) { settled.set_value(outcomes); });
  auto answer = answered.get_future();
  REQUIRE(answer.wait_for(20s) == std::future_status::ready);
  CHECK(answer.get());  // an error: not every event was acknowledged
  auto outcomes_future = settled.get_future();
  REQUIRE(outcomes_future.wait_for(20s) == std::future_status::ready);
  auto outcomes = outcomes_future.get();
  REQUIRE(outcomes.size() == 16);
  int held = 0;
  for (const auto& o : outcomes) {
    if (!o) continue;
    ++held;
    CHECK(o->partition == 0);
    CHECK(o->offset >= 0);
  }
  CHECK(held > 0);
  CHECK(held < 16);
  pusher.stop();
}

TEST_CASE("the push's producer lingers 5 ms, whatever [kafka.properties] say",
          "[unit][http_front][push]") {
  kafka::ProducerSettings s;
  s.kafka.brokers = "127.0.0.1:1";
  s.kafka.properties = {{"linger.ms", "0"}, {"message.timeout.ms", "1000"}};
  s.properties = push_producer_properties(7000ms);
  auto all = kafka::producer_properties(s);
  REQUIRE(all.ok());
  auto conf = kafka::conf_from(all.value());
  REQUIRE(conf.ok());
  auto effective = [&](const char* name) {
    char value[64];
    std::size_t size = sizeof value;
    REQUIRE(rd_kafka_conf_get(conf.value().get(), name, value, &size) == RD_KAFKA_CONF_OK);
    return std::string(value);
  };
  // Below 5 ms librdkafka 2.0.2's broker thread spins while a partition's request is in
  // flight (src/kafka/sizing.hpp, kPushLingerMs).
  CHECK(effective("linger.ms") == "5");
  CHECK(effective("message.timeout.ms") == "7000");
  CHECK(effective("enable.idempotence") == "true");
  CHECK(effective("acks") == "-1");
}
