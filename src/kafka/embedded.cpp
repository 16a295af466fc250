#include "kafka/embedded.hpp"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

namespace pemx::kafka {

Result<std::unique_ptr<EmbeddedCluster>> EmbeddedCluster::start(const EmbeddedConfig& config) {
  std::unique_ptr<EmbeddedCluster> self(new EmbeddedCluster());
  ConfPtr conf(rd_kafka_conf_new());
  char errstr[256];
  // The owner client never connects anywhere; it only hosts the mock brokers.
  rd_kafka_conf_set(conf.get(), "client.id", "pemx-embedded-cluster", errstr, sizeof errstr);
  // It has no brokers to talk to: nothing to probe, and its lines are dropped (null logger).
  auto client = make_client(ClientKind::kProducer, std::move(conf),
                            ClientLog{Logger(), "embedded", nullptr, false});
  if (!client) return client.error();
  self->owner_ = std::move(client.value());
  self->cluster_ = rd_kafka_mock_cluster_new(self->owner_.get(), config.brokers);
  if (self->cluster_ == nullptr) {
    return Error{"embedded", "could not start the embedded Kafka cluster"};
  }
  self->bootstrap_ = rd_kafka_mock_cluster_bootstraps(self->cluster_);
  for (const auto& topic : config.topics) {
    auto created = self->create_topic(topic, config.partitions);
    if (!created) return created.error();
  }
  return self;
}

Result<bool> EmbeddedCluster::create_topic(const std::string& topic, int partitions) {
  rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, 1);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
    return Error{"embedded", "creating topic " + topic + ": " + rd_kafka_err2str(err)};
  }
  return true;
}

Result<bool> EmbeddedCluster::set_partition_leader(const std::string& topic, int partition,
                                                   int broker) {
  rd_kafka_resp_err_t err =
      rd_kafka_mock_partition_set_leader(cluster_, topic.c_str(), partition, broker);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Error{"embedded", "setting the leader of " + topic + ": " + rd_kafka_err2str(err)};
  }
  return true;
}

Result<bool> EmbeddedCluster::set_broker_rtt(int broker, std::chrono::milliseconds rtt) {
  rd_kafka_resp_err_t err =
      rd_kafka_mock_broker_set_rtt(cluster_, broker, static_cast<int>(rtt.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Error{"embedded", "setting broker " + std::to_string(broker) + "'s round trip: " +
                                 rd_kafka_err2str(err)};
  }
  return true;
}

EmbeddedCluster::~EmbeddedCluster() {
  if (cluster_ != nullptr) rd_kafka_mock_cluster_destroy(cluster_);
}

}  // namespace pemx::kafka
