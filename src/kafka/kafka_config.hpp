#pragma once
// The [kafka] section shared by every stage that talks to Kafka.
#include <cstddef>
#include <string>
#include <string_view>
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

// The name of the [kafka] cluster where a cluster is named (a rule's `cluster`, the sink's
// metrics, `pemx route`): the main one, where every rule without a `cluster` sends.
inline constexpr std::string_view kMainCluster = "kafka";
// At most this many [clusters.<name>] sections: an output's cluster is one byte.
inline constexpr std::size_t kMaxClusters = 64;

// A [clusters.<name>] section: another cluster a rule may send to (`cluster = "<name>"`),
// with its own brokers and client properties ([kafka.properties] are not inherited: another
// cluster has its own credentials). Its index in CommonConfig::clusters plus one is its
// number in a routed record (Record::target_clusters; 0 is [kafka]).
struct ClusterConfig {
  std::string name;
  std::string brokers;
  std::string client_id;  // default: kafka.client_id
  Properties properties;
};

struct KafkaConfig {
  std::string brokers = "localhost:9092";  // or "embedded"
  std::string client_id = "pemx-platform";
  Properties properties;  // passed to librdkafka as they are (SASL, TLS, tuning)
  EmbeddedConfig embedded;

  bool is_embedded() const { return brokers == "embedded"; }
};

}  // namespace pemx::kafka
