#pragma once
// Record: the one thing that travels through the queues. It is move-only and circulates:
// an ingest stage creates it from a consumed message, a router fills in the decision, a sink
// delivers it and hands it back to the ingest stage through an ack queue, which then marks
// its offset as done. So the number of records alive is bounded by the queue capacities.
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
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
  std::vector<Header> out_headers;      // added to every output, after the routing headers
  // PEMX's routing headers (RoutingHeader bits; 0: none), rendered from this record's fields
  // by for_each_output_header when an output is produced, not kept as strings: a router sets
  // these bits and rules_version instead of copying a dozen header names and values into
  // every record (docs/benchmarks.md, "The routing headers rendered by the sink").
  std::uint8_t routing_headers = 0;
  std::string rules_version;            // pemx-rules-version, with kRoutingSource
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
                    rules_version.capacity() + dead_letter_reason.capacity() + dead_letter_detail.capacity() +
                    event_id.capacity() + event_type.capacity() + target_clusters.capacity();
    for (const auto& t : targets) n += t.capacity();
    for (const auto& h : out_headers) n += h.name.capacity() + h.value.capacity();
    return n;
  }
};

using RecordPtr = std::unique_ptr<Record>;

// Record::routing_headers bits.
enum RoutingHeader : std::uint8_t {
  // pemx-source-topic, pemx-source-partition, pemx-source-offset (the record's topic,
  // partition and offset) and pemx-rules-version (its rules_version).
  kRoutingSource = 1,
  kRoutingEventType = 2,  // pemx-event-type: the record's event_type
  kRoutingEventId = 4,    // pemx-event-id: the record's event_id
};

// Calls add(name, value) (two string_views, valid during the call only) for each routing
// header of `rec`, in the order outputs carry them.
template <typename Add>
void for_each_routing_header(const Record& rec, Add&& add) {
  if ((rec.routing_headers & kRoutingEventType) != 0) add("pemx-event-type", rec.event_type);
  if ((rec.routing_headers & kRoutingEventId) != 0) add("pemx-event-id", rec.event_id);
  if ((rec.routing_headers & kRoutingSource) == 0) return;
  add("pemx-source-topic", rec.topic);
  char number[24];
  auto end = std::to_chars(number, number + sizeof number, rec.partition).ptr;
  add("pemx-source-partition", std::string_view(number, static_cast<std::size_t>(end - number)));
  end = std::to_chars(number, number + sizeof number, rec.offset).ptr;
  add("pemx-source-offset", std::string_view(number, static_cast<std::size_t>(end - number)));
  add("pemx-rules-version", rec.rules_version);
}

// Every header an output of `rec` carries: the routing headers, then out_headers.
template <typename Add>
void for_each_output_header(const Record& rec, Add&& add) {
  for_each_routing_header(rec, add);
  for (const auto& h : rec.out_headers) add(std::string_view(h.name), std::string_view(h.value));
}

}  // namespace pemx
