// Lineage on the real broker (PEMX_TEST_BROKERS): pemx --role=all routes and stores an event;
// GET /event/{eventId}/lineage names the source partition and offset where the test produced
// it, and every output at the partition and offset where a consumer of that topic sees it; an
// event the router dead-letters (an unknown eventType) is a 404 listing its dead letter with
// the reason; an unknown eventId is a 404 with none. With a second broker
// (PEMX_TEST_BROKERS_B), an output a rule sends to [clusters.eu] is found on that cluster and
// named so; a cluster that does not answer (SIGSTOPped) makes its outputs "unknown", and when
// nothing answers the lookup is a 504. A dead-letter topic flooded with one eventId's messages
// with big headers is answered with a bounded, truncated list.
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <set>

#include "integration/broker_pause.hpp"
#include "integration/pemx_runner.hpp"
#include "integration/web_util.hpp"

using Catch::Matchers::Contains;
using namespace pemx::test;
using namespace std::chrono_literals;

namespace {

// The message of `topic` whose eventId is `id` (read from the beginning, bounded).
Message find_message(const std::string& brokers, const std::string& topic, const std::string& id,
                     std::size_t expected) {
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < until) {
    for (const auto& m : consume_all(brokers, topic, expected, 20s)) {
      if (json_field(m.value, "eventId") == id) return m;
    }
  }
  FAIL("no message with eventId " << id << " in " << topic);
  return {};
}

}  // namespace

TEST_CASE("lineage: source offset, every output's partition and offset, the row, dead letters",
          "[integration][lineage]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  const std::string source = p + "-product-event";
  const std::string price = p + "-product-price-update-v1-EU";
  const std::string storage = p + "-product-event-storage-pemx";
  const std::string dlq = p + "-product-event-dlq-pemx";
  // Several partitions each, so that a partition computed wrongly is seen.
  create_topic(brokers, source, 3);
  create_topic(brokers, price, 3);
  create_topic(brokers, storage, 2);
  create_topic(brokers, dlq, 2);

  PemxRunner pemx(prefixed_config(p));
  auto& proc = pemx.start("all", {"--set", "kafka.brokers=" + brokers});
  const auto port = wait_port(proc);

  const std::string routed_id = event_id(1401);
  const std::string dead_id = event_id(1402);
  const std::string product = p + "-LIN";
  std::string dead_event = event_json(1402, product, created_at(1402));
  const std::string type = R"("eventType":"ProductPriceUpdate")";
  dead_event.replace(dead_event.find(type), type.size(), R"("eventType":"NoSuchType")");
  produce(brokers, source,
          {{product, event_json(1401, product, created_at(1401))}, {product, dead_event}});

  const Message at_source = find_message(brokers, source, routed_id, 2);
  REQUIRE(wait_history(port, product, 1, 60s).Size() == 1);

  auto r = http_get(port, "/event/" + routed_id + "/lineage");
  INFO(r.body);
  REQUIRE(r.status == 200);
  auto d = parse_json(r.body);
  CHECK(d["stored"].GetBool());
  CHECK(std::string(d["row"]["productId"].GetString()) == product);
  CHECK(std::string(d["row"]["storage"]["topic"].GetString()) == storage);
  CHECK(d["storage"]["eventIdMatches"].GetBool());
  REQUIRE(d["source"].IsObject());
  CHECK(std::string(d["source"]["topic"].GetString()) == source);
  CHECK(d["source"]["partition"].GetInt() == at_source.partition);
  CHECK(d["source"]["offset"].GetInt64() == at_source.offset);
  REQUIRE(d["rules"]["current"].IsString());
  CHECK(std::string(d["rules"]["routedWith"].GetString()) == d["rules"]["current"].GetString());
  CHECK_FALSE(d["rules"]["changed"].GetBool());

  std::set<std::string> outputs;
  for (const auto& o : d["outputs"].GetArray()) {
    const std::string topic = o["topic"].GetString();
    outputs.insert(topic);
    INFO(topic);
    REQUIRE(std::string(o["status"].GetString()) == "found");
    const Message seen = find_message(brokers, topic, routed_id, 1);
    CHECK(o["partition"].GetInt() == seen.partition);
    CHECK(o["offset"].GetInt64() == seen.offset);
  }
  CHECK(outputs == std::set<std::string>{price, storage});
  CHECK(d["deadLetters"].Size() == 0);

  // The dead-lettered event: not stored, its dead letter with the router's reason.
  const Message dead = find_message(brokers, dlq, dead_id, 1);
  auto nd = http_get(port, "/event/" + dead_id + "/lineage");
  INFO(nd.body);
  REQUIRE(nd.status == 404);
  auto dd = parse_json(nd.body);
  CHECK_FALSE(dd["stored"].GetBool());
  REQUIRE(dd["deadLetters"].Size() == 1);
  const auto& letter = dd["deadLetters"][0];
  CHECK(std::string(letter["reason"].GetString()) == "unknown_event_type");
  CHECK(std::string(letter["topic"].GetString()) == dlq);
  CHECK(letter["partition"].GetInt() == dead.partition);
  CHECK(letter["offset"].GetInt64() == dead.offset);

  // An eventId nobody sent.
  auto none = http_get(port, "/event/no-such-event/lineage");
  CHECK(none.status == 404);
  CHECK(parse_json(none.body)["deadLetters"].Size() == 0);

  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
}

TEST_CASE("lineage: a stored event without PEMX's headers is searched again, not timed out",
          "[integration][lineage]") {
  // Written straight to the storage topic (no pemx-event-id header): the storage partition is
  // read at the row's offset, then searched again as an output. The first read paused it; a
  // second search of a paused partition used to wait out lineage_timeout (attack finding).
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  const std::string storage = p + "-product-event-storage-pemx";
  create_topic(brokers, p + "-product-event", 1);
  create_topic(brokers, p + "-product-price-update-v1-EU", 1);
  create_topic(brokers, storage, 1);
  create_topic(brokers, p + "-product-event-dlq-pemx", 1);
  PemxRunner pemx(prefixed_config(p));
  auto& proc = pemx.start("all", {"--set", "kafka.brokers=" + brokers, "--set",
                                  "stages.http.lineage_timeout=60s"});
  const auto port = wait_port(proc);
  const std::string product = p + "-RAW";
  produce(brokers, storage, {{product, event_json(1501, product, created_at(1501))}});
  REQUIRE(wait_history(port, product, 1, 60s).Size() == 1);
  auto r = http_get(port, "/event/" + event_id(1501) + "/lineage");
  INFO(r.body);
  REQUIRE(r.status == 200);
  auto d = parse_json(r.body);
  bool searched = false;
  for (const auto& o : d["outputs"].GetArray()) {
    if (std::string(o["topic"].GetString()) != storage) continue;
    searched = true;
    REQUIRE(o.HasMember("reason"));
    const std::string reason = o["reason"].GetString();
    CHECK(reason.find("lineage_timeout") == std::string::npos);
    CHECK(reason.find("reached its end") != std::string::npos);
  }
  CHECK(searched);
  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
}

namespace {

// The second broker (scripts/test.sh starts it), or "" after a skip message.
std::string second_brokers() {
  const char* b = std::getenv("PEMX_TEST_BROKERS_B");
  if (b == nullptr || *b == '\0') {
    WARN("SKIPPED: PEMX_TEST_BROKERS_B is not set (scripts/test.sh starts a second broker with "
         "tests/broker/kafka.sh start and exports its address)");
    return {};
  }
  return b;
}

// The test config with the price rule's outputs on [clusters.eu] (brokers_b).
std::string eu_cluster_config(const std::string& p, const std::string& brokers_b) {
  std::string config = prefixed_config(p);
  const std::string topic_line = "topic = \"" + p + "-product-price-update-v1-{region}\"\n";
  auto at = config.find(topic_line);
  REQUIRE(at != std::string::npos);
  config.insert(at + topic_line.size(), "cluster = \"eu\"\n");
  return config + "\n[clusters.eu]\nbrokers = \"" + brokers_b + "\"\n";
}

// A string member, "" when absent (an answer without it fails the check, not the process).
std::string text(const rapidjson::Value& v, const char* key) {
  return v.HasMember(key) && v[key].IsString() ? v[key].GetString() : "";
}
bool flag(const rapidjson::Value& v, const char* key) {
  return v.HasMember(key) && v[key].IsBool() && v[key].GetBool();
}

const rapidjson::Value* output_of(const rapidjson::Document& d, const std::string& topic) {
  for (const auto& o : d["outputs"].GetArray()) {
    if (topic == o["topic"].GetString()) return &o;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("lineage: an output on a [clusters.<name>] is searched on that cluster and named; "
          "a cluster that does not answer is unknown, and nothing answering is a 504",
          "[integration][lineage][clusters]") {
  const std::string b = second_brokers();
  if (b.empty()) return;
  const std::string a = test_brokers();
  const std::string p = unique_prefix();
  const std::string price = p + "-product-price-update-v1-EU";
  const std::string storage = p + "-product-event-storage-pemx";
  create_topic(a, p + "-product-event", 1);
  create_topic(a, storage, 2);
  create_topic(a, p + "-product-event-dlq-pemx", 1);
  // The price topic on both clusters: the event is only on the second one's, so a search on
  // the main cluster's (the bug) finds nothing.
  create_topic(a, price, 3);
  create_topic(b, price, 3);
  PemxRunner pemx(eu_cluster_config(p, b));
  auto& proc = pemx.start("all", {"--set", "kafka.brokers=" + a, "--set",
                                  "stages.http.lineage_timeout=5s"});
  const auto port = wait_port(proc);
  const std::string id = event_id(1601);
  const std::string product = p + "-CL";
  produce(a, p + "-product-event", {{product, event_json(1601, product, created_at(1601))}});
  REQUIRE(wait_history(port, product, 1, 60s).Size() == 1);
  const Message on_b = find_message(b, price, id, 1);

  {
    auto r = http_get(port, "/event/" + id + "/lineage");
    INFO(r.body);
    REQUIRE(r.status == 200);
    auto d = parse_json(r.body);
    const auto* o = output_of(d, price);
    REQUIRE(o != nullptr);
    CHECK(text(*o, "cluster") == "eu");
    REQUIRE(text(*o, "status") == "found");
    CHECK((*o)["partition"].GetInt() == on_b.partition);
    CHECK((*o)["offset"].GetInt64() == on_b.offset);
    const auto* s = output_of(d, storage);
    REQUIRE(s != nullptr);
    CHECK(text(*s, "cluster") == "kafka");
    CHECK(text(*s, "status") == "found");
  }
  {
    // The second cluster stops answering: its output is unknown, not "not_found", and the
    // main cluster's are still answered.
    BrokerPause paused_b(broker_pid(b));
    auto r = http_get(port, "/event/" + id + "/lineage");
    INFO(r.body);
    REQUIRE(r.status == 200);
    auto d = parse_json(r.body);
    const auto* o = output_of(d, price);
    REQUIRE(o != nullptr);
    CHECK(text(*o, "status") == "unknown");
    CHECK(text(*o, "cluster") == "eu");
    const auto* s = output_of(d, storage);
    REQUIRE(s != nullptr);
    CHECK(text(*s, "status") == "found");
    CHECK(flag(d["deadLetterScan"], "complete"));

    // Neither answers: nothing could be searched, a 504 that says so.
    BrokerPause paused_a(broker_pid(a));
    auto none = http_get(port, "/event/" + id + "/lineage");
    paused_a.resume();
    INFO(none.body);
    CHECK(none.status == 504);
    auto nd = parse_json(none.body);
    CHECK_THAT(text(nd, "error"), Contains("lineage_timeout"));
    for (const auto& out : nd["outputs"].GetArray()) {
      CHECK(text(out, "status") == "unknown");
    }
    CHECK(nd["deadLetterScan"].HasMember("complete"));
    CHECK_FALSE(flag(nd["deadLetterScan"], "complete"));
  }
  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
}

TEST_CASE("lineage: a dead-letter topic flooded with one eventId's messages with big headers "
          "is answered with a bounded list marked truncated",
          "[integration][lineage]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  const std::string dlq = p + "-product-event-dlq-pemx";
  create_topic(brokers, p + "-product-event", 1);
  create_topic(brokers, dlq, 1);
  // 150 dead letters of one eventId, each with 256 KiB of other headers and a 64 KiB detail
  // (about 48 MB in all): the answer lists 100 with their reason, cut details, nothing else.
  const std::string id = p + "-flood";
  std::vector<Message> letters(150);
  for (auto& m : letters) {
    m.key = "K";
    m.value = "{}";
    m.headers = {{"pemx-event-id", id},
                 {"pemx-dlq-reason", "unknown_event_type"},
                 {"pemx-dlq-detail", std::string(64 * 1024, 'd')},
                 {"x-junk-1", std::string(128 * 1024, 'j')},
                 {"x-junk-2", std::string(128 * 1024, 'k')}};
  }
  produce_with_headers(brokers, dlq, letters);
  PemxRunner pemx(prefixed_config(p));
  auto& proc = pemx.start("all", {"--set", "kafka.brokers=" + brokers, "--set",
                                  "stages.http.lineage_timeout=60s"});
  const auto port = wait_port(proc);
  auto r = http_get(port, "/event/" + id + "/lineage");
  REQUIRE(r.status == 404);
  auto d = parse_json(r.body);
  CHECK(d["deadLetters"].Size() == 100);
  CHECK(flag(d["deadLetterScan"], "truncated"));
  REQUIRE(d["deadLetters"].Size() > 0);
  const auto& first = d["deadLetters"][0];
  CHECK(std::string(first["reason"].GetString()) == "unknown_event_type");
  CHECK(std::string(first["detail"].GetString()).size() < 2 * 1024);
  CHECK(r.body.size() < 1024 * 1024);
  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
}
