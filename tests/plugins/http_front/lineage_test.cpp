// Lineage's pure core (lineage.hpp): the path, the router's headers, the key's partition and
// the answers; and the route on a loopback server with a fake lookup: it answers through the
// lookup off the I/O threads, refuses one lookup too many with a 503 and Retry-After, needs a
// reader token under require_read_token, and says so when lineage is off.
#include "http_front/lineage.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "http_front/server.hpp"
#include "plugins/http_front/empty_reader.hpp"
#include "support/http_client.hpp"
#include "support/json.hpp"

using namespace pemx;
using namespace pemx::http_front;
using pemx::http_front::test::EmptyReader;
using pemx::test::http_request;
using pemx::test::HttpResponse;
using pemx::test::parse_json;
using Catch::Matchers::Contains;
using namespace std::chrono_literals;

TEST_CASE("murmur2 gives Kafka's values; a key's partition is its positive hash modulo the count",
          "[unit][http][lineage]") {
  // Kafka's UtilsTest (what its Java client computes).
  CHECK(murmur2("21") == -973932308);
  CHECK(murmur2("foobar") == -790332482);
  CHECK(murmur2("a-little-bit-long-string") == -985981536);
  CHECK(murmur2("a-little-bit-longer-string") == -1486304829);
  CHECK(murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971);
  CHECK(murmur2("abc") == 479470107);
  CHECK(key_partition("21", 1) == 0);
  CHECK(key_partition("foobar", 3) == static_cast<std::int32_t>((-790332482 & 0x7fffffff) % 3));
  CHECK(key_partition("abc", 7) == 479470107 % 7);
  CHECK(key_partition("abc", 0) == -1);
}

TEST_CASE("the lineage path: its eventId percent-decoded, '+' kept, malformed segments refused",
          "[unit][http][lineage]") {
  CHECK(is_lineage_path("/event/abc/lineage"));
  CHECK_FALSE(is_lineage_path("/event//lineage"));
  CHECK_FALSE(is_lineage_path("/event/lineage"));
  CHECK_FALSE(is_lineage_path("/event/abc"));
  CHECK_FALSE(is_lineage_path("/events/abc/lineage"));
  auto id = [](std::string_view path) { return std::get<std::string>(lineage_event_id(path)); };
  auto status = [](std::string_view path) {
    return std::get<Answer>(lineage_event_id(path)).status;
  };
  CHECK(id("/event/7a2b-1/lineage") == "7a2b-1");
  CHECK(id("/event/a%20b+c/lineage") == "a b+c");
  CHECK(status("/event/a%zz/lineage") == 400);
  CHECK(status("/event/%ff/lineage") == 400);
  CHECK(status("/event/a/b/lineage") == 404);
  CHECK(status("/event/" + std::string(kMaxLineageIdBytes + 1, 'x') + "/lineage") == 400);
}

TEST_CASE("the router's headers: the last value of each, numbers checked",
          "[unit][http][lineage]") {
  MessageHeaders headers = {{"pemx-event-id", "E1"},
                            {"pemx-source-topic", "product-event"},
                            {"pemx-source-partition", "2"},
                            {"pemx-source-offset", "41"},
                            {"pemx-source-offset", "42"},
                            {"pemx-rules-version", "0123456789abcdef"},
                            {"pemx-dlq-reason", "topic_not_allowed"}};
  auto h = parse_router_headers(headers);
  CHECK(h.event_id == "E1");
  CHECK(h.source_topic == "product-event");
  CHECK(h.source_partition == 2);
  CHECK(h.source_offset == 42);
  CHECK(h.rules_version == "0123456789abcdef");
  CHECK(h.dlq_reason == "topic_not_allowed");
  CHECK_FALSE(h.dlq_detail);
  auto bad = parse_router_headers({{"pemx-source-partition", "2x"}, {"pemx-source-offset", ""}});
  CHECK_FALSE(bad.source_partition);
  CHECK_FALSE(bad.source_offset);
}

namespace {

FoundMessage message(std::string topic, std::int32_t p, std::int64_t o, MessageHeaders h = {}) {
  FoundMessage m;
  m.topic = std::move(topic);
  m.partition = p;
  m.offset = o;
  m.timestamp_ms = 1'700'000'000'000;
  m.headers = std::move(h);
  return m;
}

LineageReport stored_report() {
  LineageReport r;
  r.event_id = "E1";
  StoredRow row;
  row.event = {"E1", "ProductPriceUpdate", "P1", "EU", "2024-07-26T14:41:17.123Z", R"({"a":1})"};
  row.source_topic = "storage";
  row.source_partition = 1;
  row.source_offset = 7;
  row.stored_at_ms = 1'700'000'000'500;
  r.row = row;
  r.storage = message("storage", 1, 7,
                      {{"pemx-event-id", "E1"},
                       {"pemx-source-topic", "product-event"},
                       {"pemx-source-partition", "0"},
                       {"pemx-source-offset", "12"},
                       {"pemx-rules-version", "old"}});
  r.rules_known = true;
  r.rules_version = "new";
  r.key = "P1";
  r.dead_letter_topic = "dlq";
  OutputLookup found;
  found.topic = "price-EU";
  found.partitions = {2};
  found.found = message("price-EU", 2, 99);
  found.scanned = 3;
  OutputLookup missing;
  missing.topic = "gone";
  missing.why_not = "topic gone is not in the cluster's metadata";
  r.outputs = {found, missing};
  r.dead_letters = {message("dlq", 0, 5,
                            {{"pemx-event-id", "E1"},
                             {"pemx-dlq-reason", "delivery_failed"},
                             {"pemx-dlq-detail", "too large"},
                             {"pemx-dlq-stage", "dist_sink"}})};
  r.dead_letter_scanned = 10;
  return r;
}

}  // namespace

TEST_CASE("the lineage answer: row, source from the headers, rules changed, outputs found and "
          "not found, dead letters with their reason",
          "[unit][http][lineage]") {
  Answer a = lineage_answer(stored_report());
  REQUIRE(a.status == 200);
  auto d = parse_json(a.body);
  CHECK(d["stored"].GetBool());
  CHECK(std::string(d["row"]["productId"].GetString()) == "P1");
  CHECK(d["row"]["data"]["a"].GetInt() == 1);
  CHECK(d["row"]["storage"]["offset"].GetInt64() == 7);
  CHECK(d["storage"]["eventIdMatches"].GetBool());
  CHECK(std::string(d["source"]["topic"].GetString()) == "product-event");
  CHECK(d["source"]["partition"].GetInt() == 0);
  CHECK(d["source"]["offset"].GetInt64() == 12);
  CHECK(std::string(d["rules"]["routedWith"].GetString()) == "old");
  CHECK(std::string(d["rules"]["current"].GetString()) == "new");
  CHECK(d["rules"]["changed"].GetBool());
  REQUIRE(d["outputs"].Size() == 2);
  CHECK(std::string(d["outputs"][0]["status"].GetString()) == "found");
  CHECK(d["outputs"][0]["partition"].GetInt() == 2);
  CHECK(d["outputs"][0]["offset"].GetInt64() == 99);
  CHECK(std::string(d["outputs"][1]["status"].GetString()) == "not_found");
  CHECK_THAT(d["outputs"][1]["reason"].GetString(), Contains("not in the cluster"));
  REQUIRE(d["deadLetters"].Size() == 1);
  CHECK(std::string(d["deadLetters"][0]["reason"].GetString()) == "delivery_failed");
  CHECK(std::string(d["deadLetters"][0]["stage"].GetString()) == "dist_sink");
  CHECK(d["deadLetterScan"]["scanned"].GetUint64() == 10);
}

TEST_CASE("the lineage answer of an event not stored is a 404 that still lists its dead "
          "letters",
          "[unit][http][lineage]") {
  LineageReport r = stored_report();
  r.row.reset();
  r.storage.reset();
  Answer a = lineage_answer(r);
  REQUIRE(a.status == 404);
  auto d = parse_json(a.body);
  CHECK_FALSE(d["stored"].GetBool());
  CHECK_THAT(d["error"].GetString(), Contains("not stored"));
  CHECK_FALSE(d.HasMember("outputs"));
  REQUIRE(d["deadLetters"].Size() == 1);
  CHECK(std::string(d["deadLetters"][0]["reason"].GetString()) == "delivery_failed");
}

namespace {

// A lookup that waits until released, and says when one is under way.
class FakeLookup final : public LineageLookup {
 public:
  Answer lookup(const std::string& id) override {
    std::unique_lock<std::mutex> lock(mutex_);
    ++entered_;
    cv_.notify_all();
    cv_.wait_for(lock, 30s, [&] { return released_; });
    return {200, "{\"eventId\":\"" + id + "\"}", {}};
  }
  void cancel() noexcept override { release(); }
  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    released_ = true;
    cv_.notify_all();
  }
  bool wait_entered(int n) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, 30s, [&] { return entered_ >= n; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int entered_ = 0;
  bool released_ = false;
};

struct LineageServer {
  LineageServer(std::shared_ptr<FakeLookup> fake, ServerSettings s = {}) {
    s.port = 0;
    s.io_threads = 1;
    s.query_threads = 1;
    s.idle_timeout = 5s;
    s.push_enabled = false;
    s.lineage.max_concurrent = 1;
    s.lineage_lookup = std::move(fake);
    server = std::make_unique<Server>(s, Logger{}, metrics, std::make_shared<EmptyReader>(),
                                      nullptr, nullptr);
    server->start();
  }
  ~LineageServer() { server->stop(); }
  Metrics metrics;
  std::unique_ptr<Server> server;
};

}  // namespace

TEST_CASE("GET /event/{eventId}/lineage answers through the lookup; one too many is a 503 "
          "with Retry-After while the I/O thread stays free",
          "[unit][http][lineage]") {
  auto fake = std::make_shared<FakeLookup>();
  LineageServer srv(fake);
  const auto port = srv.server->port();
  HttpResponse first;
  std::thread t([&] { first = http_request(port, "GET", "/event/E%201/lineage"); });
  REQUIRE(fake->wait_entered(1));
  // The one I/O thread still answers while the lookup waits on its pool.
  CHECK(http_request(port, "GET", "/healthz").status == 200);
  auto busy = http_request(port, "GET", "/event/E2/lineage");
  CHECK(busy.status == 503);
  CHECK(busy.headers["retry-after"] == "1");
  CHECK(http_request(port, "POST", "/event/E2/lineage").status == 405);
  CHECK(http_request(port, "GET", "/event/a%zz/lineage").status == 400);
  fake->release();
  t.join();
  CHECK(first.status == 200);
  CHECK(first.body == R"({"eventId":"E 1"})");
  // The slot is free again.
  CHECK(http_request(port, "GET", "/event/E3/lineage").status == 200);
}

TEST_CASE("lineage needs a reader token under require_read_token, and says when it is off",
          "[unit][http][lineage]") {
  auto fake = std::make_shared<FakeLookup>();
  fake->release();
  SECTION("require_read_token") {
    ServerSettings s;
    s.credentials.tokens = {{"dash", "reader-secret-0123456789", kRoleReader}};
    s.credentials.require_read_token = true;
    LineageServer srv(fake, s);
    CHECK(http_request(srv.server->port(), "GET", "/event/E1/lineage").status == 401);
    CHECK(http_request(srv.server->port(), "GET", "/event/E1/lineage",
                       {{"Authorization", "Bearer reader-secret-0123456789"}})
              .status == 200);
  }
  SECTION("lineage = false") {
    ServerSettings s;
    s.lineage.enabled = false;
    LineageServer srv(fake, s);
    auto r = http_request(srv.server->port(), "GET", "/event/E1/lineage");
    CHECK(r.status == 404);
    CHECK_THAT(r.body, Contains("lineage is off"));
  }
}
