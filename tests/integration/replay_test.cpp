// pemx replay against the real broker (PEMX_TEST_BROKERS): events imported into the SQLite
// store, sent again through the current rules; the target topics hold exactly the expected
// eventIds, --dry-run produces nothing, --topics and --products narrow what is produced, and a
// rule change since the events were stored is what decides (here: a dead letter).
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "integration/pemx_runner.hpp"
#include "support/kafka_util.hpp"
#include "support/process.hpp"

using namespace pemx::test;

namespace {

std::string uuid(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012d", n);
  return buf;
}

// One mongoexport line (docs/importing.md), as `pemx import` reads it.
std::string export_line(int n, const std::string& type, const std::string& product,
                        const std::string& region, const std::string& created_at,
                        const std::string& data) {
  char oid[32];
  std::snprintf(oid, sizeof oid, "66a3b1f2c0ffee%010d", n);
  return R"({"_id":{"$oid":")" + std::string(oid) + R"("},"eventId":{"$uuid":")" + uuid(n) +
         R"("},"eventType":")" + type + R"(","productId":")" + product + R"(","region":")" +
         region + R"(","createdAt":{"$date":")" + created_at + R"("},"data":)" + data +
         R"(,"__v":0})";
}

std::multiset<std::string> event_ids(const std::vector<Message>& messages) {
  std::multiset<std::string> out;
  for (const auto& m : messages) out.insert(json_field(m.value, "eventId"));
  return out;
}

// A test's own topics (prefixed), its store file with the given mongoexport lines imported,
// and `pemx` commands on them (--config, kafka.brokers and store.path added).
struct ReplayStore {
  explicit ReplayStore(const std::string& export_lines)
      : brokers(test_brokers()), p(unique_prefix()), runner(prefixed_config(p)) {
    runner.dir().write("export.json", export_lines);
    auto imported = pemx({"import", runner.dir().file("export.json")});
    INFO(imported.out << imported.err);
    REQUIRE(imported.code == 0);
  }
  RunResult pemx(std::vector<std::string> args, const std::string& config = "pemx.toml") const {
    for (const std::string& a : {std::string("--config"), runner.dir().file(config),
                                 std::string("--set"), "kafka.brokers=" + brokers,
                                 std::string("--set"), "store.path=" + runner.db_path()}) {
      args.push_back(a);
    }
    return run(PEMX_BINARY, args);
  }
  std::string brokers;
  std::string p;
  PemxRunner runner;
};

bool no_broker() {
  if (std::getenv("PEMX_TEST_BROKERS") != nullptr) return false;
  WARN("SKIPPED: PEMX_TEST_BROKERS is not set");
  return true;
}

}  // namespace

TEST_CASE("replay sends stored events through the current rules, exactly once per run",
          "[integration][replay]") {
  if (no_broker()) return;
  // Four events inside [10:00, 11:00), two outside it (one a millisecond before).
  std::string file;
  file += export_line(1, "ProductPriceUpdate", "P1", "US", "2024-07-26T10:00:00.000Z",
                      R"({"newPrice":7.31,"previousPrice":2.05})") + "\n";
  file += export_line(2, "Country", "P2", "EU", "2024-07-26T10:00:01.000Z",
                      R"({"country":"FR"})") + "\n";
  file += export_line(3, "SpecificProductDiscountUpdate", "P1", "EU",
                      "2024-07-26T10:00:02.000Z", R"({"discount":0.25})") + "\n";
  file += export_line(4, "ProductPriceUpdate", "P3", "EU", "2024-07-26T12:00:03.000+02:00",
                      R"({"newPrice":1.5,"previousPrice":2})") + "\n";
  file += export_line(5, "ProductPriceUpdate", "P1", "US", "2024-07-26T11:00:00.000Z",
                      R"({"newPrice":1,"previousPrice":2})") + "\n";
  file += export_line(6, "ProductPriceUpdate", "P2", "US", "2024-07-26T09:59:59.999Z",
                      R"({"newPrice":1,"previousPrice":2})") + "\n";
  ReplayStore store(file);
  const std::string& brokers = store.brokers;
  const std::string& p = store.p;

  const std::string price_us = p + "-product-price-update-v1-US";
  const std::string price_eu = p + "-product-price-update-v1-EU";
  const std::string country_fr = p + "-country-FR";
  const std::string discount_eu = p + "-specific-product-discount-update-EU";
  const std::string storage = p + "-product-event-storage-pemx";
  const std::string dlq = p + "-product-event-dlq-pemx";
  for (const auto& t : {price_us, price_eu, country_fr, discount_eu, storage, dlq}) {
    create_topic(brokers, t, 3);
  }
  const std::vector<std::string> range = {"--from", "2024-07-26T10:00:00Z", "--to",
                                          "2024-07-26T11:00:00Z"};
  auto with_range = [&](std::vector<std::string> args) {
    args.insert(args.begin(), range.begin(), range.end());
    args.insert(args.begin(), "replay");
    return store.pemx(args);
  };

  // 1. A dry run: counts and decisions, nothing produced (checked by the exact counts below).
  auto dry = with_range({"--dry-run"});
  INFO(dry.out << dry.err);
  REQUIRE(dry.code == 0);
  CHECK(dry.out.find("dry run: nothing produced") != std::string::npos);
  CHECK(dry.out.find(uuid(1) + " -> " + price_us + ", " + storage) != std::string::npos);
  CHECK(dry.out.find("read 4 events") != std::string::npos);

  // 2. The whole range, two rows per page (keyset pages across the range).
  auto all = with_range({"--page-size", "2"});
  INFO(all.out << all.err);
  REQUIRE(all.code == 0);
  CHECK(all.out.find("failures: 0") != std::string::npos);
  CHECK(all.out.find("produced 8 outputs, acked 8") != std::string::npos);

  // 3. Only P1's events, and of their outputs only the discount topic.
  auto narrow = with_range({"--products", "P1", "--topics", discount_eu});
  INFO(narrow.out << narrow.err);
  REQUIRE(narrow.code == 0);
  // P1 has two events in the range (4 outputs): 1 kept, 3 skipped, one event left with none.
  CHECK(narrow.out.find("skipped: 3 outputs not in --topics (1 events with none left)") !=
        std::string::npos);

  // 4. Rules changed since the events were stored: the country rule now allows only US, so
  //    P2's Country event (FR) is a dead letter. The config file is what decides, as a run's.
  std::string text = read_file(store.runner.dir().file("pemx.toml"));
  const std::string defaults = R"(defaults = { "data.country" = "US" })";
  auto at = text.find(defaults);
  REQUIRE(at != std::string::npos);
  text.insert(at + defaults.size(), "\nallowed = { \"data.country\" = [\"US\"] }");
  store.runner.dir().write("changed.toml", text);
  std::vector<std::string> changed_args = {"replay"};
  changed_args.insert(changed_args.end(), range.begin(), range.end());
  changed_args.insert(changed_args.end(), {"--products", "P2,P9"});
  auto changed = store.pemx(changed_args, "changed.toml");
  INFO(changed.out << changed.err);
  REQUIRE(changed.code == 0);
  CHECK(changed.out.find("dead letters: 1 (topic_not_allowed 1) to " + dlq) != std::string::npos);

  using Ids = std::multiset<std::string>;
  const auto timeout = std::chrono::seconds(20);
  CHECK(event_ids(consume_all(brokers, price_us, 1, timeout)) == Ids{uuid(1)});
  CHECK(event_ids(consume_all(brokers, price_eu, 1, timeout)) == Ids{uuid(4)});
  CHECK(event_ids(consume_all(brokers, country_fr, 1, timeout)) == Ids{uuid(2)});
  CHECK(event_ids(consume_all(brokers, discount_eu, 2, timeout)) == Ids{uuid(3), uuid(3)});
  CHECK(event_ids(consume_all(brokers, storage, 4, timeout)) ==
        Ids{uuid(1), uuid(2), uuid(3), uuid(4)});
  auto dead = consume_all(brokers, dlq, 1, timeout);
  REQUIRE(event_ids(dead) == Ids{uuid(2)});
  CHECK(dead[0].headers["pemx-dlq-reason"] == "topic_not_allowed");
  CHECK(dead[0].headers.count("pemx-replay") == 1);

  // Every output says it is a replay (the run's id), which rules routed it, and where the
  // store had consumed the event; key = productId.
  auto msgs = consume_all(brokers, price_us, 1, timeout);
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].headers["pemx-replay"].rfind("replay-", 0) == 0);
  CHECK(all.out.find(msgs[0].headers["pemx-replay"]) != std::string::npos);
  CHECK(!msgs[0].headers["pemx-rules-version"].empty());
  CHECK(all.out.find("rules " + msgs[0].headers["pemx-rules-version"]) != std::string::npos);
  CHECK(msgs[0].headers.count("pemx-source-topic") == 1);
  CHECK(msgs[0].key == "P1");
}

TEST_CASE("replay counts an output it could not deliver as a failure and exits 1",
          "[integration][replay]") {
  if (no_broker()) return;
  // Kafka refuses "country-col_x" next to "country-col.x" (dist_test.cpp's collision): the
  // sink dead-letters the output after unavailable_topic_timeout, which is no success.
  ReplayStore store(export_line(1, "Country", "K1", "EU", "2024-07-26T10:00:00Z",
                                R"({"country":"col_x"})") + "\n");
  const std::string& brokers = store.brokers;
  const std::string& p = store.p;
  create_topic(brokers, p + "-country-col.x", 1);
  create_topic(brokers, p + "-product-event-storage-pemx", 1);
  create_topic(brokers, p + "-product-event-dlq-pemx", 1);
  auto r = store.pemx({"replay", "--from", "2024-07-26", "--to", "2024-07-27", "--set",
                       "stages.dist_sink.unavailable_topic_timeout=2s", "--set",
                       "stages.dist_sink.retry_max=500ms", "--set",
                       R"(stages.dist_sink.properties={ "topic.metadata.propagation.max.ms" = "1000" })"});
  INFO(r.out << r.err);
  CHECK(r.code == 1);
  CHECK(r.out.find("failures: 1") != std::string::npos);
  auto dead = consume_all(brokers, p + "-product-event-dlq-pemx", 1, std::chrono::seconds(20));
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].headers["pemx-dlq-reason"] == "topic_unavailable");
  CHECK(dead[0].headers.count("pemx-replay") == 1);
  // The storage output was delivered all the same.
  CHECK(consume_all(brokers, p + "-product-event-storage-pemx", 1, std::chrono::seconds(20))
            .size() == 1);
}

TEST_CASE("replay stopped by SIGINT waits for what is in flight, prints what was acknowledged "
          "and where to resume, and exits 3",
          "[integration][replay]") {
  if (no_broker()) return;
  // Events one a second from 10:00:00, replayed with one record in flight at a time and a
  // 50 ms linger: the run (about a minute) is interrupted after its first progress line; the
  // sink holds at most a few records then (small queues), which it delivers before it exits.
  constexpr int kEvents = 1000;
  std::string file;
  for (int n = 1; n <= kEvents; ++n) {
    char at[32];
    std::snprintf(at, sizeof at, "2024-07-26T%02d:%02d:%02d.000Z", 10 + n / 3600,
                  (n / 60) % 60, n % 60);
    file += export_line(n, "ProductPriceUpdate", "P" + std::to_string(n % 50), "US", at,
                        R"({"newPrice":1.5,"previousPrice":2})") + "\n";
  }
  ReplayStore store(file);
  const std::string& brokers = store.brokers;
  const std::string price_us = store.p + "-product-price-update-v1-US";
  create_topic(brokers, price_us, 3);
  create_topic(brokers, store.p + "-product-event-dlq-pemx", 1);
  std::vector<std::string> args = {"replay", "--from", "2024-07-26T10:00:00Z", "--to",
                                   "2024-07-26T12:00:00Z", "--topics", price_us, "--page-size",
                                   "100", "--set", "stages.dist_sink.max_in_flight=1", "--set",
                                   R"(stages.dist_sink.properties={ "linger.ms" = "50" })",
                                   "--set", "queues.events.capacity=4", "--set",
                                   "queues.routed.capacity=4"};
  for (const std::string& a : {std::string("--config"), store.runner.dir().file("pemx.toml"),
                               std::string("--set"), "kafka.brokers=" + brokers,
                               std::string("--set"), "store.path=" + store.runner.db_path()}) {
    args.push_back(a);
  }
  Process replay(PEMX_BINARY, args, store.runner.dir().file("replay.log"));
  REQUIRE(replay.wait_for_log("replay: read ", std::chrono::seconds(30)));
  replay.signal(SIGINT);
  auto code = replay.wait(std::chrono::seconds(30));
  const std::string out = replay.stdout_text();
  INFO(out << replay.log());
  REQUIRE(code.has_value());
  CHECK(*code == 3);
  CHECK(out.find("interrupted by SIGINT: stopped reading; 0 outputs handed to the producer "
                 "not acknowledged; ") != std::string::npos);
  CHECK(out.find("failures: 0") != std::string::npos);
  // The per-topic line: produced, acked, unacked, skipped.
  auto line_at = out.find("  " + price_us + " ");
  REQUIRE(line_at != std::string::npos);
  std::istringstream line(out.substr(line_at + price_us.size() + 2));
  std::uint64_t produced = 0, acked = 0, unacked = 0, skipped = 0;
  line >> produced >> acked >> unacked >> skipped;
  CHECK(acked > 0);
  CHECK(acked < static_cast<std::uint64_t>(kEvents));  // stopped early
  CHECK(produced == acked + unacked);
  CHECK(out.find("acked " + std::to_string(acked) + ", elapsed") != std::string::npos);

  // Where to resume: every event before it is on the topic.
  const std::string first = "the first event not acknowledged is ";
  const std::string upto = "every event up to ";
  auto at = out.find(first);
  const bool after = at == std::string::npos;
  at = after ? out.find(upto) : at;
  REQUIRE(at != std::string::npos);
  at += after ? upto.size() : first.size();
  const std::string resume_id = out.substr(at, 36);
  const int resume_n = std::stoi(resume_id.substr(24));
  REQUIRE(resume_id == uuid(resume_n));
  const int done = after ? resume_n : resume_n - 1;  // events 1..done are acknowledged
  CHECK(done == static_cast<int>(acked));  // one record in flight: acknowledged in order
  char from[32];
  std::snprintf(from, sizeof from, "--from 2024-07-26T%02d:%02d:%02d.000Z", 10 + resume_n / 3600,
                (resume_n / 60) % 60, resume_n % 60);
  CHECK(out.find(from) != std::string::npos);
  auto ids = event_ids(consume_all(brokers, price_us, static_cast<std::size_t>(done),
                                   std::chrono::seconds(30)));
  for (int n = 1; n <= done; ++n) {
    INFO("event " << n);
    REQUIRE(ids.count(uuid(n)) == 1);
  }
}

TEST_CASE("replay refuses bad usage (exit 2) and a missing store file (exit 1)", "[integration][replay][cli]") {
  const std::string kConfig = std::string(PEMX_SOURCE_DIR) + "/pemx.toml";
  auto missing = run(PEMX_BINARY, {"replay", "--from", "2024-01-01", "--config", kConfig});
  CHECK(missing.code == 2);
  CHECK(missing.err.find("replay needs --to TIME") != std::string::npos);
  auto backwards = run(PEMX_BINARY, {"replay", "--from", "2024-01-02", "--to", "2024-01-01",
                                     "--config", kConfig});
  CHECK(backwards.code == 2);
  CHECK(backwards.err.find("--from must be before --to") != std::string::npos);
  auto embedded = run(PEMX_BINARY, {"replay", "--from", "2024-01-01", "--to", "2024-01-02",
                                    "--config", kConfig, "--set", "kafka.brokers=embedded"});
  CHECK(embedded.code == 2);
  CHECK(embedded.err.find("embedded") != std::string::npos);
  auto no_file = run(PEMX_BINARY, {"replay", "--from", "2024-01-01", "--to", "2024-01-02",
                                   "--dry-run", "--config", kConfig, "--set",
                                   "store.path=/nonexistent-pemx-dir/pemx.db"});
  CHECK(no_file.code == 1);
  CHECK(no_file.err.find("/nonexistent-pemx-dir/pemx.db does not exist") != std::string::npos);
  auto help = run(PEMX_BINARY, {"--help"});
  CHECK(help.out.find("replay --from TIME --to TIME") != std::string::npos);
}
