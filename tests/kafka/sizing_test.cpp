// The memory bounds of src/kafka/sizing.hpp and pemx.toml's queue capacities (docs/memory.md),
// pinned: librdkafka's defaults would let one consumer hold 64 MiB of prefetch, and the old
// queue capacities and max_in_flight held 160 MiB at the full rate (docs/benchmarks.md,
// "Memory"). A change here must be a measured decision, so it has to change this test too.
#include "kafka/sizing.hpp"

#include <catch2/catch.hpp>

#include <librdkafka/rdkafka.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "builtin_stages.hpp"
#include "core/config.hpp"
#include "kafka/factory.hpp"
#include "pemx/record.hpp"

namespace pemx {
namespace {

// What librdkafka will use for `name` in a conf made from `properties`.
std::string effective(const kafka::Properties& properties, const char* name) {
  auto conf = kafka::conf_from(properties);
  REQUIRE(conf.ok());
  char value[256];
  std::size_t size = sizeof value;
  REQUIRE(rd_kafka_conf_get(conf.value().get(), name, value, &size) == RD_KAFKA_CONF_OK);
  return value;
}

kafka::ConsumerSettings ingest_consumer() {
  kafka::ConsumerSettings s;
  s.kafka.brokers = "127.0.0.1:1";
  s.properties = {{"group.id", "sizing-test"}};
  for (auto& p : kafka::ingest_consumer_sizing()) s.properties.push_back(p);
  return s;
}

TEST_CASE("kafka_ingest's consumer bounds its prefetch and fetch responses",
          "[unit][kafka][memory]") {
  auto s = ingest_consumer();
  auto all = kafka::consumer_properties(s);
  CHECK(effective(all, "queued.max.messages.kbytes") == "4096");
  CHECK(effective(all, "max.partition.fetch.bytes") == "262144");
  CHECK(effective(all, "fetch.max.bytes") == "8388608");

  SECTION("[kafka.properties] do not undo them; a stage's own properties do") {
    s.kafka.properties = {{"queued.max.messages.kbytes", "65536"}};
    CHECK(effective(kafka::consumer_properties(s), "queued.max.messages.kbytes") == "4096");
    s.properties.emplace_back("queued.max.messages.kbytes", "32768");
    CHECK(effective(kafka::consumer_properties(s), "queued.max.messages.kbytes") == "32768");
  }
}

TEST_CASE("kafka_ingest's fetch waker refills the small prefetch every 50 ms",
          "[unit][kafka][memory]") {
  // The prefetch bound above holds about 50 ms of input at the full rate only because the
  // waker wakes librdkafka's broker thread that often (kafka/sizing.hpp).
  CHECK(kafka::kIngestFetchWakeupMs == 50);
}

TEST_CASE("kafka_sink's producer does not linger; [kafka.properties] may say otherwise",
          "[unit][kafka][latency]") {
  kafka::ProducerSettings s;
  s.kafka.brokers = "127.0.0.1:1";
  s.defaults = kafka::sink_producer_defaults();
  auto all = kafka::producer_properties(s);
  REQUIRE(all.ok());
  CHECK(effective(all.value(), "linger.ms") == "0");
  s.kafka.properties = {{"linger.ms", "5"}};
  all = kafka::producer_properties(s);
  REQUIRE(all.ok());
  CHECK(effective(all.value(), "linger.ms") == "5");
}

TEST_CASE("records in flight and kept for reuse are bounded", "[unit][kafka][memory]") {
  CHECK(kafka::kSinkMaxInFlight == 4096);
  CHECK(kafka::kIngestSpareRecords == 1024);
  CHECK(kafka::kIngestSpareRecordBytes == 16 * 1024);

  // A reference-sized event is kept for reuse; one that grew a record's buffer is not.
  Record typical;
  typical.value.assign(400, 'x');
  typical.key.assign(36, 'k');
  typical.targets = {"product-price-update-v1-US", "product-event-storage-pemx"};
  CHECK(typical.string_bytes() <= kafka::kIngestSpareRecordBytes);
  Record large;
  large.value.assign(900'000, 'x');
  large.value.assign(400, 'x');  // the capacity stays
  CHECK(large.string_bytes() > kafka::kIngestSpareRecordBytes);
}

TEST_CASE("pemx.toml's queue capacities are the documented ones", "[unit][config][memory]") {
  Registry registry = builtin_stages();
  const std::string file = std::string(PEMX_SOURCE_DIR) + "/pemx.toml";
  auto r = load_config(file, {}, registry);
  REQUIRE(r.errors.empty());
  const auto& q = r.config->queues;
  CHECK(q == std::map<std::string, std::size_t>{
                 {"events", 1024}, {"routed", 1024}, {"delivered", 8192},
                 {"to_store", 2048}, {"stored", 8192}});
  // The sink never waits on `delivered`: it can hold every record the dist role has alive.
  CHECK(q.at("delivered") >=
        q.at("events") + q.at("routed") + static_cast<std::size_t>(kafka::kSinkMaxInFlight));

  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  CHECK(text.str().find("\nmax_in_flight = 4096 ") != std::string::npos);
}

}  // namespace
}  // namespace pemx
