#pragma once
// Thin RAII owners of librdkafka handles, and the one place where client configs are built.
// rdkafka.h stays out of this header: handles are opaque here.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kafka/kafka_config.hpp"
#include "pemx/result.hpp"

extern "C" {
typedef struct rd_kafka_s rd_kafka_t;
typedef struct rd_kafka_conf_s rd_kafka_conf_t;
typedef struct rd_kafka_topic_partition_list_s rd_kafka_topic_partition_list_t;
typedef struct rd_kafka_headers_s rd_kafka_headers_t;
typedef struct rd_kafka_message_s rd_kafka_message_t;
typedef struct rd_kafka_error_s rd_kafka_error_t;
typedef struct rd_kafka_metadata rd_kafka_metadata_t;
}

namespace pemx::kafka {

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const;
};
struct HandleDeleter {  // closes a consumer first when it is one
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

enum class ClientKind { kProducer, kConsumer };

// Builds a conf from the shared section plus per-client settings; later entries win.
// Errors name the property and librdkafka's own explanation.
Result<ConfPtr> make_conf(const KafkaConfig& common, const Properties& client_specific);
// Producer overrides that would weaken at-least-once delivery (acks below all, idempotence
// off), one message for the operator each.
std::vector<std::string> unsafe_producer_properties(const Properties& properties);
// Checks property names and values without creating a client (for config validation).
std::optional<std::string> check_properties(const Properties& properties);
// Creates the client; takes ownership of conf only on success (librdkafka's rule).
Result<HandlePtr> make_client(ClientKind kind, ConfPtr conf);

// Waits until the cluster answers a metadata request (bounded); the error text otherwise.
std::optional<std::string> wait_for_cluster(rd_kafka_t* rk, std::chrono::milliseconds timeout);

}  // namespace pemx::kafka
