// Retries that cannot double (issue 14 item 4): POST /event against the real broker, the
// topic read back to count what was produced.
#include <catch2/catch.hpp>

#include <chrono>
#include <set>
#include <string>
#include <thread>

#include "integration/pemx_runner.hpp"
#include "integration/web_util.hpp"
#include "support/http_client.hpp"
#include "support/kafka_util.hpp"

using namespace pemx::test;
using namespace std::chrono_literals;

namespace {

const std::map<std::string, std::string> kReceipt = {{"Prefer", "return=representation"}};

// A web role pushing to a fresh prefixed product-event topic; its port.
struct Web {
  std::string brokers = test_brokers();
  std::string prefix = unique_prefix();
  std::string topic = prefix + "-product-event";
  PemxRunner runner{prefixed_config(prefix)};
  Process* proc = nullptr;
  std::uint16_t port = 0;
  explicit Web(std::vector<std::string> extra = {}) {
    create_topic(brokers, topic, 3);
    extra.insert(extra.begin(), {"--set", "kafka.brokers=" + brokers});
    proc = &runner.start("web", extra);
    port = wait_port(*proc);
  }
  ~Web() {
    proc->signal(SIGTERM);
    proc->wait(60s);
  }
  // What the topic holds: each eventId and how many times.
  std::multiset<std::string> produced(std::size_t expected) {
    std::multiset<std::string> ids;
    for (const auto& m : consume_all(brokers, topic, expected, 30s, 1500ms)) {
      ids.insert(json_field(m.value, "eventId"));
    }
    return ids;
  }
};

std::string header(const HttpResponse& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? "" : it->second;
}

}  // namespace

TEST_CASE("a push sent twice is produced once; the second answer is the first, marked a replay",
          "[integration][web][idempotency]") {
  if (std::getenv("PEMX_TEST_BROKERS") == nullptr) {
    WARN("SKIPPED: PEMX_TEST_BROKERS is not set");
    return;
  }
  Web web;
  const std::string body = push_body(1, 5, "IDEM1");
  auto first = http_post(web.port, "/event", body, kReceipt);
  REQUIRE(first.status == 201);
  CHECK(header(first, "idempotent-replay").empty());
  auto second = http_post(web.port, "/event", body, kReceipt);
  REQUIRE(second.status == 201);
  CHECK(header(second, "idempotent-replay") == "true");
  CHECK(second.body == first.body);  // the same receipt: the same partitions and offsets
  // The reference's text answer, replayed too.
  auto third = http_post(web.port, "/event", body);
  CHECK(third.status == 201);
  CHECK(third.body == "Events pushed to the queue successfully");
  CHECK(header(third, "idempotent-replay") == "true");
  // A retry of a batch that grew: only the new events are produced, the answer says so.
  auto grown = http_post(web.port, "/event", push_body(1, 7, "IDEM1"), kReceipt);
  REQUIRE(grown.status == 201);
  CHECK(header(grown, "idempotent-replay") == "partial");
  CHECK(header(grown, "idempotent-replayed-events") == "5");
  auto receipt = parse_json(grown.body);
  auto before = parse_json(first.body);
  REQUIRE(receipt["count"].GetInt() == 7);
  for (rapidjson::SizeType i = 0; i < 5; ++i) {  // the first five where they landed before
    CHECK(receipt["events"][i]["partition"] == before["events"][i]["partition"]);
    CHECK(receipt["events"][i]["offset"] == before["events"][i]["offset"]);
  }
  auto ids = web.produced(7);
  CHECK(ids.size() == 7);
  CHECK(std::set<std::string>(ids.begin(), ids.end()).size() == 7);
  // Two answers came from the table alone (the grown batch produced).
  auto metrics = http_get(web.port, "/metrics").body;
  auto at = metrics.find("\npemx_http_front_idempotent_replays_total");
  REQUIRE(at != std::string::npos);
  auto line = metrics.substr(at + 1, metrics.find('\n', at + 1) - at - 1);
  CHECK(line.substr(line.rfind(' ') + 1) == "2");
}

TEST_CASE("an exact retry is replayed even when a reload's rules now refuse its events",
          "[integration][web][idempotency][reload]") {
  if (std::getenv("PEMX_TEST_BROKERS") == nullptr) {
    WARN("SKIPPED: PEMX_TEST_BROKERS is not set");
    return;
  }
  Web web;
  const std::string body = push_body(1, 3, "IDEMRL");  // region EU
  auto first = http_post(web.port, "/event", body, kReceipt);
  REQUIRE(first.status == 201);
  // The operator limits the price rule to US and reloads.
  const std::string from = R"(# allowed = { region = ["US", "EU"] })";
  std::string config = prefixed_config(web.prefix);
  const auto at = config.find(from);
  REQUIRE(at != std::string::npos);
  web.runner.dir().write("pemx.toml",
                         config.replace(at, from.size(), R"(allowed = { region = ["US"] })"));
  web.proc->signal(SIGHUP);
  REQUIRE(web.proc->wait_for_log("\"msg\":\"config reloaded\"", 30s));
  // The retry of what was accepted: its receipt, nothing produced.
  auto retry = http_post(web.port, "/event", body, kReceipt);
  INFO(retry.body);
  CHECK(retry.status == 201);
  CHECK(header(retry, "idempotent-replay") == "true");
  CHECK(retry.body == first.body);
  // A new EU event, or the accepted ones with a new one, is refused by the new rules.
  CHECK(http_post(web.port, "/event", push_body(10, 1, "IDEMRL")).status == 400);
  CHECK(http_post(web.port, "/event", push_body(1, 4, "IDEMRL")).status == 400);
  auto ids = web.produced(3);
  CHECK(ids.size() == 3);
}

TEST_CASE("the same eventIds with other content answer 409 naming them, and produce nothing",
          "[integration][web][idempotency]") {
  if (std::getenv("PEMX_TEST_BROKERS") == nullptr) {
    WARN("SKIPPED: PEMX_TEST_BROKERS is not set");
    return;
  }
  Web web;
  REQUIRE(http_post(web.port, "/event", push_body(1, 3, "IDEM2")).status == 201);
  // Same ids 2 and 3, another product: other content; id 4 is new but is not produced either.
  auto changed = http_post(web.port, "/event", push_body(2, 3, "IDEM2X"));
  REQUIRE(changed.status == 409);
  auto d = parse_json(changed.body);
  REQUIRE(d["eventIds"].IsArray());
  REQUIRE(d["eventIds"].Size() == 2);
  CHECK(d["eventIds"][0].GetString() == event_id(2));
  CHECK(d["eventIds"][1].GetString() == event_id(3));
  CHECK(d["error"].IsString());
  CHECK(web.produced(3).size() == 3);
}

TEST_CASE("Idempotency-Key: the same key and body replay the first answer, another body is 422",
          "[integration][web][idempotency]") {
  if (std::getenv("PEMX_TEST_BROKERS") == nullptr) {
    WARN("SKIPPED: PEMX_TEST_BROKERS is not set");
    return;
  }
  Web web;
  auto with_key = [](const std::string& key) {
    auto h = kReceipt;
    h["Idempotency-Key"] = key;
    return h;
  };
  const std::string body = push_body(1, 2, "IDEM3");
  auto first = http_post(web.port, "/event", body, with_key("\"key-1\""));
  REQUIRE(first.status == 201);
  // The key's answer is replayed as sent, even to a request that asks for the text answer.
  auto again = http_post(web.port, "/event", body, {{"Idempotency-Key", "\"key-1\""}});
  CHECK(again.status == 201);
  CHECK(again.body == first.body);
  CHECK(header(again, "idempotent-replay") == "true");
  auto other = http_post(web.port, "/event", push_body(3, 1, "IDEM3"), with_key("\"key-1\""));
  CHECK(other.status == 422);
  CHECK(parse_json(other.body)["error"].IsString());
  CHECK(http_post(web.port, "/event", push_body(3, 1, "IDEM3"), with_key(std::string(256, 'k')))
            .status == 400);
  CHECK(web.produced(2).size() == 2);
}

TEST_CASE("after the idempotency window the same push is produced again",
          "[integration][web][idempotency]") {
  if (std::getenv("PEMX_TEST_BROKERS") == nullptr) {
    WARN("SKIPPED: PEMX_TEST_BROKERS is not set");
    return;
  }
  Web web({"--set", "stages.http.idempotency_window=1s"});
  const std::string body = push_body(1, 2, "IDEM4");
  REQUIRE(http_post(web.port, "/event", body).status == 201);
  // Replays until the window has passed (each answered from the table, nothing produced),
  // then a push that produces: bounded well past the window.
  auto until = std::chrono::steady_clock::now() + 20s;
  HttpResponse r;
  int replays = 0;
  while (std::chrono::steady_clock::now() < until) {
    r = http_post(web.port, "/event", body);
    REQUIRE(r.status == 201);
    if (header(r, "idempotent-replay").empty()) break;
    ++replays;
    std::this_thread::sleep_for(100ms);
  }
  CHECK(header(r, "idempotent-replay").empty());
  INFO("replays before the window ended: " << replays);
  CHECK(web.produced(4).size() == 4);
}
