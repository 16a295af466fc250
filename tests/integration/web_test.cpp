// The web role (storage, history API, fallback push) and the roles together, against the
// real broker and real SQLite files.
#include <catch2/catch.hpp>
#include <rapidjson/document.h>
#include <sqlite3.h>

#include <csignal>
#include <ctime>
#include <set>
#include <thread>

#include "integration/pemx_runner.hpp"
#include "integration/phased_producer.hpp"
#include "integration/web_util.hpp"
#include "sim/event_generator.hpp"
#include "support/http_client.hpp"

using namespace pemx::test;
using namespace std::chrono_literals;

namespace {

std::int64_t count_rows(const std::string& db, const char* sql) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(h, sql, -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  std::int64_t n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(h);
  return n;
}

}  // namespace

TEST_CASE("POST 200 events, then GET returns all of them newest first, with paging",
          "[integration][web]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  create_topic(brokers, p + "-product-event", 3);
  PemxRunner pemx(prefixed_config(p));
  auto& proc = pemx.start("all", {"--set", "kafka.brokers=" + brokers});
  auto port = wait_port(proc);

  std::string body = R"({"events":[)";
  std::set<std::string> products;
  for (int i = 0; i < 200; ++i) {
    std::string product = "WEBP" + std::to_string(100000 + i % 10);
    products.insert(product);
    body += (i ? "," : "") + event_json(i, product, created_at(i));
  }
  body += "]}";
  auto posted = http_post(port, "/event", body);
  REQUIRE(posted.status == 201);

  std::string ids;
  for (const auto& id : products) ids += (ids.empty() ? "" : ",") + id;
  auto all = wait_history(port, ids, 200, 120s);
  REQUIRE(all.Size() == 200);
  std::string previous = "9999";
  for (const auto& e : all.GetArray()) {
    std::string at = e["createdAt"].GetString();
    CHECK(at < previous);  // strictly newest first (all distinct)
    previous = at;
    CHECK(e.MemberCount() == 6);
  }
  // Pages of 30 walk every event exactly once, in the same order.
  std::vector<std::string> walked;
  std::string target = "/event?productIds=" + ids + "&limit=30";
  for (int page = 0; page < 20 && !target.empty(); ++page) {
    auto r = http_get(port, target);
    REQUIRE(r.status == 200);
    auto d = parse_json(r.body);
    CHECK(d.Size() <= 30);
    for (const auto& e : d.GetArray()) walked.push_back(e["eventId"].GetString());
    auto next = r.headers.find("x-next-cursor");
    target = next == r.headers.end() ? "" : "/event?productIds=" + ids + "&limit=30&cursor=" + next->second;
  }
  CHECK(target.empty());
  REQUIRE(walked.size() == 200);
  for (rapidjson::SizeType i = 0; i < all.Size(); ++i) CHECK(walked[i] == all[i]["eventId"].GetString());

  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
}

TEST_CASE("the reference web page's exact requests work, with CORS", "[integration][web]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  create_topic(brokers, p + "-product-event", 3);
  PemxRunner pemx(prefixed_config(p));
  auto& proc = pemx.start("all", {"--set", "kafka.brokers=" + brokers});
  auto port = wait_port(proc);
  const std::map<std::string, std::string> origin = {{"Origin", "http://localhost:3000"}};

  // The page's push: a JSON array typed into a textarea, sent as {"events": [...]}.
  std::string events = "[" + event_json(1, "a", "2024-07-26T10:00:00.000Z") + "," +
                       event_json(2, "b", "2024-07-26T11:00:00.000Z") + "]";
  auto pre = http_raw(port, "OPTIONS /event HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                            "Origin: http://localhost:3000\r\nAccess-Control-Request-Method: POST\r\n"
                            "Access-Control-Request-Headers: content-type\r\n\r\n");
  CHECK(pre.status == 204);
  CHECK(pre.headers["access-control-allow-origin"] == "http://localhost:3000");
  auto pushed = http_post(port, "/event", R"({"events":)" + events + "}", origin);
  CHECK(pushed.status == 201);
  CHECK(pushed.headers["access-control-allow-origin"] == "http://localhost:3000");

  // The page's search.
  auto d = wait_history(port, "a,b", 2, 120s);
  REQUIRE(d.Size() == 2);
  CHECK(std::string(d[0]["productId"].GetString()) == "b");  // newest first
  auto r = http_get(port, "/event?productIds=a,b", origin);
  CHECK(r.status == 200);
  CHECK(r.headers["access-control-allow-origin"] == "http://localhost:3000");
  CHECK(http_get(port, "/event?productIds=a", {{"Origin", "http://evil.example"}})
            .headers.count("access-control-allow-origin") == 0);

  // The page shows each msg of a 400.
  auto bad = http_post(port, "/event", R"({"events":[{"eventId":"x"}]})", origin);
  CHECK(bad.status == 400);
  CHECK(bad.body.find("Event ID must be a valid UUID") != std::string::npos);
  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
}

TEST_CASE("kill -9 of the web role mid-stream, SIGTERM during the restart's pending group "
          "join, then a restart: every event stored once",
          "[integration][web][crash]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  const std::string storage = p + "-product-event-storage-pemx";
  const std::string group = p + "-product-event-storage-consumer-pemx";
  const int kEvents = 30'000;
  create_topic(brokers, storage, 3);
  pemx::sim::EventGenerator gen({.seed = 11});
  std::vector<std::pair<std::string, std::string>> in;
  std::set<std::string> ids;
  for (int i = 0; i < kEvents; ++i) {
    auto e = gen.next();
    ids.insert(e.event_id);
    in.emplace_back(e.product_id, std::move(e.json));
  }
  // Mid-stream by construction, on any machine however fast it stores: a first kBefore
  // events are stored and committed (the restart resumes from real offsets); then the rest
  // streams in, never more than kWindow events ahead of what pemx has consumed, and the kill
  // comes once pemx has consumed kKillAt of them, while the producer is still in the first
  // half; the second half follows the kill (PhasedProducer).
  const int kBefore = 2000, kKillAt = 6000, kWindow = 3000, kChunk = 1000;
  const std::vector<std::pair<std::string, std::string>> rest(in.begin() + kBefore, in.end());
  const std::size_t kSplit = rest.size() / 2;
  static_assert(kKillAt + kWindow + kChunk < (kEvents - kBefore) / 2);
  produce(brokers, storage, {in.begin(), in.begin() + kBefore});

  // The killed member's session stays open in the group for this long: the restart's join
  // cannot complete before it expires.
  const auto kKilledSession = 30s;
  const std::string session_key = "stages.store_ingest.properties.\"session.timeout.ms\"=";
  PemxRunner pemx(prefixed_config(p));
  auto& first = pemx.start(
      "web", {"--set", "kafka.brokers=" + brokers, "--set",
              session_key + std::to_string(std::chrono::milliseconds(kKilledSession).count())});
  auto port = wait_port(first);
  REQUIRE(wait_committed(brokers, group, storage, kBefore, 120s));
  PhasedProducer producer(brokers, storage, rest,
                          {.split = kSplit, .chunk = kChunk, .window = kWindow,
                           .progress = [port] { return consumed_now(port) - kBefore; }});
  REQUIRE(wait_consumed(port, kBefore + kKillAt, 120s));
  first.signal(SIGKILL);
  REQUIRE(first.wait(30s) == 128 + SIGKILL);
  auto killed_at = std::chrono::steady_clock::now();
  auto at_kill = committed_total(brokers, group, storage);
  auto produced_at_kill = kBefore + producer.produced();
  auto stored_at_kill = count_rows(pemx.db_path(), "SELECT count(*) FROM events");
  INFO("committed at kill: " << at_kill << ", produced at kill: " << produced_at_kill);
  REQUIRE(produced_at_kill < kBefore + kSplit);  // mid-stream: more still to come
  producer.release();

  // A restart signalled at once: its join waits for the killed member's session, and the
  // SIGTERM must not (docs/architecture.md, "SIGTERM during a pending group join"): it exits
  // 0 within drain_timeout plus the documented margin, having committed nothing.
  const auto kDrain = 2s, kMargin = 3s;
  auto& second = pemx.start("web", {"--set", "kafka.brokers=" + brokers, "--set",
                                    "shutdown.drain_timeout=2s", "--set", session_key + "6000"});
  REQUIRE(second.wait_for_log("\"msg\":\"subscribed\"", 30s));
  auto signalled_at = std::chrono::steady_clock::now();
  second.signal(SIGTERM);
  auto code = second.wait(kDrain + kMargin + 30s);
  auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - signalled_at);
  auto since_kill = std::chrono::steady_clock::now() - killed_at;
  {
    std::string log = second.log();
    INFO("restart: exit " << (code ? std::to_string(*code) : "none") << " " << took.count()
                          << " s after SIGTERM; its log ends:\n"
                          << log.substr(log.size() > 4000 ? log.size() - 4000 : 0));
    // The join really was pending: the killed member's session was open the whole time.
    REQUIRE(since_kill < kKilledSession);
    CHECK(log.find("\"partitions assigned\"") == std::string::npos);
    REQUIRE(code.has_value());
    CHECK(*code == 0);
    CHECK(took < kDrain + kMargin);
  }
  WARN("kill at " << at_kill << " committed, " << produced_at_kill << " of " << kEvents
                  << " produced, " << stored_at_kill
                  << " stored; the restart exited " << (code ? std::to_string(*code) : "-")
                  << " " << took.count() << " s after SIGTERM during its pending join");
  CHECK(committed_total(brokers, group, storage) == at_kill);

  // A normal run stores the rest.
  producer.finish();
  auto& third = pemx.start("web", {"--set", "kafka.brokers=" + brokers});
  CHECK(wait_committed(brokers, group, storage, kEvents, 300s));
  third.signal(SIGTERM);
  CHECK(third.wait(60s) == 0);
  CHECK(committed_total(brokers, group, storage) == kEvents);
  CHECK(count_rows(pemx.db_path(), "SELECT count(*) FROM events") == kEvents);
  CHECK(count_rows(pemx.db_path(), "SELECT count(DISTINCT event_id) FROM events") == kEvents);
  // Spot check through the API path too: every id is in the table.
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(pemx.db_path().c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(h, "SELECT event_id FROM events", -1, &st, nullptr) == SQLITE_OK);
  std::set<std::string> stored;
  while (sqlite3_step(st) == SQLITE_ROW) {
    stored.insert(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  CHECK(stored == ids);
}

TEST_CASE("dist and web as two processes route and store what is pushed", "[integration][web]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  create_topic(brokers, p + "-product-event", 3);
  PemxRunner dist_runner(prefixed_config(p));
  PemxRunner web_runner(prefixed_config(p));
  auto& dist = dist_runner.start("dist", {"--set", "kafka.brokers=" + brokers});
  auto& web = web_runner.start("web", {"--set", "kafka.brokers=" + brokers});
  auto web_port = wait_port(web);
  auto dist_port = wait_port(dist);
  CHECK(http_get(dist_port, "/healthz").status == 200);
  CHECK(http_get(dist_port, "/metrics").body.find("pemx_kafka_ingest_consumed_total") !=
        std::string::npos);
  auto pushed = http_post(web_port, "/event", push_body(5, 1, "TWOPROC1"));
  REQUIRE(pushed.status == 201);
  auto d = wait_history(web_port, "TWOPROC1", 1, 120s);
  REQUIRE(d.Size() == 1);
  auto routed = consume_all(brokers, p + "-product-price-update-v1-EU", 1, 30s, 200ms);
  CHECK(routed.size() == 1);
  auto ready = http_get(web_port, "/readyz");
  CHECK(ready.status == 200);
  // Every role is observable: per-stage figures and HTTP by route and status.
  auto metrics = http_get(web_port, "/metrics").body;
  for (const char* series :
       {"pemx_sqlite_store_stored_total", "pemx_kafka_ingest_consumer_lag{stage=\"store_ingest\"}",
        "pemx_queue_depth{queue=\"to_store\"}", "pemx_sqlite_store_batch_seconds_bucket",
        "# TYPE pemx_queue_pushes_total counter", "pemx_queue_pushes_total{queue=\"to_store\"} ",
        "pemx_build_info{version=\"", "role=\"web\",librdkafka=\"",
        "pemx_http_requests_total{route=\"/event\",status=\"201\"} 1",
        "pemx_http_request_seconds_count{route=\"/event\"}"}) {
    INFO(series);
    CHECK(metrics.find(series) != std::string::npos);
  }
  auto dist_metrics = http_get(dist_port, "/metrics").body;
  for (const char* series :
       {"pemx_rules_router_routed_topic_total{stage=\"router\",topic=\"" , "pemx_kafka_sink_delivered_total",
        "pemx_kafka_ingest_consumer_lag{stage=\"dist_ingest\"}"}) {
    INFO(series);
    CHECK(dist_metrics.find(series) != std::string::npos);
  }
  dist.signal(SIGTERM);
  web.signal(SIGTERM);
  CHECK(dist.wait(60s) == 0);
  CHECK(web.wait(60s) == 0);
}

TEST_CASE("POST while the broker is down answers 503 and writes nothing", "[integration][web]") {
  PemxRunner pemx(prefixed_config(unique_prefix()));
  // Nothing listens on this port: the broker is "down".
  auto& proc = pemx.start("web", {"--set", "kafka.brokers=127.0.0.1:1",
                                  "--set", "stages.http.push_timeout=2s"});
  auto port = wait_port(proc);
  auto started = std::chrono::steady_clock::now();
  auto r = http_post(port, "/event", push_body(9, 1, "DOWN1"));
  CHECK(r.status == 503);
  CHECK(std::chrono::steady_clock::now() - started < 15s);
  CHECK(parse_json(r.body)["error"].IsString());
  CHECK(http_get(port, "/readyz").status == 503);
  CHECK(http_get(port, "/healthz").status == 200);  // alive, just not ready
  auto none = http_get(port, "/event?productIds=DOWN1");
  CHECK(none.status == 200);
  CHECK(none.body == "[]");
  proc.signal(SIGINT);
  proc.wait(60s);
}

TEST_CASE("a corpus of bad HTTP requests: each gets the right status, the server keeps serving",
          "[integration][web][http]") {
  PemxRunner pemx(prefixed_config(unique_prefix()));
  auto& proc = pemx.start("web", {"--set", "kafka.brokers=embedded", "--set",
                                  "stages.http.idle_timeout=2s"});
  auto port = wait_port(proc);
  std::string valid = event_json(1, "P", created_at(1));
  std::string many = R"({"events":[)";
  for (int i = 0; i < 201; ++i) many += (i ? "," : "") + valid;
  many += "]}";
  struct Case {
    const char* name;
    std::string raw;
    int status;
  };
  auto post = [](const std::string& body) {
    return "POST /event HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: "
           "application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  std::vector<Case> cases = {
      {"bad JSON", post("{\"events\": [}"), 400},
      {"201 events", post(many), 400},
      {"zero events", post(R"({"events":[]})"), 400},
      {"wrong types", post(R"({"events":[{"eventId":1,"eventType":2,"productId":[],"region":{},"createdAt":true}]})"), 400},
      {"events not an array", post(R"({"events":"all of them"})"), 400},
      {"huge body", post(std::string(2 * 1024 * 1024, ' ')), 413},
      {"huge headers", "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n", 431},
      {"bad UTF-8 body", post("{\"events\":[\"\xff\xfe\xfd\"]}"), 400},
      {"bad UTF-8 query", "GET /event?productIds=%FF%FE HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 400},
      {"no productIds", "GET /event HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 400},
      {"bad escape", "GET /event?productIds=%zz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 400},
      {"bad limit", "GET /event?productIds=a&limit=0 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 400},
      {"bad cursor", "GET /event?productIds=a&cursor=%%%zz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 400},
      {"garbage request line", "HELLO\r\n\r\n", 400},
      {"unknown route", "GET /admin HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 404},
      {"wrong method", "DELETE /event HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 405},
      // HEAD: GET's answer without its body, wherever GET has one.
      {"HEAD of the page", "HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 200},
      {"HEAD of the history", "HEAD /event?productIds=a HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 200},
      {"HEAD of a bad history query", "HEAD /event HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 400},
      {"HEAD of an unknown route", "HEAD /admin HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", 404},
      // A page elsewhere: a rebound DNS name, a text/plain "simple" request, a foreign origin.
      {"foreign Host", "GET /event?productIds=a HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n", 421},
      {"foreign Host with port", "GET /api/overview HTTP/1.1\r\nHost: evil.example:8080\r\nConnection: close\r\n\r\n", 421},
      {"text/plain push", "POST /event HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(valid.size()) + "\r\n\r\n" + valid, 415},
      {"push without a type", "POST /event HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}", 415},
      {"push from a foreign origin", "POST /event HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nOrigin: https://evil.example\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", 403},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto r = http_raw(port, c.raw);
    CHECK(r.status == c.status);
    if (r.status == 405) CHECK(r.headers["allow"] == "GET, HEAD, POST, OPTIONS");
    if (c.raw.rfind("HEAD ", 0) == 0) {
      CHECK(r.body.empty());
      CHECK(r.headers.count("content-length") == 1);
    } else if (r.status >= 400) {
      auto d = parse_json(r.body);
      CHECK((d.HasMember("error") || d.HasMember("errors")));
    }
    CHECK(http_get(port, "/healthz").status == 200);
  }
  // A slow client that never finishes its headers does not hold the server up.
  std::thread slow([port] { http_raw(port, "GET /event?productIds=a HTTP/1.1\r\nHost:"); });
  CHECK(http_get(port, "/healthz").status == 200);
  slow.join();
  CHECK(proc.running());
  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
}

TEST_CASE("with [schemas], a push of an event failing its schema is a 400 naming the pointer, "
          "and nothing is produced", "[integration][web][schema]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  create_topic(brokers, p + "-product-event", 1);
  PemxRunner pemx(prefixed_config(p));
  const std::string schemas = std::string(PEMX_SOURCE_DIR) + "/schemas/";
  auto& web = pemx.start(
      "web", {"--set", "kafka.brokers=" + brokers, "--set",
              "schemas.ProductPriceUpdate=" + schemas + "product-price-update.json", "--set",
              "schemas.Country=" + schemas + "country.json"});
  auto port = wait_port(web);

  // Listed and served.
  auto list = http_get(port, "/api/schemas");
  REQUIRE(list.status == 200);
  CHECK(list.body ==
        R"({"schemas":[{"eventType":"Country","href":"/api/schemas/Country"},)"
        R"({"eventType":"ProductPriceUpdate","href":"/api/schemas/ProductPriceUpdate"}]})");
  auto one = http_get(port, "/api/schemas/ProductPriceUpdate");
  CHECK(one.status == 200);
  CHECK(one.headers["content-type"] == "application/schema+json");
  CHECK(one.body == read_file(schemas + "product-price-update.json"));
  CHECK(http_get(port, "/api/schemas/SpecificProductDiscountUpdate").status == 404);

  // A good event and a bad one: 400 naming the bad one's field; nothing of it produced.
  std::string bad = event_json(2, "SCHEMA2", created_at(2));
  bad.replace(bad.find(R"("newPrice":2)"), 12, R"("newPrice":-2)");
  auto refused = http_post(
      port, "/event",
      R"({"events":[)" + event_json(1, "SCHEMA1", created_at(1)) + "," + bad + "]}");
  CHECK(refused.status == 400);
  auto errors = parse_json(refused.body);
  REQUIRE(errors["errors"].Size() == 1);
  CHECK(std::string(errors["errors"][0]["pointer"].GetString()) == "/events/1/data/newPrice");
  CHECK(std::string(errors["errors"][0]["reason"].GetString()) == "schema");
  CHECK(std::string(errors["errors"][0]["msg"].GetString())
            .rfind("/events/1/data/newPrice: must be", 0) == 0);

  // Then a valid push: the topic holds exactly that one event.
  REQUIRE(http_post(port, "/event", push_body(3, 1, "SCHEMA3")).status == 201);
  auto produced = consume_all(brokers, p + "-product-event", 1, 30s, 2s);
  REQUIRE(produced.size() == 1);
  CHECK(produced[0].key == "SCHEMA3");
  web.signal(SIGTERM);
  CHECK(web.wait(60s) == 0);
}

TEST_CASE("retention: events older than the store's retention are deleted, newer ones stay",
          "[integration][web][retention]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  create_topic(brokers, p + "-product-event", 1);
  PemxRunner pemx(prefixed_config(p));
  auto& proc = pemx.start("all", {"--set", "kafka.brokers=" + brokers, "--set",
                                  "stages.store.retention=1h", "--set",
                                  "stages.store.retention_batch=2"});
  auto port = wait_port(proc);
  // Five events of 2024 and one of now.
  char now[40];
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
  std::string body = R"({"events":[)";
  for (int i = 0; i < 5; ++i) body += (i ? "," : "") + event_json(i, "RETOLD", created_at(i));
  body += "," + event_json(5, "RETNEW", now) + "]}";
  REQUIRE(http_post(port, "/event", body).status == 201);
  REQUIRE(wait_history(port, "RETNEW", 1, 120s).Size() == 1);
  // The old ones leave in batches of two (2, 2, 1), whenever they were stored.
  const std::string pruned = "pemx_sqlite_store_pruned_total{stage=\"store\"} 5";
  auto until = std::chrono::steady_clock::now() + 90s;
  while (http_get(port, "/metrics").body.find(pruned) == std::string::npos &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(200ms);
  }
  INFO(proc.log());
  CHECK(http_get(port, "/metrics").body.find(pruned) != std::string::npos);
  auto old = parse_json(http_get(port, "/event?productIds=RETOLD").body);
  CHECK(old.IsArray());
  CHECK(old.Size() == 0);
  CHECK(wait_history(port, "RETNEW", 1, 10s).Size() == 1);
  proc.signal(SIGTERM);
  auto code = proc.wait(60s);
  REQUIRE(code);
  CHECK(*code == 0);
}
