#include "http_front/pusher.hpp"

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <mutex>
#include <stdexcept>

#include "core/stage_thread.hpp"
#include "kafka/factory.hpp"
#include "kafka/sizing.hpp"

namespace pemx::http_front {

// One message of a batch: its delivery report's opaque. Written by the report (poll thread)
// before the report settles the batch under batches_mutex_, read by the last settle.
struct Pusher::Slot {
  Batch* batch = nullptr;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  bool acknowledged = false;
};

struct Pusher::Batch {
  std::vector<Slot> slots;  // sized once in push(), before any message is produced
  // Delivery reports not yet in, +1 while push() is queuing. Counted down without the lock:
  // the reports of every event would otherwise take it one by one (200 a request) against
  // the I/O threads' pushes. The last one (it sees 1) takes the lock and settles the batch.
  std::atomic<int> outstanding{0};
  // All below guarded by batches_mutex_.
  std::uint64_t id = 0;
  bool answered = false;  // done has run (reports may still come in after a timeout)
  std::optional<std::string> error;
  Done done;
  Settled settled;  // run by the last report, after done
  std::chrono::steady_clock::time_point deadline;
};

// After [kafka] properties: the push's answer time is push_timeout whatever they say, and its
// broker thread must not spin (kafka::kPushLingerMs).
kafka::Properties push_producer_properties(std::chrono::milliseconds timeout) {
  return {{"linger.ms", kafka::kPushLingerMs},
          {"message.timeout.ms", std::to_string(timeout.count())}};
}

Pusher::Pusher(const kafka::KafkaConfig& kafka, const std::string& brokers, std::string topic,
               std::chrono::milliseconds timeout, Logger log, Metrics& metrics, std::string name,
               Readiness* readiness, std::function<void(const std::string&)> fatal)
    : topic_(std::move(topic)), timeout_(timeout), log_(std::move(log)), readiness_(readiness) {
  pushed_ = &metrics.counter("pemx_http_front_pushed_total",
                             "Events accepted by POST /event and acknowledged by Kafka");
  failed_ = &metrics.counter("pemx_http_front_push_failures_total",
                             "Events of POST /event that Kafka refused or did not acknowledge");
  timed_out_ = &metrics.counter("pemx_http_front_push_timeouts_total",
                                "POST /event answered 503 because push_timeout passed first");
  kafka::ProducerSettings p;
  p.kafka = kafka;
  p.kafka.brokers = brokers;
  p.properties = push_producer_properties(timeout);
  p.opaque = this;
  p.on_delivery = &Pusher::on_delivery;
  // No error policy: librdkafka logs client errors (through the watch), as it always did here.
  p.log = {log_, name, readiness_, true, fatal};
  auto client = kafka::make_producer(std::move(p));
  if (!client) throw std::runtime_error("http_front: " + client.error().message);
  producer_ = std::move(client.value());
  // No topic: the push is disabled, and the producer serves the readiness probe only.
  if (!topic_.empty()) {
    topic_handle_.reset(rd_kafka_topic_new(producer_.get(), topic_.c_str(), nullptr));
  }
  if (!topic_.empty() && !topic_handle_) {
    throw std::runtime_error("http_front: push_topic \"" + topic_ + "\": " +
                             rd_kafka_err2str(rd_kafka_last_error()));
  }
  poller_ = std::thread([this, owner = ThreadOwner{std::move(name), log_, std::move(fatal)}] {
    run_guarded(owner, "push-poll", [this] {
      while (!stop_.load()) {
        rd_kafka_poll(producer_.get(), static_cast<int>(kDeadlineCheck.count()));
        expire(std::chrono::steady_clock::now());
      }
    });
  });
}

Pusher::~Pusher() { stop(); }

void Pusher::stop() noexcept {
  if (stop_.exchange(true)) return;
  if (poller_.joinable()) poller_.join();
  // Reports still due run their callbacks now (flush serves them on this thread); what has
  // none by then is purged, and whoever still waits is told.
  rd_kafka_flush(producer_.get(), 5000);
  if (rd_kafka_resp_err_t err =
          rd_kafka_purge(producer_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT)) {
    log_.warn("push producer: purge at stop failed", {{"error", rd_kafka_err2str(err)}});
  }
  rd_kafka_flush(producer_.get(), 1000);
  expire(std::chrono::steady_clock::time_point::max());
  // Batches still in batches_ (no report yet) stay until the destructor: producer_ is
  // destroyed first, so no report can reach a freed batch.
}

void Pusher::on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* slot = static_cast<Slot*>(m->_private);
  slot->partition = m->partition;
  slot->offset = m->offset;
  slot->acknowledged = m->err == RD_KAFKA_RESP_ERR_NO_ERROR;
  static_cast<Pusher*>(opaque)->finish_one(
      slot->batch, m->err == RD_KAFKA_RESP_ERR_NO_ERROR ? nullptr : rd_kafka_err2str(m->err));
}

// One message's report (error null: acknowledged).
void Pusher::finish_one(Batch* batch, const char* error) {
  if (error != nullptr) failed_->inc();
  else pushed_->inc();
  settle(batch, error);
}

// One of the batch's outstanding parts is done; the last one answers (unless the deadline
// already did) and frees the batch.
void Pusher::settle(Batch* batch, const char* error) {
  Done done;
  Settled settled;
  std::optional<std::string> result;
  std::vector<Delivered> delivered;
  std::vector<std::optional<Delivered>> outcomes;
  if (error != nullptr) {
    std::lock_guard<std::mutex> lock(batches_mutex_);
    if (!batch->error) batch->error = error;
  }
  // acq_rel: the slots written before each report's count are seen by the last one.
  if (batch->outstanding.fetch_sub(1, std::memory_order_acq_rel) > 1) return;
  {
    std::lock_guard<std::mutex> lock(batches_mutex_);
    if (!batch->answered) {
      batch->answered = true;
      done = std::move(batch->done);
      result = batch->error;
      if (!result) {
        delivered.reserve(batch->slots.size());
        for (const auto& s : batch->slots) delivered.push_back({topic_, s.partition, s.offset});
      }
    }
    if (batch->settled) {
      settled = std::move(batch->settled);
      outcomes.reserve(batch->slots.size());
      for (const auto& s : batch->slots) {
        if (s.acknowledged) outcomes.emplace_back(Delivered{topic_, s.partition, s.offset});
        else outcomes.emplace_back(std::nullopt);
      }
    }
    batches_.erase(batch->id);  // frees batch
  }
  if (done) done(std::move(result), std::move(delivered));
  if (settled) settled(std::move(outcomes));
}

// Answers every batch whose deadline is at or before `now` and has not been answered.
void Pusher::expire(std::chrono::steady_clock::time_point now) {
  std::vector<Done> due;
  {
    std::lock_guard<std::mutex> lock(batches_mutex_);
    for (auto& [id, batch] : batches_) {
      if (batch->answered || batch->deadline > now) continue;
      batch->answered = true;
      due.push_back(std::move(batch->done));
    }
  }
  if (due.empty()) return;
  timed_out_->inc(due.size());
  const std::string error = "no acknowledgement within push_timeout (" +
                            std::to_string(timeout_.count()) + " ms)";
  for (auto& done : due) done(error, {});
}

void Pusher::push(std::vector<PushEvent> events, Done done, Settled settled) {
  auto owned = std::make_unique<Batch>();
  Batch* batch = owned.get();
  batch->done = std::move(done);
  batch->settled = std::move(settled);
  batch->deadline = std::chrono::steady_clock::now() + timeout_;
  batch->slots.resize(events.size());
  for (auto& slot : batch->slots) slot.batch = batch;
  {
    std::lock_guard<std::mutex> lock(batches_mutex_);
    batch->id = next_id_++;
    batch->outstanding.store(static_cast<int>(events.size()) + 1);  // +1: until all are queued
    batches_.emplace(batch->id, std::move(owned));
  }
  for (std::size_t i = 0; i < events.size(); ++i) {
    const PushEvent& e = events[i];
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer_.get(), RD_KAFKA_V_RKT(topic_handle_.get()),
        RD_KAFKA_V_KEY(e.key.data(), e.key.size()),
        RD_KAFKA_V_VALUE(const_cast<char*>(e.value.data()), e.value.size()),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&batch->slots[i]),
        RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) finish_one(batch, rd_kafka_err2str(err));
  }
  settle(batch, nullptr);  // the guard: not a message, so not counted
}

std::optional<std::string> Pusher::kafka_problem() {
  return readiness_ != nullptr ? readiness_->problems() : std::nullopt;
}

}  // namespace pemx::http_front
