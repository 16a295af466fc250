// The Kafka half of the compatibility suite (issue 10, reference-behaviour.md "The Kafka path,
// measured"), against the real broker (PEMX_TEST_BROKERS):
// - what the reference routed and stored although its push refuses it (a non-UUID eventId, a
//   non-ISO createdAt, an empty productId, a Country event without region) is routed and
//   stored with validation = "report" (the default) and counted per rule, and dead-lettered
//   with validation = "strict";
// - what the reference could not route at all (an unknown type, not JSON, an illegal topic, a
//   missing placeholder) goes to the dead-letter topic in both modes;
// - every output lands on the partition the Java client and KafkaJS choose for its key
//   (murmur2), so Java and Kafka Streams consumers co-partition with PEMX's outputs.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "integration/pemx_runner.hpp"
#include "integration/web_util.hpp"

using namespace pemx::test;
using namespace std::chrono_literals;

namespace {

// Kafka's Utils.murmur2 (the Java client's and KafkaJS's key hash), written from its
// algorithm: MurmurHash2 with seed 0x9747b28c, little-endian 4-byte blocks.
std::int32_t murmur2(std::string_view data) {
  constexpr std::uint32_t kSeed = 0x9747b28c;
  constexpr std::uint32_t kM = 0x5bd1e995;
  constexpr int kR = 24;
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  const std::size_t length = data.size();
  std::uint32_t h = kSeed ^ static_cast<std::uint32_t>(length);
  const std::size_t blocks = length / 4;
  for (std::size_t i = 0; i < blocks; ++i) {
    const unsigned char* b = bytes + 4 * i;
    std::uint32_t k = static_cast<std::uint32_t>(b[0]) | static_cast<std::uint32_t>(b[1]) << 8 |
                      static_cast<std::uint32_t>(b[2]) << 16 |
                      static_cast<std::uint32_t>(b[3]) << 24;
    k *= kM;
    k ^= k >> kR;
    k *= kM;
    h *= kM;
    h ^= k;
  }
  const unsigned char* tail = bytes + 4 * blocks;
  switch (length % 4) {
    case 3: h ^= static_cast<std::uint32_t>(tail[2]) << 16; [[fallthrough]];
    case 2: h ^= static_cast<std::uint32_t>(tail[1]) << 8; [[fallthrough]];
    case 1:
      h ^= tail[0];
      h *= kM;
      break;
    default: break;
  }
  h ^= h >> 13;
  h *= kM;
  h ^= h >> 15;
  return static_cast<std::int32_t>(h);
}

// The Java client's partition for a key: toPositive(murmur2(key)) % partitions.
int java_partition(std::string_view key, int partitions) {
  return static_cast<int>((static_cast<std::uint32_t>(murmur2(key)) & 0x7fffffffu) %
                          static_cast<std::uint32_t>(partitions));
}

const std::string kUuid = "6f1c2a34-3333-4aaa-8bbb-000000000001";
const std::string kAt = R"("createdAt":"2024-07-26T14:41:17.123Z")";

struct Case {
  std::string name;
  std::string key;     // the input message's key (also the productId where there is one)
  std::string value;
  std::string reason;  // report mode: "" = routed; else the dead-letter reason in both modes
  std::string field;   // the rule it fails (routed in report, invalid_event in strict)
  std::string topic;   // report mode: its type topic, without the prefix
};

std::string id(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "6f1c2a34-4444-4aaa-8bbb-%012d", n);
  return buf;
}

// reference-behaviour.md, "The Kafka path, measured".
std::vector<Case> cases(const std::string& p) {
  return {
      {"non-UUID eventId", "CPTK000001",
       R"({"eventId":"evt-1-)" + p + R"(","eventType":"ProductPriceUpdate","productId":"CPTK000001",)"
       R"("region":"US",)" + kAt + R"(,"data":{"newPrice":1.5,"previousPrice":2}})",
       "", "eventId", "product-price-update-v1-US"},
      {"non-ISO createdAt", "CPTK000002",
       R"({"eventId":")" + id(2) + R"(","eventType":"SpecificProductDiscountUpdate",)"
       R"("productId":"CPTK000002","region":"EU","createdAt":"26/07/2024 14:41",)"
       R"("data":{"newDiscountPercentage":40,"previousDiscountPercentage":15}})",
       "", "createdAt", "specific-product-discount-update-EU"},
      {"empty productId", "CPTK000003",
       R"({"eventId":")" + id(3) + R"(","eventType":"Country","productId":"","region":"EU",)" +
           kAt + R"(,"data":{"country":"Sweden","region":"EU"}})",
       "", "productId", "country-Sweden"},
      {"Country without region", "CPTK000004",
       R"({"eventId":")" + id(4) + R"(","eventType":"Country","productId":"CPTK000004",)" + kAt +
           R"(,"data":{"country":"UnitedStates"}})",
       "", "region", "country-UnitedStates"},
      {"unknown type", "CPTK000005",
       R"({"eventId":")" + id(5) + R"(","eventType":"InventoryUpdate","productId":"CPTK000005",)"
       R"("region":"US",)" + kAt + "}",
       "unknown_event_type", "", ""},
      {"not JSON", "CPTK000006", "{\"eventId\": not json", "invalid_json", "", ""},
      {"illegal topic", "CPTK000007",
       R"({"eventId":")" + id(7) + R"(","eventType":"ProductPriceUpdate","productId":"CPTK000007",)"
       R"("region":"US/East",)" + kAt + "}",
       "illegal_topic", "", ""},
      {"missing placeholder", "CPTK000008",
       R"({"eventId":")" + id(8) + R"(","eventType":"ProductPriceUpdate",)"
       R"("productId":"CPTK000008",)" + kAt + "}",
       "missing_placeholder", "region", ""},
      {"valid, after the others", "CPTK000009",
       R"({"eventId":")" + id(9) + R"(","eventType":"Country","productId":"CPTK000009",)"
       R"("region":"EU",)" + kAt + R"(,"data":{"country":"Sweden","region":"EU"}})",
       "", "", "country-Sweden"},
  };
}

// The value of one series in Prometheus text ("name{labels} value"), -1 when absent.
double metric(const std::string& text, const std::string& series) {
  auto pos = text.find("\n" + series + " ");
  if (pos == std::string::npos) return -1;
  return std::stod(text.substr(pos + series.size() + 2));
}

// The store's row count for a product, through GET /event (bounded wait).
std::set<std::string> history_ids(std::uint16_t port, const std::string& products,
                                  std::size_t expected) {
  std::set<std::string> ids;
  auto d = wait_history(port, products, expected, 60s);
  if (!d.IsArray()) return ids;
  for (const auto& e : d.GetArray()) ids.insert(e["eventId"].GetString());
  return ids;
}

void run_mode(const std::string& mode) {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  const bool strict = mode == "strict";
  const auto all = cases(p);
  create_topic(brokers, p + "-product-event", 1);  // one partition: order is the input's
  std::vector<std::pair<std::string, std::string>> in;
  for (const auto& c : all) in.emplace_back(c.key, c.value);
  produce(brokers, p + "-product-event", in);

  PemxRunner pemx(prefixed_config(p));
  std::vector<std::string> args = {"--set", "kafka.brokers=" + brokers};
  if (strict) {
    args.insert(args.end(), {"--set", "stages.router.validation=strict", "--set",
                             "stages.store.validation=strict"});
  }
  auto& proc = pemx.start("all", args);
  auto port = wait_port(proc);

  std::size_t routed = 0, dead = 0;
  for (const auto& c : all) {
    bool routes = c.reason.empty() && (!strict || c.field.empty());
    (routes ? routed : dead)++;
  }
  auto dlq = consume_all(brokers, p + "-product-event-dlq-pemx", dead, 90s);
  auto storage = consume_all(brokers, p + "-product-event-storage-pemx", routed, 60s);
  CHECK(storage.size() == routed);
  REQUIRE(dlq.size() == dead);
  std::map<std::string, std::string> reason_by_key;
  for (const auto& m : dlq) reason_by_key[m.key] = m.headers.at("pemx-dlq-reason");

  std::string stored_products;
  std::set<std::string> stored_ids;
  for (const auto& c : all) {
    INFO(mode << ": " << c.name);
    if (strict && !c.field.empty()) {  // its field rule is checked first
      CHECK(reason_by_key[c.key] == "invalid_event");
      continue;
    }
    if (!c.reason.empty()) {
      CHECK(reason_by_key[c.key] == c.reason);
      continue;
    }
    CHECK(reason_by_key.count(c.key) == 0);
    auto out = consume_all(brokers, p + "-" + c.topic, 1, 30s, 200ms);
    bool found = false;
    for (const auto& m : out) found = found || m.value == c.value;
    CHECK(found);  // routed, byte for byte
    std::string product = json_field(c.value, "productId");
    if (!product.empty()) {
      stored_products += (stored_products.empty() ? "" : ",") + product;
      stored_ids.insert(json_field(c.value, "eventId"));
    }
  }
  // Stored, as the reference stored them: GET /event finds every one that has a productId.
  CHECK(history_ids(port, stored_products, stored_ids.size()) == stored_ids);

  // Counted per rule, by the router and by the store, in report mode only. The store's count
  // of the event without productId (which GET cannot find) may come a batch later.
  std::string metrics;
  const std::string last = R"(pemx_sqlite_store_invalid_events_total{stage="store",reason="productId"})";
  for (auto until = std::chrono::steady_clock::now() + 30s;
       std::chrono::steady_clock::now() < until;) {
    metrics = http_get(port, "/metrics").body;
    if (strict || metric(metrics, last) == 1) break;
    std::this_thread::sleep_for(100ms);
  }
  for (const std::string stage : {"pemx_rules_router", "pemx_sqlite_store"}) {
    for (const std::string field : {"eventId", "createdAt", "productId", "region"}) {
      INFO(stage << " " << field);
      std::string name = stage == "pemx_rules_router" ? "router" : "store";
      double n = metric(metrics, stage + "_invalid_events_total{stage=\"" + name +
                                     "\",reason=\"" + field + "\"}");
      CHECK(n == (strict ? 0 : 1));
    }
  }
  // And on the overview.
  auto overview = parse_json(http_get(port, "/api/overview").body);
  REQUIRE(overview["invalidEvents"].IsArray());
  CHECK(overview["invalidEvents"].Size() == (strict ? 0u : 8u));

  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
}

}  // namespace

TEST_CASE("murmur2 gives Kafka's own test values", "[compat]") {
  // From Kafka's UtilsTest (the values its Java client computes).
  CHECK(murmur2("21") == -973932308);
  CHECK(murmur2("foobar") == -790332482);
  CHECK(murmur2("a-little-bit-long-string") == -985981536);
  CHECK(murmur2("a-little-bit-longer-string") == -1486304829);
  CHECK(murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971);
  CHECK(murmur2("abc") == 479470107);
}

TEST_CASE("report (the default): what the push refuses is routed, stored and counted; what the "
          "reference could not route is dead-lettered",
          "[integration][compat]") {
  run_mode("report");
}

TEST_CASE("strict: what the push refuses is dead-lettered as invalid_event, like what the "
          "reference could not route",
          "[integration][compat]") {
  run_mode("strict");
}

TEST_CASE("every output is on the partition the Java client picks for its key (murmur2)",
          "[integration][compat]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  constexpr int kPartitions = 6;
  create_topic(brokers, p + "-product-event", 3);
  for (const std::string t : {"product-price-update-v1-US", "country-Sweden",
                              "product-event-storage-pemx"}) {
    create_topic(brokers, p + "-" + t, kPartitions);
  }
  std::vector<std::pair<std::string, std::string>> in;
  for (int i = 0; i < 120; ++i) {
    char product[16];
    std::snprintf(product, sizeof product, "PART%06d", i * 7919);
    std::string type = i % 2 ? "ProductPriceUpdate" : "Country";
    std::string data = i % 2 ? R"({"newPrice":1.5,"previousPrice":2})"
                             : R"({"country":"Sweden","region":"EU"})";
    in.emplace_back(product, R"({"eventId":")" + id(1000 + i) + R"(","eventType":")" + type +
                                 R"(","productId":")" + product + R"(","region":"US",)" + kAt +
                                 R"(,"data":)" + data + "}");
  }
  produce(brokers, p + "-product-event", in);
  PemxRunner pemx(prefixed_config(p));
  auto& proc = pemx.start_on(brokers);

  std::set<std::int32_t> used;
  for (const auto& [topic, expected] :
       std::vector<std::pair<std::string, std::size_t>>{{"product-price-update-v1-US", 60},
                                                        {"country-Sweden", 60},
                                                        {"product-event-storage-pemx", 120}}) {
    auto out = consume_all(brokers, p + "-" + topic, expected, 90s);
    REQUIRE(out.size() == expected);
    for (const auto& m : out) {
      INFO(topic << " key " << m.key);
      CHECK(m.partition == java_partition(m.key, kPartitions));
      used.insert(m.partition);
    }
  }
  CHECK(used.size() == kPartitions);  // the keys spread: the check was not vacuous
  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
}

TEST_CASE("an event without a string productId is produced without a key, like every output of "
          "the reference",
          "[integration][compat]") {
  // validation = "report" routes such events; an empty key would be hashed (murmur2 of no
  // bytes) and put every one of them on the same partition, for good.
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  constexpr int kPartitions = 6;
  create_topic(brokers, p + "-product-event", 1);
  create_topic(brokers, p + "-country-Sweden", kPartitions);
  const std::vector<std::string> products = {"", R"("productId":"",)", R"("productId":7,)",
                                             R"("productId":null,)", R"("productId":{},)"};
  std::vector<std::pair<std::string, std::string>> in;
  for (int i = 0; i < 60; ++i) {
    in.emplace_back("", R"({"eventId":")" + id(2000 + i) + R"(","eventType":"Country",)" +
                            products[i % products.size()] + R"("region":"EU",)" + kAt +
                            R"(,"data":{"country":"Sweden"}})");
  }
  produce(brokers, p + "-product-event", in);
  PemxRunner pemx(prefixed_config(p));
  auto& proc = pemx.start_on(brokers);

  auto out = consume_all(brokers, p + "-country-Sweden", in.size(), 90s);
  REQUIRE(out.size() == in.size());
  // Not checked: that they spread. librdkafka, like the Java client, keeps keyless messages
  // on one random partition for a while (sticky.partitioning.linger.ms), so a quick burst may
  // well land on one; what matters is that no key pins them there for good.
  for (const auto& m : out) {
    INFO(m.value);
    CHECK_FALSE(m.has_key);
  }
  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
}
