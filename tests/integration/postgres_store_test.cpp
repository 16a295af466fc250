// The web role with the postgres_store stage, against the real broker (PEMX_TEST_BROKERS) and
// the test PostgreSQL (PEMX_TEST_POSTGRES; both started by scripts/test.sh). Skipped with a
// warning when PEMX_TEST_POSTGRES is unset. Each test has a schema of its own.
#include <catch2/catch.hpp>
#include <libpq-fe.h>

#include <csignal>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "integration/pemx_runner.hpp"
#include "integration/postgres_util.hpp"
#include "integration/web_util.hpp"
#include "plugins/postgres_store/pg_fixture.hpp"
#include "support/http_client.hpp"

using namespace pemx::test;
using namespace std::chrono_literals;

namespace {

// An event of `product`, numbered n, whose createdAt is shared by three consecutive numbers
// (ties are ordered by eventId), of one of two types.
std::string tied_event(int n, const std::string& product) {
  std::string json = event_json(n, product, created_at(1000 + n / 3));
  if (n % 4 == 1) {
    json.replace(json.find("ProductPriceUpdate"), 18, "Country");
  }
  return json;
}

}  // namespace

TEST_CASE("postgres_store: events of the storage topic are stored once each, also when "
          "redelivered to a restarted web role",
          "[integration][postgres]") {
  PEMX_NEED_POSTGRES(base);
  const std::string brokers = test_brokers();
  TestSchema schema(base);
  const std::string p = unique_prefix();
  const std::string storage = p + "-product-event-storage-pemx";
  const std::string group = p + "-product-event-storage-consumer-pemx";
  create_topic(brokers, storage, 3);

  // 300 events, 60 of them sent twice (a producer's retry): 360 messages.
  std::vector<std::pair<std::string, std::string>> in;
  for (int i = 0; i < 300; ++i) {
    const std::string product = "PGP" + std::to_string(i % 5);
    in.emplace_back(product, tied_event(i, product));
  }
  for (int i = 0; i < 60; ++i) in.push_back(in[static_cast<std::size_t>(i * 5)]);
  produce(brokers, storage, in);

  PemxRunner pemx(postgres_config(p, schema.connection()));
  auto& first = pemx.start("web", {"--set", "kafka.brokers=" + brokers});
  auto port = wait_port(first);
  REQUIRE(wait_committed(brokers, group, storage, 360, 120s));
  CHECK(rows(schema.connection()) == 300);
  CHECK(wait_ready_status(port, 200, 30s).status == 200);
  auto history = wait_history(port, "PGP0,PGP1,PGP2,PGP3,PGP4", 300, 30s);
  CHECK(history.Size() == 300);
  first.signal(SIGTERM);
  REQUIRE(first.wait(60s) == 0);

  // A restart in a new group: every message is delivered again; nothing is doubled.
  const std::string again = p + "-again";
  auto& second = pemx.start("web", {"--set", "kafka.brokers=" + brokers, "--set",
                                    "stages.store_ingest.group_id=" + again});
  wait_port(second);
  REQUIRE(wait_committed(brokers, again, storage, 360, 120s));
  CHECK(rows(schema.connection()) == 300);
  second.signal(SIGTERM);
  REQUIRE(second.wait(60s) == 0);

  // The connection string's password appears in no log line.
  const std::string password = password_of(base);
  CHECK(first.log().find(password) == std::string::npos);
  CHECK(second.log().find(password) == std::string::npos);
  CHECK(second.log().find("\"database\":\"pemx_test@127.0.0.1") != std::string::npos);
}

TEST_CASE("postgres_store: offsets are committed only after PostgreSQL commits; a locked "
          "table holds them back, /readyz says so, and nothing is lost once it is released",
          "[integration][postgres]") {
  PEMX_NEED_POSTGRES(base);
  const std::string brokers = test_brokers();
  TestSchema schema(base);
  const std::string p = unique_prefix();
  const std::string storage = p + "-product-event-storage-pemx";
  const std::string group = p + "-product-event-storage-consumer-pemx";
  create_topic(brokers, storage, 3);
  auto batch = [](int first, int count) {
    std::vector<std::pair<std::string, std::string>> out;
    for (int i = first; i < first + count; ++i) {
      out.emplace_back("PGL" + std::to_string(i % 3), tied_event(i, "PGL" + std::to_string(i % 3)));
    }
    return out;
  };
  produce(brokers, storage, batch(0, 100));

  // Statements give up after 1 s, so a held lock shows as failing (transient) writes.
  PemxRunner pemx(postgres_config(p, schema.connection(),
                                  "statement_timeout = \"1s\"\nretry_max = \"500ms\"\n"));
  auto& proc = pemx.start("web", {"--set", "kafka.brokers=" + brokers});
  auto port = wait_port(proc);
  REQUIRE(wait_committed(brokers, group, storage, 100, 120s));
  REQUIRE(rows(schema.connection()) == 100);

  // Another session locks the table against writes (reads still pass).
  PGconn* locker = PQconnectdb(schema.connection().c_str());
  REQUIRE(PQstatus(locker) == CONNECTION_OK);
  PQclear(PQexec(locker, "BEGIN"));
  PGresult* locked = PQexec(locker, "LOCK TABLE events IN EXCLUSIVE MODE");
  REQUIRE(PQresultStatus(locked) == PGRES_COMMAND_OK);
  PQclear(locked);

  produce(brokers, storage, batch(100, 100));
  auto not_ready = wait_ready_status(port, 503, 60s);
  CHECK(not_ready.status == 503);
  CHECK(not_ready.body.find("writes are failing") != std::string::npos);
  CHECK(committed_total(brokers, group, storage) == 100);
  CHECK(rows(schema.connection()) == 100);

  PQclear(PQexec(locker, "ROLLBACK"));
  PQfinish(locker);
  REQUIRE(wait_committed(brokers, group, storage, 200, 120s));
  CHECK(rows(schema.connection()) == 200);
  CHECK(wait_ready_status(port, 200, 30s).status == 200);
  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
}

TEST_CASE("postgres_store: GET /event answers what the SQLite store answers for the same "
          "events, byte for byte",
          "[integration][postgres]") {
  PEMX_NEED_POSTGRES(base);
  const std::string brokers = test_brokers();
  TestSchema schema(base);
  const std::string p = unique_prefix();
  const std::string storage = p + "-product-event-storage-pemx";
  create_topic(brokers, storage, 3);
  std::vector<std::pair<std::string, std::string>> in;
  for (int i = 0; i < 240; ++i) {
    const std::string product = "PGE" + std::to_string(i % 4);
    in.emplace_back(product, tied_event(i, product));
  }
  produce(brokers, storage, in);

  PemxRunner on_pg(postgres_config(p, schema.connection()));
  PemxRunner on_sqlite(prefixed_config(p));
  auto& pg = on_pg.start("web", {"--set", "kafka.brokers=" + brokers});
  auto& sq = on_sqlite.start("web", {"--set", "kafka.brokers=" + brokers, "--set",
                                     "stages.store_ingest.group_id=" + p + "-sqlite"});
  const auto pg_port = wait_port(pg);
  const auto sq_port = wait_port(sq);
  const std::string all = "PGE0,PGE1,PGE2,PGE3";
  REQUIRE(wait_history(pg_port, all, 240, 120s).Size() == 240);
  REQUIRE(wait_history(sq_port, all, 240, 120s).Size() == 240);

  const std::vector<std::string> queries{
      "/event?productIds=PGE1",
      "/event?productIds=" + all,
      "/event?productIds=PGE3,PGE0&eventType=Country",
      "/event?productIds=" + all + "&from=2024-07-26T00:17:00.000Z&to=2024-07-26T00:17:30.000Z",
      "/event?productIds=PGE2&limit=7",
      "/event?productIds=" + all + "&limit=11&eventType=ProductPriceUpdate",
      "/event?productIds=NOSUCH",
      "/event?productIds=PGE1&cursor=bm90LWEtY3Vyc29y",
  };
  int pages = 0;
  for (const auto& first : queries) {
    std::string target = first;
    for (int page = 0; page < 40 && !target.empty(); ++page, ++pages) {
      auto a = http_get(pg_port, target);
      auto b = http_get(sq_port, target);
      INFO(target);
      CHECK(a.status == b.status);
      CHECK(a.body == b.body);
      auto na = a.headers.find("x-next-cursor");
      auto nb = b.headers.find("x-next-cursor");
      REQUIRE((na == a.headers.end()) == (nb == b.headers.end()));
      if (na == a.headers.end()) break;
      CHECK(na->second == nb->second);
      target = first + "&cursor=" + na->second;
    }
  }
  CHECK(pages >= 20);  // the limited queries walked many pages
  pg.signal(SIGTERM);
  sq.signal(SIGTERM);
  CHECK(pg.wait(60s) == 0);
  CHECK(sq.wait(60s) == 0);
}
