// Broker failover: --role=all (routing and SQLite storing) on a three-broker KRaft cluster
// (PEMX_TEST_CLUSTER, started by scripts/test.sh with `tests/broker/kafka.sh start-cluster`:
// replication 3, min.insync.replicas 2). One broker, the leader of input partition 0, is
// killed with SIGKILL mid-stream; pemx must keep routing and storing on the two others,
// stay ready, and in the end every input event must be on its output topics and exactly once
// in the store. Skipped when PEMX_TEST_CLUSTER is unset.
#include <catch2/catch.hpp>
#include <librdkafka/rdkafka.h>
#include <sqlite3.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <stdexcept>
#include <thread>

#include "integration/pemx_runner.hpp"
#include "integration/phased_producer.hpp"
#include "integration/web_util.hpp"
#include "kafka/client.hpp"
#include "sim/event_generator.hpp"

using namespace pemx::test;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

// The cluster as the brokers report it: each broker's port, and each input partition's leader.
struct ClusterView {
  std::map<std::int32_t, int> port_of;    // broker id -> its port on 127.0.0.1
  std::map<std::int32_t, std::int32_t> leader_of;  // partition -> leader's broker id
};

ClusterView cluster_view(const std::string& brokers, const std::string& topic) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  REQUIRE(rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), err, sizeof err) ==
          RD_KAFKA_CONF_OK);
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  pemx::kafka::HandlePtr rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err));
  if (rk == nullptr) rd_kafka_conf_destroy(conf);  // rd_kafka_new owns conf only on success
  REQUIRE(rk != nullptr);
  rd_kafka_topic_t* t = rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  auto got = rd_kafka_metadata(rk.get(), 0, t, &md, 10000);
  rd_kafka_topic_destroy(t);
  REQUIRE(got == RD_KAFKA_RESP_ERR_NO_ERROR);
  ClusterView v;
  for (int i = 0; i < md->broker_cnt; ++i) v.port_of[md->brokers[i].id] = md->brokers[i].port;
  for (int i = 0; i < md->topic_cnt; ++i) {
    for (int p = 0; p < md->topics[i].partition_cnt; ++p) {
      v.leader_of[md->topics[i].partitions[p].id] = md->topics[i].partitions[p].leader;
    }
  }
  rd_kafka_metadata_destroy(md);
  return v;
}

// tests/broker/kafka.sh CMD PORT NODE (node N is broker id N; PORT is node 1's port).
void cluster_script(const std::string& cmd, int port, int node) {
  auto r = run(PEMX_SOURCE_DIR "/tests/broker/kafka.sh",
               {cmd, std::to_string(port), std::to_string(node)});
  INFO("kafka.sh " << cmd << " " << port << " " << node << ": " << r.err);
  REQUIRE(r.code == 0);
}

// Restarts the killed broker when the test ends, however it ends (a failed REQUIRE too), so
// that the cluster is whole for whatever runs next. No Catch assertions: runs in unwinding.
class Revive {
 public:
  Revive(int port, int node) : port_(port), node_(node) {}
  ~Revive() {
    auto r = run(PEMX_SOURCE_DIR "/tests/broker/kafka.sh",
                 {"start-broker", std::to_string(port_), std::to_string(node_)});
    if (r.code != 0) std::fprintf(stderr, "failover_test: start-broker failed: %s\n", r.err.c_str());
  }
  Revive(const Revive&) = delete;
  Revive& operator=(const Revive&) = delete;

 private:
  int port_, node_;
};

struct StoreCount {
  std::int64_t rows = 0, distinct = 0;
};

StoreCount count_store(const std::string& db) {
  StoreCount c;
  sqlite3* h = nullptr;
  if (sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(h);
    return c;  // not created yet
  }
  sqlite3_busy_timeout(h, 2000);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(h, "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM events", -1, &st,
                         nullptr) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    c.rows = sqlite3_column_int64(st, 0);
    c.distinct = sqlite3_column_int64(st, 1);
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return c;
}

std::set<std::string> stored_ids(const std::string& db) {
  std::set<std::string> out;
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(h, "SELECT event_id FROM events", -1, &st, nullptr) == SQLITE_OK);
  while (sqlite3_step(st) == SQLITE_ROW) {
    out.insert(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return out;
}

}  // namespace

TEST_CASE("failover: a broker killed mid-stream: pemx keeps routing and storing, stays ready, "
          "loses nothing",
          "[integration][failover]") {
  const char* env = std::getenv("PEMX_TEST_CLUSTER");
  if (env == nullptr || *env == '\0') {
    WARN("SKIPPED: PEMX_TEST_CLUSTER is not set (scripts/test.sh starts the three-broker "
         "cluster: tests/broker/kafka.sh start-cluster PORT)");
    return;
  }
  const std::string brokers = env;
  const std::string p = unique_prefix();
  const std::string input = p + "-product-event";
  const std::string storage = p + "-product-event-storage-pemx";

  // The stream: generated events, each with the type topic it must reach.
  const std::size_t kEvents = 3000, kSplit = 1500;
  pemx::sim::GeneratorOptions generator;
  generator.seed = 1212;
  pemx::sim::EventGenerator gen(generator);
  PhasedProducer::Messages events;
  std::vector<std::string> ids;
  std::map<std::string, std::string> topic_of;  // eventId -> its type topic
  for (std::size_t i = 0; i < kEvents; ++i) {
    auto e = gen.next();
    std::string t = e.event_type == "ProductPriceUpdate" ? "product-price-update-v1-" + e.region
                    : e.event_type == "Country"         ? "country-" + e.country
                                                        : "specific-product-discount-update-" +
                                                              e.region;
    topic_of[e.event_id] = p + "-" + t;
    ids.push_back(e.event_id);
    events.emplace_back(e.product_id, std::move(e.json));
  }
  REQUIRE(topic_of.size() == kEvents);
  std::set<std::string> type_topics;
  for (const auto& [id, t] : topic_of) type_topics.insert(t);

  // Every topic with three replicas (min.insync.replicas 2 comes from the brokers).
  create_topic(brokers, input, 3, 3);
  create_topic(brokers, storage, 3, 3);
  create_topic(brokers, p + "-product-event-dlq-pemx", 3, 3);
  for (const auto& t : type_topics) create_topic(brokers, t, 3, 3);

  ClusterView before = cluster_view(brokers, input);
  REQUIRE(before.port_of.size() == 3);
  REQUIRE(before.port_of.count(1) == 1);
  REQUIRE(before.leader_of.count(0) == 1);
  const int base_port = before.port_of[1];
  const std::int32_t victim = before.leader_of[0];
  REQUIRE(before.port_of.count(victim) == 1);

  PemxRunner pemx(prefixed_config(p));
  auto& proc = pemx.start("all", {"--set", "kafka.brokers=" + brokers});
  auto port = wait_port(proc);
  int ready = 0;
  for (auto t = Clock::now() + 60s; Clock::now() < t && ready != 200;) {
    ready = http_get(port, "/readyz").status;
    if (ready != 200) std::this_thread::sleep_for(100ms);
  }
  REQUIRE(ready == 200);

  // Phase 1 flows at pemx's pace (never more than 400 ahead of it); the kill comes once pemx
  // has consumed 600, so before phase 1 is all produced; phase 2 only after the kill.
  PhasedProducer producer(brokers, input, events,
                          {.split = kSplit, .chunk = 100, .window = 400,
                           .progress = [port] { return consumed_now(port); }});
  REQUIRE(wait_consumed(port, 600, 90s));
  const auto stored_at_kill = count_store(pemx.db_path()).distinct;
  cluster_script("kill-broker", base_port, victim);
  Revive revive(base_port, victim);
  const auto killed_at = Clock::now();
  producer.release();
  WARN("killed broker " << victim << " (leader of " << input << " partition 0) with "
                        << stored_at_kill << " events stored; " << producer.produced()
                        << " produced");

  // While the broker stays down: /readyz polled throughout, the store must fill up.
  int polls = 0, not_ready = 0;
  std::string not_ready_body;
  auto until = killed_at + 90s;
  StoreCount now;
  while (Clock::now() < until) {
    auto r = http_get(port, "/readyz");
    ++polls;
    if (r.status != 200) {
      ++not_ready;
      if (not_ready_body.empty()) not_ready_body = std::to_string(r.status) + " " + r.body;
    }
    now = count_store(pemx.db_path());
    if (now.distinct >= static_cast<std::int64_t>(kEvents)) break;
    std::this_thread::sleep_for(250ms);
  }
  producer.finish();  // every input event is in the cluster (acks=all), or the test fails
  const double took = std::chrono::duration<double>(Clock::now() - killed_at).count();
  WARN("after the kill: " << now.distinct << " of " << kEvents << " stored in " << took
                          << " s; /readyz answered other than 200 to " << not_ready << " of "
                          << polls << " polls" << (not_ready ? ": " + not_ready_body : ""));
  CHECK(proc.running());
  // New outputs after the kill: phase 2 (half the stream) was produced only after it.
  CHECK(now.distinct > stored_at_kill);
  REQUIRE(now.distinct == static_cast<std::int64_t>(kEvents));
  CHECK(now.rows == now.distinct);  // exactly once per eventId
  CHECK(not_ready == 0);            // two brokers of three still serve: pemx stays ready

  // Partition 0's leadership moved off the dead broker.
  ClusterView after = cluster_view(brokers, input);
  CHECK(after.port_of.count(victim) == 0);
  CHECK(after.leader_of[0] != victim);

  // Every event in the store, on the storage topic and on its type topic (at least once:
  // duplicates from librdkafka's retries are counted and reported, not failed).
  auto in_store = stored_ids(pemx.db_path());
  std::size_t missing_store = 0;
  for (const auto& id : ids) missing_store += in_store.count(id) == 0 ? 1 : 0;
  CHECK(missing_store == 0);

  std::map<std::string, int> on_storage, on_type;
  std::size_t wrong_topic = 0, storage_msgs = 0, type_msgs = 0;
  for (const auto& m : consume_all(brokers, storage, kEvents, 60s)) {
    ++storage_msgs;
    ++on_storage[json_field(m.value, "eventId")];
  }
  for (const auto& t : type_topics) {
    std::size_t expected = 0;
    for (const auto& [id, topic] : topic_of) expected += topic == t ? 1 : 0;
    for (const auto& m : consume_all(brokers, t, expected, 60s)) {
      ++type_msgs;
      std::string id = json_field(m.value, "eventId");
      if (topic_of[id] == t) ++on_type[id];
      else ++wrong_topic;
    }
  }
  std::size_t missing_storage = 0, missing_type = 0;
  for (const auto& id : ids) {
    missing_storage += on_storage.count(id) == 0 ? 1 : 0;
    missing_type += on_type.count(id) == 0 ? 1 : 0;
  }
  WARN("outputs: storage topic " << storage_msgs << " messages (" << missing_storage
                                 << " events missing), type topics " << type_msgs
                                 << " messages (" << missing_type << " missing, " << wrong_topic
                                 << " in a wrong topic) for " << kEvents << " events");
  CHECK(missing_storage == 0);
  CHECK(missing_type == 0);
  CHECK(wrong_topic == 0);
  CHECK(consume_all(brokers, p + "-product-event-dlq-pemx", 0, 2s).empty());

  // Offsets: the dist group commits the whole input with one broker still down.
  CHECK(wait_committed(brokers, p + "-product-event-consumer-pemx", input,
                       static_cast<std::int64_t>(kEvents), 30s));
  proc.signal(SIGTERM);
  auto rc_after_term = proc.wait(60s);
  // On a failure: the exit code and the end of pemx's log (the drain's warnings).
  const std::string log = proc.log();
  INFO("exit " << (rc_after_term ? std::to_string(*rc_after_term) : std::string("none"))
               << "\n" << log.substr(log.size() > 6000 ? log.size() - 6000 : 0));
  CHECK(rc_after_term == 0);
}
