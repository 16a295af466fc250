// The sqlite_store stage: its shell around the store core, run against the embedded
// (in-process) Kafka cluster for the dead-letter producer: records are acknowledged only after
// their rows are committed (or their dead-letter copy is acknowledged), failures are retried or
// reported as fatal, drain closes the ack queue, and the live view gets only the rows a batch
// inserted. Its config cases are in config_test.cpp.
#include "sqlite_store/sqlite_store.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <librdkafka/rdkafka.h>

#include "kafka/embedded.hpp"
#include "plugins/sqlite_store/stage_config.hpp"
#include "plugins/sqlite_store/store_fixtures.hpp"
#include "plugins/sqlite_store/temp_dir.hpp"
#include "support/fatal_reports.hpp"

namespace pemx::sqlite_store {
namespace {

using Catch::Matchers::Contains;
using namespace std::chrono_literals;
using test::parse;
using test::RawDb;
using test::TempDir;
using test::uuid;

constexpr const char* kDlq = "store-test-dlq";

std::string valid_event(int n, const std::string& product = "P1") {
  return R"({"eventId":")" + uuid(n) + R"(","eventType":"ProductPriceUpdate","productId":")" +
         product + R"(","region":"US","createdAt":"2024-01-01T00:00:)" + (n < 10 ? "0" : "") +
         std::to_string(n % 60) + R"(Z","data":{"newPrice":1.5}})";
}

RecordPtr record(std::string value, std::int64_t offset) {
  auto rec = std::make_unique<Record>();
  rec->topic = "product-event-storage-pemx";
  rec->partition = 0;
  rec->offset = offset;
  rec->value = std::move(value);
  return rec;
}

class StageHarness {
 public:
  explicit StageHarness(const std::string& extra_config = "", Activity* activity = nullptr) {
    auto cluster = kafka::EmbeddedCluster::start({1, 1, {kDlq}});
    REQUIRE(cluster.ok());
    cluster_ = std::move(cluster.value());
    auto p = parse("path = \"" + dir_.file("stage.db") + "\"\ndead_letter_topic = \"" + kDlq +
                   "\"\nretry_initial = \"10ms\"\nretry_max = \"50ms\"\n" + extra_config);
    INFO(Catch::Detail::stringify(p.errors));
    REQUIRE(p.errors.empty());
    spec_ = std::move(p.spec);
    ctx_.name = "store";
    ctx_.metrics = &metrics_;
    ctx_.queues = {{"events", &input_}, {"acks", &acks_}};
    ctx_.kafka_brokers = cluster_->bootstrap();
    ctx_.readers = &readers_;
    ctx_.activity = activity;
    ctx_.fatal = fatal_.reporter();
    stage_ = spec_->create(ctx_);
  }
  ~StageHarness() {
    if (stage_) stage_->stop();
  }

  void push(RecordPtr rec) { REQUIRE(input_.push(rec, Clock::now() + 5s) == QueueStatus::kOk); }
  RecordPtr pop_ack(std::chrono::milliseconds wait = 10s) {
    RecordPtr rec;
    acks_.pop(rec, Clock::now() + wait);
    return rec;
  }
  std::vector<std::string> fatal() const { return fatal_.reasons(); }
  std::string db_path() const { return dir_.file("stage.db"); }

  TempDir dir_;
  std::unique_ptr<kafka::EmbeddedCluster> cluster_;
  Metrics metrics_;
  RecordQueue input_{"events", 1024};
  RecordQueue acks_{"acks", 1024};
  std::map<std::string, std::shared_ptr<EventReader>> readers_;
  StageContext ctx_;
  std::unique_ptr<StageSpec> spec_;
  std::unique_ptr<Stage> stage_;
  pemx::test::FatalReports fatal_;
};

struct DeadLetter {
  std::string key;
  std::string value;
  std::map<std::string, std::string> headers;
};

// Reads the dead-letter topic (one partition) from the beginning: plain librdkafka, so that a
// bug in the stage's producer cannot hide itself.
std::vector<DeadLetter> read_dead_letters(const std::string& brokers, std::size_t expected) {
  char err[256];
  kafka::ConfPtr conf(rd_kafka_conf_new());
  REQUIRE(rd_kafka_conf_set(conf.get(), "bootstrap.servers", brokers.c_str(), err, sizeof err) ==
          RD_KAFKA_CONF_OK);
  REQUIRE(rd_kafka_conf_set(conf.get(), "group.id", "store-test-reader", err, sizeof err) ==
          RD_KAFKA_CONF_OK);
  auto client = kafka::make_client(kafka::ClientKind::kConsumer, std::move(conf),
                                   {Logger(), "store-test-reader", nullptr, false, nullptr});
  REQUIRE(client.ok());
  rd_kafka_t* rk = client.value().get();
  kafka::PartitionListPtr parts(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(parts.get(), kDlq, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
  REQUIRE(rd_kafka_assign(rk, parts.get()) == RD_KAFKA_RESP_ERR_NO_ERROR);
  std::vector<DeadLetter> out;
  auto until = Clock::now() + 10s;
  while (out.size() < expected && Clock::now() < until) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) continue;
    kafka::MessagePtr owner(m);
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    DeadLetter d;
    if (m->key != nullptr) d.key.assign(static_cast<const char*>(m->key), m->key_len);
    d.value.assign(static_cast<const char*>(m->payload), m->len);
    rd_kafka_headers_t* hdrs = nullptr;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      const char* name = nullptr;
      const void* value = nullptr;
      size_t size = 0;
      for (size_t i = 0;
           rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
           ++i) {
        d.headers[name] = std::string(static_cast<const char*>(value), size);
      }
    }
    out.push_back(std::move(d));
  }
  rd_kafka_consumer_close(rk);
  return out;
}

bool stored(EventReader& reader, const std::string& product, const std::string& event_id) {
  EventQuery q;
  q.product_ids = {product};
  auto page = reader.query(q);
  REQUIRE(page.ok());
  for (const auto& e : page->events) {
    if (e.event_id == event_id) return true;
  }
  return false;
}

TEST_CASE("the stage stores, dead-letters, acknowledges after commit, and drains",
          "[unit][sqlite_store]") {
  StageHarness h("batch_size = 3\nbatch_linger = \"10ms\"\nvalidation = \"strict\"\n");
  REQUIRE(h.readers_.count("store") == 1);  // registered in the constructor
  auto reader = h.readers_.at("store");
  CHECK_FALSE(reader->problem());
  h.stage_->start();

  h.push(record(valid_event(1), 10));
  RecordPtr keyed = record("not json", 11);
  keyed->has_key = true;
  keyed->key = "P-key";
  h.push(std::move(keyed));
  h.push(record(valid_event(2), 12));
  h.push(record(R"({"eventId":"nope"})", 13));
  h.push(record(valid_event(1), 14));  // a redelivery of offset 10's event
  for (int i = 3; i < 9; ++i) h.push(record(valid_event(i, "P2"), 12 + 3 * i));

  std::set<std::int64_t> acked;
  for (int i = 0; i < 11; ++i) {
    RecordPtr rec = h.pop_ack();
    REQUIRE(rec);
    acked.insert(rec->offset);
    if (!rec->dead_lettered()) {
      // Acknowledged only once its transaction has committed: a reader sees it already.
      CHECK(stored(*reader, rec->offset < 15 ? "P1" : "P2", rec->event_id));
    } else {
      CHECK((rec->offset == 11 || rec->offset == 13));
    }
  }
  CHECK(acked.size() == 11);

  Deadline deadline(Clock::now() + 10s);
  h.input_.close();
  h.stage_->stop_accepting();
  CHECK(h.stage_->drain(deadline));
  CHECK(h.acks_.closed());
  h.stage_->stop();
  h.stage_->stop();  // idempotent

  CHECK(h.metrics_.counter_total("pemx_sqlite_store_stored_total") == 8);
  CHECK(h.metrics_.counter_total("pemx_sqlite_store_duplicates_total") == 1);
  CHECK(h.metrics_.counter_value("pemx_sqlite_store_dead_lettered_total",
                                 {{"stage", "store"}, {"reason", "invalid_json"}}) == 1);
  CHECK(h.metrics_.counter_value("pemx_sqlite_store_dead_lettered_total",
                                 {{"stage", "store"}, {"reason", "invalid_event"}}) == 1);
  CHECK(h.fatal().empty());
  RawDb raw(h.db_path());
  CHECK(raw.integer("SELECT count(*) FROM events") == 8);

  // The dead letters: the value as received, the original key, and the reason in headers.
  auto dead = read_dead_letters(h.cluster_->bootstrap(), 2);
  REQUIRE(dead.size() == 2);
  CHECK(dead[0].value == "not json");
  CHECK(dead[0].key == "P-key");
  CHECK(dead[0].headers["pemx-dlq-reason"] == "invalid_json");
  CHECK_FALSE(dead[0].headers["pemx-dlq-detail"].empty());
  CHECK(dead[0].headers["pemx-dlq-stage"] == "store");
  CHECK(dead[0].headers["pemx-source-topic"] == "product-event-storage-pemx");
  CHECK(dead[0].headers["pemx-source-partition"] == "0");
  CHECK(dead[0].headers["pemx-source-offset"] == "11");
  CHECK(dead[1].value == R"({"eventId":"nope"})");
  CHECK(dead[1].key.empty());
  CHECK(dead[1].headers["pemx-dlq-reason"] == "invalid_event");
  CHECK_THAT(dead[1].headers["pemx-dlq-detail"],
             Contains("eventId: Event ID must be a valid UUID"));
  CHECK(dead[1].headers["pemx-source-offset"] == "13");
}

TEST_CASE("report (the default): events failing the field rules are stored and counted",
          "[unit][sqlite_store]") {
  StageHarness h("batch_size = 10\nbatch_linger = \"10ms\"\n");
  auto reader = h.readers_.at("store");
  h.stage_->start();
  // What the reference stored although its push refuses it.
  const std::string at = R"("createdAt":"2024-01-01T00:00:05Z")";
  h.push(record(R"({"eventId":"evt-1","eventType":"Country","productId":"P1","region":"EU",)" +
                    at + "}",
                1));
  RecordPtr late = record(R"({"eventId":")" + uuid(2) +
                              R"(","eventType":"Country","productId":"P1","region":"EU",)"
                              R"("createdAt":"26/07/2024"})",
                          2);
  late->timestamp_ms = 1'800'000'000'000;  // ordered by the message's timestamp
  h.push(std::move(late));
  h.push(record(R"({"eventId":")" + uuid(3) + R"(","eventType":"Country","productId":"",)" + at +
                    "}",
                3));
  h.push(record(valid_event(4), 4));
  h.push(record(valid_event(4), 5));  // a redelivery: stored and counted once
  h.push(record(R"({"eventId":")" + uuid(1) + R"(","eventType":"Country","productId":"P1",)" +
                    at + "}",
                6));  // Country without region
  // No string eventId: no row can hold it.
  h.push(record(R"({"eventId":42,"eventType":"Country","productId":"P1"})", 7));

  std::set<std::int64_t> dead;
  for (int i = 0; i < 7; ++i) {
    RecordPtr rec = h.pop_ack();
    REQUIRE(rec);
    if (rec->dead_lettered()) dead.insert(rec->offset);
  }
  CHECK(dead == std::set<std::int64_t>{7});

  EventQuery q;
  q.product_ids = {"P1"};
  auto page = reader->query(q);
  REQUIRE(page.ok());
  std::vector<std::string> ids;
  for (const auto& e : page->events) ids.push_back(e.event_id);
  // Newest first: the unparsable createdAt by its message timestamp (2027), then the rest.
  REQUIRE(ids.size() == 4);
  CHECK(ids[0] == uuid(2));
  CHECK(page->events[0].created_at == "26/07/2024");  // as received
  RawDb raw(h.db_path());
  CHECK(raw.integer("SELECT created_ms FROM events WHERE event_id = '" + uuid(2) + "'") ==
        1'800'000'000'000);
  CHECK(raw.integer("SELECT count(*) FROM events WHERE product_id = ''") == 1);

  auto invalid = [&](const char* reason) {
    return h.metrics_.counter_value("pemx_sqlite_store_invalid_events_total",
                                    {{"stage", "store"}, {"reason", reason}});
  };
  CHECK(invalid("eventId") == 1);
  CHECK(invalid("createdAt") == 1);
  CHECK(invalid("productId") == 1);
  CHECK(invalid("region") == 2);  // uuid(3)'s event has no region either
  CHECK(invalid("eventType") == 0);
  CHECK(h.metrics_.counter_total("pemx_sqlite_store_stored_total") == 5);
  CHECK(h.metrics_.counter_value("pemx_sqlite_store_dead_lettered_total",
                                 {{"stage", "store"}, {"reason", "invalid_event"}}) == 1);
  CHECK(h.fatal().empty());
}

TEST_CASE("the live view gets each stored event once, not its redeliveries",
          "[unit][sqlite_store]") {
  Activity activity;
  Activity::Watch watch(activity);  // stored events are published only while someone watches
  StageHarness h("batch_size = 4\nbatch_linger = \"10ms\"\n", &activity);
  CHECK(activity.kinds() == std::vector<std::string>{"stored"});
  h.stage_->start();
  h.push(record(valid_event(1), 1));
  h.push(record(valid_event(2), 2));
  h.push(record(valid_event(1), 3));  // redelivered: in the same batch, or the next one
  for (int i = 0; i < 3; ++i) REQUIRE(h.pop_ack());
  h.push(record(valid_event(2), 4));  // redelivered after its batch committed
  h.push(record(valid_event(3), 5));
  for (int i = 0; i < 2; ++i) REQUIRE(h.pop_ack());  // acknowledged after the publish

  auto slice = activity.since(0, 100);
  CHECK(slice.missed == 0);
  std::vector<std::string> ids;
  for (const auto& e : slice.events) {
    CHECK(e->kind == "stored");
    CHECK(e->json == valid_event(std::stoi(e->event_id.substr(24))));
    ids.push_back(e->event_id);
  }
  CHECK(ids == std::vector<std::string>{uuid(1), uuid(2), uuid(3)});
  CHECK(h.metrics_.counter_total("pemx_sqlite_store_duplicates_total") == 2);
}

TEST_CASE("drain stores what is still queued, then closes the ack queue", "[unit][sqlite_store]") {
  // A long linger: only the drain makes the stage commit.
  StageHarness h("batch_size = 1000\nbatch_linger = \"10s\"\n");
  h.stage_->start();
  for (int i = 0; i < 50; ++i) h.push(record(valid_event(i), i));
  h.input_.close();
  Deadline deadline(Clock::now() + 10s);
  h.stage_->stop_accepting();
  CHECK(h.stage_->drain(deadline));
  int acked = 0;
  while (RecordPtr rec = h.acks_.try_pop()) ++acked;
  CHECK(acked == 50);
  CHECK(h.acks_.closed());
  RawDb raw(h.db_path());
  CHECK(raw.integer("SELECT count(*) FROM events") == 50);
}

TEST_CASE("a busy database is retried; nothing is acknowledged until the commit",
          "[unit][sqlite_store]") {
  StageHarness h("batch_size = 2\nbatch_linger = \"0ms\"\nbusy_timeout = \"10ms\"\n");
  auto other = std::make_unique<RawDb>(h.db_path());
  other->exec("BEGIN IMMEDIATE");  // holds the write lock
  h.stage_->start();
  h.push(record(valid_event(1), 1));
  h.push(record(valid_event(2), 2));
  // Wait until the stage has retried at least twice, without acknowledging anything.
  auto until = Clock::now() + 10s;
  while (h.metrics_.counter_total("pemx_sqlite_store_retries_total") < 2 && Clock::now() < until) {
    RecordPtr early;
    h.acks_.pop(early, Clock::now() + 5ms);  // waits on the ack queue: nothing may arrive
    CHECK_FALSE(early);
  }
  CHECK(h.metrics_.counter_total("pemx_sqlite_store_retries_total") >= 2);
  CHECK_FALSE(h.acks_.try_pop());
  CHECK(h.readers_.at("store")->problem());  // readiness says writes are failing
  other->exec("ROLLBACK");
  REQUIRE(h.pop_ack());
  REQUIRE(h.pop_ack());
  CHECK_FALSE(h.readers_.at("store")->problem());
  CHECK(h.fatal().empty());
}

TEST_CASE("a permanent write failure is fatal and its records are never acknowledged",
          "[unit][sqlite_store]") {
  StageHarness h("batch_size = 1\nbatch_linger = \"0ms\"\n");
  {
    RawDb raw(h.db_path());
    raw.exec(
        "CREATE TRIGGER refuse BEFORE INSERT ON events "
        "BEGIN SELECT RAISE(ABORT, 'refused by test'); END");
  }
  h.stage_->start();
  h.push(record(valid_event(1), 1));
  Deadline deadline(Clock::now() + 10s);
  h.input_.close();
  CHECK(h.stage_->drain(deadline));  // the worker gave up and closed the ack queue
  CHECK(h.acks_.closed());
  CHECK_FALSE(h.acks_.try_pop());
  auto fatal = h.fatal();
  REQUIRE(fatal.size() == 1);
  CHECK_THAT(fatal[0], Contains(h.db_path()));
  CHECK_THAT(fatal[0], Contains("refused by test"));
}

TEST_CASE("a store that cannot open fails construction with the file in the message",
          "[unit][sqlite_store]") {
  TempDir dir;
  auto p = parse("path = \"" + dir.file("no/such/dir/x.db") + "\"");
  REQUIRE(p.errors.empty());
  Metrics metrics;
  RecordQueue input{"events", 8}, acks{"acks", 8};
  StageContext ctx;
  ctx.name = "store";
  ctx.metrics = &metrics;
  ctx.queues = {{"events", &input}, {"acks", &acks}};
  ctx.kafka_brokers = "127.0.0.1:1";
  ctx.fatal = [](const std::string&) {};
  CHECK_THROWS_WITH(p.spec->create(ctx), Contains(dir.file("no/such/dir/x.db")));
}

}  // namespace
}  // namespace pemx::sqlite_store
