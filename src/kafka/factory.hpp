#pragma once
// The one way PEMX makes a Kafka client. Every producer (kafka_sink, http_front's push, the
// store's dead letters, the simulator) and every consumer (kafka_ingest, simulate --watch) is
// made by make_producer or make_consumer, which
//   - build the properties in one order (below), so PEMX's delivery guarantees cannot be
//     lost by accident: a producer is idempotent with acks=all, and a client's own
//     properties that would weaken that, or make a message PEMX may produce unproducible
//     (message.max.bytes), are refused with a message for the operator;
//   - give a producer the murmur2_random partitioner unless a property names another;
//   - install the callbacks (delivery reports, rebalances, commits) with the caller's opaque,
//     and, when asked, the one error policy: a fatal librdkafka error, or the broker refusing
//     the SASL credentials (_AUTHENTICATION: retrying them cannot help), is logged and
//     reported (the supervisor drains and exits 1) unless the policy's owner recovers from a
//     fatal error itself (ErrorPolicy::recover), any other is a warning;
//   - create the client through make_client: librdkafka's lines go through the stage's
//     logger and the cluster's state to readiness (ClientLog).
// rdkafka.h stays out of this header: the callbacks take opaque handles, and error codes
// are passed as int (an rd_kafka_resp_err_t).
#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "kafka/client.hpp"

namespace pemx::kafka {

// librdkafka's delivery report callback (rd_kafka_conf_set_dr_msg_cb), with the caller's opaque.
using DeliveryCallback = void (*)(rd_kafka_t* rk, const rd_kafka_message_t* message,
                                  void* opaque);
// librdkafka's rebalance or offset-commit callback; err is an rd_kafka_resp_err_t.
using PartitionsCallback = void (*)(rd_kafka_t* rk, int err,
                                    rd_kafka_topic_partition_list_t* partitions, void* opaque);

// What a client does with librdkafka's client-level errors (its error callback).
struct ErrorPolicy {
  // Names the client in the log lines: "producer", "consumer", "dead-letter producer".
  std::string what = "producer";
  // A fatal error (the client cannot go on: an idempotent producer's sequence is lost, say)
  // is logged as "fatal <what> error" and reported here as "fatal <what> error: <reason>".
  // The broker refusing the client's SASL credentials (_AUTHENTICATION) is reported here too,
  // once per client, as "Kafka authentication failed (<what>): <reason>; <what to check>".
  // Any other error is one warning, "<what> error" (librdkafka retries by itself).
  std::function<void(const std::string&)> fatal;
  // Optional: what the operator should do about a fatal error whose underlying code is `err`
  // (an rd_kafka_resp_err_t, e.g. FENCED_INSTANCE_ID); "" when nothing specific. Appended to
  // the error line (as "hint") and to the report.
  std::function<std::string(int err)> fatal_hint;
  // Where the client's cluster-wide properties live, named in the authentication hint:
  // "[clusters.<name>.properties]" for a [clusters.<name>] producer.
  std::string properties_section = "[kafka.properties]";
  // Optional: the client's owner may recover from a fatal error itself (kafka_sink's
  // at-least-once producer replaces its producer, plugins/kafka_sink/README.md). Asked first,
  // with the error's code (an rd_kafka_resp_err_t) and reason: true, it takes over and nothing
  // is logged or reported here; false, the fatal error is logged and reported as above.
  std::function<bool(int err, const std::string& reason)> recover{};
};

struct ProducerSettings {
  KafkaConfig kafka;      // the [kafka] section; brokers: the effective list
  Properties defaults;    // PEMX's tuning for this client; [kafka] properties override them
  Properties properties;  // the client's own (a stage's `properties`): applied last, checked
  // The largest message the client must be able to produce (events.max_bytes plus PEMX's
  // headers); 0: no message.max.bytes check.
  std::size_t min_message_bytes = 0;
  void* opaque = nullptr;  // given to the callbacks
  DeliveryCallback on_delivery = nullptr;  // served by rd_kafka_poll/flush on the caller's thread
  // Unset: librdkafka logs client errors itself (through the watch) and nothing is reported.
  std::optional<ErrorPolicy> errors;
  ClientLog log;
};

struct ConsumerSettings {
  KafkaConfig kafka;      // the [kafka] section; brokers: the effective list
  Properties properties;  // the client's own: applied after [kafka] properties
  void* opaque = nullptr;  // given to the callbacks
  PartitionsCallback on_rebalance = nullptr;  // null: librdkafka assigns by itself
  PartitionsCallback on_commit = nullptr;
  std::optional<ErrorPolicy> errors;  // as for a producer
  ClientLog log;
};

// A producer's properties, in the order they are applied (a later entry wins):
//   bootstrap.servers, client.id        from [kafka]
//   partitioner = murmur2_random        kDefaultPartitioner
//   defaults                            PEMX's tuning of this client
//   [kafka] properties                  the operator's, for every client
//   enable.idempotence = true, acks = all
//   properties                          the client's own; checked by unsafe_producer_properties
// The error lists every unsafe property of `properties`, one per line.
Result<Properties> producer_properties(const ProducerSettings& settings);
// A consumer's: bootstrap.servers, client.id, [kafka] properties, then its own properties.
Properties consumer_properties(const ConsumerSettings& settings);

// Creates a producer as described above. Errors: "unsafe_property" (the checks), "bad_property"
// (librdkafka refused a property), "client_create".
Result<HandlePtr> make_producer(ProducerSettings settings);
// Creates a consumer as described above, and redirects its main queue to the consumer queue
// (rd_kafka_poll_set_consumer), so rd_kafka_consumer_poll serves every callback.
Result<HandlePtr> make_consumer(ConsumerSettings settings);

// librdkafka hands a consumer's fatal error (e.g. FENCED_INSTANCE_ID: another member took
// its group.instance.id) to the application as a consumed message with error __FATAL, not to
// the error callback. The consumer calls this then: the client's ErrorPolicy reports it like
// any fatal error. False when the client has no policy or no fatal error was raised.
bool report_consumer_fatal(rd_kafka_t* consumer);

}  // namespace pemx::kafka
