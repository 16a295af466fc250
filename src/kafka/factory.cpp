#include "kafka/factory.hpp"

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <memory>
#include <utility>

namespace pemx::kafka {

// What the callbacks of one client need: the caller's callbacks and opaque, and the error
// policy. librdkafka has one opaque per client, so it points here and the trampolines below
// hand the caller its own opaque. Owned by the client's HandleDeleter, destroyed after the
// client (no callback can run then).
struct ClientCallbacks {
  void* opaque = nullptr;
  DeliveryCallback on_delivery = nullptr;
  PartitionsCallback on_rebalance = nullptr;
  PartitionsCallback on_commit = nullptr;
  std::optional<ErrorPolicy> errors;
  Logger log;
  std::atomic<bool> authentication_failed{false};  // reported once (error_trampoline)
};

namespace {

ClientCallbacks* callbacks_of(void* opaque) { return static_cast<ClientCallbacks*>(opaque); }

void delivery_trampoline(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque) {
  auto* cb = callbacks_of(opaque);
  cb->on_delivery(rk, m, cb->opaque);
}
void rebalance_trampoline(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* parts, void* opaque) {
  auto* cb = callbacks_of(opaque);
  cb->on_rebalance(rk, err, parts, cb->opaque);
}
void commit_trampoline(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                       rd_kafka_topic_partition_list_t* offsets, void* opaque) {
  auto* cb = callbacks_of(opaque);
  cb->on_commit(rk, err, offsets, cb->opaque);
}
// The fatal half of the error policy: one error line (with the hint, if any) and the report,
// unless the owner recovers (ErrorPolicy::recover).
void report_fatal(rd_kafka_t* rk, const ClientCallbacks& cb) {
  const ErrorPolicy& policy = *cb.errors;
  char buf[512];
  rd_kafka_resp_err_t cause = rd_kafka_fatal_error(rk, buf, sizeof buf);
  if (policy.recover && policy.recover(cause, buf)) return;
  std::string hint = policy.fatal_hint ? policy.fatal_hint(cause) : std::string();
  const char* code = rd_kafka_err2name(cause);
  if (hint.empty()) {
    cb.log.error("fatal " + policy.what + " error", {{"error", buf}, {"code", code}});
  } else {
    cb.log.error("fatal " + policy.what + " error",
                 {{"error", buf}, {"code", code}, {"hint", hint}});
  }
  if (policy.fatal) {
    policy.fatal("fatal " + policy.what + " error: " + buf + (hint.empty() ? "" : "; " + hint));
  }
}

// The broker refused the client's SASL credentials (wrong user or password, a mechanism it
// does not enable). librdkafka would retry the same credentials forever, one warning each,
// while readiness said only that the cluster does not answer: so it is fatal here, reported
// once per client with what to fix. librdkafka's reason never holds the password.
void report_authentication(const ClientCallbacks& cb, const char* reason) {
  const ErrorPolicy& policy = *cb.errors;
  const std::string hint =
      "check sasl.username and sasl.password (and sasl.mechanisms) in " +
      policy.properties_section + " or the stage's properties against the broker's users; PEMX "
      "stops";
  cb.log.error("Kafka authentication failed",
               {{"client", policy.what}, {"error", reason}, {"code", "_AUTHENTICATION"},
                {"hint", hint}});
  if (policy.fatal) {
    policy.fatal("Kafka authentication failed (" + policy.what + "): " + reason + "; " + hint);
  }
}

// The one error policy (ErrorPolicy). Runs on the thread that polls the client.
void error_trampoline(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* cb = callbacks_of(opaque);
  const ErrorPolicy& policy = *cb->errors;
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    report_fatal(rk, *cb);
    return;
  }
  if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION) {
    if (!cb->authentication_failed.exchange(true)) report_authentication(*cb, reason);
    return;
  }
  cb->log.warn(policy.what + " error",
               {{"error", reason},
                {"code", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err))}});
}

Properties base_properties(const KafkaConfig& kafka) {
  return {{"bootstrap.servers", kafka.brokers}, {"client.id", kafka.client_id}};
}
void append(Properties& to, const Properties& from) { to.insert(to.end(), from.begin(), from.end()); }

// Installs the callbacks on conf (opaque: cb) and creates the client, which then owns cb.
Result<HandlePtr> create(ClientKind kind, ConfPtr conf, std::unique_ptr<ClientCallbacks> cb,
                         ClientLog log) {
  rd_kafka_conf_t* c = conf.get();
  rd_kafka_conf_set_opaque(c, cb.get());
  if (cb->on_delivery != nullptr) rd_kafka_conf_set_dr_msg_cb(c, &delivery_trampoline);
  if (cb->on_rebalance != nullptr) rd_kafka_conf_set_rebalance_cb(c, &rebalance_trampoline);
  if (cb->on_commit != nullptr) rd_kafka_conf_set_offset_commit_cb(c, &commit_trampoline);
  if (cb->errors) rd_kafka_conf_set_error_cb(c, &error_trampoline);
  auto client = make_client(kind, std::move(conf), std::move(log));
  if (!client) return client.error();
  client.value().get_deleter().callbacks = std::shared_ptr<ClientCallbacks>(std::move(cb));
  return client;
}

}  // namespace

Result<Properties> producer_properties(const ProducerSettings& s) {
  std::string unsafe;
  for (const auto& line : unsafe_producer_properties(s.properties, s.min_message_bytes)) {
    unsafe += (unsafe.empty() ? "" : "\n") + line;
  }
  if (!unsafe.empty()) return Error{"unsafe_property", unsafe};
  Properties all = base_properties(s.kafka);
  all.emplace_back("partitioner", kDefaultPartitioner);
  append(all, s.defaults);
  append(all, s.kafka.properties);
  all.emplace_back("enable.idempotence", "true");
  all.emplace_back("acks", "all");
  append(all, s.properties);
  return all;
}

Properties consumer_properties(const ConsumerSettings& s) {
  Properties all = base_properties(s.kafka);
  append(all, s.kafka.properties);
  append(all, s.properties);
  return all;
}

bool report_consumer_fatal(rd_kafka_t* rk) {
  auto* cb = callbacks_of(rd_kafka_opaque(rk));
  if (cb == nullptr || !cb->errors || rd_kafka_fatal_error(rk, nullptr, 0) == 0) return false;
  report_fatal(rk, *cb);
  return true;
}

Result<HandlePtr> make_producer(ProducerSettings s) {
  auto properties = producer_properties(s);
  if (!properties) return properties.error();
  auto conf = conf_from(properties.value());
  if (!conf) return conf.error();
  auto cb = std::make_unique<ClientCallbacks>();
  cb->opaque = s.opaque;
  cb->on_delivery = s.on_delivery;
  cb->errors = std::move(s.errors);
  cb->log = s.log.log;
  if (!s.log.fatal && cb->errors) s.log.fatal = cb->errors->fatal;
  return create(ClientKind::kProducer, std::move(conf.value()), std::move(cb), std::move(s.log));
}

Result<HandlePtr> make_consumer(ConsumerSettings s) {
  auto conf = conf_from(consumer_properties(s));
  if (!conf) return conf.error();
  auto cb = std::make_unique<ClientCallbacks>();
  cb->opaque = s.opaque;
  cb->on_rebalance = s.on_rebalance;
  cb->on_commit = s.on_commit;
  cb->errors = std::move(s.errors);
  cb->log = s.log.log;
  if (!s.log.fatal && cb->errors) s.log.fatal = cb->errors->fatal;
  auto client =
      create(ClientKind::kConsumer, std::move(conf.value()), std::move(cb), std::move(s.log));
  if (!client) return client;
  if (rd_kafka_resp_err_t err = rd_kafka_poll_set_consumer(client.value().get())) {
    return Error{"client_create",
                 std::string("redirecting the consumer's queue: ") + rd_kafka_err2str(err)};
  }
  return client;
}

}  // namespace pemx::kafka
