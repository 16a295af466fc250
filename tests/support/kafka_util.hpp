#pragma once
// Kafka helpers for integration tests: plain librdkafka, independent of PEMX's own wrappers
// so that a bug there cannot hide itself.
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace pemx::test {

// The real broker the harness started (PEMX_TEST_BROKERS); fails the test when unset.
std::string test_brokers();
// A prefix unique to this run and call, for topics and groups.
std::string unique_prefix();

struct Message {
  std::string topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  bool has_key = false;  // false: a null key (an empty one is a key)
  std::string key;
  std::string value;
  std::map<std::string, std::string> headers;
};

// Creates a topic (an existing one is fine) with `replication` replicas per partition.
// `client`: librdkafka properties added to the admin client's (a secured broker's
// security.protocol, sasl.*, ssl.ca.location).
void create_topic(const std::string& brokers, const std::string& topic, int partitions,
                  int replication = 1,
                  const std::vector<std::pair<std::string, std::string>>& client = {});
// Produces every (key, value) with acks=all and waits for every report; throws on failure.
void produce(const std::string& brokers, const std::string& topic,
             const std::vector<std::pair<std::string, std::string>>& messages);
// The same for messages with headers (Message's key, value and headers; the rest ignored).
void produce_with_headers(const std::string& brokers, const std::string& topic,
                          const std::vector<Message>& messages);
// Reads a topic from the beginning (all partitions) until `expected` messages arrived and
// then `grace` passed with nothing new, or until `timeout`.
std::vector<Message> consume_all(const std::string& brokers, const std::string& topic,
                                 std::size_t expected, std::chrono::milliseconds timeout,
                                 std::chrono::milliseconds grace = std::chrono::milliseconds(500));
// The group's committed offsets for a topic, per partition (-1 when none).
std::map<std::int32_t, std::int64_t> committed(const std::string& brokers,
                                               const std::string& group,
                                               const std::string& topic);
// Waits (bounded) until the group has committed `target` offsets of the topic in total.
bool wait_committed(const std::string& brokers, const std::string& group,
                    const std::string& topic, std::int64_t target, std::chrono::seconds timeout);
std::int64_t committed_total(const std::string& brokers, const std::string& group,
                             const std::string& topic);
// The repository's pemx.toml with every topic and group name prefixed (unless the prefix is
// empty) and every HTTP listener on a free port, as a test config.
std::string prefixed_config(const std::string& prefix);
// A field of a JSON object (string fields only), for checks.
std::string json_field(const std::string& json, const std::string& field);

}  // namespace pemx::test
