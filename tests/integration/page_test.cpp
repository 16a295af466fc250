// The page's server side on the real broker: the embedded files, /api/info, the live stream
// (Server-Sent Events) with its filters, its bound on slow clients and on streams, and the
// overview's figures. The browser tests (tests/browser) drive the page itself.
#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include <sqlite3.h>

#include <csignal>
#include <map>
#include <regex>
#include <set>

#include "integration/pemx_runner.hpp"
#include "integration/web_util.hpp"

using namespace pemx::test;
using namespace std::chrono_literals;

namespace {

// The "data:" payloads of every "event: event" message received so far.
std::vector<rapidjson::Document> sse_events(const std::string& data) {
  std::vector<rapidjson::Document> out;
  std::size_t pos = 0;
  while ((pos = data.find("event: event\ndata: ", pos)) != std::string::npos) {
    pos += 19;
    auto end = data.find("\n\n", pos);
    if (end == std::string::npos) break;
    out.push_back(parse_json(std::string_view(data).substr(pos, end - pos)));
  }
  return out;
}

// The store's file write-locked by this test (BEGIN IMMEDIATE) until release() or the end of
// the scope: the store's batches get SQLITE_BUSY and retry, so nothing is acknowledged and no
// offset of its ingest stage is committed meanwhile.
class StoreLock {
 public:
  explicit StoreLock(const std::string& path) {
    REQUIRE(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
    sqlite3_busy_timeout(db_, 10'000);
    REQUIRE(sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  }
  ~StoreLock() { release(); }
  StoreLock(const StoreLock&) = delete;
  StoreLock& operator=(const StoreLock&) = delete;
  void release() {
    if (db_ == nullptr) return;
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
    db_ = nullptr;
  }

 private:
  sqlite3* db_ = nullptr;
};

struct PartitionRow {
  std::int64_t committed = -1;  // -1: null
  std::int64_t high = -1;
  std::int64_t lag = -1;
};

// The overview's partitions of one ingest stage, by partition number.
std::map<std::int32_t, PartitionRow> overview_partitions(std::uint16_t port,
                                                         const std::string& stage,
                                                         const std::string& topic) {
  std::map<std::int32_t, PartitionRow> out;
  auto o = parse_json(http_get(port, "/api/overview").body);
  if (!o.IsObject() || !o.HasMember("ingest")) return out;
  for (const auto& i : o["ingest"].GetArray()) {
    if (std::string(i["stage"].GetString()) != stage) continue;
    for (const auto& p : i["partitions"].GetArray()) {
      if (std::string(p["topic"].GetString()) != topic) continue;
      PartitionRow r;
      r.committed = p["committed"].IsNull() ? -1 : p["committed"].GetInt64();
      r.high = p["highWatermark"].IsNull() ? -1 : p["highWatermark"].GetInt64();
      r.lag = p["lag"].GetInt64();
      out[p["partition"].GetInt()] = r;
    }
  }
  return out;
}

// Polls the overview (bounded) until the stage's partitions of `topic` hold `high` messages
// and `lag` of them are not committed, in total; returns the last rows seen.
std::map<std::int32_t, PartitionRow> wait_partitions(std::uint16_t port, const std::string& stage,
                                                     const std::string& topic,
                                                     std::int64_t high, std::int64_t lag) {
  std::map<std::int32_t, PartitionRow> rows;
  auto until = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < until) {
    rows = overview_partitions(port, stage, topic);
    std::int64_t h = 0, l = 0;
    for (const auto& [n, r] : rows) {
      h += r.high;
      l += r.lag;
    }
    if (h == high && l == lag) return rows;
    std::this_thread::sleep_for(200ms);
  }
  return rows;
}

}  // namespace

TEST_CASE("the overview and /metrics give each partition's committed offset, high watermark "
          "and lag as the broker has them", "[integration][page][lag]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  const std::string storage = p + "-product-event-storage-pemx";
  const std::string group = p + "-product-event-storage-consumer-pemx";
  create_topic(brokers, storage, 3);
  PemxRunner runner(prefixed_config(p));
  // The web role: store_ingest -> store. A store write lock lasting the test is no failure.
  auto& pemx = runner.start("web", {"--set", "kafka.brokers=" + brokers, "--set",
                                    "stages.store.give_up_after=\"10m\""});
  auto port = wait_port(pemx);

  auto batch = [](int first, int count) {
    std::vector<std::pair<std::string, std::string>> out;
    for (int n = first; n < first + count; ++n) {
      const std::string product = "LAG" + std::to_string(n % 7);
      out.emplace_back(product, event_json(n, product, created_at(n)));
    }
    return out;
  };
  const int kStored = 9, kBehind = 40;
  produce(brokers, storage, batch(1, kStored));
  REQUIRE(wait_committed(brokers, group, storage, kStored, 60s));
  // Stored and committed: every partition at its high watermark.
  auto rows = wait_partitions(port, "store_ingest", storage, kStored, 0);
  CHECK(rows.size() == 3);

  // The store cannot write: what arrives is consumed, never committed.
  StoreLock lock(runner.db_path());
  produce(brokers, storage, batch(100, kBehind));
  rows = wait_partitions(port, "store_ingest", storage, kStored + kBehind, kBehind);

  // The broker's own figures: the group's committed offsets, each partition's messages.
  const auto committed = pemx::test::committed(brokers, group, storage);
  std::map<std::int32_t, std::int64_t> messages;
  for (const auto& m : consume_all(brokers, storage, kStored + kBehind, 30s)) {
    ++messages[m.partition];
  }
  REQUIRE(rows.size() == 3);
  const std::string metrics = http_get(port, "/metrics").body;
  std::int64_t total_lag = 0;
  for (const auto& [n, r] : rows) {
    INFO("partition " << n);
    CHECK(r.committed == committed.at(n));
    CHECK(r.high == messages[n]);
    CHECK(r.lag == r.high - r.committed);
    total_lag += r.lag;
    CHECK(metrics.find("pemx_kafka_ingest_partition_lag{stage=\"store_ingest\",topic=\"" +
                       storage + "\",partition=\"" + std::to_string(n) + "\"} " +
                       std::to_string(r.lag) + "\n") != std::string::npos);
  }
  CHECK(total_lag == kBehind);

  // The lock gone, the store catches up: no lag left.
  lock.release();
  REQUIRE(wait_committed(brokers, group, storage, kStored + kBehind, 60s));
  rows = wait_partitions(port, "store_ingest", storage, kStored + kBehind, 0);
  for (const auto& [n, r] : rows) CHECK(r.committed == messages[n]);

  pemx.signal(SIGTERM);
  CHECK(pemx.wait(60s) == 0);

  // Restarted with nothing new to read: the group's committed offsets, no lag (not each
  // partition's whole history, as when an idle partition's unknown position counted as its
  // earliest offset).
  auto& again = runner.start("web", {"--set", "kafka.brokers=" + brokers});
  auto port2 = wait_port(again);
  rows = wait_partitions(port2, "store_ingest", storage, kStored + kBehind, 0);
  REQUIRE(rows.size() == 3);
  for (const auto& [n, r] : rows) {
    INFO("partition " << n << " after the restart");
    CHECK(r.committed == messages[n]);
    CHECK(r.lag == 0);
  }
  CHECK(http_get(port2, "/metrics").body.find(
            "pemx_kafka_ingest_consumer_lag{stage=\"store_ingest\"} 0\n") != std::string::npos);
  again.signal(SIGTERM);
  CHECK(again.wait(60s) == 0);
}

TEST_CASE("the page is served from the binary with a strict policy, and every file it names "
          "loads", "[integration][page]") {
  PemxRunner runner(prefixed_config(unique_prefix()));
  auto& pemx = runner.start("all", {"--set", "kafka.brokers=embedded"});
  auto port = wait_port(pemx);

  auto index = http_get(port, "/");
  REQUIRE(index.status == 200);
  CHECK(index.headers["content-type"] == "text/html; charset=utf-8");
  CHECK(index.headers["content-security-policy"].find("default-src 'self'") != std::string::npos);
  CHECK(index.headers["content-security-policy"].find("script-src 'self'") != std::string::npos);
  CHECK(index.headers["x-frame-options"] == "DENY");
  CHECK(index.body.find("<html") != std::string::npos);
  // No inline script or style: the policy would block them.
  CHECK(index.body.find("<style") == std::string::npos);
  CHECK(index.body.find("style=\"") == std::string::npos);
  CHECK(std::regex_search(index.body, std::regex("<script[^>]*>\\s*[^<\\s]")) == false);

  std::regex ref(R"re((?:src|href)="(/?[A-Za-z0-9_./-]+\.(?:js|css|svg))")re");
  int files = 0;
  for (auto it = std::sregex_iterator(index.body.begin(), index.body.end(), ref);
       it != std::sregex_iterator(); ++it) {
    std::string path = (*it)[1];
    if (path.front() != '/') path = "/" + path;
    auto r = http_get(port, path);
    INFO(path);
    CHECK(r.status == 200);
    CHECK_FALSE(r.body.empty());
    ++files;
  }
  CHECK(files >= 2);  // at least the script and the style sheet
  CHECK(http_get(port, "/no-such-file.js").status == 404);
  CHECK(http_get(port, "/../pemx.toml").status == 404);

  auto info = parse_json(http_get(port, "/api/info").body);
  CHECK(std::string(info["role"].GetString()) == "all");
  CHECK(info["history"].GetBool());
  CHECK(info["push"].GetBool());
  CHECK_FALSE(info["tokenRequired"].GetBool());
  std::set<std::string> kinds;
  for (const auto& k : info["live"].GetArray()) kinds.insert(k.GetString());
  CHECK(kinds == std::set<std::string>{"routed", "stored"});

  pemx.signal(SIGTERM);
  CHECK(pemx.wait(60s) == 0);
}

TEST_CASE("the live stream delivers stored and routed events with their filters, and the "
          "overview counts them", "[integration][page]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  create_topic(brokers, p + "-product-event", 3);
  PemxRunner runner(prefixed_config(p));
  auto& pemx = runner.start("all", {"--set", "kafka.brokers=" + brokers});
  auto port = wait_port(pemx);

  HttpStream stored(port, "/api/live");
  HttpStream routed(port, "/api/live?kind=routed&productIds=LIVEA");
  HttpStream typed(port, "/api/live?kind=stored&eventType=Country");
  REQUIRE(stored.read_until("event: hello", 10s));
  REQUIRE(routed.read_until("event: hello", 10s));
  CHECK(stored.data().find("text/event-stream") != std::string::npos);
  CHECK(routed.data().find(R"("kind":"routed")") != std::string::npos);
  CHECK(http_get(port, "/api/live?kind=nonsense").status == 400);

  REQUIRE(http_post(port, "/event", push_body(1, 2, "LIVEA")).status == 201);
  REQUIRE(http_post(port, "/event", push_body(3, 1, "LIVEB")).status == 201);
  // A bad event straight into the source topic: the router dead-letters it (an unknown type:
  // dead-lettered whatever the validation mode).
  produce(brokers, p + "-product-event",
          {{"LIVEC", R"({"eventId":"not-a-uuid","eventType":"Mystery"})"}});

  REQUIRE(stored.read_until(event_id(3), 60s));
  REQUIRE(stored.read_until(event_id(1), 5s));
  REQUIRE(stored.read_until(event_id(2), 5s));
  auto got = sse_events(stored.data());
  CHECK(got.size() == 3);
  for (const auto& e : got) {
    CHECK(std::string(e["kind"].GetString()) == "stored");
    CHECK(e["event"].IsObject());
    CHECK(e["seq"].GetUint64() > 0);
  }

  REQUIRE(routed.read_until(event_id(2), 30s));
  REQUIRE(routed.read_until(event_id(1), 5s));
  auto only_a = sse_events(routed.data());
  CHECK(only_a.size() == 2);  // LIVEB is filtered out
  for (const auto& e : only_a) {
    CHECK(std::string(e["event"]["productId"].GetString()) == "LIVEA");
    std::set<std::string> topics;
    for (const auto& t : e["topics"].GetArray()) topics.insert(t.GetString());
    CHECK(topics.count(p + "-product-price-update-v1-EU") == 1);
  }
  CHECK(sse_events(typed.data()).empty());  // no Country event was stored

  // The overview: counts per topic, the dead letter with its reason, the entry stage's count.
  rapidjson::Document o;
  auto until = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < until) {
    o = parse_json(http_get(port, "/api/overview").body);
    if (o["deadLetters"]["count"].GetInt() >= 1 && o["stored"]["count"].GetInt() >= 3 &&
        o["series"].Size() >= 2) {
      break;
    }
    std::this_thread::sleep_for(500ms);
  }
  CHECK(o["stored"]["count"].GetInt() == 3);
  REQUIRE(o["deadLetters"]["count"].GetInt() == 1);
  REQUIRE(o["deadLetters"]["latest"].Size() == 1);
  CHECK(std::string(o["deadLetters"]["latest"][0]["reason"].GetString()) == "unknown_event_type");
  CHECK(std::string(o["deadLetters"]["latest"][0]["eventId"].GetString()) == "not-a-uuid");
  CHECK(std::string(o["ingest"][0]["stage"].GetString()) == "dist_ingest");
  CHECK(o["ingest"][0]["consumed"].GetInt() == 4);
  int price_eu = -1;
  for (const auto& t : o["topics"].GetArray()) {
    if (std::string(t["topic"].GetString()) == p + "-product-price-update-v1-EU") {
      price_eu = t["count"].GetInt();
    }
  }
  CHECK(price_eu == 3);
  CHECK(o["series"].Size() >= 2);

  // Streams end with the process: SIGTERM with three open streams still exits 0.
  pemx.signal(SIGTERM);
  CHECK(pemx.wait(60s) == 0);
  CHECK_FALSE(stored.read_until("never sent", 5s));
  CHECK(stored.closed());
}

TEST_CASE("a client that does not read is told what it missed; streams are bounded in number",
          "[integration][page]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  create_topic(brokers, p + "-product-event", 3);
  PemxRunner runner(prefixed_config(p));
  auto& pemx = runner.start("all", {"--set", "kafka.brokers=" + brokers, "--set",
                                    "stages.http.max_live_clients=2"});
  auto port = wait_port(pemx);

  // A tiny receive buffer and no reads: the server cannot write, so it falls behind the ring.
  HttpStream slow(port, "/api/live", {}, 2048);
  HttpStream second(port, "/api/live");
  REQUIRE(second.read_until("event: hello", 10s));
  auto third = http_get(port, "/api/live");
  CHECK(third.status == 503);
  CHECK(third.body.find("too many live streams") != std::string::npos);

  const int kEvents = 3000;  // more than the 1024 the ring holds
  for (int first = 0; first < kEvents; first += 200) {
    REQUIRE(http_post(port, "/event", push_body(10000 + first, 200, "SLOW")).status == 201);
  }
  const std::string last = event_id(10000 + kEvents - 1);
  REQUIRE(second.read_until(last, 120s));
  CHECK(http_get(port, "/healthz").status == 200);  // the stuck stream blocks nothing

  // Now read the slow stream: it reports a gap and still reaches the newest event.
  REQUIRE(slow.read_until(last, 60s));
  CHECK(slow.data().find("event: gap") != std::string::npos);
  CHECK(sse_events(slow.data()).size() < static_cast<std::size_t>(kEvents));

  pemx.signal(SIGTERM);
  CHECK(pemx.wait(60s) == 0);
}
