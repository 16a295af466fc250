// The page's server side without sockets: the overview document (rates, series, dead letters)
// and the embedded files.
#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include "http_front/overview.hpp"
#include "http_front/static_files.hpp"
#include "support/json.hpp"

using namespace pemx;
using namespace pemx::http_front;
using pemx::test::parse_json;

namespace {
const rapidjson::Value* topic(const rapidjson::Document& d, const char* name) {
  for (const auto& t : d["topics"].GetArray()) {
    if (std::string(t["topic"].GetString()) == name) return &t;
  }
  return nullptr;
}
}  // namespace

TEST_CASE("overview: counts, per-topic rates over the window, and the series", "[unit][page]") {
  Metrics m;
  Activity a;
  a.role = "all";
  a.started_at_ms = 1'000'000;
  a.note_source("dist_ingest", {"product-event"});
  a.note_source("store_ingest", {"product-event-storage-pemx"});
  auto& consumed = m.counter("pemx_kafka_ingest_consumed_total", "", {{"stage", "dist_ingest"}});
  auto& consumed_store =
      m.counter("pemx_kafka_ingest_consumed_total", "", {{"stage", "store_ingest"}});
  auto& routed = m.counter("pemx_rules_router_routed_total", "", {{"stage", "router"}});
  auto& eu = m.counter("pemx_rules_router_routed_topic_total", "",
                       {{"stage", "router"}, {"topic", "price-EU"}});
  auto& stored = m.counter("pemx_sqlite_store_stored_total", "", {{"stage", "store"}});
  m.gauge_fn("pemx_kafka_ingest_consumer_lag", "", {{"stage", "dist_ingest"}}, [] { return 42.0; });

  Overview o(m, &a, 300, 5);
  o.sample(1'000'000);
  // 10 s later: 100 consumed, 80 routed, 50 to price-EU, 70 stored.
  consumed.inc(100);
  consumed_store.inc(999);  // an internal hop, not where events enter
  routed.inc(80);
  eu.inc(50);
  stored.inc(70);
  o.sample(1'010'000);
  auto d = parse_json(o.render(1'010'000));

  CHECK(std::string(d["role"].GetString()) == "all");
  CHECK(d["uptimeSeconds"].GetDouble() == Approx(10.0));
  const auto& ingest = d["ingest"].GetArray();
  REQUIRE(ingest.Size() == 2);
  CHECK(std::string(ingest[0]["stage"].GetString()) == "dist_ingest");
  CHECK(ingest[0]["consumed"].GetInt64() == 100);
  CHECK(ingest[0]["rate"].GetDouble() == Approx(10.0));
  CHECK(ingest[0]["lag"].GetInt64() == 42);
  const auto* t = topic(d, "price-EU");
  REQUIRE(t != nullptr);
  CHECK((*t)["count"].GetInt64() == 50);
  CHECK((*t)["rate"].GetDouble() == Approx(5.0));
  CHECK(d["stored"]["count"].GetInt64() == 70);
  CHECK(d["stored"]["rate"].GetDouble() == Approx(7.0));
  const auto& series = d["series"].GetArray();
  REQUIRE(series.Size() == 1);
  CHECK(series[0]["consumed"].GetDouble() == Approx(10.0));  // the entry stage only
  CHECK(series[0]["routed"].GetDouble() == Approx(8.0));
  CHECK(series[0]["stored"].GetDouble() == Approx(7.0));
}

TEST_CASE("overview: the series is bounded and a role without a store says stored: null",
          "[unit][page]") {
  Metrics m;
  auto& routed = m.counter("pemx_rules_router_routed_total", "", {});
  Overview o(m, nullptr, 10, 2);
  for (int i = 0; i < 50; ++i) {
    routed.inc(2);
    o.sample(1'000'000 + i * 2000);
  }
  auto d = parse_json(o.render(1'000'000 + 50 * 2000));
  CHECK(d["series"].GetArray().Size() == 9);  // 10 points, 9 intervals
  CHECK(d["series"][8]["routed"].GetDouble() == Approx(1.0));
  CHECK(d["stored"].IsNull());
}

TEST_CASE("overview: dead letters with hostile bytes still give valid JSON", "[unit][page]") {
  Metrics m;
  m.counter("pemx_rules_router_dead_lettered_total", "", {{"reason", "invalid_json"}}).inc(3);
  Activity a;
  DeadLetterNote n;
  n.reason = "invalid_event";
  n.detail = std::string("bad \xff\xfe utf-8 \"quoted\"");
  n.event_id = "e1";
  a.dead_letter(n);
  Overview o(m, &a);
  auto d = parse_json(o.render(5'000));
  CHECK(d["deadLetters"]["count"].GetInt64() == 3);
  REQUIRE(d["deadLetters"]["latest"].Size() == 1);
  std::string detail = d["deadLetters"]["latest"][0]["detail"].GetString();
  CHECK(detail.find("\"quoted\"") != std::string::npos);
  CHECK(detail.find('\xff') == std::string::npos);
}

TEST_CASE("overview: a dead letter's source, payload and topic; the dead-letter topic's row",
          "[unit][page]") {
  Metrics m;
  m.counter("pemx_rules_router_dead_lettered_total", "", {{"reason", "illegal_topic"}}).inc(2);
  m.counter("pemx_rules_router_routed_topic_total", "", {{"topic", "country-EU"}}).inc(5);
  Activity a;
  DeadLetterNote n;
  n.reason = "illegal_topic";
  n.event_id = "e1";
  n.product_id = "P1";
  n.source_topic = "product-event";
  n.source_partition = 3;
  n.source_offset = 1234;
  n.dead_letter_topic = "product-event-dlq";
  n.payload = R"({"eventId":"e1","productId":"P1"})";
  a.dead_letter(n);
  DeadLetterNote big = n;
  big.payload = std::string(kMaxDeadLetterPayload - 1, 'x') + "\xc3\xa9";  // é across the cut
  a.dead_letter(big);
  Overview o(m, &a);
  auto d = parse_json(o.render(5'000));
  REQUIRE(d["deadLetters"]["latest"].Size() == 2);
  const auto& cut = d["deadLetters"]["latest"][0];  // newest first
  CHECK(cut["payloadTruncated"].GetBool());
  CHECK(std::string(cut["payload"].GetString()) == std::string(kMaxDeadLetterPayload - 1, 'x'));
  const auto& one = d["deadLetters"]["latest"][1];
  CHECK(std::string(one["topic"].GetString()) == "product-event");
  CHECK(one["partition"].GetInt() == 3);
  CHECK(one["offset"].GetInt64() == 1234);
  CHECK(std::string(one["productId"].GetString()) == "P1");
  CHECK(std::string(one["payload"].GetString()) == n.payload);
  CHECK_FALSE(one["payloadTruncated"].GetBool());
  CHECK(std::string(one["deadLetterTopic"].GetString()) == "product-event-dlq");
  // The topics: the routed one, then the dead-letter topic with the dead letters' count.
  REQUIRE(d["topics"].Size() == 2);
  CHECK(std::string(d["topics"][1]["topic"].GetString()) == "product-event-dlq");
  CHECK(d["topics"][1]["count"].GetDouble() == Approx(2));
  CHECK(d["topics"][1]["deadLetters"].GetBool());
  CHECK_FALSE(d["topics"][0].HasMember("deadLetters"));
}

TEST_CASE("overview: the lag per partition of each ingest stage, at most 50 a stage",
          "[unit][page]") {
  Metrics m;
  Activity a;
  a.note_source("dist_ingest", {"product-event"});
  a.note_source("store_ingest", {"storage"});
  a.note_partitions("dist_ingest",
                    {{"product-event", 2, 1000, 1500, 500}, {"product-event", 0, -1, -1, 0}}, 2);
  std::vector<PartitionLag> many;
  for (int i = 0; i < 120; ++i) many.push_back({"storage", i, 7, 9, 120 - i});
  a.note_partitions("store_ingest", many, 300);
  Overview o(m, &a);
  auto d = parse_json(o.render(1'000'000));
  const auto& ingest = d["ingest"].GetArray();
  REQUIRE(ingest.Size() == 2);
  const auto& dist = ingest[0]["partitions"].GetArray();
  REQUIRE(dist.Size() == 2);
  CHECK(std::string(dist[0]["topic"].GetString()) == "product-event");
  CHECK(dist[0]["partition"].GetInt() == 2);
  CHECK(dist[0]["committed"].GetInt64() == 1000);
  CHECK(dist[0]["highWatermark"].GetInt64() == 1500);
  CHECK(dist[0]["lag"].GetInt64() == 500);
  CHECK(dist[1]["committed"].IsNull());  // not known yet
  CHECK(dist[1]["highWatermark"].IsNull());
  CHECK(ingest[0]["partitionsAssigned"].GetUint64() == 2);
  const auto& store = ingest[1]["partitions"].GetArray();
  CHECK(store.Size() == kOverviewPartitions);
  CHECK(store[0]["lag"].GetInt64() == 120);  // the order the stage gave: most lagging first
  CHECK(ingest[1]["partitionsAssigned"].GetUint64() == 300);
}

TEST_CASE("the page's files are embedded and typed", "[unit][page]") {
  const StaticFile* index = find_static("/");
  REQUIRE(index != nullptr);
  CHECK(index->name == "index.html");
  CHECK(index->data.find("<html") != std::string_view::npos);
  CHECK(find_static("/index.html") == index);
  CHECK(find_static("/../pemx.toml") == nullptr);
  CHECK(find_static("/no-such-file.js") == nullptr);
  CHECK(find_static("") == nullptr);
  CHECK(content_type_for("app.js") == "text/javascript; charset=utf-8");
  CHECK(content_type_for("app.css") == "text/css; charset=utf-8");
  CHECK(content_type_for("index.html") == "text/html; charset=utf-8");
  CHECK(content_type_for("blob.bin") == "application/octet-stream");
}
