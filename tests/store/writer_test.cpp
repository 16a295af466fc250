// store::make_writer against the backend contract (a fake backend; the embedded cluster for
// the dead-letter producer): records are acknowledged only after the backend's write_batch
// returns, what the backend calls transient is retried under the stage type's metric names,
// and anything else is fatal with nothing acknowledged.
#include "store/writer.hpp"

#include <catch2/catch.hpp>

#include <mutex>
#include <string>
#include <vector>

#include "kafka/embedded.hpp"
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
  explicit Harness(FakeBackend*& backend_out) {
    auto cluster = kafka::EmbeddedCluster::start({1, 1, {"writer-test-dlq"}});
    REQUIRE(cluster.ok());
    cluster_ = std::move(cluster.value());
    settings.stage_type = "fake_store";
    settings.batch_size = 2;
    settings.batch_linger = 0ms;
    settings.dead_letter_topic = "writer-test-dlq";
    settings.retry = {1ms, 5ms, 2.0, 0};
    ctx.name = "store";
    ctx.metrics = &metrics;
    ctx.queues = {{"events", &input}, {"acks", &acks}};
    ctx.kafka_brokers = cluster_->bootstrap();
    ctx.fatal = [this](const std::string& reason) {
      std::lock_guard<std::mutex> lock(mutex);
      fatal.push_back(reason);
    };
    auto backend = std::make_unique<FakeBackend>();
    backend_out = backend.get();
    stage = make_writer(settings, ctx, std::move(backend));
  }
  ~Harness() { stage->stop(); }
  void push(int n) {
    auto rec = std::make_unique<Record>();
    rec->topic = "product-event-storage-pemx";
    rec->offset = n;
    rec->value = event(n);
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

}  // namespace
}  // namespace pemx::store
