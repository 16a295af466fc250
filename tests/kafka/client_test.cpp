// make_client's watch: librdkafka's own lines come out as JSON lines through the stage's
// logger (never raw on stderr), and a cluster that does not answer becomes a readiness problem
// and one warning. The "cluster" is a loopback port nothing listens on, so librdkafka logs
// connection failures at once; no broker is needed.
#include "kafka/client.hpp"

#include <catch2/catch.hpp>

#include <librdkafka/rdkafka.h>
#include <rapidjson/document.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kafka/embedded.hpp"
#include "pemx/log.hpp"
#include "pemx/readiness.hpp"

using namespace pemx;
using namespace std::chrono_literals;

namespace {

// Collects what a LogSink is given, from any thread.
class Lines {
 public:
  std::shared_ptr<LogSink> sink(LogLevel level) {
    return make_line_sink(level, [this](const std::string& line) {
      std::lock_guard<std::mutex> lock(mutex_);
      lines_.push_back(line);
      cv_.notify_all();
    });
  }
  // Waits (bounded) until a line containing `needle` arrives.
  bool wait_for(const std::string& needle, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] {
      for (const auto& l : lines_) {
        if (l.find(needle) != std::string::npos) return true;
      }
      return false;
    });
  }
  std::vector<std::string> all() {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
};

// A producer of the embedded cluster that logs nowhere and probes nothing.
kafka::HandlePtr embedded_producer(const kafka::EmbeddedCluster& cluster) {
  kafka::KafkaConfig k;
  k.brokers = cluster.bootstrap();
  auto conf = kafka::make_conf(k, {});
  REQUIRE(conf.ok());
  auto client = kafka::make_client(kafka::ClientKind::kProducer, std::move(conf.value()),
                                   {Logger(), "test_stage", nullptr, false});
  REQUIRE(client.ok());
  return std::move(client.value());
}

kafka::HandlePtr unreachable_producer(Logger log, Readiness* readiness) {
  kafka::KafkaConfig k;
  k.brokers = "127.0.0.1:1";  // nothing listens there: connections are refused
  k.client_id = "client-test";
  auto conf = kafka::make_conf(k, {});
  REQUIRE(conf.ok());
  auto client = kafka::make_client(kafka::ClientKind::kProducer, std::move(conf.value()),
                                   {std::move(log), "test_stage", readiness});
  REQUIRE(client.ok());
  return std::move(client.value());
}

}  // namespace

TEST_CASE("librdkafka's lines go through the JSON logger with the client's name",
          "[unit][kafka]") {
  Lines lines;
  {
    auto producer = unreachable_producer(Logger(lines.sink(LogLevel::kDebug), "test_stage"),
                                         nullptr);
    // librdkafka logs the refused connection (facility FAIL) within its first attempt.
    REQUIRE(lines.wait_for(R"("msg":"librdkafka")", 10s));
  }
  auto all = lines.all();
  REQUIRE_FALSE(all.empty());
  bool saw_librdkafka = false;
  for (const auto& line : all) {
    INFO(line);
    rapidjson::Document d;
    d.Parse(line.c_str());
    REQUIRE_FALSE(d.HasParseError());
    CHECK(d["component"] == "test_stage");
    if (d["msg"] == "librdkafka") {
      saw_librdkafka = true;
      CHECK(std::string(d["client"].GetString()).find("client-test#producer") == 0);
      CHECK(d["facility"].IsString());
      CHECK(d["text"].IsString());
      CHECK(d["level"].IsString());
    }
  }
  CHECK(saw_librdkafka);
}

TEST_CASE("a cluster that does not answer is a readiness problem and one warning",
          "[unit][kafka]") {
  Lines lines;
  Readiness readiness;
  {
    auto producer = unreachable_producer(Logger(lines.sink(LogLevel::kWarn), "test_stage"),
                                         &readiness);
    // Not ready before the first answer.
    REQUIRE(readiness.problems());
    CHECK(readiness.problems()->find("test_stage: no answer from the cluster yet") == 0);
    auto bound = kafka::kNoAnswerAfter + kafka::kProbeInterval + kafka::kProbeTimeout + 2s;
    REQUIRE(lines.wait_for("the Kafka cluster does not answer", bound));
    REQUIRE(readiness.problems());
    CHECK(readiness.problems()->find("test_stage: no answer from the cluster yet (") == 0);
  }
  // The client gone, its entry is gone too.
  CHECK_FALSE(readiness.problems());
  int warnings = 0;
  for (const auto& line : lines.all()) {
    if (line.find("the Kafka cluster does not answer") != std::string::npos) ++warnings;
  }
  CHECK(warnings == 1);
}

namespace {
// The partitioner a producer conf from make_producer_conf ends up with.
std::string partitioner_of(const kafka::KafkaConfig& common, const kafka::Properties& own) {
  auto conf = kafka::make_producer_conf(common, own);
  REQUIRE(conf.ok());
  char value[64];
  size_t size = sizeof value;
  REQUIRE(rd_kafka_conf_get(conf.value().get(), "partitioner", value, &size) == RD_KAFKA_CONF_OK);
  return value;
}
}  // namespace

TEST_CASE("producers use murmur2_random unless [kafka] properties or the stage's own set one",
          "[unit][kafka]") {
  kafka::KafkaConfig k;
  k.brokers = "127.0.0.1:1";
  CHECK(partitioner_of(k, {}) == "murmur2_random");
  CHECK(partitioner_of(k, {{"acks", "all"}}) == "murmur2_random");
  kafka::KafkaConfig mine = k;
  mine.properties = {{"partitioner", "consistent"}};
  CHECK(partitioner_of(mine, {}) == "consistent");
  CHECK(partitioner_of(k, {{"partitioner", "fnv1a_random"}}) == "fnv1a_random");
  CHECK(partitioner_of(mine, {{"partitioner", "fnv1a_random"}}) == "fnv1a_random");
}

TEST_CASE("list_topics: every topic of the cluster, or an error when it does not answer",
          "[unit][kafka][targets]") {
  SECTION("the embedded cluster's topics") {
    auto cluster = kafka::EmbeddedCluster::start({1, 1, {"list-a", "list-b"}});
    REQUIRE(cluster.ok());
    auto client = embedded_producer(*cluster.value());
    kafka::ClientTopicDirectory directory(client.get());
    auto topics = directory.topics(10s);
    REQUIRE(topics.ok());
    CHECK(topics->count("list-a") == 1);
    CHECK(topics->count("list-b") == 1);
    CHECK(topics->count("list-c") == 0);
    // Asking created nothing.
    auto again = kafka::list_topics(client.get(), 10s);
    REQUIRE(again.ok());
    CHECK(again->count("list-c") == 0);
  }
  SECTION("no cluster: an error within the bound") {
    auto producer = unreachable_producer(Logger(), nullptr);
    auto topics = kafka::list_topics(producer.get(), 500ms);
    REQUIRE_FALSE(topics.ok());
    // Refused connections: librdkafka says so at once ("metadata"), or, as for a broker that
    // accepted the connection and is silent, "transport failure" once the bound has passed
    // ("unreachable": the target check asks again).
    const auto& code = topics.error().code;
    CHECK((code == "metadata" || code == "timeout" || code == "unreachable"));
    CHECK_THAT(topics.error().message, Catch::Matchers::Contains("metadata request") ||
                                           Catch::Matchers::Contains("no broker answered"));
  }
}

TEST_CASE("query_watermarks: the partition's offsets, and an error by its bound when the leader "
          "does not answer",
          "[unit][kafka]") {
  auto cluster = kafka::EmbeddedCluster::start({1, 1, {"marks"}});
  REQUIRE(cluster.ok());
  auto client = embedded_producer(*cluster.value());
  rd_kafka_t* rk = client.get();
  for (int i = 0; i < 3; ++i) {
    REQUIRE(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("marks"), RD_KAFKA_V_PARTITION(0),
                              RD_KAFKA_V_VALUE(const_cast<char*>("x"), 1),
                              RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  REQUIRE(rd_kafka_flush(rk, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR);
  std::int64_t low = -5, high = -5;
  REQUIRE(kafka::query_watermarks(rk, "marks", 0, low, high, 10s) == 0);
  CHECK(low == 0);
  CHECK(high == 3);

  // The leader is known and connected but answers only after 20 s: the query gives up at its
  // bound (rd_kafka_query_watermark_offsets waited the 20 s, whatever its timeout said).
  REQUIRE(cluster.value()->set_broker_rtt(1, 20s).ok());
  const auto started = std::chrono::steady_clock::now();
  const int err = kafka::query_watermarks(rk, "marks", 0, low, high, 300ms);
  const auto took = std::chrono::steady_clock::now() - started;
  CHECK(err == RD_KAFKA_RESP_ERR__TIMED_OUT);
  CHECK(took < 5s);
  REQUIRE(cluster.value()->set_broker_rtt(1, 0ms).ok());
}
