// The postgres_store stage under faults, on the real broker (PEMX_TEST_BROKERS) and the test
// PostgreSQL (PEMX_TEST_POSTGRES, skipped when unset), whose server these tests kill, restart
// and pause (tests/postgres/postgres.sh; PostgresFault undoes it whatever happens):
//
// - poison events (a NUL in productId or eventId, invalid UTF-8, a productId too long for its
//   index) between good ones: the good ones stored, the bad ones dead-lettered with their
//   reason, pemx still running, every offset committed;
// - the server killed mid-stream: /readyz 503, offsets held at what PostgreSQL committed; once
//   restarted, every event stored exactly once, no password in any log line;
// - only the writer's connection lost (its role may no longer log in) while the readers, on a
//   read_connection of their own, still work and nothing is written: /readyz 503 all the same;
// - history requests under load while the server is killed and restarted: each answered (an
//   error while it is down, none left hanging), the same histories once it is back;
// - the server hung (SIGSTOP) with a batch in the writer: SIGTERM ends pemx cleanly after the
//   drain deadline (no hard exit), nothing committed beyond PostgreSQL;
// - two web instances in one group on one database, one killed with -9 mid-stream and
//   restarted: one row per event, and both answer the same histories, equal to what was sent.
#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include <atomic>
#include <csignal>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "integration/pemx_runner.hpp"
#include "integration/postgres_util.hpp"
#include "integration/web_util.hpp"
#include "support/http_client.hpp"
#include "support/json.hpp"

using namespace pemx::test;
using namespace std::chrono_literals;

namespace {

using Events = std::vector<std::pair<std::string, std::string>>;

// Events first..first+count-1 of products PREFIX0..PREFIX{products-1}, keyed by product.
Events stream(const std::string& prefix, int first, int count, int products = 5) {
  Events out;
  for (int i = first; i < first + count; ++i) {
    const std::string product = prefix + std::to_string(i % products);
    out.emplace_back(product, event_json(i, product, created_at(i)));
  }
  return out;
}

// The value of the first sample of a metric in a /metrics body (0 when absent).
double metric_value(const std::string& body, const std::string& name) {
  for (std::size_t at = body.find(name); at != std::string::npos; at = body.find(name, at + 1)) {
    if (at > 0 && body[at - 1] != '\n') continue;
    const auto space = body.find(' ', at);
    const auto end = body.find('\n', space);
    if (space == std::string::npos) break;
    return std::stod(body.substr(space + 1, end - space - 1));
  }
  return 0;
}

// The eventIds of a GET /event answer, in its order.
std::vector<std::string> ids_of(const std::string& body) {
  std::vector<std::string> ids;
  auto d = parse_json(body);
  if (!d.IsArray()) return ids;
  for (const auto& e : d.GetArray()) ids.emplace_back(e["eventId"].GetString());
  return ids;
}

// Every event is stored once: as many rows as ids, and every id among them.
void check_stored_once(const std::string& connection, int first, int count) {
  CHECK(rows(connection) == count);
  std::string list;
  for (int i = first; i < first + count; ++i) {
    list += (list.empty() ? "'" : ",'") + event_id(i) + "'";
  }
  CHECK(admin_value(connection, "SELECT count(*) FROM events WHERE event_id IN (" + list + ")") ==
        std::to_string(count));
}

// Offsets committed by the group never pass what PostgreSQL holds: per partition, every
// offset below the committed one is a stored row of that partition.
void check_committed_within_postgres(const std::string& brokers, const std::string& group,
                                     const std::string& topic, const std::string& connection) {
  for (const auto& [partition, offset] : committed(brokers, group, topic)) {
    if (offset <= 0) continue;
    INFO("partition " << partition << " committed " << offset);
    CHECK(admin_value(connection, "SELECT count(*) FROM events WHERE source_topic = '" + topic +
                                      "' AND source_partition = " + std::to_string(partition) +
                                      " AND source_offset < " + std::to_string(offset)) ==
          std::to_string(offset));
  }
}

}  // namespace

TEST_CASE("postgres_store: poison events (NUL, invalid UTF-8, a key too long for its index) "
          "are dead-lettered with their reason; the others are stored and pemx keeps running",
          "[integration][postgres]") {
  PEMX_NEED_POSTGRES(base);
  const std::string brokers = test_brokers();
  TestSchema schema(base);
  const std::string p = unique_prefix();
  const std::string storage = p + "-product-event-storage-pemx";
  const std::string dlq = p + "-product-event-dlq-pemx";
  const std::string group = p + "-product-event-storage-consumer-pemx";
  create_topic(brokers, storage, 3);
  create_topic(brokers, dlq, 1);

  std::string long_product;  // random letters: no compression brings it under 2704 bytes
  for (unsigned i = 0, x = 7; i < 8000; ++i) {
    x = x * 1103515245u + 12345u;
    long_product += static_cast<char>('a' + (x >> 16) % 26);
  }
  const std::string good = R"(","eventType":"ProductPriceUpdate","region":"EU",)"
                           R"("createdAt":"2024-07-26T00:00:01.000Z","data":{"newPrice":1}})";
  const std::vector<std::pair<std::string, std::string>> poison{
      {"nul_product", R"({"eventId":"p-1","productId":"PGX\u0000Y)" + good},
      {"nul_event_id", R"({"productId":"PGX0","eventId":"p\u0000-2)" + good},
      {"bad_utf8", "{\"eventId\":\"p-3\",\"productId\":\"PGX\xff\xfe" + good},
      {"long_product", R"({"eventId":"p-4","productId":")" + long_product + good},
  };
  // The same key (one partition): each poison event between good ones of its batch.
  Events in;
  for (int i = 0; i < 40; ++i) {
    in.emplace_back("K", event_json(i, "PGX" + std::to_string(i % 2), created_at(i)));
    if (i % 10 == 5) in.emplace_back("K", poison[static_cast<std::size_t>(i / 10)].second);
  }
  PemxRunner pemx(postgres_config(p, schema.connection()));
  auto& proc = pemx.start("web", {"--set", "kafka.brokers=" + brokers});
  const auto port = wait_port(proc);
  produce(brokers, storage, in);

  REQUIRE(wait_committed(brokers, group, storage, 44, 60s));
  CHECK(proc.running());
  check_stored_once(schema.connection(), 0, 40);
  auto dead = consume_all(brokers, dlq, 4, 30s);
  REQUIRE(dead.size() == 4);
  std::map<std::string, std::string> reasons;  // eventId prefix of the value -> reason
  for (const auto& m : dead) {
    INFO(m.headers.at("pemx-dlq-detail"));
    for (const auto& [name, value] : poison) {
      if (m.value == value) reasons[name] = m.headers.at("pemx-dlq-reason");
    }
  }
  CHECK(reasons == std::map<std::string, std::string>{{"nul_product", "unstorable_event"},
                                                      {"nul_event_id", "unstorable_event"},
                                                      {"bad_utf8", "invalid_json"},
                                                      {"long_product", "unstorable_event"}});
  CHECK(wait_ready_status(port, 200, 30s).status == 200);
  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
}

TEST_CASE("postgres_store: PostgreSQL killed mid-stream: /readyz 503 and offsets held at what "
          "it committed; restarted: reconnected, every event stored exactly once",
          "[integration][postgres]") {
  PEMX_NEED_POSTGRES(base);
  const std::string brokers = test_brokers();
  TestSchema schema(base);
  PostgresFault fault(base);
  const std::string p = unique_prefix();
  const std::string storage = p + "-product-event-storage-pemx";
  const std::string group = p + "-product-event-storage-consumer-pemx";
  create_topic(brokers, storage, 3);

  PemxRunner pemx(postgres_config(p, schema.connection(),
                                  "connect_timeout = \"2s\"\nretry_max = \"500ms\"\n"
                                  "give_up_after = \"5m\"\n"));
  auto& proc = pemx.start("web", {"--set", "kafka.brokers=" + brokers});
  const auto port = wait_port(proc);
  produce(brokers, storage, stream("PGK", 0, 150));
  REQUIRE(wait_committed(brokers, group, storage, 150, 60s));
  CHECK(wait_ready_status(port, 200, 30s).status == 200);

  fault.kill();
  auto down = wait_ready_status(port, 503, 30s);
  CHECK(down.status == 503);
  produce(brokers, storage, stream("PGK", 150, 150));
  // A batch of the new events failed at least once: the writer holds them unacknowledged.
  CHECK(proc.wait_for_log("\"msg\":\"store write failed; retrying\"", 60s));
  CHECK(committed_total(brokers, group, storage) == 150);

  fault.restart();
  REQUIRE(wait_committed(brokers, group, storage, 300, 90s));
  check_stored_once(schema.connection(), 0, 300);
  check_committed_within_postgres(brokers, group, storage, schema.connection());
  CHECK(wait_ready_status(port, 200, 30s).status == 200);
  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
  CHECK(proc.log().find(password_of(base)) == std::string::npos);
}

TEST_CASE("postgres_store: the writer's own lost connection shows in /readyz while it is idle "
          "and the readers, on their read_connection, still work",
          "[integration][postgres]") {
  PEMX_NEED_POSTGRES(base);
  const std::string brokers = test_brokers();
  TestSchema schema(base);
  const std::string p = unique_prefix();
  const std::string storage = p + "-product-event-storage-pemx";
  const std::string group = p + "-product-event-storage-consumer-pemx";
  create_topic(brokers, storage, 1);

  // The writer logs in as a role of its own that acts as the test role (so the readers, as
  // the test role, read its tables); the readers use the test role's string.
  TestRole writer_role(base, schema.name() + "_w", "Wr1ter-" + schema.name());
  const std::string& role = writer_role.name();
  const std::string& password = writer_role.password();
  admin_exec(base, "GRANT pemx_test TO " + role);
  const std::string writer = writer_role.uri("?options=-csearch_path%3D" + schema.name() +
                                             "%20-crole%3Dpemx_test");
  PemxRunner pemx(postgres_config(p, writer,
                                  "read_connection = \"" + schema.connection() + "\"\n" +
                                      "connect_timeout = \"2s\"\nretry_max = \"500ms\"\n"));
  auto& proc = pemx.start("web", {"--set", "kafka.brokers=" + brokers});
  const auto port = wait_port(proc);
  produce(brokers, storage, stream("PGW", 0, 20));
  REQUIRE(wait_committed(brokers, group, storage, 20, 60s));
  CHECK(wait_ready_status(port, 200, 30s).status == 200);

  // The writer's sessions end and it may not log in again; nothing is written meanwhile.
  admin_exec(base, "ALTER ROLE " + role + " NOLOGIN");
  admin_exec(base, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '" +
                       role + "'");
  auto down = wait_ready_status(port, 503, 30s);
  CHECK(down.status == 503);
  CHECK(down.body.find("writes are failing") != std::string::npos);
  CHECK(http_get(port, "/event?productIds=PGW0").status == 200);  // the readers still work

  admin_exec(base, "ALTER ROLE " + role + " LOGIN");
  CHECK(wait_ready_status(port, 200, 30s).status == 200);
  produce(brokers, storage, stream("PGW", 20, 20));
  REQUIRE(wait_committed(brokers, group, storage, 40, 60s));
  check_stored_once(schema.connection(), 0, 40);
  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
  CHECK(proc.log().find(password) == std::string::npos);
  CHECK(proc.log().find(password_of(base)) == std::string::npos);
}

TEST_CASE("postgres_store: PostgreSQL hung with a batch in the writer: SIGTERM ends pemx "
          "after the drain deadline without the hard exit, nothing committed beyond it",
          "[integration][postgres]") {
  PEMX_NEED_POSTGRES(base);
  const std::string brokers = test_brokers();
  TestSchema schema(base);
  PostgresFault fault(base);
  const std::string p = unique_prefix();
  const std::string storage = p + "-product-event-storage-pemx";
  const std::string group = p + "-product-event-storage-consumer-pemx";
  create_topic(brokers, storage, 3);

  PemxRunner pemx(postgres_config(p, schema.connection()));
  auto& proc = pemx.start("web", {"--set", "kafka.brokers=" + brokers, "--set",
                                  "shutdown.drain_timeout=2s"});
  const auto port = wait_port(proc);
  produce(brokers, storage, stream("PGH", 0, 50));
  REQUIRE(wait_committed(brokers, group, storage, 50, 60s));

  fault.pause();  // connections stay open, nothing answers: statements block
  produce(brokers, storage, stream("PGH", 50, 50));
  // Consumed: the writer has them (blocked in its insert, or in its probe before it).
  auto until = std::chrono::steady_clock::now() + 60s;
  double consumed = 0;
  while (consumed < 100 && std::chrono::steady_clock::now() < until) {
    consumed = metric_value(http_get(port, "/metrics").body, "pemx_kafka_ingest_consumed_total");
    if (consumed < 100) std::this_thread::sleep_for(100ms);
  }
  REQUIRE(consumed == 100);
  proc.signal(SIGTERM);
  // The documented bound is drain_timeout + 3 s; generous here, the log says which path ran.
  auto code = proc.wait(60s);
  REQUIRE(code.has_value());
  CHECK(*code == 1);  // not drained: what the writer held was not stored
  CHECK(proc.log().find("shutdown overran the drain deadline") == std::string::npos);
  CHECK(proc.log().find("\"msg\":\"stopped\"") != std::string::npos);
  CHECK(committed_total(brokers, group, storage) == 50);

  fault.resume();
  CHECK(rows(schema.connection()) >= 50);  // the server may finish the insert it was given
  check_committed_within_postgres(brokers, group, storage, schema.connection());
}

TEST_CASE("postgres_store: history queries on a hung PostgreSQL never hold the HTTP I/O "
          "threads: /healthz still answers", "[integration][postgres]") {
  PEMX_NEED_POSTGRES(base);
  const std::string brokers = test_brokers();
  TestSchema schema(base);
  PostgresFault fault(base);
  const std::string p = unique_prefix();
  const std::string storage = p + "-product-event-storage-pemx";
  const std::string group = p + "-product-event-storage-consumer-pemx";
  create_topic(brokers, storage, 1);

  PemxRunner pemx(postgres_config(p, schema.connection(), "readers = 4\n"));
  auto& proc = pemx.start("web", {"--set", "kafka.brokers=" + brokers, "--set",
                                  "stages.http.io_threads=2", "--set",
                                  "stages.http.query_threads=2"});
  const auto port = wait_port(proc);
  produce(brokers, storage, stream("PGQ", 0, 10));
  REQUIRE(wait_committed(brokers, group, storage, 10, 60s));
  REQUIRE(http_get(port, "/event?productIds=PGQ0").status == 200);

  fault.pause();  // every reader's next statement blocks
  // Small history queries (the kind that may run inline), more than there are I/O threads.
  std::vector<std::thread> askers;
  for (int i = 0; i < 4; ++i) {
    askers.emplace_back([port, i] { http_get(port, "/event?productIds=PGQ" + std::to_string(i)); });
  }
  std::this_thread::sleep_for(500ms);  // let them reach the server (not a wait for a result)
  auto healthz = http_get(port, "/healthz");  // answered on an I/O thread
  CHECK(healthz.status == 200);
  fault.resume();
  for (auto& t : askers) t.join();
  CHECK(http_get(port, "/event?productIds=PGQ0").status == 200);
}

TEST_CASE("postgres_store: history under load while PostgreSQL is killed and restarted: every "
          "request is answered (none hangs), and the same answers come back once it is up",
          "[integration][postgres]") {
  PEMX_NEED_POSTGRES(base);
  const std::string brokers = test_brokers();
  TestSchema schema(base);
  PostgresFault fault(base);
  const std::string p = unique_prefix();
  const std::string storage = p + "-product-event-storage-pemx";
  const std::string group = p + "-product-event-storage-consumer-pemx";
  create_topic(brokers, storage, 1);

  // Two readers: two asynchronous history connections beside the pool's two, both I/O threads.
  PemxRunner pemx(postgres_config(p, schema.connection(),
                                  "readers = 2\nconnect_timeout = \"2s\"\n"
                                  "retry_max = \"500ms\"\ngive_up_after = \"5m\"\n"));
  auto& proc = pemx.start("web", {"--set", "kafka.brokers=" + brokers, "--set",
                                  "stages.http.io_threads=2", "--set",
                                  "stages.http.query_threads=2"});
  const auto port = wait_port(proc);
  constexpr int kClients = 4;
  produce(brokers, storage, stream("PGR", 0, 40, kClients));
  REQUIRE(wait_committed(brokers, group, storage, 40, 60s));
  std::vector<std::string> expected;
  for (int c = 0; c < kClients; ++c) {
    const auto r = http_get(port, "/event?productIds=PGR" + std::to_string(c));
    REQUIRE(r.status == 200);
    expected.push_back(r.body);
  }

  // Clients asking their product's history over and over (the asynchronous path: one product,
  // under inline_queries' limits) until told to stop. No answer (status 0, the client's 30 s
  // bound) would be a request left hanging.
  std::atomic<bool> stop{false};
  std::atomic<bool> up{true};  // cleared once the server is killed, set once it is back
  std::atomic<int> answered{0}, unanswered{0}, failed{0}, wrong{0}, right_after{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      const std::string target = "/event?productIds=PGR" + std::to_string(c);
      while (!stop.load()) {
        const bool was_up = up.load();
        const auto r = http_get(port, target);
        answered.fetch_add(1);
        if (r.status == 0) {
          unanswered.fetch_add(1);
        } else if (r.status != 200) {
          failed.fetch_add(1);  // while the server is down: the store's error
        } else if (r.body != expected[static_cast<std::size_t>(c)]) {
          wrong.fetch_add(1);
        } else if (was_up && up.load()) {
          right_after.fetch_add(1);
        }
      }
    });
  }
  auto eventually = [](auto done, std::chrono::seconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(20ms);
    }
    return done();
  };
  CHECK(eventually([&] { return answered.load() >= 50; }, 30s));
  fault.kill();
  up.store(false);
  // Requests meet the dead server (in flight, on idle connections found closed, on the pool).
  CHECK(eventually([&] { return failed.load() >= 8; }, 30s));
  fault.restart();
  right_after.store(0);
  up.store(true);
  // Back: every client's answers are right again (the lost connections re-established).
  CHECK(eventually([&] { return right_after.load() >= 100; }, 60s));
  stop.store(true);
  for (auto& t : clients) t.join();
  CHECK(unanswered.load() == 0);
  CHECK(wrong.load() == 0);
  // And, sequentially, each history as before the fault.
  for (int c = 0; c < kClients; ++c) {
    const auto r = http_get(port, "/event?productIds=PGR" + std::to_string(c));
    CHECK(r.status == 200);
    CHECK(r.body == expected[static_cast<std::size_t>(c)]);
  }
  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
}

TEST_CASE("postgres_store: two web instances in one group on one database, one killed with -9 "
          "mid-stream and restarted: one row per event, and both answer the same histories",
          "[integration][postgres]") {
  PEMX_NEED_POSTGRES(base);
  const std::string brokers = test_brokers();
  TestSchema schema(base);
  const std::string p = unique_prefix();
  const std::string storage = p + "-product-event-storage-pemx";
  const std::string group = p + "-product-event-storage-consumer-pemx";
  create_topic(brokers, storage, 6);

  // A short session: the killed member's partitions move on after 6 s, not 45 s.
  const std::vector<std::string> args{
      "--set", "kafka.brokers=" + brokers, "--set",
      "stages.store_ingest.properties.\"session.timeout.ms\"=6000", "--set",
      "stages.store_ingest.properties.\"heartbeat.interval.ms\"=1000"};
  PemxRunner a_runner(postgres_config(p, schema.connection()));
  PemxRunner b_runner(postgres_config(p, schema.connection()));
  auto* a = &a_runner.start("web", args);
  auto& b = b_runner.start("web", args);
  wait_port(*a);
  const auto b_port = wait_port(b);

  constexpr int kProducts = 8;
  constexpr int kTotal = 800;
  produce(brokers, storage, stream("PGM", 0, kTotal / 2, kProducts));
  REQUIRE(wait_committed(brokers, group, storage, 100, 60s));
  a->signal(SIGKILL);
  REQUIRE(a->wait(30s) == 128 + SIGKILL);
  produce(brokers, storage, stream("PGM", kTotal / 2, kTotal / 2, kProducts));
  a = &a_runner.start("web", args);  // a new member: the group rebalances
  const auto a_port = wait_port(*a);
  REQUIRE(wait_committed(brokers, group, storage, kTotal, 90s));
  check_stored_once(schema.connection(), 0, kTotal);
  check_committed_within_postgres(brokers, group, storage, schema.connection());

  // Each product's history (kTotal / kProducts events, newest first) is the same on both
  // instances and holds exactly the events produced for it.
  for (int product = 0; product < kProducts; product += 3) {
    const std::string id = "PGM" + std::to_string(product);
    auto ha = http_get(a_port, "/event?productIds=" + id);
    auto hb = http_get(b_port, "/event?productIds=" + id);
    INFO(id);
    REQUIRE(ha.status == 200);
    CHECK(ha.body == hb.body);
    std::vector<std::string> expected;
    for (int i = kTotal - 1; i >= 0; --i) {
      if (i % kProducts == product) expected.push_back(event_id(i));  // createdAt grows with i
    }
    CHECK(ids_of(ha.body) == expected);
    // Paged, the same on both.
    auto pa = http_get(a_port, "/event?productIds=" + id + "&limit=7");
    auto pb = http_get(b_port, "/event?productIds=" + id + "&limit=7");
    CHECK(pa.body == pb.body);
    CHECK(pa.headers["x-next-cursor"] == pb.headers["x-next-cursor"]);
  }
  a->signal(SIGTERM);
  b.signal(SIGTERM);
  CHECK(a->wait(60s) == 0);
  CHECK(b.wait(60s) == 0);
}
