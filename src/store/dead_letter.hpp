#pragma once
// The store stages' dead-letter producer (the shared writer's, whatever the backend), kept
// thin: events the store cannot hold (bad JSON, failed validation) are produced, as received,
// to the dead-letter topic by an idempotent acks=all producer, and each record is handed back
// only once the broker has acknowledged its dead-letter copy, so that its input offset is
// committed only then (the same rule as kafka_sink). A failed delivery is produced again after
// a backoff, without limit.
//
// Threads: not thread-safe. One thread (the stage's worker) calls send() and poll(); the
// delivery callback runs inside poll() on that thread. The destructor runs after that thread
// has stopped.
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <stop_token>
#include <string>

#include "core/retry.hpp"
#include "kafka/client.hpp"
#include "pemx/log.hpp"
#include "pemx/metrics.hpp"
#include "pemx/queue.hpp"  // Clock
#include "pemx/record.hpp"

extern "C" {
typedef struct rd_kafka_message_s rd_kafka_message_t;
}

namespace pemx::store {

struct DeadLetterOptions {
  std::string topic = "product-event-dlq-pemx";
  kafka::KafkaConfig kafka;      // brokers: the effective list (StageContext::kafka_brokers)
  kafka::Properties properties;  // producer overrides (validated by the factory)
  std::size_t min_message_bytes = 0;  // events.max_bytes plus PEMX's headers (kafka/factory.hpp)
  RetryPolicy retry;
  std::string name = "dead letters";  // names the producer in readiness (/readyz)
  std::string stage_type = "store";   // names the stage in start-up errors ("sqlite_store")
  Readiness* readiness = nullptr;     // told whether the cluster answers; may be null
};

class DeadLetterProducer {
 public:
  // Creates the producer; throws std::runtime_error if it cannot (a start-up failure).
  DeadLetterProducer(DeadLetterOptions options, Logger log,
                     std::function<void(const std::string&)> fatal, Counter& retries);
  // Purges what is still in flight: those records are dropped unacknowledged (redelivered).
  ~DeadLetterProducer();
  DeadLetterProducer(const DeadLetterProducer&) = delete;
  DeadLetterProducer& operator=(const DeadLetterProducer&) = delete;

  // Produces the record's value with its key and out_headers. Waits (serving reports) while
  // librdkafka's queue is full. False when stopped or refused (then fatal was reported): the
  // record is dropped unacknowledged.
  bool send(RecordPtr rec, const std::stop_token& st);
  // Produces due retries, serves delivery reports for up to `timeout`, and moves the records
  // whose dead-letter copy is acknowledged to `done`.
  void poll(std::chrono::milliseconds timeout, std::deque<RecordPtr>& done,
            const std::stop_token& st);
  // Records handed to send() and not yet moved to `done`.
  std::size_t in_flight() const { return in_flight_; }

 private:
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque);
  void delivered(const rd_kafka_message_t* m);
  bool produce(Record* rec, const std::stop_token& st);

  struct Due {
    Record* record;
    Clock::time_point at;
  };

  DeadLetterOptions options_;
  Logger log_;
  std::function<void(const std::string&)> fatal_;
  Counter& retries_;
  Backoff backoff_;
  RateLimit warn_limit_{5};
  std::size_t in_flight_ = 0;
  bool closing_ = false;
  std::deque<Due> due_;         // failed deliveries waiting for their retry (owned)
  std::deque<RecordPtr> done_;  // acknowledged, filled by the delivery callback
  kafka::HandlePtr producer_;   // last: its callbacks use the members above
};

}  // namespace pemx::store
