#pragma once
// The store stages' writer: the batch-and-acknowledge loop every backend shares. It pops
// records from the stage's input queue, maps each to a row (row_mapping.hpp), writes the rows
// in batches through the Backend (one transaction each, idempotent on eventId) and hands each
// record back on its ack queue only after the transaction that holds it has committed, or, for
// an event that cannot be stored, after its dead-letter copy is acknowledged by the broker
// (dead_letter.hpp). So an input offset is committed only once the event is durable somewhere:
// a crash at any instant redelivers, never loses; redelivery never duplicates a row.
//
// Threads: one worker thread pops records, maps them, writes the batches, produces dead
// letters and serves their delivery reports (rd_kafka_poll runs the callback on this same
// thread, so the bookkeeping needs no lock). The supervisor's thread calls the lifecycle
// methods. HTTP threads use the backend's reader, which the writer registers under the stage's
// name (StageContext::readers).
//
// Shutdown: stop_accepting does nothing (the input queue's producer stops); drain waits for the
// worker to commit what is queued, hand back what is durable and close the ack queue; stop
// joins the worker, closes the ack queue, then the dead-letter producer (it purges what is in
// flight: redelivered) and the backend (its reader stays usable and reports the writer closed).
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "core/retry.hpp"
#include "event/json.hpp"
#include "event/validate.hpp"
#include "kafka/kafka_config.hpp"
#include "pemx/stage.hpp"
#include "store/backend.hpp"

namespace pemx::store {

// What the writer needs, whatever the backend (a backend's own options stay in its stage).
// Read from the stage's section by parse_writer_settings (writer_config.hpp).
struct WriterSettings {
  // The stage's type, e.g. "sqlite_store": names its metrics (pemx_<type>_stored_total, ...)
  // and its dead-letter producer in start-up errors.
  std::string stage_type = "store";
  std::string input = "events";
  std::string acks = "acks";
  std::size_t batch_size = 500;
  std::chrono::milliseconds batch_linger{20};
  std::string dead_letter_topic = "product-event-dlq-pemx";
  kafka::KafkaConfig kafka;      // brokers: replaced by StageContext::kafka_brokers
  kafka::Properties properties;  // dead-letter producer overrides
  RetryPolicy retry{std::chrono::milliseconds(100), std::chrono::milliseconds(5000), 2.0, 0};
  std::chrono::milliseconds give_up_after{60'000};  // a write failing this long is fatal
  event::JsonLimits limits;                         // [events]
  // kReport and kOff store what the reference stored (any event with a string eventId);
  // kStrict dead-letters events failing the reference's field rules (row_mapping.hpp).
  event::ValidationMode validation = event::ValidationMode::kReport;
  // Retention: events whose createdAt is older than this are deleted, retention_batch at a
  // time between two write batches (0: every event is kept, as the reference did).
  std::chrono::milliseconds retention{0};
  std::size_t retention_batch = 1000;
};

// The writer stage over an open backend. Registers the backend's reader under ctx.name and
// the stage's metrics; creates the dead-letter producer (throws std::runtime_error, a start-up
// failure, when it cannot).
std::unique_ptr<Stage> make_writer(const WriterSettings& settings, StageContext& ctx,
                                   std::unique_ptr<Backend> backend);

}  // namespace pemx::store
