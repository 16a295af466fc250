// Hostile events on the real broker: a poison message never stops a role, and the push
// accepts exactly what the router routes.
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <csignal>
#include <map>
#include <string>

#include "integration/pemx_runner.hpp"
#include "integration/web_util.hpp"

using namespace pemx::test;
using namespace std::chrono_literals;

namespace {

std::string country_event(int n, const std::string& product, const std::string& data) {
  std::string json = event_json(n, product, created_at(n));
  auto at = json.find("\"ProductPriceUpdate\"");
  json.replace(at, 20, "\"Country\"");
  at = json.find("\"data\":");
  return json.substr(0, at) + "\"data\":" + data + "}";
}

std::int64_t rows(const std::string& db) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(h, "SELECT count(*) FROM events", -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  std::int64_t n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(h);
  return n;
}

// Dead letters by the key they were produced with: (reason, stage).
std::map<std::string, std::pair<std::string, std::string>> reasons(const std::vector<Message>& m) {
  std::map<std::string, std::pair<std::string, std::string>> out;
  for (const auto& msg : m) {
    out[msg.key] = {msg.headers.at("pemx-dlq-reason"), msg.headers.at("pemx-dlq-stage")};
  }
  return out;
}

}  // namespace

TEST_CASE("a poison message is dead-lettered with its reason and the events after it flow, "
          "with no restart",
          "[integration][hostile]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  // One partition each: a message that stopped its stage would stop everything after it.
  create_topic(brokers, p + "-product-event", 1);
  create_topic(brokers, p + "-product-event-storage-pemx", 1);
  // 120,000 levels of arrays (240 KB): the recursive parser this replaced crashed on it.
  const std::string deep = std::string(120'000, '[') + std::string(120'000, ']');
  constexpr int kGood = 20;
  std::vector<std::pair<std::string, std::string>> in = {
      {"DEEP", country_event(1, "DEEP", R"({"country":"SE","x":)" + deep + "}")},
      {"TWICE", country_event(2, "TWICE", R"({"country":"SE","country":"US"})")},
      // Legal for the broker (under its default 1,048,588 bytes), over events.max_bytes: too
      // large to route with certainty of being producible, so dead-lettered, its copy cut.
      {"BIG", country_event(4, "BIG", R"({"country":"SE","pad":")" + std::string(1'020'000, 'x') +
                                          R"("})")},
      // An event whose id is 600 KB: invalid (the router runs strict here), and its dead
      // letter once carried that id as a header next to the whole value, more than the
      // producer takes. Report mode routes it (routing_test: the id is no header then).
      {"BIGID", country_event(5, "BIGID", "{}").replace(12, 36, std::string(600'000, 'i'))},
  };
  for (int i = 0; i < kGood; ++i) {
    in.emplace_back("GOOD", country_event(100 + i, "GOOD", R"({"country":"SE"})"));
  }
  produce(brokers, p + "-product-event", in);
  // And straight into the store's input: the store parses with the same limits.
  produce(brokers, p + "-product-event-storage-pemx",
          {{"STOREDEEP", country_event(3, "STOREDEEP", deep)}});

  PemxRunner pemx(prefixed_config(p));
  auto& proc = pemx.start("all", {"--set", "kafka.brokers=" + brokers, "--set",
                                   "stages.router.validation=\"strict\""});
  auto dead = consume_all(brokers, p + "-product-event-dlq-pemx", 5, 120s, 2s);
  auto got = reasons(dead);
  CHECK(got.size() == 5);
  CHECK(got["BIGID"] == std::make_pair(std::string("invalid_event"), std::string("router")));
  CHECK(got["BIG"] == std::make_pair(std::string("event_too_large"), std::string("router")));
  for (const auto& m : dead) {
    if (m.key == "BIGID") CHECK(m.headers.count("pemx-event-id") == 0);
    if (m.key != "BIG") continue;
    // Cut to half the limit, and said so; the whole event stays in the source topic.
    CHECK(m.value.size() == 450'000);
    CHECK(m.headers.at("pemx-dlq-original-bytes") == std::to_string(in[2].second.size()));
  }
  CHECK(got["DEEP"] == std::make_pair(std::string("nesting_too_deep"), std::string("router")));
  CHECK(got["TWICE"] == std::make_pair(std::string("duplicate_key"), std::string("router")));
  CHECK(got["STOREDEEP"] == std::make_pair(std::string("nesting_too_deep"), std::string("store")));

  // Every good event after them was routed and stored, by the same process.
  auto country = consume_all(brokers, p + "-country-SE", kGood, 60s, 1s);
  CHECK(country.size() == static_cast<std::size_t>(kGood));
  auto stored_until = std::chrono::steady_clock::now() + 60s;
  while (rows(pemx.db_path()) < kGood && std::chrono::steady_clock::now() < stored_until) {
    std::this_thread::sleep_for(200ms);
  }
  CHECK(rows(pemx.db_path()) == kGood);
  REQUIRE(proc.running());
  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
  // Everything, poison included, is committed: a restart does not meet it again.
  CHECK(committed_total(brokers, p + "-product-event-consumer-pemx", p + "-product-event") ==
        static_cast<std::int64_t>(in.size()));
  CHECK(committed_total(brokers, p + "-product-event-storage-consumer-pemx",
                        p + "-product-event-storage-pemx") == kGood + 1);
}

TEST_CASE("the push accepts exactly what the router routes, in a web-only role",
          "[integration][hostile]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  create_topic(brokers, p + "-product-event", 1);
  PemxRunner pemx(prefixed_config(p));
  // The web role runs no router, but its config's router decides what the push accepts.
  auto& proc = pemx.start("web", {"--set", "kafka.brokers=" + brokers});
  auto port = wait_port(proc);
  CHECK(proc.log().find(R"("route_check":"router")") != std::string::npos);

  const std::map<std::string, std::string> refused = {
      {"unknown_event_type", R"({"events":[)" + event_json(1, "R1", created_at(1)).replace(
                                 event_json(1, "R1", created_at(1)).find("ProductPriceUpdate"),
                                 18, "InventoryUpdate") + "]}"},
      {"illegal_topic", R"({"events":[)" + country_event(2, "R2", R"({"country":"New Zealand"})") +
                            "]}"},
      {"nesting_too_deep",
       R"({"events":[)" + country_event(3, "R3", std::string(70, '[') + std::string(70, ']')) +
           "]}"},
      {"duplicate_key", R"({"events":[)" + country_event(4, "R4", R"({"a":1,"a":2})") + "]}"},
  };
  for (const auto& [reason, body] : refused) {
    INFO(reason);
    auto r = http_post(port, "/event", body);
    CHECK(r.status == 400);
    if (reason == "nesting_too_deep" || reason == "duplicate_key") {
      CHECK(r.body.find(reason == "duplicate_key" ? "duplicate key" : "nested too deeply") !=
            std::string::npos);
    } else {
      CHECK(r.body.find("\"reason\":\"" + reason + "\"") != std::string::npos);
    }
  }
  // A good one is accepted; only it reaches the push topic.
  auto ok = http_post(port, "/event", R"({"events":[)" + country_event(5, "OK5", R"({"country":"SE"})") + "]}");
  CHECK(ok.status == 201);
  auto produced = consume_all(brokers, p + "-product-event", 1, 30s, 2s);
  REQUIRE(produced.size() == 1);
  CHECK(produced[0].key == "OK5");
  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
}
