#pragma once
// The Kafka side of lineage (lineage.hpp): one lookup on the calling (worker) thread with a
// consumer of its own, made from the stage's Kafka properties (kafka::make_consumer), so it
// reads a secured cluster like every other client. The consumer is assign-only: its group.id
// is never joined and nothing is committed. A lookup:
//   1. reads the stored row (EventReader::find_event);
//   2. reads the storage message at the row's coordinates (its headers: source coordinates,
//      rules version; its timestamp: where the scans start);
//   3. asks the rules in force (EventCheck::trace) for the output topics and the key; each
//      output's partition is the key's murmur2 modulo the topic's partition count (every
//      partition without a key);
//   4. scans each output partition and every partition of the dead-letter topic from the
//      offset of (timestamp - margin) (rd_kafka_offsets_for_times), at most max_scan messages
//      each, for the pemx-event-id header; all within the settings' timeout.
// An event that is not stored has no timestamp: its dead letters are looked for among the
// last max_scan messages of each dead-letter partition, and the answer is a 404.
//
// Clusters: an output a rule sends to a [clusters.<name>] is searched on that cluster, with a
// consumer made from its brokers and properties (its TLS and SASL), on a thread of its own
// per cluster while the calling thread searches the [kafka] one (storage, outputs there, dead
// letters): a cluster that does not answer costs the others nothing, and the lookup still
// ends by the timeout. Each output names its cluster in the answer.
//
// Bounds: of each message only the headers lineage reads are copied (HeaderPicker), and the
// dead letters kept are bounded in number and bytes (HeldBudget); each consumer prefetches at
// most kLineageQueuedKbytes. A search the cluster cut short (no answer in time, an error, a
// cancel) makes its output "unknown", not "not_found"; when every search of a lookup is so,
// the answer is a 503 or 504 (lineage_unavailable).
//
// Cancel: the blocking librdkafka calls are made in slices and every poll is short, so a
// lookup ends within about half a second of cancel() (the server stops) or of its client
// going away (lookup's client_gone).
#include <atomic>
#include <memory>
#include <vector>

#include "http_front/lineage.hpp"
#include "kafka/kafka_config.hpp"
#include "pemx/event_check.hpp"
#include "pemx/event_store.hpp"
#include "pemx/log.hpp"

namespace pemx::http_front {

class KafkaLineage final : public LineageLookup {
 public:
  // kafka: the [kafka] section with brokers set to the effective list; clusters: the
  // [clusters.<name>] sections (the outputs a rule sends there are searched there). check may
  // be null (no router in the config: no outputs computed, no dead-letter topic known).
  KafkaLineage(kafka::KafkaConfig kafka, std::vector<kafka::ClusterConfig> clusters,
               LineageSettings settings, std::shared_ptr<EventReader> reader,
               std::shared_ptr<EventCheck> check, Logger log);
  Answer lookup(const std::string& event_id, const std::atomic<bool>& client_gone) override;
  void cancel() noexcept override { cancelled_.store(true); }

 private:
  kafka::KafkaConfig kafka_;
  std::vector<kafka::ClusterConfig> clusters_;
  LineageSettings settings_;
  std::shared_ptr<EventReader> reader_;
  std::shared_ptr<EventCheck> check_;
  Logger log_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace pemx::http_front
