// GET /event through http_front on the PostgreSQL reader's asynchronous path
// (plugins/postgres_store/async_history.hpp, plugins/http_front/history_async.hpp), on the real
// test server (PEMX_TEST_POSTGRES; skipped when unset): the answers equal the query pool's for
// the same requests; a backend terminated from outside costs no failed request and its
// connection is replaced; many concurrent requests over several connections; a client that
// leaves and a server that stops with a query in flight (blocked on a lock) leak nothing and
// the query is cancelled on the database.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <libpq-fe.h>

#include "http_front/server.hpp"
#include "pemx/activity.hpp"
#include "pemx/metrics.hpp"
#include "plugins/postgres_store/pg_fixture.hpp"
#include "postgres_store/postgres_backend.hpp"
#include "support/http_client.hpp"

namespace pemx::postgres_store {
namespace {

using namespace std::chrono_literals;
using test::TestSchema;

// Twelve products, events of two types, ties on createdAt (ordered by eventId).
std::vector<store::EventRow> rows() {
  std::vector<store::EventRow> out;
  for (int i = 0; i < 240; ++i) {
    store::EventRow r;
    r.event_id = "e" + std::to_string(1000 + i) + (i % 5 == 0 ? "\xc3\xa9" : "");
    r.event_type = i % 3 == 0 ? "Country" : "ProductPriceUpdate";
    r.product_id = "P" + std::to_string(i % 12);
    r.region = i % 2 == 0 ? "EU" : "US";
    const std::int64_t ms = 1'721'001'600'000 + (i / 4) * 1000;  // 2024-07-15T00:00:00Z + s
    r.created_at = "2024-07-15T00:00:" + std::to_string(10 + i / 24) + ".000Z";
    r.created_ms = ms;
    r.data_json = R"({"n":)" + std::to_string(i) + R"(,"q":"\"quoted\" \\ back"})";
    r.raw_json = R"({"eventId":")" + r.event_id + "\"}";
    r.source_topic = "storage";
    r.source_partition = 0;
    r.source_offset = i;
    r.stored_at_ms = 1'700'000'000'000 + i;
    out.push_back(std::move(r));
  }
  return out;
}

// A schema of its own holding rows(), its store and the store's reader.
struct Stored {
  explicit Stored(const std::string& base, std::size_t readers = 2,
                  std::chrono::milliseconds timeout = 30s)
      : schema(base) {
    StoreOptions o;
    o.connection = schema.connection();
    o.reader_connections = readers;
    o.statement_timeout = timeout;
    auto s = PostgresEventStore::open(o);
    INFO((s ? "" : s.error().message));
    REQUIRE(s);
    store = std::move(s.value());
    REQUIRE(store->write_batch(rows()));
    reader = store->reader();
  }
  TestSchema schema;
  std::unique_ptr<PostgresEventStore> store;
  std::shared_ptr<EventReader> reader;
};

// An HTTP server over the reader: inline_queries on (the asynchronous path) or off (every
// history query on the query pool, as before the asynchronous path).
struct Web {
  Web(std::shared_ptr<EventReader> reader, bool inline_queries, int io_threads = 1) {
    activity.role = "web";
    http_front::ServerSettings s;
    s.port = 0;
    s.io_threads = io_threads;
    s.query_threads = 2;
    s.idle_timeout = 10s;
    s.inline_queries = inline_queries;
    server = std::make_unique<http_front::Server>(s, Logger{}, metrics, std::move(reader),
                                                  nullptr, &activity);
    server->start();
  }
  ~Web() { server->stop(); }
  pemx::test::HttpResponse get(const std::string& target) {
    return pemx::test::http_get(server->port(), target);
  }

  Metrics metrics;
  Activity activity;
  std::unique_ptr<http_front::Server> server;
};

// What a client sees of an answer: the status, the body and the paging headers.
std::string seen(const pemx::test::HttpResponse& r) {
  auto header = [&](const char* name) {
    auto it = r.headers.find(name);
    return it == r.headers.end() ? std::string("-") : it->second;
  };
  return std::to_string(r.status) + "\n" + header("x-next-cursor") + "\n" + header("link") +
         "\n" + header("content-type") + "\n" + r.body;
}

std::string ten_products() {
  std::string ids;
  for (int i = 0; i < 10; ++i) ids += (i ? "," : "") + std::string("P") + std::to_string(i);
  return ids;
}

PostgresEventReader& pg(const std::shared_ptr<EventReader>& r) {
  return dynamic_cast<PostgresEventReader&>(*r);
}

// Polls until `done` (bounded: a failure shows as the condition false at the end).
template <class F>
bool eventually(F done, std::chrono::seconds limit = 20s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// A transaction holding an exclusive lock on the schema's events table (a history query
// blocks on it) until release() or destruction.
class TableLock {
 public:
  explicit TableLock(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str())) {
    REQUIRE(PQstatus(conn_) == CONNECTION_OK);
    PQclear(PQexec(conn_, "BEGIN"));
    PGresult* r = PQexec(conn_, "LOCK TABLE events IN ACCESS EXCLUSIVE MODE");
    REQUIRE(PQresultStatus(r) == PGRES_COMMAND_OK);
    PQclear(r);
  }
  ~TableLock() { release(); }
  void release() {
    if (conn_ == nullptr) return;
    PQclear(PQexec(conn_, "ROLLBACK"));
    PQfinish(conn_);
    conn_ = nullptr;
  }

 private:
  PGconn* conn_;
};

// History queries of this schema's readers waiting for a lock on the server.
int waiting_on_lock(const std::string& base) {
  return std::stoi(test::admin_value(
      base, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND "
            "query LIKE '%FROM events%' AND application_name = 'pemx'"));
}

TEST_CASE("postgres_store: GET /event through the asynchronous path answers the query "
          "pool's bytes",
          "[postgres_store][postgres][async_history]") {
  PEMX_NEED_POSTGRES(base);
  Stored db(base);
  auto& reader = db.reader;
  Web async(reader, true);
  Web pool(reader, false);

  const std::vector<std::string> queries{
      "productIds=P1",
      "productIds=" + ten_products(),
      "productIds=" + ten_products() + "&eventType=Country",
      "productIds=P1,P2&eventType=ProductPriceUpdate&from=2024-07-15T00:00:20Z",
      "productIds=P3,P4,P5&from=2024-07-15T00:00:15Z&to=2024-07-15T00:00:40Z",
      "productIds=P1,NOPE",
      "productIds=NOPE",
      "productIds=P1&from=2024-07-15T00:00:40Z&to=2024-07-15T00:00:20Z",  // an empty range
      "productIds=P1&cursor=not-a-cursor",
  };
  const auto before = pg(reader).async_stats();
  int round_trips = 0;
  for (const auto& query : queries) {
    for (const char* limit : {"", "&limit=1", "&limit=7", "&limit=1000"}) {
      std::string target = "/event?" + query + limit;
      // Every page, following the cursor the answer gives.
      for (int page = 0; page < 100; ++page) {
        INFO(target);
        const auto a = async.get(target);
        const auto b = pool.get(target);
        REQUIRE(seen(a) == seen(b));
        if (query.find("cursor") == std::string::npos && query.find("to=2024-07-15T00:00:20Z") ==
                                                             std::string::npos) {
          ++round_trips;
        }
        auto next = a.headers.find("x-next-cursor");
        if (next == a.headers.end()) break;
        target = "/event?" + query + limit + "&cursor=" + next->second;
      }
    }
  }
  const auto after = pg(reader).async_stats();
  // Each answer that needed the database came through the asynchronous set.
  CHECK(after.started - before.started == static_cast<std::uint64_t>(round_trips));
  CHECK(after.lost == 0);
  CHECK(after.abandoned == 0);
  CHECK(after.free == after.size);
  CHECK(after.size == 2);  // as many as readers (2), at most 4
}

TEST_CASE("postgres_store: a statement timeout on the asynchronous path is the pool's error "
          "answer",
          "[postgres_store][postgres][async_history]") {
  PEMX_NEED_POSTGRES(base);
  Stored db(base, 2, 300ms);
  auto& reader = db.reader;
  Web async(reader, true);
  Web pool(reader, false);
  TableLock lock(db.schema.connection());
  const auto a = async.get("/event?productIds=P1");
  const auto b = pool.get("/event?productIds=P1");
  CHECK(a.status == 500);
  CHECK_THAT(a.body, Catch::Matchers::Contains("statement timeout"));
  CHECK(seen(a) == seen(b));
  lock.release();
  CHECK(async.get("/event?productIds=P1").status == 200);
  CHECK(pg(reader).async_stats().free == 2);
}

TEST_CASE("postgres_store: a backend terminated under the asynchronous path costs no failed "
          "request, and its connection is replaced",
          "[postgres_store][postgres][async_history]") {
  PEMX_NEED_POSTGRES(base);
  Stored db(base);
  auto& reader = db.reader;
  Web async(reader, true);
  const std::string target = "/event?productIds=" + ten_products() + "&limit=20";
  const auto expected = seen(async.get(target));
  REQUIRE(expected.rfind("200", 0) == 0);

  // Every reader session of this test's schema (the writer's too): the server restarted, for
  // the readers.
  test::admin_exec(base, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                         "application_name = 'pemx' AND pid <> pg_backend_pid() AND "
                         "datname = current_database()");
  const auto lost_before = pg(reader).async_stats().lost;
  // The asynchronous call finds its connection gone and the query goes to the pool, which
  // reconnects and retries: the client sees the same answer.
  CHECK(seen(async.get(target)) == expected);
  CHECK(pg(reader).async_stats().lost == lost_before + 1);
  // The other connection is found lost by the next request the same way.
  CHECK(seen(async.get(target)) == expected);
  // The lost connections are re-established on the query pool (upkeep), then used again.
  REQUIRE(eventually([&] {
    const auto s = pg(reader).async_stats();
    if (s.free == s.size) return true;
    async.get(target);  // a request that finds none free schedules the next upkeep
    return false;
  }));
  const auto s = pg(reader).async_stats();
  CHECK(seen(async.get(target)) == expected);
  const auto t = pg(reader).async_stats();
  CHECK(t.started == s.started + 1);
  CHECK(t.lost == s.lost);
  CHECK(t.free == t.size);
}

TEST_CASE("postgres_store: many concurrent history requests over the asynchronous "
          "connections all answer right",
          "[postgres_store][postgres][async_history]") {
  PEMX_NEED_POSTGRES(base);
  Stored db(base, 3);
  auto& reader = db.reader;
  Web pool(reader, false);
  std::vector<std::string> targets, expected;
  for (int i = 0; i < 12; ++i) {
    targets.push_back("/event?productIds=P" + std::to_string(i) + ",P" +
                      std::to_string((i + 5) % 12) + "&limit=" + std::to_string(3 + i));
    expected.push_back(seen(pool.get(targets.back())));
  }
  targets.push_back("/event?productIds=" + ten_products());
  expected.push_back(seen(pool.get(targets.back())));

  Web async(reader, true, 2);
  const auto before = pg(reader).async_stats();
  std::atomic<int> wrong{0};
  std::vector<std::thread> clients;
  constexpr int kClients = 12;
  constexpr int kEach = 40;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int n = 0; n < kEach; ++n) {
        const std::size_t k = static_cast<std::size_t>(c * 7 + n) % targets.size();
        if (seen(async.get(targets[k])) != expected[k]) wrong.fetch_add(1);
      }
    });
  }
  for (auto& t : clients) t.join();
  CHECK(wrong.load() == 0);
  const auto after = pg(reader).async_stats();
  CHECK(after.started > before.started);  // most went asynchronously; the rest to the pool
  CHECK(after.lost == 0);
  CHECK(after.free == after.size);
  CHECK(after.size == 3);
}

TEST_CASE("postgres_store: a client that leaves mid-query, and a server stopped with a query "
          "in flight, leave no query running and the reader usable",
          "[postgres_store][postgres][async_history]") {
  PEMX_NEED_POSTGRES(base);
  Stored db(base);
  auto& reader = db.reader;
  const std::string request = "GET /event?productIds=P1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  {
    Web async(reader, true);
    TableLock lock(db.schema.connection());
    // A client that leaves while its query waits on the lock.
    int fd = pemx::test::connect_loopback(async.server->port());
    REQUIRE(fd >= 0);
    REQUIRE(pemx::test::send_all(fd, request));
    REQUIRE(eventually([&] { return waiting_on_lock(base) == 1; }));
    ::close(fd);
    // Another one that stays, and the server is stopped under it.
    fd = pemx::test::connect_loopback(async.server->port());
    REQUIRE(fd >= 0);
    REQUIRE(pemx::test::send_all(fd, request));
    REQUIRE(eventually([&] { return waiting_on_lock(base) == 2; }));
    async.server->stop();
    ::close(fd);
    // The stopped server's query was cancelled on the database, while the lock is still held.
    CHECK(eventually([&] { return waiting_on_lock(base) <= 1; }));
    const auto s = pg(reader).async_stats();
    CHECK(s.abandoned >= 1);
    lock.release();
    // The departed client's query ends with the lock; its answer goes nowhere.
    CHECK(eventually([&] { return waiting_on_lock(base) == 0; }));
  }
  // The reader's connections are all free again (cancelled and drained, or finished), and
  // serve a new server.
  Web again(reader, true);
  REQUIRE(eventually([&] {
    const auto s = pg(reader).async_stats();
    if (s.free == s.size) return true;
    again.get("/event?productIds=P2");  // schedules the upkeep of what is left
    return false;
  }));
  const auto before = pg(reader).async_stats();
  const auto r = again.get("/event?productIds=P1&limit=2");
  CHECK(r.status == 200);
  CHECK(pg(reader).async_stats().started == before.started + 1);
}

}  // namespace
}  // namespace pemx::postgres_store
