#pragma once
// The [kafka] section shared by every stage that talks to Kafka.
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace pemx::kafka {

using Properties = std::vector<std::pair<std::string, std::string>>;

// At most this many of the stages' topics are pre-created on the embedded cluster (start-up
// stays quick whatever the rules' allowed values render); the others on first use.
inline constexpr std::size_t kMaxPrecreatedTopics = 256;

struct EmbeddedConfig {
  int brokers = 1;     // mock brokers in the embedded cluster
  int partitions = 3;  // partitions of each pre-created topic
  std::vector<std::string> topics;  // extra topics to pre-create
};

struct KafkaConfig {
  std::string brokers = "localhost:9092";  // or "embedded"
  std::string client_id = "pemx-platform";
  Properties properties;  // passed to librdkafka as they are (SASL, TLS, tuning)
  EmbeddedConfig embedded;

  bool is_embedded() const { return brokers == "embedded"; }
};

}  // namespace pemx::kafka
