// The PostgreSQL backend on the real test server (PEMX_TEST_POSTGRES; skipped when unset):
// idempotent batches, migrations (once, concurrently, refusing a newer schema or a foreign
// table), history answers equal to the SQLite store's for the same rows, readiness and
// recovery after the server drops the connections, and no password in any message.
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "plugins/postgres_store/pg_fixture.hpp"
#include "plugins/sqlite_store/temp_dir.hpp"
#include "postgres_store/postgres_backend.hpp"
#include "postgres_store/schema.hpp"
#include "sqlite_store/sqlite_backend.hpp"

namespace pemx::postgres_store {
namespace {

using Catch::Matchers::Contains;
using test::TestSchema;

store::EventRow row(const std::string& id, const std::string& product, std::int64_t ms,
                    const std::string& type = "ProductPriceUpdate") {
  store::EventRow r;
  r.event_id = id;
  r.event_type = type;
  r.product_id = product;
  r.region = "EU";
  r.created_at = "at-" + std::to_string(ms);
  r.created_ms = ms;
  r.data_json = R"({"n":")" + id + R"(","q":"\"quoted\" \\ back"})";
  r.raw_json = R"({"eventId":")" + id + "\"}";
  r.source_topic = "storage";
  r.source_partition = 1;
  r.source_offset = ms;
  r.stored_at_ms = 1'700'000'000'000;
  return r;
}

std::unique_ptr<PostgresEventStore> open_store(const std::string& connection) {
  StoreOptions o;
  o.connection = connection;
  o.reader_connections = 2;
  auto s = PostgresEventStore::open(o);
  INFO((s ? "" : s.error().message));
  REQUIRE(s);
  return std::move(s.value());
}

TEST_CASE("postgres_store: batches are idempotent on event_id, new and duplicate per row",
          "[postgres_store][postgres]") {
  PEMX_NEED_POSTGRES(base);
  TestSchema schema(base);
  auto store = open_store(schema.connection());
  CHECK(store->schema_version() == migrations().back().version);
  CHECK(store->migrated_from() == 0);

  std::vector<store::EventRow> first{row("a", "P1", 10), row("b", "P1", 20), row("a", "P1", 30)};
  auto w1 = store->write_batch(first);
  REQUIRE(w1);
  CHECK(w1.value().stored == 2);
  CHECK(w1.value().duplicates == 1);
  CHECK(w1.value().inserted == std::vector<std::size_t>{0, 1});

  std::vector<store::EventRow> second{row("b", "P1", 20), row("c", "P2", 40)};
  auto w2 = store->write_batch(second);
  REQUIRE(w2);
  CHECK(w2.value().stored == 1);
  CHECK(w2.value().duplicates == 1);
  CHECK(w2.value().inserted == std::vector<std::size_t>{1});
  // The first "a" won (created_ms 10), as in the SQLite store.
  CHECK(test::admin_value(schema.connection(),
                          "SELECT created_ms FROM events WHERE event_id='a'") == "10");
  CHECK(test::admin_value(schema.connection(), "SELECT count(*) FROM events") == "3");
  CHECK(test::admin_value(schema.connection(),
                          "SELECT data_json FROM events WHERE event_id='c'") ==
        R"({"n":"c","q":"\"quoted\" \\ back"})");

  // A batch that fails (a value PostgreSQL refuses) stores nothing of it.
  std::vector<store::EventRow> bad{row("d", "P1", 50), row("e", "P1", 60)};
  bad[1].raw_json = std::string("nul\0byte", 8);
  auto w3 = store->write_batch(bad);
  REQUIRE_FALSE(w3);
  CHECK_FALSE(store->transient(w3.error()));
  CHECK(test::admin_value(schema.connection(), "SELECT count(*) FROM events WHERE event_id='d'") ==
        "0");
  // A row's fault (the writer isolates and dead-letters the row), not the store's: /readyz
  // stays ready.
  CHECK(store->row_fault(w3.error()));
  CHECK_FALSE(store->reader()->problem().has_value());
  REQUIRE(store->write_batch(std::vector<store::EventRow>{row("d", "P1", 50)}));
  CHECK_FALSE(store->reader()->problem().has_value());
}

TEST_CASE("postgres_store: recent products, the most recently stored first, each once",
          "[postgres_store][postgres]") {
  PEMX_NEED_POSTGRES(base);
  TestSchema schema(base);
  auto store = open_store(schema.connection());
  auto empty = store->reader()->recent_products(10);
  REQUIRE(empty);
  CHECK(empty.value().empty());
  std::vector<store::EventRow> first{row("a", "P1", 30), row("b", "P2", 20)};
  std::vector<store::EventRow> second{row("c", "P3", 10), row("d", "P1", 5)};
  for (auto& r : second) r.stored_at_ms += 1000;  // stored a second later
  REQUIRE(store->write_batch(first));
  REQUIRE(store->write_batch(second));
  auto recent = store->reader()->recent_products(10);
  REQUIRE(recent);
  REQUIRE(recent.value().size() == 3);
  CHECK(recent.value()[0].product_id == "P1");
  CHECK(recent.value()[0].last_created_at == "at-30");  // its newest event by createdAt
  CHECK(recent.value()[1].product_id == "P3");
  CHECK(recent.value()[2].product_id == "P2");
  CHECK(store->reader()->recent_products(0).error().code == "bad_query");
}

TEST_CASE("postgres_store: prune deletes the oldest events before the cutoff, in batches",
          "[postgres_store][postgres][retention]") {
  PEMX_NEED_POSTGRES(base);
  TestSchema schema(base);
  auto store = open_store(schema.connection());
  REQUIRE(store->write_batch(std::vector<store::EventRow>{row("a", "P1", 10), row("b", "P2", 20),
                                                          row("c", "P1", 30), row("d", "P1", 50)}));
  auto first = store->prune(40, 2);
  INFO((first ? "" : first.error().message));
  REQUIRE(first);
  CHECK(first.value() == 2);
  CHECK(store->prune(40, 2).value() == 1);
  CHECK(store->prune(40, 2).value() == 0);
  CHECK(test::admin_value(schema.connection(), "SELECT string_agg(event_id, ',') FROM events") ==
        "d");
}

TEST_CASE("postgres_store: find_event answers the row of one eventId, or none",
          "[postgres_store][postgres][lineage]") {
  PEMX_NEED_POSTGRES(base);
  TestSchema schema(base);
  auto store = open_store(schema.connection());
  REQUIRE(store->write_batch(std::vector<store::EventRow>{row("a", "P1", 10), row("b", "P1", 20)}));
  auto found = store->reader()->find_event("b");
  INFO((found ? "" : found.error().message));
  REQUIRE(found);
  REQUIRE(found.value().has_value());
  const StoredRow& r = *found.value();
  CHECK(r.event.event_id == "b");
  CHECK(r.event.product_id == "P1");
  CHECK(r.event.created_at == "at-20");
  CHECK(r.event.data_json == R"({"n":"b","q":"\"quoted\" \\ back"})");
  CHECK(r.raw_json == R"({"eventId":"b"})");
  CHECK(r.source_topic == "storage");
  CHECK(r.source_partition == 1);
  CHECK(r.source_offset == 20);
  CHECK(r.stored_at_ms == 1'700'000'000'000);
  auto none = store->reader()->find_event("zzz");
  REQUIRE(none);
  CHECK_FALSE(none.value().has_value());
}

TEST_CASE("postgres_store: migrations run once, also with four instances starting at once",
          "[postgres_store][postgres]") {
  PEMX_NEED_POSTGRES(base);
  TestSchema schema(base);
  std::vector<std::thread> threads;
  std::vector<std::string> errors(4);
  std::vector<int> from(4, -1);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      StoreOptions o;
      o.connection = schema.connection();
      o.reader_connections = 1;
      auto s = PostgresEventStore::open(o);
      if (s) {
        from[i] = s.value()->migrated_from();
      } else {
        errors[i] = s.error().message;
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) CHECK(e.empty());
  int fresh = 0;
  for (int f : from) fresh += f == 0 ? 1 : 0;
  CHECK(fresh == 1);  // one instance migrated; the others found it migrated
  CHECK(test::admin_value(schema.connection(), "SELECT count(*) FROM pemx_schema_migrations") ==
        std::to_string(migrations().size()));

  // A schema newer than this binary: refused, naming the versions.
  test::admin_exec(schema.connection(),
                   "INSERT INTO pemx_schema_migrations (version, name) VALUES (99, 'future')");
  StoreOptions o;
  o.connection = schema.connection();
  auto newer = PostgresEventStore::open(o);
  REQUIRE_FALSE(newer);
  CHECK(newer.error().code == kSchemaTooNew);
  CHECK_THAT(newer.error().message, Contains("schema version 99 is newer than this pemx knows"));

  // An events table that is not ours.
  TestSchema foreign(base);
  test::admin_exec(foreign.connection(), "CREATE TABLE events (id int)");
  o.connection = foreign.connection();
  auto not_ours = PostgresEventStore::open(o);
  REQUIRE_FALSE(not_ours);
  CHECK(not_ours.error().code == kNotAPemxStore);
}

TEST_CASE("postgres_store: the history answers equal the SQLite store's for the same rows",
          "[postgres_store][postgres]") {
  PEMX_NEED_POSTGRES(base);
  TestSchema schema(base);
  auto pg = open_store(schema.connection());
  sqlite_store::test::TempDir dir;
  sqlite_store::StoreOptions so;
  so.path = dir.file("events.db");
  auto sq = sqlite_store::SqliteEventStore::open(so);
  REQUIRE(sq);

  // Ties on created_ms whose ids differ in case, punctuation and non-ASCII bytes: the order
  // must be byte order in both (a locale's collation would differ).
  std::vector<store::EventRow> rows;
  const std::vector<std::string> ids{"B", "a", "A", "b", "_x", "Z9", "\xc3\xa9t\xc3\xa9", "e",
                                     "0", "a-1", "a_1", "A1"};
  for (std::size_t i = 0; i < ids.size(); ++i) {
    rows.push_back(row(ids[i], i % 3 == 0 ? "P1" : (i % 3 == 1 ? "P2" : "P3"),
                       1000 + static_cast<std::int64_t>(i % 4) * 10,
                       i % 2 == 0 ? "ProductPriceUpdate" : "Country"));
  }
  REQUIRE(pg->write_batch(rows));
  REQUIRE(sq.value()->write_batch(rows));

  auto pr = pg->reader();
  auto sr = sq.value()->reader();
  std::vector<EventQuery> queries;
  EventQuery q;
  q.product_ids = {"P1"};
  queries.push_back(q);
  q.product_ids = {"P1", "P2", "P3"};
  queries.push_back(q);
  q.event_type = "Country";
  queries.push_back(q);
  q.event_type.reset();
  q.from_ms = 1010;
  q.to_ms = 1030;
  queries.push_back(q);
  q.from_ms.reset();
  q.to_ms.reset();
  q.product_ids = {"P9"};
  queries.push_back(q);

  for (const auto& query : queries) {
    for (std::size_t limit : {1000, 1, 2, 5}) {
      EventQuery paged = query;
      paged.limit = limit;
      for (int page = 0; page < 20; ++page) {
        auto a = pr->query(paged);
        auto b = sr->query(paged);
        REQUIRE(a);
        REQUIRE(b);
        REQUIRE(a.value().events.size() == b.value().events.size());
        for (std::size_t i = 0; i < a.value().events.size(); ++i) {
          const auto& x = a.value().events[i];
          const auto& y = b.value().events[i];
          CHECK(x.event_id == y.event_id);
          CHECK(x.event_type == y.event_type);
          CHECK(x.product_id == y.product_id);
          CHECK(x.region == y.region);
          CHECK(x.created_at == y.created_at);
          CHECK(x.data_json == y.data_json);
        }
        CHECK(a.value().next_cursor == b.value().next_cursor);
        if (!a.value().next_cursor) break;
        paged.cursor = a.value().next_cursor;
      }
    }
  }
  EventQuery bad;
  bad.product_ids = {"P1"};
  bad.cursor = "not-a-cursor";
  auto e = pr->query(bad);
  REQUIRE_FALSE(e);
  CHECK(e.error().code == "bad_cursor");
}

TEST_CASE("postgres_store: connections the server drops are re-established and readiness says so",
          "[postgres_store][postgres]") {
  PEMX_NEED_POSTGRES(base);
  TestSchema schema(base);
  auto store = open_store(schema.connection());
  auto reader = store->reader();
  REQUIRE(store->write_batch(std::vector<store::EventRow>{row("a", "P1", 10)}));
  CHECK_FALSE(reader->problem());

  // Every session of this test's schema but the admin's own: the writer's and the readers'.
  test::admin_exec(base, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                         "application_name = 'pemx' AND pid <> pg_backend_pid() AND "
                         "datname = current_database()");
  auto lost = store->write_batch(std::vector<store::EventRow>{row("b", "P1", 20)});
  if (!lost) {  // the loss shows on the first write after it, as a transient error
    CHECK(store->transient(lost.error()));
    CHECK(reader->problem().has_value());
    REQUIRE(store->write_batch(std::vector<store::EventRow>{row("b", "P1", 20)}));
  }
  // The readers reconnect within the call.
  EventQuery q;
  q.product_ids = {"P1"};
  auto page = reader->query(q);
  REQUIRE(page);
  CHECK(page.value().events.size() == 2);
  CHECK_FALSE(reader->problem());

  store.reset();
  auto closed = reader->problem();
  REQUIRE(closed);
  CHECK_THAT(*closed, Contains("closed"));
}

TEST_CASE("postgres_store: a wrong password or server fails at open without the password",
          "[postgres_store][postgres]") {
  PEMX_NEED_POSTGRES(base);
  // postgresql://user:PASS@host:port/db -> the same with a wrong password.
  const auto colon = base.find(':', base.find("://") + 3);
  const auto at = base.find('@');
  REQUIRE(colon < at);
  const std::string wrong = base.substr(0, colon + 1) + "WrongPass-42" + base.substr(at);
  StoreOptions o;
  o.connection = wrong;
  auto s = PostgresEventStore::open(o);
  REQUIRE_FALSE(s);
  CHECK_THAT(s.error().message, Contains("cannot connect"));
  CHECK_THAT(s.error().message, !Contains("WrongPass-42"));
  CHECK_THAT(s.error().message, Contains("pemx_test@127.0.0.1"));
  CHECK_FALSE(transient(Error{"28P01", ""}));
}

std::int64_t count_rows(const std::string& connection) {
  return std::stoll(test::admin_value(connection, "SELECT count(*) FROM events"));
}

TEST_CASE("postgres_store: a NUL character is refused before the batch; a value PostgreSQL "
          "rejects fails its batch as a row fault, neither transient nor stored",
          "[postgres_store][postgres]") {
  PEMX_NEED_POSTGRES(base);
  TestSchema schema(base);
  auto store = open_store(schema.connection());
  CHECK_FALSE(store->refuse_row(row("ok", "P1", 1)));
  auto nul_product = row("n1", std::string("P\0x", 3), 2);
  auto refused = store->refuse_row(nul_product);
  REQUIRE(refused);
  CHECK_THAT(*refused, Contains("productId") && Contains("NUL"));
  auto nul_id = row(std::string("n\0" "2", 3), "P1", 3);
  REQUIRE(store->refuse_row(nul_id));
  CHECK_THAT(*store->refuse_row(nul_id), Contains("eventId"));

  // What the writer would meet if a row got through: the whole batch fails, nothing stored.
  const std::vector<std::vector<store::EventRow>> poisoned{
      {row("a", "P1", 10), nul_product},
      {row("a", "P1", 10), row("u", "P\xff\xfe", 11)},  // not UTF-8
      // Random text too long for a btree index entry (54000 program_limit_exceeded).
      {row("a", "P1", 10), row("long", [] {
         std::string p;
         unsigned x = 12345;
         for (int i = 0; i < 8000; ++i) {
           x = x * 1103515245u + 12345u;
           p += static_cast<char>('a' + (x >> 16) % 26);
         }
         return p;
       }(), 12)},
  };
  for (const auto& batch : poisoned) {
    auto written = store->write_batch(batch);
    REQUIRE_FALSE(written);
    INFO(written.error().code << " " << written.error().message);
    CHECK(store->row_fault(written.error()));
    CHECK_FALSE(store->transient(written.error()));
    CHECK(count_rows(schema.connection()) == 0);
    // A row's fault is not the store's: readiness stays good.
    CHECK_FALSE(store->reader()->problem());
  }
  // The connection is still usable.
  auto ok = store->write_batch(std::vector<store::EventRow>{row("a", "P1", 10)});
  REQUIRE(ok);
  CHECK(ok.value().stored == 1);
  CHECK_FALSE(row_fault(Error{"42501", "permission denied"}));
  CHECK_FALSE(row_fault(Error{std::string(kConnectionLost), "lost"}));
}

TEST_CASE("postgres_store: interrupt() ends a statement blocked on a lock at once, and later "
          "writes fail at once",
          "[postgres_store][postgres]") {
  PEMX_NEED_POSTGRES(base);
  TestSchema schema(base);
  StoreOptions o;
  o.connection = schema.connection();
  o.reader_connections = 1;
  o.statement_timeout = std::chrono::milliseconds(0);  // the lock would block for ever
  auto opened = PostgresEventStore::open(o);
  REQUIRE(opened);
  auto store = std::move(opened.value());

  PGconn* locker = PQconnectdb(schema.connection().c_str());
  REQUIRE(PQstatus(locker) == CONNECTION_OK);
  PQclear(PQexec(locker, "BEGIN"));
  PGresult* locked = PQexec(locker, "LOCK TABLE events IN EXCLUSIVE MODE");
  REQUIRE(PQresultStatus(locked) == PGRES_COMMAND_OK);
  PQclear(locked);

  std::optional<Result<store::WriteStats>> written;
  std::thread writer([&] {
    written.emplace(store->write_batch(std::vector<store::EventRow>{row("x", "P1", 1)}));
  });
  // Waits (bounded) until the insert waits for the lock.
  const std::string waiting =
      "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND "
      "query LIKE '%INSERT INTO events%'";
  for (int i = 0; i < 400 && test::admin_value(base, waiting) == "0"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(test::admin_value(base, waiting) == "1");
  store->interrupt();
  writer.join();  // returns although the lock is still held
  REQUIRE(written);
  REQUIRE_FALSE(*written);
  CHECK(written->error().code == kConnectionLost);
  auto again = store->write_batch(std::vector<store::EventRow>{row("y", "P1", 2)});
  REQUIRE_FALSE(again);
  CHECK_THAT(again.error().message, Contains("stopping"));
  store->probe();
  CHECK(store->reader()->problem().has_value());

  PQclear(PQexec(locker, "ROLLBACK"));
  PQfinish(locker);
  // The server may still finish the statement it was given (it notices the lost client only
  // when it answers): never acknowledged, so its redelivery is counted a duplicate.
  CHECK(count_rows(schema.connection()) <= 1);
}

TEST_CASE("postgres_store: the writer's probe re-establishes a dropped connection and clears "
          "the readiness problem",
          "[postgres_store][postgres]") {
  PEMX_NEED_POSTGRES(base);
  TestSchema schema(base);
  auto store = open_store(schema.connection());
  auto reader = store->reader();
  store->probe();
  CHECK_FALSE(reader->problem());
  test::admin_exec(base, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                         "application_name = 'pemx' AND pid <> pg_backend_pid() AND "
                         "datname = current_database()");
  store->probe();  // the loss shows, or the probe reconnected already
  store->probe();
  CHECK_FALSE(reader->problem());
  REQUIRE(store->write_batch(std::vector<store::EventRow>{row("a", "P1", 10)}));
}

}  // namespace
}  // namespace pemx::postgres_store
