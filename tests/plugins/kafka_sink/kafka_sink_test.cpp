// The kafka_sink stage against the embedded (in-process) Kafka cluster: a fatal producer
// error (what librdkafka 2.0.2's idempotent producer raises on a sequence desynchronization
// after a broker failure; raised here with rd_kafka_test_fatal_error through the sink's test
// hook) with at-least-once delivery: the sink replaces the producer and delivers every output
// at least once, in order per partition, and hands back every record; past its restart limit,
// and always with exactly_once, the error is fatal. Config cases are in config_test.cpp.
#include "kafka_sink/kafka_sink.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <librdkafka/rdkafka.h>
#include <toml++/toml.h>

#include "core/config.hpp"
#include "core/config_section.hpp"
#include "kafka/embedded.hpp"
#include "support/fatal_reports.hpp"

namespace pemx::kafka_sink {
namespace {

using Catch::Matchers::Contains;
using namespace std::chrono_literals;

constexpr const char* kMainTopic = "sink-test-a";    // on [kafka]
constexpr const char* kOtherTopic = "sink-test-b";   // on [clusters.eu]
constexpr int kPartitions = 3;
constexpr int kKeys = 7;

// A kafka_sink stage built by its factory from `section` ([stages.sink]), producing to an
// embedded cluster and, with `two_clusters`, to a second one declared as [clusters.eu].
class SinkHarness {
 public:
  SinkHarness(const std::string& section, bool two_clusters) {
    auto main = kafka::EmbeddedCluster::start({1, kPartitions, {kMainTopic}});
    REQUIRE(main.ok());
    main_ = std::move(main.value());
    CommonConfig common;
    common.kafka.brokers = main_->bootstrap();
    common.kafka.client_id = "sink-test";
    if (two_clusters) {
      auto other = kafka::EmbeddedCluster::start({1, kPartitions, {kOtherTopic}});
      REQUIRE(other.ok());
      other_ = std::move(other.value());
      common.clusters.push_back({"eu", other_->bootstrap(), "sink-test", {}});
    }
    toml::table root = toml::parse(section, std::string_view("pemx.toml"));
    std::vector<ConfigError> errors;
    ConfigSection config(&root, "stages.sink", "pemx.toml", &errors);
    spec_ = factory().parse(config, common);
    config.reject_unknown();
    for (const auto& e : errors) FAIL(e.str());

    log_ = Logger(make_line_sink(LogLevel::kInfo, [this](const std::string& line) {
                    std::lock_guard<std::mutex> lock(mutex_);
                    lines_.push_back(line);
                  }),
                  "sink");
    ctx_.name = "sink";
    ctx_.log = log_;
    ctx_.metrics = &metrics_;
    ctx_.queues = {{"routed", &input_}, {"acks", &acks_}};
    ctx_.kafka_brokers = main_->bootstrap();
    ctx_.readiness = &readiness_;
    ctx_.fatal = fatal_.reporter();
    stage_ = spec_->create(ctx_);
  }
  ~SinkHarness() {
    if (stage_) stage_->stop();
  }

  void push(RecordPtr rec) { REQUIRE(input_.push(rec, Clock::now() + 10s) == QueueStatus::kOk); }
  RecordPtr pop_ack(std::chrono::milliseconds wait = 30s) {
    RecordPtr rec;
    acks_.pop(rec, Clock::now() + wait);
    return rec;
  }
  std::vector<std::string> fatal() const { return fatal_.reasons(); }
  std::vector<std::string> lines_with(const std::string& text) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> out;
    for (const auto& l : lines_) {
      if (l.find(text) != std::string::npos) out.push_back(l);
    }
    return out;
  }
  std::uint64_t restarts(const std::string& cluster) const {
    return metrics_.counter_value("pemx_kafka_sink_producer_restarts_total",
                                  {{"stage", "sink"}, {"cluster", cluster}});
  }
  // Waits (bounded) until `done` holds; false if it never did.
  template <class Done>
  static bool wait_for(Done done, std::chrono::milliseconds bound = 30s) {
    const auto until = Clock::now() + bound;
    while (!done()) {
      if (Clock::now() >= until) return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }
  bool raise_fatal(std::size_t cluster) {
    return raise_fatal_error_for_test(*stage_, cluster,
                                      RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                      "sequence desynchronization (test)");
  }

  std::unique_ptr<kafka::EmbeddedCluster> main_;
  std::unique_ptr<kafka::EmbeddedCluster> other_;
  Metrics metrics_;
  Readiness readiness_;
  RecordQueue input_{"routed", 4096};
  RecordQueue acks_{"acks", 4096};
  Logger log_;
  StageContext ctx_;
  std::unique_ptr<StageSpec> spec_;
  std::unique_ptr<Stage> stage_;
  pemx::test::FatalReports fatal_;
  std::mutex mutex_;  // lines_
  std::vector<std::string> lines_;
};

// Record n: key P<n % kKeys>, value "<key>:<n>", to kMainTopic (and kOtherTopic on cluster 1).
RecordPtr record(int n, bool two_clusters) {
  auto rec = std::make_unique<Record>();
  rec->topic = "product-event";
  rec->partition = 0;
  rec->offset = n;
  rec->out_key = "P" + std::to_string(n % kKeys);
  rec->value = rec->out_key + ":" + std::to_string(n);
  rec->event_id = std::to_string(n);
  rec->targets = {kMainTopic};
  if (two_clusters) {
    rec->targets.push_back(kOtherTopic);
    rec->target_clusters = {0, 1};
  }
  return rec;
}

// Every message of `topic` (all partitions, up to their high watermarks), per partition in
// the partition's order: plain librdkafka, so that a bug of the sink's cannot hide itself.
std::map<int, std::vector<std::string>> read_topic(const std::string& brokers,
                                                   const std::string& topic) {
  char err[256];
  kafka::ConfPtr conf(rd_kafka_conf_new());
  REQUIRE(rd_kafka_conf_set(conf.get(), "bootstrap.servers", brokers.c_str(), err, sizeof err) ==
          RD_KAFKA_CONF_OK);
  REQUIRE(rd_kafka_conf_set(conf.get(), "group.id", "sink-test-reader", err, sizeof err) ==
          RD_KAFKA_CONF_OK);
  auto client = kafka::make_client(kafka::ClientKind::kConsumer, std::move(conf),
                                   {Logger(), "sink-test-reader", nullptr, false, nullptr});
  REQUIRE(client.ok());
  rd_kafka_t* rk = client.value().get();
  std::map<int, std::int64_t> high;
  kafka::PartitionListPtr parts(rd_kafka_topic_partition_list_new(kPartitions));
  for (int p = 0; p < kPartitions; ++p) {
    std::int64_t low = 0;
    std::int64_t hi = 0;
    REQUIRE(rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &low, &hi, 10000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR);
    high[p] = hi;
    rd_kafka_topic_partition_list_add(parts.get(), topic.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  }
  REQUIRE(rd_kafka_assign(rk, parts.get()) == RD_KAFKA_RESP_ERR_NO_ERROR);
  std::map<int, std::vector<std::string>> out;
  auto complete = [&] {
    for (const auto& [p, hi] : high) {
      if (static_cast<std::int64_t>(out[p].size()) < hi) return false;
    }
    return true;
  };
  const auto until = Clock::now() + 30s;
  while (!complete() && Clock::now() < until) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) continue;
    kafka::MessagePtr owner(m);
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    out[m->partition].emplace_back(static_cast<const char*>(m->payload), m->len);
  }
  REQUIRE(complete());
  rd_kafka_consumer_close(rk);
  return out;
}

// At least once, in order: each key's values, first occurrences only, are its records in the
// order they were pushed (a duplicate may follow, never a loss or a swap), and every record is
// there. Returns the number of duplicates.
std::size_t check_at_least_once_in_order(const std::map<int, std::vector<std::string>>& topic,
                                         int records) {
  std::map<std::string, std::vector<int>> first;  // key -> record numbers, first occurrences
  std::set<int> seen;
  std::size_t duplicates = 0;
  std::map<std::string, int> partition_of;
  for (const auto& [partition, values] : topic) {
    for (const auto& v : values) {
      const auto colon = v.find(':');
      REQUIRE(colon != std::string::npos);
      const std::string key = v.substr(0, colon);
      const int n = std::stoi(v.substr(colon + 1));
      auto [it, fresh] = partition_of.emplace(key, partition);
      CHECK(it->second == partition);  // a key stays on its partition
      if (!seen.insert(n).second) {
        ++duplicates;
        continue;
      }
      first[key].push_back(n);
    }
  }
  CHECK(static_cast<int>(seen.size()) == records);
  for (const auto& [key, ns] : first) {
    CAPTURE(key);
    for (std::size_t i = 1; i < ns.size(); ++i) CHECK(ns[i - 1] + kKeys == ns[i]);
  }
  return duplicates;
}

constexpr const char* kAtLeastOnce = "retry_initial = \"10ms\"\nretry_max = \"100ms\"\n";

TEST_CASE("a fatal producer error mid-stream: the sink replaces the producer of that cluster, "
          "every output is delivered in order and every record handed back",
          "[unit][kafka_sink]") {
  SinkHarness h(kAtLeastOnce, true);
  h.stage_->start();
  constexpr int kRecords = 600;
  // Answers held back: outputs are still unacknowledged when the fatal errors are raised.
  REQUIRE(h.main_->set_broker_rtt(1, 300ms).ok());
  REQUIRE(h.other_->set_broker_rtt(1, 300ms).ok());
  auto in_flight = [&] {
    for (const auto& s : h.metrics_.read("pemx_kafka_sink_in_flight")) return s.value;
    return 0.0;
  };
  for (int n = 0; n < kRecords / 3; ++n) h.push(record(n, true));
  REQUIRE(SinkHarness::wait_for([&] { return in_flight() > 0; }));
  REQUIRE(h.raise_fatal(0));
  for (int n = kRecords / 3; n < 2 * kRecords / 3; ++n) h.push(record(n, true));
  REQUIRE(SinkHarness::wait_for([&] { return h.restarts("kafka") == 1; }));
  REQUIRE(h.raise_fatal(1));  // the [clusters.eu] producer, another mid-stream
  for (int n = 2 * kRecords / 3; n < kRecords; ++n) h.push(record(n, true));

  std::set<std::int64_t> acked;
  for (int i = 0; i < kRecords; ++i) {
    RecordPtr rec = h.pop_ack();
    REQUIRE(rec);
    CHECK(acked.insert(rec->offset).second);  // each handed back once
  }
  CHECK(acked.size() == kRecords);
  CHECK(h.fatal().empty());
  CHECK(h.restarts("kafka") == 1);
  CHECK(h.restarts("eu") == 1);
  auto warnings = h.lines_with("producer replaced after a fatal error");
  REQUIRE(warnings.size() == 2);
  CHECK_THAT(warnings[0], Contains("OUT_OF_ORDER_SEQUENCE_NUMBER"));
  // Raised while outputs were unacknowledged (their answers held back): some were resent.
  INFO(warnings[0]);
  const auto outputs = warnings[0].find("\"outputs\":");
  REQUIRE(outputs != std::string::npos);
  CHECK(std::stoi(warnings[0].substr(outputs + 10)) > 0);
  CHECK_THAT(warnings[0], Contains("\"records\":"));
  CHECK(h.lines_with("fatal producer").empty());  // the error policy's line: not this time

  Deadline deadline(Clock::now() + 30s);
  h.input_.close();
  h.stage_->stop_accepting();
  CHECK(h.stage_->drain(deadline));
  h.stage_->stop();
  CHECK(h.metrics_.counter_total("pemx_kafka_sink_records_acked_total") == kRecords);

  const auto duplicates_a =
      check_at_least_once_in_order(read_topic(h.main_->bootstrap(), kMainTopic), kRecords);
  const auto duplicates_b =
      check_at_least_once_in_order(read_topic(h.other_->bootstrap(), kOtherTopic), kRecords);
  INFO("duplicates: " << duplicates_a << " and " << duplicates_b << "; " << warnings[0]
                      << warnings[1]);
  CHECK(h.fatal().empty());
}

TEST_CASE("fatal producer errors past the restart limit stop the stage as before",
          "[unit][kafka_sink]") {
  SinkHarness h(kAtLeastOnce, false);
  h.stage_->start();
  int n = 0;
  // Three restarts are allowed within ten minutes, each followed by records that get through.
  for (std::uint64_t restarts = 1; restarts <= 3; ++restarts) {
    REQUIRE(h.raise_fatal(0));
    REQUIRE(SinkHarness::wait_for([&] { return h.restarts("kafka") == restarts; }));
    for (int i = 0; i < 10; ++i) h.push(record(n++, false));
    for (int i = 0; i < 10; ++i) REQUIRE(h.pop_ack());
    CHECK(h.fatal().empty());
  }
  // The fourth is fatal (exit 1), and says why.
  REQUIRE(h.raise_fatal(0));
  REQUIRE(SinkHarness::wait_for([&] { return !h.fatal().empty(); }));
  CHECK_THAT(h.fatal().front(), Contains("fatal producer error"));
  CHECK_THAT(h.fatal().front(), Contains("sequence desynchronization (test)"));
  CHECK_THAT(h.fatal().front(), Contains("replaced this producer 3 times"));
  CHECK(h.restarts("kafka") == 3);
}

TEST_CASE("exactly_once: a fatal producer error stays fatal", "[unit][kafka_sink]") {
  SinkHarness h("delivery = \"exactly_once\"\ntransactional_id = \"sink-test-txn\"\n", false);
  h.stage_->start();
  REQUIRE(h.raise_fatal(0));
  REQUIRE(SinkHarness::wait_for([&] { return !h.fatal().empty(); }));
  CHECK_THAT(h.fatal().front(), Contains("fatal producer error"));
  CHECK(h.restarts("kafka") == 0);
}

}  // namespace
}  // namespace pemx::kafka_sink
