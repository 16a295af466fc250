#include "support/kafka_util.hpp"

#include <librdkafka/rdkafka.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <thread>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <memory>
#include <random>
#include <stdexcept>

#include "kafka/client.hpp"
#include "support/process.hpp"

namespace pemx::test {

namespace {
// Plain librdkafka clients (no PEMX factory: a bug there must not hide itself), with PEMX's
// RAII owners.
using Handle = kafka::HandlePtr;

Handle make(rd_kafka_type_t type, const std::string& brokers,
            std::vector<std::pair<std::string, std::string>> props) {
  kafka::ConfPtr conf(rd_kafka_conf_new());
  char err[512];
  props.insert(props.begin(), {"bootstrap.servers", brokers});
  props.emplace_back("log_level", "3");
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), err, sizeof err) !=
        RD_KAFKA_CONF_OK) {
      throw std::runtime_error(err);
    }
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), err, sizeof err);
  if (rk == nullptr) throw std::runtime_error(err);  // conf still ours: freed by conf
  static_cast<void>(conf.release());  // rd_kafka_new took ownership of conf on success
  return Handle(rk);
}

int partition_count(rd_kafka_t* rk, const std::string& topic, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    rd_kafka_topic_t* t = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    int n = 0;
    if (rd_kafka_metadata(rk, 0, t, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        n = md->topics[0].partition_cnt;
      }
      rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(t);
    if (n > 0) return n;
    usleep(200'000);
  }
  return 0;
}
}  // namespace

std::string test_brokers() {
  const char* b = std::getenv("PEMX_TEST_BROKERS");
  if (b == nullptr || *b == '\0') {
    FAIL("PEMX_TEST_BROKERS is not set: run the integration tests through scripts/test.sh, "
         "which starts the Kafka test broker");
  }
  return b;
}

std::string unique_prefix() {
  static std::atomic<int> counter{0};
  static const unsigned seed = std::random_device{}();
  return "t" + std::to_string(getpid()) + "x" + std::to_string(seed % 100000) + "n" +
         std::to_string(counter++);
}

void create_topic(const std::string& brokers, const std::string& topic, int partitions,
                  int replication,
                  const std::vector<std::pair<std::string, std::string>>& client) {
  Handle rk = make(RD_KAFKA_PRODUCER, brokers, client);
  char err[512];
  rd_kafka_NewTopic_t* nt =
      rd_kafka_NewTopic_new(topic.c_str(), partitions, replication, err, sizeof err);
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk.get());
  rd_kafka_CreateTopics(rk.get(), &nt, 1, nullptr, q);
  rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 30000);
  std::string problem;
  if (ev == nullptr) {
    problem = "CreateTopics timed out";
  } else {
    size_t cnt = 0;
    const rd_kafka_topic_result_t** res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
    if (rd_kafka_event_error(ev) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      problem = rd_kafka_event_error_string(ev);
    } else if (cnt == 1 && rd_kafka_topic_result_error(res[0]) != RD_KAFKA_RESP_ERR_NO_ERROR &&
               rd_kafka_topic_result_error(res[0]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      problem = rd_kafka_topic_result_error_string(res[0]);
    }
    rd_kafka_event_destroy(ev);
  }
  rd_kafka_queue_destroy(q);
  rd_kafka_NewTopic_destroy(nt);
  if (!problem.empty()) throw std::runtime_error("create topic " + topic + ": " + problem);
  if (partition_count(rk.get(), topic, std::chrono::seconds(30)) != partitions) {
    throw std::runtime_error("topic " + topic + " did not appear");
  }
}

void produce(const std::string& brokers, const std::string& topic,
             const std::vector<std::pair<std::string, std::string>>& messages) {
  Handle rk = make(RD_KAFKA_PRODUCER, brokers,
                   {{"enable.idempotence", "true"}, {"linger.ms", "5"},
                    {"queue.buffering.max.messages", "1000000"},
                    // Up to what the broker takes by default (its max.message.bytes), so tests
                    // can send what a producer elsewhere could.
                    {"message.max.bytes", "1048000"}});
  std::atomic<std::size_t> failed{0};
  for (const auto& [key, value] : messages) {
    for (;;) {
      rd_kafka_resp_err_t e = rd_kafka_producev(
          rk.get(), RD_KAFKA_V_TOPIC(topic.c_str()),
          RD_KAFKA_V_KEY(key.data(), key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk.get(), 100);
        continue;
      }
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR) throw std::runtime_error(rd_kafka_err2str(e));
      break;
    }
    rd_kafka_poll(rk.get(), 0);
  }
  if (rd_kafka_flush(rk.get(), 120000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("produce: flush timed out");
  }
}

void produce_with_headers(const std::string& brokers, const std::string& topic,
                          const std::vector<Message>& messages) {
  Handle rk = make(RD_KAFKA_PRODUCER, brokers,
                   {{"enable.idempotence", "true"}, {"message.max.bytes", "1048000"}});
  for (const auto& m : messages) {
    for (;;) {
      rd_kafka_headers_t* headers = rd_kafka_headers_new(m.headers.size());
      for (const auto& [name, value] : m.headers) {
        rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()), value.data(),
                            static_cast<ssize_t>(value.size()));
      }
      // On success the message owns the headers; on failure they are still ours.
      rd_kafka_resp_err_t e = rd_kafka_producev(
          rk.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(m.key.data(), m.key.size()),
          RD_KAFKA_V_VALUE(const_cast<char*>(m.value.data()), m.value.size()),
          RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR) rd_kafka_headers_destroy(headers);
      if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(rk.get(), 100);
        continue;
      }
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR) throw std::runtime_error(rd_kafka_err2str(e));
      break;
    }
    rd_kafka_poll(rk.get(), 0);
  }
  if (rd_kafka_flush(rk.get(), 120000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error("produce: flush timed out");
  }
}

std::vector<Message> consume_all(const std::string& brokers, const std::string& topic,
                                 std::size_t expected, std::chrono::milliseconds timeout,
                                 std::chrono::milliseconds grace) {
  Handle rk = make(RD_KAFKA_CONSUMER, brokers,
                   {{"group.id", unique_prefix() + "-reader"},
                    {"enable.auto.commit", "false"},
                    // librdkafka's default, said out loud: the exactly-once tests rely on it
                    // (only committed transactions are read).
                    {"isolation.level", "read_committed"},
                    {"allow.auto.create.topics", "false"}});
  std::vector<Message> out;
  auto start = std::chrono::steady_clock::now();
  int n = partition_count(rk.get(), topic, expected == 0 ? grace : timeout);
  if (n == 0) return out;
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(n);
  for (int p = 0; p < n; ++p) {
    rd_kafka_topic_partition_list_add(parts, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(rk.get(), parts);
  rd_kafka_topic_partition_list_destroy(parts);
  auto last_new = std::chrono::steady_clock::now();
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (now - start > timeout) break;
    if (out.size() >= expected && now - last_new > grace) break;
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk.get(), 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      Message msg;
      msg.topic = topic;
      msg.partition = m->partition;
      msg.offset = m->offset;
      msg.has_key = m->key != nullptr;
      if (m->key) msg.key.assign(static_cast<const char*>(m->key), m->key_len);
      if (m->payload) msg.value.assign(static_cast<const char*>(m->payload), m->len);
      rd_kafka_headers_t* hdrs = nullptr;
      if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name;
        const void* val;
        size_t size;
        for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) ==
                           RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i) {
          msg.headers[name] = std::string(static_cast<const char*>(val), size);
        }
      }
      out.push_back(std::move(msg));
      last_new = std::chrono::steady_clock::now();
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk.get());
  return out;
}

std::map<std::int32_t, std::int64_t> committed(const std::string& brokers,
                                               const std::string& group,
                                               const std::string& topic) {
  Handle rk = make(RD_KAFKA_CONSUMER, brokers, {{"group.id", group},
                                                {"allow.auto.create.topics", "false"}});
  std::map<std::int32_t, std::int64_t> out;
  int n = partition_count(rk.get(), topic, std::chrono::seconds(10));
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(n);
  for (int p = 0; p < n; ++p) rd_kafka_topic_partition_list_add(parts, topic.c_str(), p);
  const rd_kafka_resp_err_t err = rd_kafka_committed(rk.get(), parts, 10000);
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < parts->cnt; ++i) out[parts->elems[i].partition] = parts->elems[i].offset;
  } else {
    // Read as nothing committed; said, so that a failed read is not taken for a lost commit.
    UNSCOPED_INFO("reading the committed offsets of group " << group << " on " << topic
                                                            << " failed: " << rd_kafka_err2str(err));
  }
  rd_kafka_topic_partition_list_destroy(parts);
  return out;
}

std::int64_t committed_total(const std::string& brokers, const std::string& group,
                             const std::string& topic) {
  std::int64_t total = 0;
  for (const auto& [p, o] : committed(brokers, group, topic)) total += o > 0 ? o : 0;
  return total;
}

bool wait_committed(const std::string& brokers, const std::string& group,
                    const std::string& topic, std::int64_t target, std::chrono::seconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (committed_total(brokers, group, topic) >= target) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

std::string prefixed_config(const std::string& prefix) {
  std::string text = read_file(std::string(PEMX_SOURCE_DIR) + "/pemx.toml");
  REQUIRE(!text.empty());
  for (const char* name : {"product-event", "product-price-update", "country-",
                                  "specific-product-discount-update"}) {
    if (prefix.empty()) break;
    std::string from = std::string("\"") + name;
    std::string to = "\"" + prefix + "-" + name;
    for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size())) {
      text.replace(pos, from.size(), to);
    }
  }
  // Every listener on a free port, so tests never collide with each other or a running pemx.
  for (const std::string_view from : {"\"127.0.0.1:8080\"", "\"127.0.0.1:8081\""}) {
    for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos)) {
      text.replace(pos, from.size(), "\"127.0.0.1:0\"");
    }
  }
  return text;
}

std::string json_field(const std::string& json, const std::string& field) {
  rapidjson::Document d;
  d.Parse(json.c_str());
  if (d.HasParseError() || !d.IsObject()) return {};
  auto it = d.FindMember(field.c_str());
  if (it == d.MemberEnd() || !it->value.IsString()) return {};
  return it->value.GetString();
}

}  // namespace pemx::test
