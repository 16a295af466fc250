// The dist role as a consumer group on a real broker (PEMX_TEST_BROKERS): static membership
// (group_instance_id) lets a restarted instance take its partitions back without waiting for
// the session timeout; two instances with one id fence each other; three instances share a
// stream and lose nothing when one is killed.
#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "integration/pemx_runner.hpp"
#include "integration/phased_producer.hpp"
#include "integration/web_util.hpp"
#include "sim/event_generator.hpp"

using namespace pemx::test;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

// A counter's value (summed over its series) from pemx's /metrics on `port`; -1 when pemx
// does not answer or has no such series. No Catch assertions: safe from any thread.
std::int64_t metric_now(std::uint16_t port, const std::string& name) {
  auto page = http_get(port, "/metrics");
  if (page.status != 200) return -1;
  std::int64_t total = -1;
  for (auto at = page.body.find("\n" + name + "{"); at != std::string::npos;
       at = page.body.find("\n" + name + "{", at + 1)) {
    auto value = page.body.find("} ", at);
    if (value == std::string::npos) break;
    total = std::max<std::int64_t>(total, 0) + std::strtoll(page.body.c_str() + value + 2, nullptr, 10);
  }
  return total;
}

bool wait_metric(std::uint16_t port, const std::string& name, std::int64_t target,
                 std::chrono::milliseconds timeout) {
  auto until = Clock::now() + timeout;
  while (Clock::now() < until) {
    if (metric_now(port, name) >= target) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

const std::string kAcked = "pemx_kafka_ingest_acked_total";  // every output of it delivered

// A bounded stream of generated events and where each must be routed.
struct Stream {
  std::string p = unique_prefix();
  std::string input = p + "-product-event";
  std::string group = p + "-product-event-consumer-pemx";
  std::string storage = p + "-product-event-storage-pemx";
  std::vector<std::pair<std::string, std::string>> events;  // key (productId), JSON
  std::vector<std::string> ids;                             // eventId, same order
  std::map<std::string, std::string> topic_of;              // eventId -> its type topic

  Stream(int count, std::uint64_t seed) {
    pemx::sim::EventGenerator gen({.seed = seed});
    for (int i = 0; i < count; ++i) {
      auto e = gen.next();
      std::string t = e.event_type == "ProductPriceUpdate" ? "product-price-update-v1-" + e.region
                      : e.event_type == "Country"         ? "country-" + e.country
                                                          : "specific-product-discount-update-" +
                                                                e.region;
      topic_of[e.event_id] = p + "-" + t;
      ids.push_back(e.event_id);
      events.emplace_back(e.product_id, std::move(e.json));
    }
    REQUIRE(topic_of.size() == static_cast<std::size_t>(count));  // ids are unique
  }
  std::vector<std::pair<std::string, std::string>> slice(std::size_t from, std::size_t to) const {
    return {events.begin() + static_cast<std::ptrdiff_t>(from),
            events.begin() + static_cast<std::ptrdiff_t>(to)};
  }
};

// Reads the storage topic and every type topic, and checks that every event of the stream is
// in both (duplicates allowed: at-least-once), and, when `order` is set, that each product's
// events keep their input order in each topic: sorted by (partition, offset), the first copy
// of each event (later copies are redeliveries) comes in input order.
void check_downstream(const std::string& brokers, const Stream& s, bool order) {
  std::set<std::string> type_topics;
  for (const auto& [id, t] : s.topic_of) type_topics.insert(t);
  std::vector<std::string> topics(type_topics.begin(), type_topics.end());
  topics.push_back(s.storage);
  std::size_t missing = 0, wrong = 0, out_of_order = 0, messages = 0;
  for (const auto& topic : topics) {
    std::vector<std::string> wanted;  // this topic's events, in input order
    for (const auto& id : s.ids) {
      if (topic == s.storage || s.topic_of.at(id) == topic) wanted.push_back(id);
    }
    auto msgs = consume_all(brokers, topic, wanted.size(), 120s, 1s);
    messages += msgs.size();
    std::sort(msgs.begin(), msgs.end(), [](const Message& a, const Message& b) {
      return std::tie(a.partition, a.offset) < std::tie(b.partition, b.offset);
    });
    std::set<std::string> once;
    std::map<std::string, std::vector<std::string>> seen;  // product -> first copies
    for (const auto& m : msgs) {
      std::string id = json_field(m.value, "eventId");
      if (topic != s.storage && s.topic_of.count(id) != 0 && s.topic_of.at(id) != topic) ++wrong;
      if (once.insert(id).second) seen[m.key].push_back(id);
    }
    std::map<std::string, std::vector<std::string>> expected;
    std::map<std::string, std::string> product_of;
    for (std::size_t i = 0; i < s.ids.size(); ++i) product_of[s.ids[i]] = s.events[i].first;
    for (const auto& id : wanted) {
      missing += once.count(id) == 0 ? 1 : 0;
      expected[product_of[id]].push_back(id);
    }
    if (order) {
      for (const auto& [product, ids] : expected) out_of_order += seen[product] == ids ? 0 : 1;
    }
  }
  WARN("downstream: " << messages << " messages in " << topics.size() << " topics for "
                      << s.ids.size() << " events; " << missing << " missing, " << wrong
                      << " in a wrong topic, " << out_of_order << " products out of order");
  CHECK(missing == 0);
  CHECK(wrong == 0);
  CHECK(out_of_order == 0);
}

std::vector<std::string> dist_args(const std::string& brokers, const std::string& instance_id,
                                   int session_timeout_ms) {
  std::vector<std::string> args = {
      "--set", "kafka.brokers=" + brokers, "--set",
      "stages.dist_ingest.properties.\"session.timeout.ms\"=" + std::to_string(session_timeout_ms)};
  if (!instance_id.empty()) {
    args.insert(args.end(), {"--set", "stages.dist_ingest.group_instance_id=" + instance_id});
  }
  return args;
}

// The last lines of pemx's log but the periodic stats, for a failure's report.
std::string log_tail(const Process& proc) {
  std::string log;
  std::istringstream lines(proc.log());
  for (std::string line; std::getline(lines, line);) {
    if (line.find("\"msg\":\"stats\"") == std::string::npos) log += line + "\n";
  }
  return log.substr(log.size() > 4000 ? log.size() - 4000 : 0);
}

}  // namespace

TEST_CASE("static membership: a dist instance killed -9 and restarted with its "
          "group_instance_id routes again before the session timeout and loses nothing",
          "[integration][group]") {
  const std::string brokers = test_brokers();
  const int kEvents = 12'000;
  Stream s(kEvents, 12);
  create_topic(brokers, s.input, 3);
  // Mid-stream by construction (PhasedProducer): kBefore events delivered and committed, the
  // kill once pemx consumed kKillAt more, phase 2 produced after it.
  const int kBefore = 1000, kKillAt = 2000, kWindow = 2000, kChunk = 500;
  const auto rest = s.slice(kBefore, kEvents);
  const std::size_t kSplit = rest.size() / 2;
  static_assert(kKillAt + kWindow + kChunk < (kEvents - kBefore) / 2);
  produce(brokers, s.input, s.slice(0, kBefore));

  // Librdkafka's default session timeout, stated: the restart must not wait for it.
  const int kSessionMs = 45'000;
  const std::string id = s.p + "-dist-1";
  PemxRunner pemx(prefixed_config(s.p));
  auto& first = pemx.start("dist", dist_args(brokers, id, kSessionMs));
  auto port = wait_port(first);
  REQUIRE(wait_committed(brokers, s.group, s.input, kBefore, 120s));
  PhasedProducer producer(brokers, s.input, rest,
                          {.split = kSplit, .chunk = kChunk, .window = kWindow,
                           .progress = [port] { return consumed_now(port) - kBefore; }});
  REQUIRE(wait_consumed(port, kBefore + kKillAt, 120s));
  first.signal(SIGKILL);
  REQUIRE(first.wait(30s) == 128 + SIGKILL);
  auto killed_at = Clock::now();
  auto produced_at_kill = kBefore + producer.produced();
  CHECK(produced_at_kill < kBefore + kSplit);  // it really was mid-stream
  producer.release();

  auto& second = pemx.start("dist", dist_args(brokers, id, kSessionMs));
  auto port2 = wait_port(second);
  // Resumed: the restarted instance delivered outputs of records it consumed, well before
  // the killed member's session (45 s) could have expired.
  bool resumed = wait_metric(port2, kAcked, 1, 20s);
  double gap = std::chrono::duration<double>(Clock::now() - killed_at).count();
  INFO("pemx log tail:\n" << log_tail(second));
  REQUIRE(resumed);
  WARN("static membership: routing resumed " << gap << " s after the kill (session timeout "
                                             << kSessionMs / 1000 << " s)");
  producer.finish();
  REQUIRE(wait_committed(brokers, s.group, s.input, kEvents, 120s));
  second.signal(SIGTERM);
  CHECK(second.wait(60s) == 0);
  check_downstream(brokers, s, false);
}

TEST_CASE("two instances with one group_instance_id: the fenced one says which key and exits "
          "non-zero",
          "[integration][group]") {
  const std::string brokers = test_brokers();
  Stream s(100, 13);
  create_topic(brokers, s.input, 3);
  produce(brokers, s.input, s.events);
  const std::string id = s.p + "-same";
  PemxRunner a_runner(prefixed_config(s.p)), b_runner(prefixed_config(s.p));
  auto& a = a_runner.start("dist", dist_args(brokers, id, 45'000));
  REQUIRE(wait_committed(brokers, s.group, s.input, 100, 120s));
  auto& b = b_runner.start("dist", dist_args(brokers, id, 45'000));
  // The coordinator hands the id to the newer member; the older one is fenced at its next
  // heartbeat (librdkafka raises a fatal error) and must stop, not spin. Bound: well inside
  // the drain deadline (30 s), which a stuck close would run into.
  auto started = Clock::now();
  auto code = a.wait(60s);
  double took = std::chrono::duration<double>(Clock::now() - started).count();
  INFO("fenced instance's log tail:\n" << log_tail(a));
  INFO("newer instance's log tail:\n" << log_tail(b));
  REQUIRE(code.has_value());
  CHECK(*code == 1);
  CHECK(a.log().find("FENCED_INSTANCE_ID") != std::string::npos);
  CHECK(a.log().find("the same stages.dist_ingest.group_instance_id (\\\"" + id + "\\\")") !=
        std::string::npos);
  WARN("the fenced instance exited " << took << " s after the second one started");
  CHECK(took < 25.0);
  CHECK(b.running());
  b.signal(SIGTERM);
  CHECK(b.wait(60s) == 0);
}

TEST_CASE("three dist instances in one group, one killed -9 mid-stream: every event is "
          "delivered, each product in order",
          "[integration][group]") {
  const std::string brokers = test_brokers();
  const int kEvents = 18'000;
  Stream s(kEvents, 14);
  create_topic(brokers, s.input, 6);
  // A short session: the survivors take the killed member's partitions once it expires.
  const int kSessionMs = 6000;
  std::vector<std::unique_ptr<PemxRunner>> runners;
  std::vector<Process*> procs;
  std::vector<std::uint16_t> ports;
  for (int i = 0; i < 3; ++i) {
    runners.push_back(std::make_unique<PemxRunner>(prefixed_config(s.p)));
    procs.push_back(&runners.back()->start("dist", dist_args(brokers, "", kSessionMs)));
    ports.push_back(wait_port(*procs.back()));
  }
  // The group is stable once every member holds 2 of the 6 partitions (eager range
  // assignment: 6, then 3 + 3, then 2 + 2 + 2).
  for (auto* p : procs) {
    REQUIRE(p->wait_for_log("\"msg\":\"partitions assigned\",\"count\":2", 120s));
  }
  const int kBefore = 1500, kKillAt = 3000, kWindow = 3000, kChunk = 500;
  const auto rest = s.slice(kBefore, kEvents);
  const std::size_t kSplit = rest.size() / 2;
  static_assert(kKillAt + kWindow + kChunk < (kEvents - kBefore) / 2);
  produce(brokers, s.input, s.slice(0, kBefore));
  REQUIRE(wait_committed(brokers, s.group, s.input, kBefore, 120s));
  std::vector<std::uint16_t> alive = ports;
  auto consumed_by_all = [&alive] {
    std::int64_t total = 0;
    for (auto port : alive) total += std::max<std::int64_t>(0, consumed_now(port));
    return total;
  };
  PhasedProducer producer(brokers, s.input, rest,
                          {.split = kSplit, .chunk = kChunk, .window = kWindow,
                           .progress = [&] { return consumed_by_all() - kBefore; }});
  auto until = Clock::now() + 120s;
  while (consumed_by_all() < kBefore + kKillAt && Clock::now() < until) {
    std::this_thread::sleep_for(20ms);
  }
  REQUIRE(consumed_by_all() >= kBefore + kKillAt);
  const std::size_t victim = 1;
  CHECK(consumed_now(ports[victim]) > 0);  // it was routing its share
  procs[victim]->signal(SIGKILL);
  REQUIRE(procs[victim]->wait(30s) == 128 + SIGKILL);
  auto produced_at_kill = kBefore + producer.produced();
  CHECK(produced_at_kill < kBefore + kSplit);  // mid-stream
  WARN("three instances: kill -9 of one after " << produced_at_kill << " of " << kEvents
                                                << " produced");
  producer.finish();
  REQUIRE(wait_committed(brokers, s.group, s.input, kEvents, 120s));
  for (std::size_t i = 0; i < procs.size(); ++i) {
    if (i == victim) continue;
    procs[i]->signal(SIGTERM);
    CHECK(procs[i]->wait(60s) == 0);
  }
  check_downstream(brokers, s, true);
}

TEST_CASE("the fetch waker asks the brokers for watermarks while events arrive and sends "
          "nothing while the consumer is idle",
          "[integration][group]") {
  const std::string brokers = test_brokers();
  const std::string kWakeups = "pemx_kafka_ingest_fetch_wakeups_total";
  const int kEvents = 3000, kChunk = 1000;
  Stream s(kEvents, 31);
  create_topic(brokers, s.input, 3);
  PemxRunner pemx(prefixed_config(s.p));
  auto args = dist_args(brokers, "", 45'000);
  args.insert(args.end(), {"--set", "stages.dist_ingest.fetch_wakeup_interval=\"50ms\""});
  auto& proc = pemx.start("dist", args);
  auto port = wait_port(proc);
  INFO("pemx log tail:\n" << log_tail(proc));
  REQUIRE(metric_now(port, kWakeups) == 0);  // registered, and nothing consumed yet
  // Each chunk, once consumed, leaves the "consumed since the last tick" mark that the
  // waker's next tick (every 50 ms by default) turns into requests.
  for (int from = 0; from < kEvents; from += kChunk) {
    const auto before = metric_now(port, kWakeups);
    produce(brokers, s.input, s.slice(from, from + kChunk));
    REQUIRE(wait_consumed(port, from + kChunk, 60s));
    CHECK(wait_metric(port, kWakeups, before + 1, 20s));
  }
  REQUIRE(wait_committed(brokers, s.group, s.input, kEvents, 120s));
  // Idle: the requests of the ticks that saw the last events may still be under way (each
  // waits up to 500 ms for its answer); once the count has stood still for 1.5 s, it must
  // stay so (before the guard, every tick sent 3 more).
  auto stable = metric_now(port, kWakeups);
  auto since = Clock::now();
  for (auto until = Clock::now() + 30s; Clock::now() < until && Clock::now() - since < 1500ms;) {
    std::this_thread::sleep_for(100ms);
    if (auto now = metric_now(port, kWakeups); now != stable) {
      stable = now;
      since = Clock::now();
    }
  }
  REQUIRE(Clock::now() - since >= 1500ms);
  std::this_thread::sleep_for(2s);
  CHECK(metric_now(port, kWakeups) == stable);
  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
}
