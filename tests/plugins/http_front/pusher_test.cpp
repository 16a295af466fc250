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
