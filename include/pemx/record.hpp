#pragma once
// Record: the one thing that travels through the queues. It is move-only and circulates:
// an ingest stage creates it from a consumed message, a router fills in the decision, a sink
// delivers it and hands it back to the ingest stage through an ack queue, which then marks
// its offset as done. So the number of records alive is bounded by the queue capacities.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pemx {

struct Header {
  std::string name;
  std::string value;
};

struct Record {
  Record() = default;
  Record(const Record&) = delete;
  Record& operator=(const Record&) = delete;

  // Where it came from.
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::int64_t timestamp_ms = -1;
  bool has_key = false;
  std::string key;
  std::string value;  // the event as received, never re-serialised
  // Read from the store by `pemx replay`, not consumed from `topic` (the storage topic it was
  // stored from): sending it there again is no loop (the router's topic_loop check).
  bool replay = false;

  // What a router decided. Either targets (deliver to every one) or a dead-letter reason.
  std::string out_key;                  // key of every output (productId)
  std::vector<std::string> targets;     // topics, in rule order
  // The cluster of each target, parallel to targets: 0 the main [kafka] one, n the n-th
  // [clusters.*] (by name). Empty, as always when no rule names a cluster: every target on
  // the main cluster. The sink hands the record back only once every output on every cluster
  // is acknowledged.
  std::vector<std::uint8_t> target_clusters;
  std::vector<Header> out_headers;      // added to every output
  std::string dead_letter_reason;       // stable code; non-empty means dead-letter
  std::string dead_letter_detail;       // human-readable
  std::string event_id;
  std::string event_type;

  // Sink bookkeeping (owned by the sink's thread while the record is in flight).
  int pending = 0;
  int failed = 0;
  int retries = 0;  // failed deliveries so far: the backoff of the next one
  std::chrono::steady_clock::time_point sent_at{};  // last produce, for the latency metric
  // The order the sink took it in: the outputs a replaced producer left unacknowledged are
  // produced again in this order, so each output partition keeps its order.
  std::uint64_t sink_order = 0;

  // Exactly-once delivery (docs/architecture.md, "Exactly-once"): a record that is a
  // transaction marker, not an event. The ingest stage sends one after each batch (its value:
  // the consumer's group metadata, serialised); a router passes it on untouched; the sink ends
  // the open transaction on it and hands it back with the outcome.
  bool end_of_transaction = false;
  bool transaction_committed = false;  // the outcome, set by the sink on the way back

  bool dead_lettered() const { return !dead_letter_reason.empty(); }

  // Bytes its strings hold (their capacities, which reuse never shrinks): what keeping this
  // record for reuse costs (kafka_ingest frees one that grew for a large event).
  std::size_t string_bytes() const {
    std::size_t n = topic.capacity() + key.capacity() + value.capacity() + out_key.capacity() +
                    dead_letter_reason.capacity() + dead_letter_detail.capacity() +
                    event_id.capacity() + event_type.capacity() + target_clusters.capacity();
    for (const auto& t : targets) n += t.capacity();
    for (const auto& h : out_headers) n += h.name.capacity() + h.value.capacity();
    return n;
  }
};

using RecordPtr = std::unique_ptr<Record>;

}  // namespace pemx
