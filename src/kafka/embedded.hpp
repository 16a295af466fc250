#pragma once
// EmbeddedCluster: librdkafka's in-process mock cluster, for demos and tests only.
// It keeps data in memory, keeps only a few MiB per partition (older data is silently
// dropped), lacks CreateTopics/DescribeGroups, and delays the first group rebalance by
// about 3 s. Topics the roles need are pre-created with enough partitions.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "kafka/client.hpp"
#include "pemx/result.hpp"

extern "C" {
typedef struct rd_kafka_mock_cluster_s rd_kafka_mock_cluster_t;
}

namespace pemx::kafka {

class EmbeddedCluster {
 public:
  static Result<std::unique_ptr<EmbeddedCluster>> start(const EmbeddedConfig& config);
  ~EmbeddedCluster();
  EmbeddedCluster(const EmbeddedCluster&) = delete;
  EmbeddedCluster& operator=(const EmbeddedCluster&) = delete;

  // "127.0.0.1:port,…": what kcat or another process can use.
  const std::string& bootstrap() const { return bootstrap_; }
  Result<bool> create_topic(const std::string& topic, int partitions);
  // Fault injection (tests): the partition's leader becomes `broker` (-1: none, so producing
  // to it waits until the message times out).
  Result<bool> set_partition_leader(const std::string& topic, int partition, int broker);
  // Fault injection (tests): every answer of `broker` (ids from 1) is held back for `rtt`.
  Result<bool> set_broker_rtt(int broker, std::chrono::milliseconds rtt);

 private:
  EmbeddedCluster() = default;
  HandlePtr owner_;  // the mock cluster runs on this client's threads
  rd_kafka_mock_cluster_t* cluster_ = nullptr;  // destroyed before owner_
  std::string bootstrap_;
};

}  // namespace pemx::kafka
