// store::make_writer against the backend contract (a fake backend; the embedded cluster for
// the dead-letter producer): records are acknowledged only after the backend's write_batch
// returns, what the backend calls transient is retried under the stage type's metric names,
// and anything else is fatal with nothing acknowledged.
#include "store/writer.hpp"

#include <catch2/catch.hpp>

#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <string>
#include <vector>

#include "kafka/embedded.hpp"
#include "pemx/activity.hpp"  // epoch_ms_now
#include "store/fake_backend.hpp"

namespace pemx::store {
namespace {

using namespace std::chrono_literals;
using test::FakeBackend;

std::string event(int n) {
  return R"({"eventId":"00000000-0000-4000-8000-00000000000)" + std::to_string(n) +
         R"(","eventType":"Country","productId":"P1","region":"EU",)"
         R"("createdAt":"2024-01-01T00:00:00Z","data":{"country":"FR"}})";
}

struct Harness {
  explicit Harness(FakeBackend*& backend_out, std::size_t batch_size = 2,
                   const std::function<void(WriterSettings&)>& adjust = nullptr) {
    auto cluster = kafka::EmbeddedCluster::start({1, 1, {"writer-test-dlq"}});
    REQUIRE(cluster.ok());
    cluster_ = std::move(cluster.value());
    settings.stage_type = "fake_store";
    settings.batch_size = batch_size;
    settings.batch_linger = 0ms;
    settings.dead_letter_topic = "writer-test-dlq";
    settings.retry = {1ms, 5ms, 2.0, 0};
    if (adjust) adjust(settings);
    ctx.name = "store";
    ctx.metrics = &metrics;
    ctx.queues = {{"events", &input}, {"acks", &acks}};
    ctx.kafka_brokers = cluster_->bootstrap();
    ctx.activity = &activity;
    ctx.fatal = [this](const std::string& reason) {
      std::lock_guard<std::mutex> lock(mutex);
      fatal.push_back(reason);
    };
    auto backend = std::make_unique<FakeBackend>();
    backend_out = backend.get();
    stage = make_writer(settings, ctx, std::move(backend));
  }
  ~Harness() { stage->stop(); }
  void push(int n, const std::string& value = {}, const std::string& key = {}) {
    auto rec = std::make_unique<Record>();
    rec->has_key = !key.empty();
    rec->key = key;
    rec->topic = "product-event-storage-pemx";
    rec->offset = n;
    rec->value = value.empty() ? event(n) : value;
    REQUIRE(input.push(rec, Clock::now() + 5s) == QueueStatus::kOk);
  }
  std::vector<std::string> fatals() {
    std::lock_guard<std::mutex> lock(mutex);
    return fatal;
  }

  std::unique_ptr<kafka::EmbeddedCluster> cluster_;
  WriterSettings settings;
  Metrics metrics;
  RecordQueue input{"events", 64};
  RecordQueue acks{"acks", 64};
  Activity activity;
  StageContext ctx;
  std::mutex mutex;
  std::vector<std::string> fatal;
  std::unique_ptr<Stage> stage;
};

TEST_CASE("writer: a transient backend error is retried, then the batch is acknowledged",
          "[unit][store]") {
  FakeBackend* backend = nullptr;
  Harness h(backend);
  backend->fail_next({{test::kTransientCode, "busy"}, {test::kTransientCode, "busy"}});
  h.stage->start();
  h.push(1);
  h.push(2);
  for (int i = 0; i < 2; ++i) {
    RecordPtr rec;
    REQUIRE(h.acks.pop(rec, Clock::now() + 10s) == QueueStatus::kOk);
  }
  CHECK(backend->rows() == 2);
  CHECK(h.metrics.counter_value("pemx_fake_store_retries_total",
                                {{"stage", "store"}, {"op", "commit"}}) == 2);
  CHECK(h.metrics.counter_total("pemx_fake_store_stored_total") == 2);
  CHECK(h.fatals().empty());
}

TEST_CASE("writer: an error the backend does not call transient is fatal, nothing acknowledged",
          "[unit][store]") {
  FakeBackend* backend = nullptr;
  Harness h(backend);
  backend->fail_next({{"corrupt", "fake://events is broken"}});
  h.stage->start();
  h.push(1);
  h.push(2);
  h.input.close();
  Deadline deadline(Clock::now() + 10s);
  CHECK(h.stage->drain(deadline));
  CHECK(h.acks.closed());
  CHECK_FALSE(h.acks.try_pop());
  REQUIRE(h.fatals().size() == 1);
  CHECK(h.fatals()[0] == "fake://events is broken");
  CHECK(backend->calls() == 1);
}

std::string id(int n) { return "00000000-0000-4000-8000-00000000000" + std::to_string(n); }

TEST_CASE("writer: rows the backend refuses (refuse_row) or that fail their batch (row_fault) "
          "are dead-lettered as unstorable_event; the others are stored and nothing stops",
          "[unit][store]") {
  FakeBackend* backend = nullptr;
  Harness h(backend, 8);
  backend->refuse({id(5)});
  backend->poison({id(3), id(6)});
  h.stage->start();
  // One batch of eight (linger 0: the first pop may take fewer; every batch is isolated).
  for (int n = 1; n <= 8; ++n) h.push(n);
  std::map<std::int64_t, std::string> acked;  // offset -> dead-letter reason ("" if stored)
  for (int i = 0; i < 8; ++i) {
    RecordPtr rec;
    REQUIRE(h.acks.pop(rec, Clock::now() + 20s) == QueueStatus::kOk);
    acked[rec->offset] = rec->dead_letter_reason;
    if (!rec->dead_letter_reason.empty()) {  // its dead-letter copy's headers
      REQUIRE_FALSE(rec->out_headers.empty());
      CHECK(rec->out_headers[0].name == "pemx-dlq-reason");
      CHECK(rec->out_headers[0].value == "unstorable_event");
    }
    if (rec->offset == 3) CHECK(rec->dead_letter_detail == "the fake database refuses " + id(3));
    if (rec->offset == 5) {
      CHECK(rec->dead_letter_detail == "the fake database cannot hold " + id(5));
    }
  }
  CHECK(acked == std::map<std::int64_t, std::string>{{1, ""},
                                                     {2, ""},
                                                     {3, "unstorable_event"},
                                                     {4, ""},
                                                     {5, "unstorable_event"},
                                                     {6, "unstorable_event"},
                                                     {7, ""},
                                                     {8, ""}});
  CHECK(backend->rows() == 5);
  CHECK(h.metrics.counter_value("pemx_fake_store_dead_lettered_total",
                                {{"stage", "store"}, {"reason", "unstorable_event"}}) == 3);
  CHECK(h.metrics.counter_total("pemx_fake_store_stored_total") == 5);
  CHECK(h.fatals().empty());
}

TEST_CASE("writer: an idle writer probes its backend", "[unit][store]") {
  FakeBackend* backend = nullptr;
  Harness h(backend);
  h.stage->start();
  auto until = Clock::now() + 20s;
  while (backend->probes() < 2 && Clock::now() < until) {
    std::this_thread::sleep_for(10ms);
  }
  CHECK(backend->probes() >= 2);
}

TEST_CASE("writer: with a retention it deletes old events in batches between writes",
          "[unit][store][retention]") {
  FakeBackend* backend = nullptr;
  Harness h(backend, 2, [](WriterSettings& w) {
    w.retention = 24h;
    w.retention_batch = 3;
  });
  backend->set_old_rows(7);
  h.stage->start();
  h.push(1);  // writes go on meanwhile
  auto until = Clock::now() + 20s;
  while (h.metrics.counter_total("pemx_fake_store_pruned_total") < 7 && Clock::now() < until) {
    std::this_thread::sleep_for(10ms);
  }
  CHECK(h.metrics.counter_total("pemx_fake_store_pruned_total") == 7);
  auto prunes = backend->prunes();
  REQUIRE(prunes.size() >= 3);  // 3, 3, then 1: nothing older is left
  for (const auto& [before, limit] : prunes) {
    CHECK(limit == 3);
    const std::int64_t expected = epoch_ms_now() - 24 * 3'600'000;
    CHECK(before <= expected);
    CHECK(before > expected - 60'000);
  }
  RecordPtr acked;
  CHECK(h.acks.pop(acked, Clock::now() + 10s) == QueueStatus::kOk);  // the write was not held up
}

TEST_CASE("writer: without a retention nothing is pruned", "[unit][store][retention]") {
  FakeBackend* backend = nullptr;
  Harness h(backend);
  backend->set_old_rows(7);
  h.stage->start();
  auto until = Clock::now() + 20s;
  while (backend->probes() < 2 && Clock::now() < until) std::this_thread::sleep_for(10ms);
  CHECK(backend->prunes().empty());
}

TEST_CASE("writer: past the drain deadline a write blocked in the backend is interrupted; "
          "nothing of it is acknowledged",
          "[unit][store]") {
  FakeBackend* backend = nullptr;
  Harness h(backend);
  backend->hang_next();
  h.stage->start();
  h.push(1);
  h.push(2);
  auto until = Clock::now() + 20s;
  while (!backend->hanging() && Clock::now() < until) std::this_thread::sleep_for(5ms);
  REQUIRE(backend->hanging());
  h.input.close();
  Deadline deadline(Clock::now() + 100ms);
  CHECK_FALSE(h.stage->drain(deadline));
  CHECK(backend->interrupted());
  CHECK(backend->rows() == 0);
  h.stage->stop();  // joins the worker, which the interruption released; destroys the backend
  CHECK_FALSE(h.acks.try_pop());
  CHECK(h.fatals().empty());
}

TEST_CASE("writer: a dead letter is listed under the event's productId and eventId when it "
          "parsed, as the router's are; under the message key when it did not",
          "[unit][store]") {
  FakeBackend* backend = nullptr;
  Harness h(backend, 1,
            [](WriterSettings& s) { s.validation = event::ValidationMode::kStrict; });
  h.stage->start();
  // Fails the strict validation (no region), keyed by something else than its productId.
  h.push(1, R"({"eventId":")" + id(1) + R"(","eventType":"Country","productId":"P7",)"
            R"("createdAt":"2024-01-01T00:00:00Z","data":{"country":"FR"}})",
         "another-key");
  h.push(2, "not json", "K9");
  for (int i = 0; i < 2; ++i) {
    RecordPtr rec;
    REQUIRE(h.acks.pop(rec, Clock::now() + 20s) == QueueStatus::kOk);
    CHECK_FALSE(rec->dead_letter_reason.empty());
  }
  auto notes = h.activity.latest_dead_letters();
  REQUIRE(notes.size() == 2);
  std::map<std::string, std::string> product_by_id;  // eventId ("" for the bad JSON) -> productId
  for (const auto& n : notes) product_by_id[n.event_id] = n.product_id;
  CHECK(product_by_id == std::map<std::string, std::string>{{id(1), "P7"}, {"", "K9"}});
}

}  // namespace
}  // namespace pemx::store
