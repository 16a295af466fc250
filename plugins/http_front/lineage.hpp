#pragma once
// Lineage (GET /event/{eventId}/lineage): where one event came from and where it went, found
// after the fact from what the dist role wrote, never on the hot path. The stored row holds the
// storage topic's coordinates; the storage message's headers (rules_router: pemx-source-*,
// pemx-rules-version) give the source coordinates and the rules version; the rules in force
// give the output topics, the key's murmur2 their partitions, and a bounded scan from the
// storage message's time finds each output (and the dead letters) by its pemx-event-id header.
//
// This file is the pure core (no IO, no threads): the path, the headers, the partition of a
// key, and the answers. lineage_kafka.hpp does the IO.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "http_front/api.hpp"
#include "pemx/event_store.hpp"

namespace pemx::http_front {

// [stages.<http>] lineage keys (docs/configuration.md).
struct LineageSettings {
  bool enabled = true;
  std::size_t max_concurrent = 2;           // lookups at once; more: 503 with Retry-After
  std::size_t max_scan = 10000;             // messages read per partition at most
  std::chrono::milliseconds timeout{10'000};  // one lookup's total time
  std::chrono::milliseconds margin{5'000};    // scans start this long before the stored message
};

inline constexpr std::string_view kLineagePrefix = "/event/";
inline constexpr std::string_view kLineageSuffix = "/lineage";
inline constexpr std::size_t kMaxLineageIdBytes = 1024;  // rules_router's kMaxIdHeaderBytes

// True for "/event/{eventId}/lineage" with a non-empty segment.
bool is_lineage_path(std::string_view path);
// The eventId of such a path, percent-decoded; the 400 when the segment is malformed (bad
// escape, not UTF-8, a '/' in it, longer than kMaxLineageIdBytes).
std::variant<std::string, Answer> lineage_event_id(std::string_view path);

using MessageHeaders = std::vector<std::pair<std::string, std::string>>;
// The last value of a header, nullopt when absent.
std::optional<std::string> header_value(const MessageHeaders& headers, std::string_view name);

// What the router wrote on a routed or dead-lettered message (rules_router.cpp).
struct RouterHeaders {
  std::optional<std::string> event_id;
  std::optional<std::string> source_topic;
  std::optional<std::int32_t> source_partition;  // absent also when not a number
  std::optional<std::int64_t> source_offset;
  std::optional<std::string> rules_version;
  std::optional<std::string> dlq_reason;  // dead letters only
  std::optional<std::string> dlq_detail;
  std::optional<std::string> dlq_stage;
};
RouterHeaders parse_router_headers(const MessageHeaders& headers);

// Kafka's murmur2 of a key (its Java client's Utils.murmur2: seed 0x9747b28c).
std::int32_t murmur2(std::string_view key);
// The partition librdkafka's murmur2_random partitioner (PEMX's producers) gives a non-empty
// key: (murmur2(key) & 0x7fffffff) % partitions. An empty key has none (a random one).
std::int32_t key_partition(std::string_view key, std::int32_t partitions);

// One message found by a scan.
struct FoundMessage {
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::int64_t timestamp_ms = -1;
  MessageHeaders headers;
};

// One output topic of the rules in force, and what the scan found there.
struct OutputLookup {
  std::string topic;
  std::vector<std::int32_t> partitions;  // scanned (the key's; every one without a key)
  std::optional<FoundMessage> found;
  std::string why_not;        // when not found: what happened, for the operator
  std::size_t scanned = 0;    // messages read
};

// What a lookup found; lineage_answer turns it into JSON.
struct LineageReport {
  std::string event_id;
  std::optional<StoredRow> row;  // nullopt: not stored (the answer is a 404)
  // The storage message at the row's coordinates, or why it could not be read.
  std::optional<FoundMessage> storage;
  std::string storage_problem;
  // The rules in force: their version, and their decision for the stored event.
  bool rules_known = false;  // false: no router in this config, outputs not computed
  std::string rules_version;
  std::string key;
  std::string dead_letter_topic;
  std::string routed_reason;  // the rules in force would dead-letter it: their reason
  std::string routed_detail;
  std::vector<OutputLookup> outputs;
  // Dead letters of this eventId in dead_letter_topic, and how the scan went.
  std::vector<FoundMessage> dead_letters;
  std::size_t dead_letter_scanned = 0;
  std::string dead_letter_problem;  // e.g. the topic is missing; empty when the scan ran
  std::string dead_letter_bounds;   // "from offsets at 2024-…" / "the last 10000 of each …"
};

// 200 (stored) or 404 (not stored, dead letters still listed), as JSON:
// {"eventId", "row": {...}, "storage": {topic, partition, offset, timestamp, headers_ok},
//  "source": {topic, partition, offset}, "rulesVersion": {"routed": …, "current": …,
//  "changed": bool}, "outputs": [{topic, status: "found"|"not_found", partition, offset,
//  timestamp, scanned, reason}], "deadLetters": [{topic, partition, offset, timestamp,
//  reason, detail, stage}], "deadLetterScan": {...}}.
Answer lineage_answer(const LineageReport& report);

// What the server asks for a lineage: the Kafka one (lineage_kafka.hpp), or a test's.
class LineageLookup {
 public:
  virtual ~LineageLookup() = default;
  // Blocks (the store, then Kafka) for at most the settings' timeout: a worker thread only.
  virtual Answer lookup(const std::string& event_id) = 0;
  // Lookups under way end at their next poll (the server stops). Any thread, idempotent.
  virtual void cancel() noexcept = 0;
};

}  // namespace pemx::http_front
