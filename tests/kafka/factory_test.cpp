// The one way to make a Kafka client (kafka/factory.hpp): the order of properties, the
// safety checks, the murmur2_random default, the callbacks with the caller's opaque, and the
// error policy. No broker: the "cluster" is a loopback port nothing listens on.
#include "kafka/factory.hpp"

#include <catch2/catch.hpp>

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

using namespace pemx;
using namespace std::chrono_literals;

namespace {

kafka::KafkaConfig unreachable() {
  kafka::KafkaConfig k;
  k.brokers = "127.0.0.1:1";
  k.client_id = "factory-test";
  return k;
}

// A property of a client as librdkafka ended up with it.
std::string property(rd_kafka_t* rk, const char* name) {
  char value[256];
  size_t size = sizeof value;
  REQUIRE(rd_kafka_conf_get(rd_kafka_conf(rk), name, value, &size) == RD_KAFKA_CONF_OK);
  return value;
}

struct Lines {
  std::mutex mutex;
  std::vector<std::string> lines;
  Logger logger() {
    return Logger(make_line_sink(LogLevel::kDebug,
                                 [this](const std::string& l) {
                                   std::lock_guard<std::mutex> lock(mutex);
                                   lines.push_back(l);
                                 }),
                  "test_stage");
  }
  bool has(const std::string& needle) {
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& l : lines) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }
};

}  // namespace

TEST_CASE("a producer's properties: partitioner, defaults, [kafka], safety, its own",
          "[unit][kafka][factory]") {
  kafka::ProducerSettings s;
  s.kafka = unreachable();
  s.kafka.properties = {{"linger.ms", "7"}, {"acks", "1"}};
  s.defaults = {{"linger.ms", "5"}};
  s.properties = {{"compression.type", "lz4"}};
  auto p = kafka::producer_properties(s);
  REQUIRE(p.ok());
  kafka::Properties expected = {{"bootstrap.servers", "127.0.0.1:1"},
                                {"client.id", "factory-test"},
                                {"partitioner", "murmur2_random"},
                                {"linger.ms", "5"},
                                {"linger.ms", "7"},
                                {"acks", "1"},
                                {"enable.idempotence", "true"},
                                {"acks", "all"},
                                {"compression.type", "lz4"}};
  CHECK(p.value() == expected);
}

TEST_CASE("a consumer's properties: [kafka], then its own", "[unit][kafka][factory]") {
  kafka::ConsumerSettings s;
  s.kafka = unreachable();
  s.kafka.properties = {{"fetch.wait.max.ms", "100"}};
  s.properties = {{"group.id", "g"}, {"fetch.wait.max.ms", "50"}};
  kafka::Properties expected = {{"bootstrap.servers", "127.0.0.1:1"},
                                {"client.id", "factory-test"},
                                {"fetch.wait.max.ms", "100"},
                                {"group.id", "g"},
                                {"fetch.wait.max.ms", "50"}};
  CHECK(kafka::consumer_properties(s) == expected);
}

TEST_CASE("a producer's own properties cannot weaken delivery or undercut [events]",
          "[unit][kafka][factory]") {
  kafka::ProducerSettings s;
  s.kafka = unreachable();
  s.min_message_bytes = 1'000'000;
  s.properties = {{"acks", "1"}, {"enable.idempotence", "false"}, {"message.max.bytes", "1000"}};
  auto p = kafka::producer_properties(s);
  REQUIRE_FALSE(p.ok());
  CHECK(p.error().code == "unsafe_property");
  CHECK_THAT(p.error().message, Catch::Contains("acks = 1 would break at-least-once"));
  CHECK_THAT(p.error().message,
             Catch::Contains("enable.idempotence = false would break at-least-once"));
  CHECK_THAT(p.error().message, Catch::Contains("message.max.bytes = 1000 is smaller"));
  auto client = kafka::make_producer(s);
  REQUIRE_FALSE(client.ok());
  CHECK(client.error().code == "unsafe_property");

  // Without a minimum, message.max.bytes is not checked; large enough, it passes.
  s.properties = {{"message.max.bytes", "1000"}};
  s.min_message_bytes = 0;
  CHECK(kafka::producer_properties(s).ok());
  s.min_message_bytes = 1000;
  CHECK(kafka::producer_properties(s).ok());
}

TEST_CASE("a producer is idempotent with acks=all and murmur2_random whatever [kafka] says",
          "[unit][kafka][factory]") {
  kafka::ProducerSettings s;
  s.kafka = unreachable();
  s.kafka.properties = {{"acks", "1"}, {"enable.idempotence", "false"}};
  s.log = {Logger(), "test_stage", nullptr, false, {}};
  auto client = kafka::make_producer(s);
  REQUIRE(client.ok());
  rd_kafka_t* rk = client.value().get();
  CHECK(property(rk, "enable.idempotence") == "true");
  CHECK(property(rk, "acks") == "-1");
  CHECK(property(rk, "partitioner") == "murmur2_random");
  CHECK(property(rk, "client.id") == "factory-test");

  s.properties = {{"partitioner", "consistent"}};
  auto other = kafka::make_producer(s);
  REQUIRE(other.ok());
  CHECK(property(other.value().get(), "partitioner") == "consistent");
}

TEST_CASE("a property librdkafka refuses is an error naming it", "[unit][kafka][factory]") {
  kafka::ProducerSettings s;
  s.kafka = unreachable();
  s.properties = {{"linger.ms", "a while"}};
  auto client = kafka::make_producer(s);
  REQUIRE_FALSE(client.ok());
  CHECK(client.error().code == "bad_property");
  CHECK_THAT(client.error().message, Catch::Contains("linger.ms"));
}

namespace {
struct Reports {
  std::atomic<int> count{0};
  std::atomic<bool> failed{false};
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<Reports*>(opaque);
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) self->failed = true;
    ++self->count;
  }
};
}  // namespace

TEST_CASE("delivery reports reach the caller's callback with the caller's opaque",
          "[unit][kafka][factory]") {
  Reports reports;
  kafka::ProducerSettings s;
  s.kafka = unreachable();
  s.properties = {{"message.timeout.ms", "200"}};
  s.opaque = &reports;
  s.on_delivery = &Reports::on_delivery;
  s.log = {Logger(), "test_stage", nullptr, false, {}};
  auto client = kafka::make_producer(s);
  REQUIRE(client.ok());
  rd_kafka_t* rk = client.value().get();
  REQUIRE(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("t"), RD_KAFKA_V_VALUE((void*)"v", 1),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR_NO_ERROR);
  auto until = std::chrono::steady_clock::now() + 20s;
  while (reports.count.load() == 0 && std::chrono::steady_clock::now() < until) {
    rd_kafka_poll(rk, 50);
  }
  CHECK(reports.count.load() == 1);
  CHECK(reports.failed.load());  // nothing listens: message timed out
}

TEST_CASE("the error policy: a fatal error is logged and reported, others are warnings",
          "[unit][kafka][factory]") {
  Lines lines;
  std::mutex mutex;
  std::vector<std::string> fatal;
  kafka::ProducerSettings s;
  s.kafka = unreachable();
  s.errors = kafka::ErrorPolicy{"dead-letter producer", [&](const std::string& reason) {
                                  std::lock_guard<std::mutex> lock(mutex);
                                  fatal.push_back(reason);
                                },
                                {}};
  s.log = {lines.logger(), "test_stage", nullptr, false, {}};
  auto client = kafka::make_producer(s);
  REQUIRE(client.ok());
  rd_kafka_t* rk = client.value().get();
  // Nothing listens: librdkafka reports the refused connections as client errors.
  auto until = std::chrono::steady_clock::now() + 20s;
  while (!lines.has(R"("msg":"dead-letter producer error")") &&
         std::chrono::steady_clock::now() < until) {
    rd_kafka_poll(rk, 50);
  }
  CHECK(lines.has(R"("msg":"dead-letter producer error")"));
  {
    std::lock_guard<std::mutex> lock(mutex);
    CHECK(fatal.empty());
  }
  // librdkafka's own way to raise a fatal error on an idempotent producer.
  REQUIRE(rd_kafka_test_fatal_error(rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                    "test") == RD_KAFKA_RESP_ERR_NO_ERROR);
  until = std::chrono::steady_clock::now() + 20s;
  for (;;) {
    rd_kafka_poll(rk, 50);
    std::lock_guard<std::mutex> lock(mutex);
    if (!fatal.empty() || std::chrono::steady_clock::now() >= until) break;
  }
  std::lock_guard<std::mutex> lock(mutex);
  REQUIRE(fatal.size() == 1);
  CHECK_THAT(fatal[0], Catch::StartsWith("fatal dead-letter producer error: "));
  CHECK(lines.has(R"("msg":"fatal dead-letter producer error")"));
}

TEST_CASE("the error policy asks recover first: an owner that takes over a fatal error gets "
          "it, and nothing is logged or reported",
          "[unit][kafka][factory]") {
  Lines lines;
  std::mutex mutex;
  std::vector<std::string> fatal;
  std::vector<std::pair<int, std::string>> recovered;
  kafka::ProducerSettings s;
  s.kafka = unreachable();
  s.errors = kafka::ErrorPolicy{"producer", [&](const std::string& reason) {
                                  std::lock_guard<std::mutex> lock(mutex);
                                  fatal.push_back(reason);
                                },
                                {}};
  s.errors->recover = [&](int err, const std::string& reason) {
    std::lock_guard<std::mutex> lock(mutex);
    recovered.emplace_back(err, reason);
    return true;
  };
  s.log = {lines.logger(), "test_stage", nullptr, false, {}};
  auto client = kafka::make_producer(s);
  REQUIRE(client.ok());
  rd_kafka_t* rk = client.value().get();
  REQUIRE(rd_kafka_test_fatal_error(rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                    "desync") == RD_KAFKA_RESP_ERR_NO_ERROR);
  auto until = std::chrono::steady_clock::now() + 20s;
  for (;;) {
    rd_kafka_poll(rk, 50);
    std::lock_guard<std::mutex> lock(mutex);
    if (!recovered.empty() || std::chrono::steady_clock::now() >= until) break;
  }
  std::lock_guard<std::mutex> lock(mutex);
  REQUIRE(recovered.size() == 1);
  CHECK(recovered[0].first == RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
  CHECK_THAT(recovered[0].second, Catch::Contains("desync"));
  CHECK(fatal.empty());
  CHECK_FALSE(lines.has(R"("msg":"fatal producer error")"));
}

TEST_CASE("the error policy's hint names what to do about a fatal error's cause",
          "[unit][kafka][factory]") {
  Lines lines;
  std::mutex mutex;
  std::vector<std::string> fatal;
  std::vector<int> causes;
  kafka::ProducerSettings s;
  s.kafka = unreachable();
  s.errors = kafka::ErrorPolicy{"producer",
                                [&](const std::string& reason) {
                                  std::lock_guard<std::mutex> lock(mutex);
                                  fatal.push_back(reason);
                                },
                                [&](int cause) -> std::string {
                                  std::lock_guard<std::mutex> lock(mutex);
                                  causes.push_back(cause);
                                  return "give each instance its own id";
                                }};
  s.log = {lines.logger(), "test_stage", nullptr, false, {}};
  auto client = kafka::make_producer(s);
  REQUIRE(client.ok());
  rd_kafka_t* rk = client.value().get();
  REQUIRE(rd_kafka_test_fatal_error(rk, RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID, "test") ==
          RD_KAFKA_RESP_ERR_NO_ERROR);
  auto until = std::chrono::steady_clock::now() + 20s;
  for (;;) {
    rd_kafka_poll(rk, 50);
    std::lock_guard<std::mutex> lock(mutex);
    if (!fatal.empty() || std::chrono::steady_clock::now() >= until) break;
  }
  std::lock_guard<std::mutex> lock(mutex);
  REQUIRE(fatal.size() == 1);
  CHECK(causes == std::vector<int>{RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID});
  CHECK_THAT(fatal[0], Catch::StartsWith("fatal producer error: ") &&
                           Catch::EndsWith("; give each instance its own id"));
  CHECK(lines.has(R"("hint":"give each instance its own id")"));
}

TEST_CASE("a consumer is made with its callbacks and its queue redirected",
          "[unit][kafka][factory]") {
  kafka::ConsumerSettings s;
  s.kafka = unreachable();
  s.properties = {{"group.id", "factory-test"}};
  s.log = {Logger(), "test_stage", nullptr, false, {}};
  auto client = kafka::make_consumer(s);
  REQUIRE(client.ok());
  CHECK(property(client.value().get(), "group.id") == "factory-test");
  // A consumer needs a group.id: librdkafka's refusal comes back as an error.
  s.properties = {};
  CHECK_FALSE(kafka::make_consumer(s).ok());
}
