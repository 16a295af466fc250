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
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
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

// What one lookup holds at most, whatever the topics hold (a dead-letter topic full of
// messages of this eventId with megabytes of headers each must not grow the process):
// only the headers lineage reads are kept (kLineageHeaders), each value cut at
// kMaxLineageHeaderBytes; at most kMaxLineageDeadLetters dead letters are reported, and the
// messages kept (their topics and headers) are at most kMaxLineageHeldBytes in all.
inline constexpr std::size_t kMaxLineageHeaderBytes = 1024;  // = kMaxLineageIdBytes
inline constexpr std::size_t kMaxLineageDeadLetters = 100;
inline constexpr std::size_t kMaxLineageHeldBytes = 1024 * 1024;
// The headers the router and the sink write that lineage reads; every other one is skipped.
inline constexpr std::string_view kLineageHeaders[] = {
    "pemx-event-id",      "pemx-source-topic", "pemx-source-partition",
    "pemx-source-offset", "pemx-rules-version", "pemx-dlq-reason",
    "pemx-dlq-detail",    "pemx-dlq-stage"};

// Picks the headers lineage keeps from a message's, offered one at a time in their order
// (the Kafka side offers librdkafka's views, copying nothing else): the kLineageHeaders only,
// the last value of each name, a value longer than kMaxLineageHeaderBytes cut there (at a
// UTF-8 boundary) and marked with a trailing "…". At most
// size(kLineageHeaders) * (kMaxLineageHeaderBytes + 3) bytes of values, however many headers
// are offered.
class HeaderPicker {
 public:
  void offer(std::string_view name, std::string_view value);
  // The kept headers, in kLineageHeaders' order; the picker is empty afterwards.
  MessageHeaders take();
  // Headers offered but not kept (other names, or values cut), for the tests.
  std::size_t skipped() const { return skipped_; }

 private:
  std::optional<std::string> kept_[std::size(kLineageHeaders)];
  std::size_t skipped_ = 0;
};
// A value cut to at most `max` bytes at a UTF-8 boundary, plus "…" when cut.
std::string cut_header_value(std::string_view value, std::size_t max);
// The value as valid UTF-8: each byte that starts no valid sequence becomes U+FFFD.
std::string lossy_utf8(std::string_view value);

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
  MessageHeaders headers;  // the kept ones only (HeaderPicker)
};
// The bytes a kept message holds (its topic, header names and values), for HeldBudget.
std::size_t held_bytes(const FoundMessage& m);

// The bytes and dead letters one lookup holds (kMaxLineageHeldBytes, kMaxLineageDeadLetters).
// The storage message and one message per output are always kept (the rules bound them);
// a dead letter past either limit is not, and the answer says truncated.
class HeldBudget {
 public:
  HeldBudget(std::size_t max_bytes = kMaxLineageHeldBytes,
             std::size_t max_dead_letters = kMaxLineageDeadLetters)
      : max_bytes_(max_bytes), max_dead_letters_(max_dead_letters) {}
  void keep(const FoundMessage& m) { held_ += held_bytes(m); }
  // True (and counted) when a dead letter fits; false sets truncated().
  bool admit_dead_letter(const FoundMessage& m);
  bool truncated() const { return truncated_; }
  std::size_t held() const { return held_; }

 private:
  std::size_t max_bytes_;
  std::size_t max_dead_letters_;
  std::size_t held_ = 0;
  std::size_t dead_letters_ = 0;
  bool truncated_ = false;
};

// The name of the [kafka] cluster in an answer (kafka::kMainCluster).
inline constexpr std::string_view kLineageMainCluster = "kafka";

// One output topic of the rules in force, and what the scan found there.
struct OutputLookup {
  std::string topic;
  std::string cluster{kLineageMainCluster};  // the rule's cluster: "kafka" or a [clusters.*]
  std::vector<std::int32_t> partitions;  // scanned (the key's; every one without a key)
  std::optional<FoundMessage> found;
  // Not found, and the search did not finish (the cluster did not answer in time, an error,
  // the lookup cancelled): the output may be there. The answer says "unknown", not "not_found".
  bool unknown = false;
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
  bool storage_unknown = false;  // storage_problem is the cluster's (no answer, an error)
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
  bool dead_letters_unknown = false;    // the scan did not finish: there may be more
  bool dead_letters_truncated = false;  // more were found than one lookup keeps (HeldBudget)
  // A search ended at lineage_timeout (not an error): a lookup that searched nothing is then
  // a 504, else a 503.
  bool timed_out = false;
};

// 503 or 504 when no Kafka search of the lookup finished (the storage message, every output
// and the dead letters all unknown: the cluster down or silent), nullopt otherwise.
std::optional<int> lineage_unavailable(const LineageReport& report);

// 200 (stored) or 404 (not stored, dead letters still listed), as JSON:
// {"eventId", "row": {...}, "storage": {topic, partition, offset, timestamp, headers_ok},
//  "source": {topic, partition, offset}, "rulesVersion": {"routed": …, "current": …,
//  "changed": bool}, "outputs": [{topic, cluster, status: "found"|"not_found"|"unknown",
//  partition, offset, timestamp, scanned, reason}], "deadLetters": [{topic, partition, offset,
//  timestamp, reason, detail, stage}], "deadLetterScan": {..., complete, truncated}}; 503
// (Retry-After) or 504 with the same body and an "error" when nothing could be searched
// (lineage_unavailable).
Answer lineage_answer(const LineageReport& report);

// What the server asks for a lineage: the Kafka one (lineage_kafka.hpp), or a test's.
class LineageLookup {
 public:
  virtual ~LineageLookup() = default;
  // Blocks (the store, then Kafka) for at most the settings' timeout: a worker thread only.
  // client_gone: set from another thread when the client disconnected; the lookup then ends
  // at its next poll, as after cancel().
  virtual Answer lookup(const std::string& event_id, const std::atomic<bool>& client_gone) = 0;
  // Lookups under way end at their next poll (the server stops). Any thread, idempotent.
  virtual void cancel() noexcept = 0;
};

}  // namespace pemx::http_front
