#pragma once
// Thin RAII owners of librdkafka handles (the only ones PEMX uses), and the one place where
// client configs are built and clients are created; stages and tools make their clients with
// kafka/factory.hpp, which builds on this. make_client gives every client a watch (ClientLog): librdkafka's
// own log lines go through the stage's JSON logger, never raw to stderr, and the client
// reports within seconds when the cluster stops answering.
// rdkafka.h stays out of this header: handles are opaque here.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kafka/kafka_config.hpp"
#include "pemx/log.hpp"
#include "pemx/readiness.hpp"
#include "pemx/result.hpp"
#include "pemx/topic_directory.hpp"

extern "C" {
typedef struct rd_kafka_s rd_kafka_t;
typedef struct rd_kafka_conf_s rd_kafka_conf_t;
typedef struct rd_kafka_topic_partition_list_s rd_kafka_topic_partition_list_t;
typedef struct rd_kafka_headers_s rd_kafka_headers_t;
typedef struct rd_kafka_message_s rd_kafka_message_t;
typedef struct rd_kafka_error_s rd_kafka_error_t;
typedef struct rd_kafka_metadata rd_kafka_metadata_t;
typedef struct rd_kafka_queue_s rd_kafka_queue_t;
typedef struct rd_kafka_topic_s rd_kafka_topic_t;
}

namespace pemx::kafka {

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const;
};
class ClientWatch;       // client.cpp
struct ClientCallbacks;  // factory.cpp
// Stops the client's watch (when it has one), then destroys the client (a consumer is closed
// by rd_kafka_destroy). The callbacks' state (factory.hpp) outlives the client: it goes with
// the deleter, after rd_kafka_destroy has served the last callback.
struct HandleDeleter {
  std::shared_ptr<ClientWatch> watch;
  std::shared_ptr<ClientCallbacks> callbacks;
  void operator()(rd_kafka_t* rk) const;
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const;
};
struct HeadersDeleter {
  void operator()(rd_kafka_headers_t* h) const;
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using HandlePtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const;
};
struct ErrorDeleter {
  void operator()(rd_kafka_error_t* e) const;
};
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* md) const;
};
using HeadersPtr = std::unique_ptr<rd_kafka_headers_t, HeadersDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;
using ErrorPtr = std::unique_ptr<rd_kafka_error_t, ErrorDeleter>;
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const;
};
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
// A topic handle (rd_kafka_topic_new): must go before its client.
struct TopicDeleter {
  void operator()(rd_kafka_topic_t* t) const;
};
using TopicPtr = std::unique_ptr<rd_kafka_topic_t, TopicDeleter>;

enum class ClientKind { kProducer, kConsumer };

// Builds a conf from the shared section plus per-client settings; later entries win.
// Errors name the property and librdkafka's own explanation.
Result<ConfPtr> make_conf(const KafkaConfig& common, const Properties& client_specific);
// Builds a conf from exactly these properties, in order (later entries win); errors as above.
Result<ConfPtr> conf_from(const Properties& properties);
// The partitioner of every producer PEMX creates for events: the one of the Java client and
// KafkaJS (murmur2 of the key, made positive, modulo the partition count; a random partition
// for a message without a key), so that a key lands on the partition a Java, Kafka Streams or
// KafkaJS application expects. librdkafka's own default (consistent_random, CRC32) does not.
inline constexpr const char* kDefaultPartitioner = "murmur2_random";
// make_conf for a producer: partitioner = kDefaultPartitioner comes first, so a `partitioner`
// in [kafka] properties or in the client's own properties wins.
Result<ConfPtr> make_producer_conf(const KafkaConfig& common, const Properties& client_specific);
// Producer overrides that would weaken at-least-once delivery (acks below all, idempotence
// off) or make a message PEMX may produce (up to min_message_bytes) impossible to produce
// (message.max.bytes below it), one message for the operator each.
std::vector<std::string> unsafe_producer_properties(const Properties& properties,
                                                    std::size_t min_message_bytes);
// Checks property names and values without creating a client (for config validation).
std::optional<std::string> check_properties(const Properties& properties);
// Where a client's librdkafka log lines and cluster state go.
struct ClientLog {
  Logger log;       // the stage's logger: every librdkafka line is one JSON line through it
  std::string name;  // the stage or tool the client serves: the readiness entry's name
  Readiness* readiness = nullptr;  // told whether the cluster answers; may be null
  bool probe = true;  // false: logs only (a client that talks to no cluster)
  // Told when the watch's thread fails (core/stage_thread.hpp); null: logged, then abort.
  std::function<void(const std::string&)> fatal{};
  // The config key that lists the cluster's brokers, named in the "does not answer" warning:
  // "clusters.<name>.brokers" for a [clusters.<name>] client.
  std::string brokers_key = "kafka.brokers";
};

// How the watch decides that the cluster does not answer: it asks for metadata every
// kProbeInterval, each question bounded by kProbeTimeout, and declares a problem (one JSON
// warning, and an entry in readiness) when no question got an answer for kNoAnswerAfter.
// A cluster that stops answering (down, refusing, or hung with its connections open) is thus
// reported within kNoAnswerAfter + kProbeInterval + kProbeTimeout (5 s); until the first
// answer, readiness reports "no answer yet" (no warning before kNoAnswerAfter).
inline constexpr std::chrono::milliseconds kProbeInterval{1000};
inline constexpr std::chrono::milliseconds kProbeTimeout{1000};
inline constexpr std::chrono::milliseconds kNoAnswerAfter{3000};
// librdkafka lines logged per client per second at most; the rest are counted and the count
// is given in the next line logged ("suppressed").
inline constexpr int kLibrdkafkaLinesPerSecond = 20;

// Creates the client; takes ownership of conf only on success (librdkafka's rule).
// Sets log.queue on conf: the client's log lines wait on a queue that the client's watch
// thread serves (librdkafka's threads never write to stderr) and turns into JSON lines via
// log.log, rate-limited, with the client's name, librdkafka's facility and its level mapped to
// ours (0-3 error, 4 warn, 5-6 info, 7 debug). The same thread probes the cluster (above).
Result<HandlePtr> make_client(ClientKind kind, ConfPtr conf, ClientLog log);

// Waits until the cluster answers a metadata request (bounded); the error text otherwise.
std::optional<std::string> wait_for_cluster(rd_kafka_t* rk, std::chrono::milliseconds timeout);

// A partition's low and high watermarks asked of its leader, in at most about `timeout`
// (two ListOffsets requests, for the earliest and the latest offset, through
// rd_kafka_offsets_for_times). Not rd_kafka_query_watermark_offsets: in librdkafka 2.0.2 that
// call waits for its requests' answers whatever its timeout says, so a leader that died holds
// the caller until socket.timeout.ms (60 s by default) fails the request. Returns librdkafka's
// error code (an rd_kafka_resp_err_t; 0 is success).
int query_watermarks(rd_kafka_t* rk, const char* topic, std::int32_t partition,
                     std::int64_t& low, std::int64_t& high, std::chrono::milliseconds timeout);

// Every topic of the cluster (one metadata request for all topics: it creates none, whatever
// auto.create.topics.enable says), or an error: code "timeout" when the cluster does not
// answer in `timeout`, "unreachable" when no broker is connected after `timeout` (one that
// accepted the connection and is silent), "metadata" for any other failure (refused
// connections among them: said at once).
Result<TopicSet> list_topics(rd_kafka_t* rk, std::chrono::milliseconds timeout);

// A TopicDirectory over a client the caller owns and keeps alive as long as the directory is
// used (the sink's producer: the supervisor uses it only while the stages live).
class ClientTopicDirectory final : public TopicDirectory {
 public:
  explicit ClientTopicDirectory(rd_kafka_t* rk) : rk_(rk) {}
  Result<TopicSet> topics(std::chrono::milliseconds timeout) override {
    return list_topics(rk_, timeout);
  }

 private:
  rd_kafka_t* rk_;
};

}  // namespace pemx::kafka
