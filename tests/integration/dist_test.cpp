// The dist role against a real Kafka broker (PEMX_TEST_BROKERS, started by scripts/test.sh).
// Every test uses its own topic and group prefix, so tests never see each other's data.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <algorithm>
#include <csignal>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "integration/pemx_runner.hpp"
#include "integration/phased_producer.hpp"
#include "integration/web_util.hpp"
#include "sim/event_generator.hpp"

using namespace pemx::test;
using namespace std::chrono_literals;

namespace {

std::string event(const std::string& id, const std::string& type, const std::string& product,
                  const std::string& region, const std::string& data) {
  return R"({"eventId":")" + id + R"(","eventType":")" + type + R"(","productId":")" + product +
         R"(","region":")" + region + R"(","createdAt":"2024-07-26T14:41:17.123Z","data":)" +
         data + "}";
}

std::string uuid(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "6f1c2a34-1111-4aaa-8bbb-%012d", n);
  return buf;
}

// A dist role of three stages on small queues, for tests that need their own rules: `sink`
// adds lines to the sink's section, `router` is the router's section. Every "P-" name is
// given the test's prefix.
std::string small_dist_config(const std::string& p, const std::string& sink,
                              const std::string& router) {
  std::string config = R"(
[kafka]
brokers = "localhost:9092"
[roles]
dist = ["in", "router", "out"]
[queues.events]
capacity = 64
[queues.routed]
capacity = 64
[queues.done]
capacity = 256
[stages.in]
type = "kafka_ingest"
topics = ["P-product-event"]
group_id = "P-group"
output = "events"
acks = "done"
[stages.out]
type = "kafka_sink"
input = "routed"
acks = "done"
)" + sink + router;
  for (auto pos = config.find("\"P-"); pos != std::string::npos; pos = config.find("\"P-", pos + 2)) {
    config.replace(pos + 1, 1, p);
  }
  return config;
}

std::map<std::string, const Message*> by_event_id(const std::vector<Message>& msgs) {
  std::map<std::string, const Message*> out;
  for (const auto& m : msgs) out[json_field(m.value, "eventId")] = &m;
  return out;
}

}  // namespace

TEST_CASE("each reference event type reaches its reference topic and the storage topic",
          "[integration]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  create_topic(brokers, p + "-product-event", 3);
  std::vector<std::pair<std::string, std::string>> in = {
      {"PRICEUS001", event(uuid(1), "ProductPriceUpdate", "PRICEUS001", "US",
                           R"({"newPrice":7.31,"previousPrice":2.05})")},
      {"PRICEEU002", event(uuid(2), "ProductPriceUpdate", "PRICEEU002", "EU",
                           R"({"newPrice":1.5,"previousPrice":2})")},
      {"COUNTRY003", event(uuid(3), "Country", "COUNTRY003", "EU",
                           R"({"country":"Sweden","region":"EU"})")},
      {"COUNTRY004", event(uuid(4), "Country", "COUNTRY004", "US",
                           R"({"country":"UnitedStates","region":"US"})")},
      {"COUNTRY005", event(uuid(5), "Country", "COUNTRY005", "US", R"({})")},
      {"DISCOUN006", event(uuid(6), "SpecificProductDiscountUpdate", "DISCOUN006", "EU",
                           R"({"newDiscountPercentage":40,"previousDiscountPercentage":15})")},
      {"DISCOUN007", event(uuid(7), "SpecificProductDiscountUpdate", "DISCOUN007", "US",
                           R"({"newDiscountPercentage":5,"previousDiscountPercentage":0})")},
  };
  produce(brokers, p + "-product-event", in);

  PemxRunner pemx(prefixed_config(p));
  auto& proc = pemx.start_on(brokers);
  auto storage = consume_all(brokers, p + "-product-event-storage-pemx", in.size(), 90s);
  REQUIRE(storage.size() == in.size());

  std::map<std::string, std::string> expected_topic = {
      {uuid(1), "product-price-update-v1-US"},
      {uuid(2), "product-price-update-v1-EU"},
      {uuid(3), "country-Sweden"},
      {uuid(4), "country-UnitedStates"},
      {uuid(5), "country-US"},
      {uuid(6), "specific-product-discount-update-EU"},
      {uuid(7), "specific-product-discount-update-US"},
  };
  auto stored = by_event_id(storage);
  for (const auto& [key, value] : in) {
    std::string id = json_field(value, "eventId");
    INFO("event " << id);
    REQUIRE(stored.count(id) == 1);
    CHECK(stored[id]->value == value);  // the event as received, byte for byte
    CHECK(stored[id]->key == key);
    CHECK(stored[id]->headers.at("pemx-event-type") == json_field(value, "eventType"));
    CHECK(stored[id]->headers.at("pemx-source-topic") == p + "-product-event");

    auto routed = consume_all(brokers, p + "-" + expected_topic[id], 1, 30s, 200ms);
    REQUIRE(routed.size() == 1);
    CHECK(routed[0].value == value);
    CHECK(routed[0].key == key);
  }
  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
  CHECK(committed_total(brokers, p + "-product-event-consumer-pemx", p + "-product-event") ==
        static_cast<std::int64_t>(in.size()));
}

TEST_CASE("a bad event of each kind lands in the dead-letter topic with its reason",
          "[integration]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  // The shipped config plus rules that make every dead-letter reason reachable.
  std::string config = small_dist_config(p, "", R"(
[stages.router]
type = "rules_router"
input = "events"
output = "routed"
dead_letter_topic = "P-dlq"
validation = "strict"    # so that invalid_event is reachable too
event_types = ["ProductPriceUpdate", "Country", "SpecificProductDiscountUpdate", "Unrouted"]
[[stages.router.rules]]
name = "price"
match = { field = "eventType", equals = "ProductPriceUpdate" }
topic = "P-price-{region}"
allowed = { region = ["US", "EU"] }
[[stages.router.rules]]
name = "country"
match = { field = "eventType", equals = "Country" }
topic = "P-country-{data.country}"
defaults = { "data.country" = "US" }
[[stages.router.rules]]
name = "audit"
match = { field = "data.audit", exists = true }
topic = "P-audit-{data.audit.target}"
[[stages.router.rules]]
name = "storage"
match = { field = "eventType", in = ["ProductPriceUpdate", "Country", "SpecificProductDiscountUpdate"] }
topic = "P-storage"
)");
  create_topic(brokers, p + "-product-event", 1);  // one partition: a bad event must not block it
  std::vector<std::pair<std::string, std::string>> in = {
      {"K1", "{not json"},
      {"K2", event("not-a-uuid", "Country", "PX", "EU", "{}")},
      {"K3", event(uuid(3), "Mystery", "PX", "EU", "{}")},
      {"K4", event(uuid(4), "Unrouted", "PX", "EU", "{}")},
      {"K5", event(uuid(5), "SpecificProductDiscountUpdate", "PX", "EU", R"({"audit":{}})")},
      {"K6", event(uuid(6), "Country", "PX", "EU", R"({"country":"a b"})")},
      {"K7", event(uuid(7), "ProductPriceUpdate", "PX", "APAC", "{}")},
      {"K8", event(uuid(8), "ProductPriceUpdate", "PGOOD", "EU", "{}")},  // good, after the bad
  };
  produce(brokers, p + "-product-event", in);
  PemxRunner pemx(config);
  auto& proc = pemx.start_on(brokers);

  auto dlq = consume_all(brokers, p + "-dlq", 7, 90s);
  REQUIRE(dlq.size() == 7);
  std::map<std::string, std::string> reason_by_key;
  for (const auto& m : dlq) {
    reason_by_key[m.key] = m.headers.at("pemx-dlq-reason");
    CHECK(!m.headers.at("pemx-dlq-detail").empty());
    CHECK(m.headers.at("pemx-source-topic") == p + "-product-event");
  }
  CHECK(reason_by_key["K1"] == "invalid_json");
  CHECK(reason_by_key["K2"] == "invalid_event");
  CHECK(reason_by_key["K3"] == "unknown_event_type");
  CHECK(reason_by_key["K4"] == "no_matching_rule");
  CHECK(reason_by_key["K5"] == "missing_placeholder");
  CHECK(reason_by_key["K6"] == "illegal_topic");
  CHECK(reason_by_key["K7"] == "topic_not_allowed");
  // The value is the event as received.
  for (const auto& m : dlq) {
    for (const auto& [k, v] : in) {
      if (k == m.key) CHECK(m.value == v);
    }
  }
  // The good event after the bad ones went through: nothing blocked the partition.
  auto storage = consume_all(brokers, p + "-storage", 1, 30s, 1s);
  REQUIRE(storage.size() == 1);
  CHECK(storage[0].key == "PGOOD");
  // K5 matched the storage rule too, but it was dead-lettered whole: never half-delivered.
  CHECK(consume_all(brokers, p + "-audit-x", 0, 1s).empty());

  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
  CHECK(committed_total(brokers, p + "-group", p + "-product-event") == 8);
  CHECK(proc.log().find("\"reason\":\"invalid_json\"") != std::string::npos);  // counted, logged
}

TEST_CASE("one product's events keep their order in every topic", "[integration]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  create_topic(brokers, p + "-product-event", 3);
  const int kProducts = 20, kPerProduct = 100;
  std::vector<std::pair<std::string, std::string>> in;
  const char* types[] = {"ProductPriceUpdate", "Country", "SpecificProductDiscountUpdate"};
  int n = 0;
  for (int seq = 0; seq < kPerProduct; ++seq) {
    for (int prod = 0; prod < kProducts; ++prod) {
      std::string product = "ORDER" + std::to_string(10000 + prod);
      // One type per product, so its type topic holds its whole sequence too.
      in.emplace_back(product, event(uuid(++n), types[prod % 3], product, "EU",
                                     R"({"country":"Sweden","seq":)" + std::to_string(seq) + "}"));
    }
  }
  produce(brokers, p + "-product-event", in);
  PemxRunner pemx(prefixed_config(p));
  auto& proc = pemx.start_on(brokers);
  auto storage = consume_all(brokers, p + "-product-event-storage-pemx", in.size(), 120s);
  REQUIRE(storage.size() == in.size());

  auto check_order = [&](const std::vector<Message>& msgs) {
    std::map<std::string, int> last;
    std::map<std::string, int> seen;
    std::map<std::pair<std::string, std::int32_t>, std::int64_t> offsets;
    std::vector<Message> sorted = msgs;
    std::sort(sorted.begin(), sorted.end(), [](const Message& a, const Message& b) {
      return std::tie(a.partition, a.offset) < std::tie(b.partition, b.offset);
    });
    for (const auto& m : sorted) {
      rapidjson::Document d;
      d.Parse(m.value.c_str());
      int seq = d["data"]["seq"].GetInt();
      auto it = last.find(m.key);
      if (it != last.end()) CHECK(seq == it->second + 1);
      else CHECK(seq == 0);
      last[m.key] = seq;
      ++seen[m.key];
    }
    return seen;
  };
  auto seen = check_order(storage);
  CHECK(seen.size() == static_cast<std::size_t>(kProducts));
  const char* topics[] = {"product-price-update-v1-EU", "country-Sweden",
                          "specific-product-discount-update-EU"};
  for (int t = 0; t < 3; ++t) {
    std::size_t products = 0;
    for (int prod = 0; prod < kProducts; ++prod) products += prod % 3 == t ? 1 : 0;
    auto routed = consume_all(brokers, p + "-" + topics[t], products * kPerProduct, 60s, 1s);
    INFO(topics[t]);
    CHECK(routed.size() == products * kPerProduct);
    CHECK(check_order(routed).size() == products);
  }
  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
}

TEST_CASE("kill -9 mid-stream and a restart lose nothing", "[integration][crash]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  const std::string input = p + "-product-event";
  const std::string group = p + "-product-event-consumer-pemx";
  const int kEvents = 40'000;
  create_topic(brokers, input, 3);
  pemx::sim::EventGenerator gen({.seed = 42});
  std::vector<std::pair<std::string, std::string>> in;
  std::set<std::string> ids;
  std::map<std::string, std::string> topic_of;  // eventId -> its routed topic
  for (int i = 0; i < kEvents; ++i) {
    auto e = gen.next();
    ids.insert(e.event_id);
    std::string t = e.event_type == "ProductPriceUpdate" ? "product-price-update-v1-" + e.region
                    : e.event_type == "Country"         ? "country-" + e.country
                                                        : "specific-product-discount-update-" + e.region;
    topic_of[e.event_id] = t;
    in.emplace_back(e.product_id, std::move(e.json));
  }
  REQUIRE(ids.size() == static_cast<std::size_t>(kEvents));
  // Mid-stream by construction, on any machine however fast it routes: a first kBefore events
  // are delivered and committed; then the rest streams in, never more than kWindow events
  // ahead of what pemx has consumed, and the kill comes once pemx has consumed kKillAt of
  // them, while the producer is still in the first half; the second half follows the kill
  // (PhasedProducer).
  const int kBefore = 2000, kKillAt = 5000, kWindow = 5000, kChunk = 1000;
  const std::vector<std::pair<std::string, std::string>> rest(in.begin() + kBefore, in.end());
  const std::size_t kSplit = rest.size() / 2;
  static_assert(kKillAt + kWindow + kChunk < (kEvents - kBefore) / 2);
  produce(brokers, input, {in.begin(), in.begin() + kBefore});

  PemxRunner pemx(prefixed_config(p));
  // A short session: the restart's join waits for the killed member's session to expire.
  auto& first = pemx.start(
      "dist", {"--set", "kafka.brokers=" + brokers, "--set",
               "stages.dist_ingest.properties.\"session.timeout.ms\"=6000"});
  auto port = wait_port(first);
  REQUIRE(wait_committed(brokers, group, input, kBefore, 120s));
  PhasedProducer producer(brokers, input, rest,
                          {.split = kSplit, .chunk = kChunk, .window = kWindow,
                           .progress = [port] { return consumed_now(port) - kBefore; }});
  REQUIRE(wait_consumed(port, kBefore + kKillAt, 120s));
  first.signal(SIGKILL);
  REQUIRE(first.wait(30s) == 128 + SIGKILL);
  auto at_kill = committed_total(brokers, group, input);
  auto produced_at_kill = kBefore + producer.produced();
  INFO("committed at kill: " << at_kill << ", produced at kill: " << produced_at_kill);
  CHECK(produced_at_kill < kBefore + kSplit);  // it really was mid-stream
  WARN("kill -9 at " << at_kill << " committed, " << produced_at_kill << " of " << kEvents
                     << " produced");
  producer.finish();

  auto& second = pemx.start_on(brokers);
  REQUIRE(wait_committed(brokers, group, input, kEvents, 300s));
  second.signal(SIGTERM);
  CHECK(second.wait(60s) == 0);

  auto storage = consume_all(brokers, p + "-product-event-storage-pemx", kEvents, 180s, 2s);
  std::map<std::string, int> count;
  for (const auto& m : storage) ++count[json_field(m.value, "eventId")];
  std::size_t missing = 0, duplicates = storage.size() - count.size();
  for (const auto& id : ids) missing += count.count(id) == 0 ? 1 : 0;
  WARN("storage topic: " << storage.size() << " messages, " << count.size() << " distinct, "
                         << duplicates << " duplicates (at-least-once redelivery), " << missing
                         << " missing");
  CHECK(missing == 0);
  CHECK(count.size() == ids.size());

  std::set<std::string> routed_topics;
  for (const auto& [id, t] : topic_of) routed_topics.insert(t);
  std::size_t routed_missing = 0, routed_total = 0, wrong_topic = 0;
  std::set<std::string> routed_ids;
  for (const auto& t : routed_topics) {
    std::size_t expected = 0;
    for (const auto& [id, tt] : topic_of) expected += tt == t ? 1 : 0;
    auto msgs = consume_all(brokers, p + "-" + t, expected, 120s, 1s);
    routed_total += msgs.size();
    for (const auto& m : msgs) {
      std::string id = json_field(m.value, "eventId");
      routed_ids.insert(id);
      wrong_topic += topic_of[id] != t ? 1 : 0;
    }
  }
  for (const auto& id : ids) routed_missing += routed_ids.count(id) == 0 ? 1 : 0;
  WARN("routed topics: " << routed_total << " messages, " << routed_ids.size() << " distinct, "
                         << routed_total - routed_ids.size() << " duplicates, " << routed_missing
                         << " missing");
  CHECK(routed_missing == 0);
  CHECK(wrong_topic == 0);
}

TEST_CASE("SIGTERM mid-stream drains, commits exactly what was delivered, and exits 0",
          "[integration][shutdown]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  const std::string input = p + "-product-event";
  const std::string group = p + "-product-event-consumer-pemx";
  const int kEvents = 40'000;
  create_topic(brokers, input, 3);
  pemx::sim::EventGenerator gen({.seed = 7});
  std::vector<std::pair<std::string, std::string>> in;
  for (int i = 0; i < kEvents; ++i) {
    auto e = gen.next();
    in.emplace_back(e.product_id, std::move(e.json));
  }
  // Mid-stream by construction, on any machine: a first kBefore events are delivered and
  // committed; then the rest streams in, never more than kWindow events ahead of what pemx
  // has consumed, and SIGTERM comes once pemx has consumed kSignalAt of them, while the
  // producer is still in the first half; the second half is produced after pemx exited
  // (PhasedProducer).
  const int kBefore = 2000, kSignalAt = 5000, kWindow = 5000, kChunk = 1000;
  const std::vector<std::pair<std::string, std::string>> rest(in.begin() + kBefore, in.end());
  const std::size_t kSplit = rest.size() / 2;
  static_assert(kSignalAt + kWindow + kChunk < (kEvents - kBefore) / 2);
  produce(brokers, input, {in.begin(), in.begin() + kBefore});
  PemxRunner pemx(prefixed_config(p));
  auto& proc = pemx.start_on(brokers);
  auto port = wait_port(proc);
  REQUIRE(wait_committed(brokers, group, input, kBefore, 120s));
  PhasedProducer producer(brokers, input, rest,
                          {.split = kSplit, .chunk = kChunk, .window = kWindow,
                           .progress = [port] { return consumed_now(port) - kBefore; }});
  REQUIRE(wait_consumed(port, kBefore + kSignalAt, 120s));
  proc.signal(SIGTERM);
  auto produced_at_signal = kBefore + producer.produced();
  auto code = proc.wait(60s);
  REQUIRE(code.has_value());
  producer.finish();
  std::string log;  // its last lines but the periodic stats, for a failure's report
  {
    std::istringstream lines(proc.log());
    for (std::string line; std::getline(lines, line);) {
      if (line.find("\"msg\":\"stats\"") == std::string::npos) log += line + "\n";
    }
  }
  INFO("pemx log tail: " << log.substr(log.size() > 3000 ? log.size() - 3000 : 0));
  CHECK(*code == 0);
  CHECK(proc.log().find("\"drained\":true") != std::string::npos);

  auto offsets = committed(brokers, group, input);
  std::int64_t total = 0;
  for (const auto& [part, off] : offsets) total += off > 0 ? off : 0;
  INFO("committed after SIGTERM: " << total << ", produced at SIGTERM: " << produced_at_signal);
  CHECK(produced_at_signal < kBefore + kSplit);  // it stopped mid-stream
  CHECK(total > kBefore);  // the drain committed part of the stream, not only the prefix
  WARN("SIGTERM at " << produced_at_signal << " of " << kEvents << " produced; " << total
                     << " committed by the drain");

  // Exactly the committed offsets were delivered to storage: each once, none beyond.
  auto storage = consume_all(brokers, p + "-product-event-storage-pemx",
                             static_cast<std::size_t>(total), 120s, 2s);
  std::map<std::int32_t, std::set<std::int64_t>> delivered;
  for (const auto& m : storage) {
    delivered[std::stoi(m.headers.at("pemx-source-partition"))].insert(
        std::stoll(m.headers.at("pemx-source-offset")));
  }
  CHECK(storage.size() == static_cast<std::size_t>(total));
  for (const auto& [part, off] : offsets) {
    INFO("partition " << part);
    std::int64_t next = off > 0 ? off : 0;
    CHECK(delivered[part].size() == static_cast<std::size_t>(next));
    if (!delivered[part].empty()) {
      CHECK(*delivered[part].begin() == 0);
      CHECK(*delivered[part].rbegin() == next - 1);
    }
  }
}

TEST_CASE("the embedded cluster runs the dist role with no broker at all", "[integration][embedded]") {
  TempDir dir;
  PemxRunner pemx(prefixed_config(""));
  auto& proc = pemx.start("all", {"--set", "kafka.brokers=embedded"});
  REQUIRE(proc.wait_for_log("\"bootstrap\":\"", 20s));
  std::string log = proc.log();
  auto at = log.find("\"bootstrap\":\"") + 13;
  std::string bootstrap = log.substr(at, log.find('"', at) - at);
  std::string e = event(uuid(99), "Country", "EMBEDDED01", "EU", R"({"country":"Sweden"})");
  produce(bootstrap, "product-event", {{"EMBEDDED01", e}});
  auto routed = consume_all(bootstrap, "country-Sweden", 1, 60s, 200ms);
  REQUIRE(routed.size() == 1);
  CHECK(routed[0].value == e);
  auto stored = consume_all(bootstrap, "product-event-storage-pemx", 1, 30s, 200ms);
  REQUIRE(stored.size() == 1);
  proc.signal(SIGINT);
  CHECK(proc.wait(60s) == 0);
}

TEST_CASE("an output whose topic the broker refuses (a '.'/'_' collision) is dead-lettered "
          "after unavailable_topic_timeout; the partition moves on",
          "[integration][topic_unavailable]") {
  // Kafka refuses to create "country-col_x" next to "country-col.x" (the names collide in
  // its metrics): the output can never be delivered. Before kafka_sink's
  // unavailable_topic_timeout it was produced again without end, its offset was never
  // committed, and SIGTERM could not drain.
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  std::string config = small_dist_config(p, R"(dead_letter_topic = "P-dlq"
unavailable_topic_timeout = "5s"
retry_max = "1s"
properties = { "topic.metadata.propagation.max.ms" = "1000" }
)", R"(
[stages.router]
type = "rules_router"
input = "events"
output = "routed"
dead_letter_topic = "P-dlq"
[[stages.router.rules]]
name = "country"
match = { field = "eventType", equals = "Country" }
topic = "P-country-{data.country}"
[[stages.router.rules]]
name = "storage"
match = { field = "eventType", in = ["ProductPriceUpdate", "Country", "SpecificProductDiscountUpdate"] }
topic = "P-storage"
)");
  const std::string input = p + "-product-event";
  create_topic(brokers, input, 1);  // one partition: the refused output must not block it
  create_topic(brokers, p + "-country-col.x", 1);  // so that "col_x" is the one refused
  create_topic(brokers, p + "-dlq", 1);
  std::vector<std::pair<std::string, std::string>> in = {
      {"K1", event(uuid(1), "Country", "K1", "EU", R"({"country":"col.x"})")},
      {"K2", event(uuid(2), "Country", "K2", "EU", R"({"country":"col_x"})")},
      {"K3", event(uuid(3), "Country", "K3", "EU", R"({"country":"Sweden"})")},
      {"K4", event(uuid(4), "ProductPriceUpdate", "K4", "EU", "{}")},
      {"K5", event(uuid(5), "Country", "K5", "EU", R"({"country":"Sweden"})")},
  };
  produce(brokers, input, in);
  PemxRunner pemx(config);
  const auto started = std::chrono::steady_clock::now();
  auto& proc = pemx.start_on(brokers);

  auto dlq = consume_all(brokers, p + "-dlq", 1, 90s);
  const auto waited = std::chrono::steady_clock::now() - started;
  REQUIRE(dlq.size() == 1);
  CHECK(dlq[0].key == "K2");
  CHECK(dlq[0].value == in[1].second);  // the event as received
  CHECK(dlq[0].headers.at("pemx-dlq-reason") == "topic_unavailable");
  CHECK(dlq[0].headers.at("pemx-dlq-stage") == "out");
  CHECK(dlq[0].headers.at("pemx-dlq-topic") == p + "-country-col_x");
  CHECK(dlq[0].headers.at("pemx-dlq-detail").find(p + "-country-col_x") != std::string::npos);
  CHECK(dlq[0].headers.at("pemx-source-offset") == "1");
  // The timeout (5 s) after the first failure, which librdkafka reports once the topic is
  // still missing after topic.metadata.propagation.max.ms (1 s here, 30 s by default).
  WARN("dead letter after " << std::chrono::duration<double>(waited).count() << " s");
  CHECK(waited >= 5s);
  CHECK(waited < 25s);

  // Everything after it was routed, and everything is committed.
  CHECK(wait_committed(brokers, p + "-group", input, 5, 30s));

  // The sink remembers the topic is unavailable: a later event for it does not wait out the
  // timeout again (a flood of them would hold commits and fill max_in_flight).
  const auto again = std::chrono::steady_clock::now();
  produce(brokers, input,
          {{"K6", event(uuid(6), "Country", "K6", "EU", R"({"country":"col_x"})")}});
  auto dlq2 = consume_all(brokers, p + "-dlq", 2, 30s);
  REQUIRE(dlq2.size() == 2);
  CHECK(dlq2[1].key == "K6");
  CHECK(std::chrono::steady_clock::now() - again < 4s);
  CHECK(wait_committed(brokers, p + "-group", input, 6, 30s));
  auto sweden = consume_all(brokers, p + "-country-Sweden", 2, 30s, 1s);
  CHECK(sweden.size() == 2);
  CHECK(consume_all(brokers, p + "-country-col.x", 1, 30s, 1s).size() == 1);
  // The record's other output was delivered: the documented exception to "delivered whole".
  auto storage = consume_all(brokers, p + "-storage", 6, 30s, 1s);
  CHECK(storage.size() == 6);

  proc.signal(SIGTERM);
  CHECK(proc.wait(15s) == 0);
  CHECK(proc.log().find("\"drained\":true") != std::string::npos);
  CHECK(proc.log().find("\"reason\":\"topic_unavailable\"") != std::string::npos);
  CHECK(committed_total(brokers, p + "-group", input) == 6);
}

TEST_CASE("schema_mode strict dead-letters an event failing its schema (reason schema) and "
          "routes the valid ones", "[integration][schema]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  std::string config = small_dist_config(p, "", R"(
[stages.router]
type = "rules_router"
input = "events"
output = "routed"
dead_letter_topic = "P-dlq"
schema_mode = "strict"
[[stages.router.rules]]
name = "price"
match = { field = "eventType", equals = "ProductPriceUpdate" }
topic = "P-price-{region}"
[[stages.router.rules]]
name = "storage"
match = "*"
topic = "P-storage"
[schemas]
ProductPriceUpdate = ")" + std::string(PEMX_SOURCE_DIR) +
                                                   R"(/schemas/product-price-update.json"
)");
  create_topic(brokers, p + "-product-event", 1);
  produce(brokers, p + "-product-event",
          {{"K1", event(uuid(1), "ProductPriceUpdate", "PGOOD1", "EU", R"({"newPrice":7.31})")},
           {"K2", event(uuid(2), "ProductPriceUpdate", "PBAD", "EU", R"({"newPrice":"7"})")},
           {"K3", event(uuid(3), "Country", "PCOUNTRY", "EU", R"({"country":7})")},  // no schema
           {"K4", event(uuid(4), "ProductPriceUpdate", "PGOOD2", "US", R"({"newPrice":0})")}});
  PemxRunner pemx(config);
  auto& proc = pemx.start_on(brokers);

  auto dlq = consume_all(brokers, p + "-dlq", 1, 60s, 1s);
  REQUIRE(dlq.size() == 1);
  CHECK(dlq[0].key == "K2");
  CHECK(dlq[0].headers.at("pemx-dlq-reason") == "schema");
  CHECK(dlq[0].headers.at("pemx-dlq-detail") ==
        "/data/newPrice: must be a number, not a string (the schema of ProductPriceUpdate, type)");
  auto storage = consume_all(brokers, p + "-storage", 3, 30s, 1s);
  std::set<std::string> stored;
  for (const auto& m : storage) stored.insert(m.key);
  CHECK(stored == std::set<std::string>{"PGOOD1", "PCOUNTRY", "PGOOD2"});
  CHECK(consume_all(brokers, p + "-price-EU", 1, 30s, 1s).size() == 1);
  CHECK(consume_all(brokers, p + "-price-US", 1, 30s, 1s).size() == 1);
  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
  CHECK(proc.log().find("\"reason\":\"schema\"") != std::string::npos);
}
