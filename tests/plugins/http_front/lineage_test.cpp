// Lineage's pure core (lineage.hpp): the path, the router's headers, the key's partition and
// the answers; and the route on a loopback server with a fake lookup: it answers through the
// lookup off the I/O threads, refuses one lookup too many with a 503 and Retry-After, needs a
// reader token under require_read_token, and says so when lineage is off.
#include "http_front/lineage.hpp"

#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <unistd.h>

#include "http_front/server.hpp"
#include "plugins/http_front/empty_reader.hpp"
#include "support/http_client.hpp"
#include "support/json.hpp"

using namespace pemx;
using namespace pemx::http_front;
using pemx::http_front::test::EmptyReader;
using pemx::test::connect_loopback;
using pemx::test::http_request;
using pemx::test::send_all;
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
  auto negative =
      parse_router_headers({{"pemx-source-partition", "-1"}, {"pemx-source-offset", "-5"}});
  CHECK_FALSE(negative.source_partition);
  CHECK_FALSE(negative.source_offset);
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

TEST_CASE("lineage keeps only the pemx headers it reads, the last value of each, cut at "
          "kMaxLineageHeaderBytes on a UTF-8 boundary",
          "[unit][http][lineage]") {
  HeaderPicker picker;
  picker.offer("pemx-event-id", "old");
  picker.offer("traceparent", "00-abc");
  picker.offer("pemx-dlq-detail", std::string(kMaxLineageHeaderBytes - 1, 'a') + "\xC3\xA9x");
  picker.offer("pemx-event-id", "E1");
  picker.offer("pemx-unknown", "v");
  MessageHeaders kept = picker.take();
  REQUIRE(kept.size() == 2);
  CHECK(kept[0] == std::pair<std::string, std::string>("pemx-event-id", "E1"));
  CHECK(kept[1].first == "pemx-dlq-detail");
  // The two-byte é would cross the limit: cut before it, then the mark.
  CHECK(kept[1].second == std::string(kMaxLineageHeaderBytes - 1, 'a') + "\xE2\x80\xA6");
  CHECK(picker.skipped() == 3);  // traceparent, pemx-unknown, the cut value
  CHECK(picker.take().empty());
  CHECK(cut_header_value("short", 10) == "short");
  CHECK(cut_header_value("abcdef", 3) == "abc\xE2\x80\xA6");
}

TEST_CASE("header bytes that are not UTF-8 are kept as U+FFFD, so the lineage answer stays "
          "valid JSON (found by the lineage_headers fuzz target)",
          "[unit][http][lineage]") {
  CHECK(lossy_utf8("plain \xC3\xA9") == "plain \xC3\xA9");
  CHECK(lossy_utf8("a\xFF\xFE" "b") == "a\xEF\xBF\xBD\xEF\xBF\xBD" "b");
  CHECK(lossy_utf8("\xC3") == "\xEF\xBF\xBD");                 // a truncated sequence
  CHECK(lossy_utf8("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // a surrogate
  HeaderPicker picker;
  picker.offer("pemx-event-id", "\xFF\xFE\xC3");
  picker.offer("pemx-dlq-reason", "\xED\xA0\x80");
  // Each of the 1,024 bytes becomes 3: cut again to the limit.
  picker.offer("pemx-dlq-detail", std::string(kMaxLineageHeaderBytes, '\xFF'));
  LineageReport r = stored_report();
  r.dead_letters[0].headers = picker.take();
  REQUIRE(r.dead_letters[0].headers.size() == 3);
  CHECK(r.dead_letters[0].headers[2].second.size() <= kMaxLineageHeaderBytes + 3);
  Answer a = lineage_answer(r);
  rapidjson::Document d;
  d.Parse<rapidjson::kParseValidateEncodingFlag>(a.body.data(), a.body.size());
  REQUIRE_FALSE(d.HasParseError());
  CHECK(std::string(d["deadLetters"][0]["reason"].GetString()) == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_CASE("what lineage keeps of a message is bounded whatever its headers hold",
          "[unit][http][lineage]") {
  // 2000 headers of 64 KiB (the 84 MB dead-letter topic of the attack, in one message).
  const std::string big(64 * 1024, 'x');
  HeaderPicker picker;
  for (int i = 0; i < 1000; ++i) {
    picker.offer("x-junk-" + std::to_string(i), big);
    picker.offer(kLineageHeaders[static_cast<std::size_t>(i) % std::size(kLineageHeaders)], big);
  }
  FoundMessage m;
  m.topic = "dlq";
  m.headers = picker.take();
  CHECK(m.headers.size() == std::size(kLineageHeaders));
  const std::size_t bound = 3 + std::size(kLineageHeaders) * (32 + kMaxLineageHeaderBytes + 3);
  CHECK(held_bytes(m) <= bound);
}

TEST_CASE("a lookup's budget: dead letters past the count or the bytes are refused and "
          "the lookup says truncated",
          "[unit][http][lineage]") {
  FoundMessage small;
  small.topic = "dlq";
  small.headers = {{"pemx-event-id", "E1"}};
  SECTION("the count") {
    HeldBudget budget(1 << 20, 3);
    for (int i = 0; i < 3; ++i) CHECK(budget.admit_dead_letter(small));
    CHECK_FALSE(budget.truncated());
    CHECK_FALSE(budget.admit_dead_letter(small));
    CHECK(budget.truncated());
    CHECK(budget.held() == 3 * held_bytes(small));
  }
  SECTION("the bytes, the storage message and outputs counted too") {
    HeldBudget budget(5 * held_bytes(small), 100);
    budget.keep(small);  // the storage message
    budget.keep(small);  // an output
    for (int i = 0; i < 3; ++i) CHECK(budget.admit_dead_letter(small));
    CHECK_FALSE(budget.admit_dead_letter(small));
    CHECK(budget.truncated());
    CHECK(budget.held() <= 5 * held_bytes(small));
  }
  SECTION("the defaults") {
    HeldBudget budget;
    std::size_t admitted = 0;
    for (std::size_t i = 0; i < 10 * kMaxLineageDeadLetters; ++i) {
      admitted += budget.admit_dead_letter(small) ? 1 : 0;
    }
    CHECK(admitted == kMaxLineageDeadLetters);
    CHECK(budget.held() <= kMaxLineageHeldBytes);
  }
}

TEST_CASE("the lineage answer names each output's cluster, says unknown for a search cut "
          "short, and flags truncated or incomplete dead letters",
          "[unit][http][lineage]") {
  LineageReport r = stored_report();
  OutputLookup eu;
  eu.topic = "price-EU";
  eu.cluster = "eu";
  eu.unknown = true;
  eu.why_not = "price-EU[1]: lineage_timeout ran out after 0 messages from offset 3";
  r.outputs.push_back(eu);
  r.dead_letters_truncated = true;
  Answer a = lineage_answer(r);
  REQUIRE(a.status == 200);  // the [kafka] cluster answered
  auto d = parse_json(a.body);
  REQUIRE(d["outputs"].Size() == 3);
  CHECK(std::string(d["outputs"][0]["cluster"].GetString()) == "kafka");
  CHECK(std::string(d["outputs"][1]["status"].GetString()) == "not_found");
  CHECK(std::string(d["outputs"][2]["cluster"].GetString()) == "eu");
  CHECK(std::string(d["outputs"][2]["status"].GetString()) == "unknown");
  CHECK_THAT(d["outputs"][2]["reason"].GetString(), Contains("lineage_timeout"));
  CHECK(d["deadLetterScan"]["truncated"].GetBool());
  CHECK(d["deadLetterScan"]["complete"].GetBool());
  r.dead_letters_unknown = true;
  CHECK_FALSE(parse_json(lineage_answer(r).body)["deadLetterScan"]["complete"].GetBool());
}

TEST_CASE("a lineage lookup that could search nothing is a 504 (no answer in time) or a 503 "
          "(the cluster failed), not a 200 of outputs not found",
          "[unit][http][lineage]") {
  LineageReport r = stored_report();
  r.storage.reset();
  r.storage_problem = "cluster kafka: its metadata: Local: Timed out";
  r.storage_unknown = true;
  for (auto& o : r.outputs) {
    o.found.reset();
    o.unknown = true;
    o.why_not = r.storage_problem;
  }
  r.dead_letters.clear();
  r.dead_letter_problem = r.storage_problem;
  r.dead_letters_unknown = true;
  r.timed_out = true;
  CHECK(lineage_unavailable(r) == 504);
  Answer timed_out = lineage_answer(r);
  CHECK(timed_out.status == 504);
  auto d = parse_json(timed_out.body);
  CHECK_THAT(d["error"].GetString(), Contains("lineage_timeout"));
  CHECK(std::string(d["outputs"][0]["status"].GetString()) == "unknown");
  CHECK(d["storage"]["unknown"].GetBool());
  r.timed_out = false;
  Answer failed = lineage_answer(r);
  CHECK(failed.status == 503);
  REQUIRE(failed.headers.size() == 1);
  CHECK(failed.headers[0].first == "Retry-After");
  // Not stored, and the dead letters could not be searched either.
  LineageReport gone = r;
  gone.row.reset();
  gone.outputs.clear();
  CHECK(lineage_answer(gone).status == 503);
  // One search that finished is an answer.
  r.outputs[1].unknown = false;
  CHECK_FALSE(lineage_unavailable(r));
  CHECK(lineage_answer(r).status == 200);
}

namespace {

// A lookup that waits until released, and says when one is under way.
class FakeLookup final : public LineageLookup {
 public:
  // Waits until released, or (as the Kafka lookup does between its polls) until its client
  // went away; bounded either way.
  Answer lookup(const std::string& id, const std::atomic<bool>& client_gone) override {
    std::unique_lock<std::mutex> lock(mutex_);
    ++entered_;
    cv_.notify_all();
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (!released_ && !client_gone.load() && std::chrono::steady_clock::now() < until) {
      cv_.wait_for(lock, 10ms);
    }
    if (client_gone.load()) {
      ++saw_gone_;
      cv_.notify_all();
    }
    return {200, "{\"eventId\":\"" + id + "\"}", {}};
  }
  bool wait_saw_gone(int n) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, 30s, [&] { return saw_gone_ >= n; });
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
  int saw_gone_ = 0;
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

TEST_CASE("a lineage lookup whose client closes the connection is cancelled and counted",
          "[unit][http][lineage]") {
  auto fake = std::make_shared<FakeLookup>();
  LineageServer srv(fake);
  const int fd = connect_loopback(srv.server->port());
  REQUIRE(fd >= 0);
  REQUIRE(send_all(fd, "GET /event/E1/lineage HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  REQUIRE(fake->wait_entered(1));
  ::close(fd);  // before the answer: nobody will read it
  // The lookup sees its client gone (it would otherwise wait until released, 30 s).
  CHECK(fake->wait_saw_gone(1));
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (srv.metrics.counter_total("pemx_http_front_lineage_cancelled_total") == 0 &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(10ms);
  }
  CHECK(srv.metrics.counter_total("pemx_http_front_lineage_cancelled_total") == 1);
  // In the requests by status: 499 (the client closed the request), not a 5xx.
  const Labels cancelled{{"route", "/event/{eventId}/lineage"}, {"status", "499"}};
  while (srv.metrics.counter_value("pemx_http_requests_total", cancelled) == 0 &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(10ms);
  }
  CHECK(srv.metrics.counter_value("pemx_http_requests_total", cancelled) == 1);
  for (const char* status : {"503", "504"}) {
    CHECK(srv.metrics.counter_value("pemx_http_requests_total",
                                    {{"route", "/event/{eventId}/lineage"}, {"status", status}}) ==
          0);
  }
  // A client that stays gets its answer, and nothing more is counted (503: the first lookup's
  // slot is freed just after it is counted).
  fake->release();
  HttpResponse kept;
  do {
    kept = http_request(srv.server->port(), "GET", "/event/E2/lineage");
  } while (kept.status == 503 && std::chrono::steady_clock::now() < until);
  CHECK(kept.status == 200);
  CHECK(srv.metrics.counter_total("pemx_http_front_lineage_cancelled_total") == 1);
}
