// Schema versions and migrations, on real files: a fresh file is created at the newest version,
// re-opening is a no-op, a newer or foreign file is refused, and a step is all or nothing.
#include "sqlite_store/schema.hpp"

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <string>
#include <vector>

#include "plugins/sqlite_store/store_fixtures.hpp"
#include "plugins/sqlite_store/temp_dir.hpp"
#include "sqlite_store/sqlite_backend.hpp"

namespace pemx::sqlite_store {
namespace {

using Catch::Matchers::Contains;
using test::make_row;
using test::RawDb;
using test::TempDir;
using test::uuid;

// SQLite's plan for a statement, its steps joined.
std::string query_plan(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &stmt, nullptr) ==
          SQLITE_OK);
  std::string plan;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    plan += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3));
    plan += "; ";
  }
  sqlite3_finalize(stmt);
  return plan;
}

StoreOptions options_for(const std::string& path) {
  StoreOptions o;
  o.path = path;
  o.busy_timeout = std::chrono::milliseconds(200);
  o.reader_connections = 2;
  return o;
}

TEST_CASE("a fresh file gets the newest schema, WAL and the history index",
          "[unit][sqlite_store]") {
  TempDir dir;
  const std::string path = dir.file("fresh.db");
  auto store = SqliteEventStore::open(options_for(path));
  REQUIRE(store.ok());
  CHECK(store.value()->schema_version() == migrations().back().version);
  CHECK(store.value()->migrated_from() == 0);

  RawDb raw(path);
  CHECK(raw.integer("PRAGMA user_version") == migrations().back().version);
  CHECK(raw.integer("PRAGMA application_id") == kApplicationId);
  CHECK(raw.integer("SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'") == 1);
  CHECK(raw.integer(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'events'") == 1);
  // The index columns and their order, as the history query needs them.
  CHECK(raw.integer(
            "SELECT count(*) FROM pragma_index_xinfo('events_by_product') "
            "WHERE key = 1 AND ((cid = 2 AND seqno = 0 AND desc = 0) OR "
            "(cid = 5 AND seqno = 1 AND desc = 1) OR (cid = 0 AND seqno = 2 AND desc = 1))") == 3);
  CHECK_THAT(query_plan(raw.get(), "SELECT event_id FROM events WHERE product_id = 'P' "
                                   "ORDER BY created_ms DESC, event_id DESC"),
             Contains("INDEX events_by_product") && !Contains("TEMP B-TREE"));
  // event_id is unique.
  CHECK(raw.integer("SELECT count(*) FROM pragma_index_list('events') WHERE \"unique\" = 1 "
                    "AND origin = 'pk'") == 1);
}

TEST_CASE("re-opening a store is a no-op that keeps its rows", "[unit][sqlite_store]") {
  TempDir dir;
  const std::string path = dir.file("again.db");
  {
    auto store = SqliteEventStore::open(options_for(path));
    REQUIRE(store.ok());
    std::vector<EventRow> rows = {make_row(uuid(1), "P1", "2024-01-01T00:00:00Z")};
    REQUIRE(store.value()->write_batch(rows).ok());
  }
  auto store = SqliteEventStore::open(options_for(path));
  REQUIRE(store.ok());
  CHECK(store.value()->migrated_from() == migrations().back().version);
  CHECK(store.value()->schema_version() == migrations().back().version);
  RawDb raw(path);
  CHECK(raw.integer("SELECT count(*) FROM events") == 1);
}

TEST_CASE("a file with a newer schema is refused with a clear message", "[unit][sqlite_store]") {
  TempDir dir;
  const std::string path = dir.file("newer.db");
  {
    REQUIRE(SqliteEventStore::open(options_for(path)).ok());
    RawDb raw(path);
    raw.exec("PRAGMA user_version = 99");
  }
  auto store = SqliteEventStore::open(options_for(path));
  REQUIRE_FALSE(store.ok());
  CHECK(store.error().code == kSchemaTooNew);
  CHECK_THAT(store.error().message, Contains(path));
  CHECK_THAT(store.error().message, Contains("schema version 99"));
  CHECK_THAT(store.error().message, Contains("newer pemx"));
  RawDb raw(path);
  CHECK(raw.integer("PRAGMA user_version") == 99);  // left untouched
}

TEST_CASE("a file that is not a PEMX store is refused and left alone", "[unit][sqlite_store]") {
  TempDir dir;
  const std::string path = dir.file("other.db");
  SECTION("tables without a schema version") {
    {
      RawDb raw(path);
      raw.exec("CREATE TABLE customers (id INTEGER PRIMARY KEY)");
    }
    auto store = SqliteEventStore::open(options_for(path));
    REQUIRE_FALSE(store.ok());
    CHECK(store.error().code == kNotAPemxStore);
    CHECK_THAT(store.error().message, Contains(path));
    RawDb raw(path);
    CHECK(raw.integer("SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'") == 0);
  }
  SECTION("another application's id") {
    {
      RawDb raw(path);
      raw.exec("CREATE TABLE t (x); PRAGMA user_version = 1; PRAGMA application_id = 42");
    }
    auto store = SqliteEventStore::open(options_for(path));
    REQUIRE_FALSE(store.ok());
    CHECK(store.error().code == kNotAPemxStore);
  }
  SECTION("not a database at all") {
    {
      FILE* f = std::fopen(path.c_str(), "w");
      REQUIRE(f != nullptr);
      std::fputs(
          "this is a text file, not a database, and it is long enough to matter....\n"
          "......................................................................\n",
          f);
      std::fclose(f);
    }
    auto store = SqliteEventStore::open(options_for(path));
    REQUIRE_FALSE(store.ok());
    CHECK(store.error().code == kCorrupt);
    CHECK_THAT(store.error().message, Contains(path));
  }
}

TEST_CASE("an unopenable path names the file and the fix", "[unit][sqlite_store]") {
  TempDir dir;
  const std::string path = dir.file("missing-dir/store.db");
  auto store = SqliteEventStore::open(options_for(path));
  REQUIRE_FALSE(store.ok());
  CHECK(store.error().code == kCantOpen);
  CHECK_THAT(store.error().message, Contains(path));
  CHECK_THAT(store.error().message, Contains("directory exists"));
}

TEST_CASE("migrations apply in order, each in its own transaction", "[unit][sqlite_store]") {
  TempDir dir;
  const std::string path = dir.file("steps.db");
  const Migration v1{1, "t", "CREATE TABLE t (a INTEGER);"};
  const Migration v2{2, "t.b", "ALTER TABLE t ADD COLUMN b TEXT;"};
  const Migration v3_broken{3, "broken", "CREATE TABLE u (x); INSERT INTO nowhere VALUES (1);"};
  RawDb raw(path);

  SECTION("from nothing to the last step, then nothing more to do") {
    const Migration steps[] = {v1, v2};
    auto r = migrate(raw.get(), path, steps);
    REQUIRE(r.ok());
    CHECK(r.value().from == 0);
    CHECK(r.value().to == 2);
    CHECK(raw.integer("SELECT count(*) FROM pragma_table_info('t')") == 2);
    auto again = migrate(raw.get(), path, steps);
    REQUIRE(again.ok());
    CHECK(again.value().from == 2);
    CHECK(again.value().to == 2);
  }
  SECTION("an upgrade applies only the new steps") {
    const Migration old_steps[] = {v1};
    REQUIRE(migrate(raw.get(), path, old_steps).ok());
    raw.exec("INSERT INTO t (a) VALUES (7)");
    const Migration new_steps[] = {v1, v2};
    auto r = migrate(raw.get(), path, new_steps);
    REQUIRE(r.ok());
    CHECK(r.value().from == 1);
    CHECK(r.value().to == 2);
    CHECK(raw.integer("SELECT a FROM t") == 7);
  }
  SECTION("a failing step leaves the file at the previous version, without its changes") {
    const Migration steps[] = {v1, v2, v3_broken};
    auto r = migrate(raw.get(), path, steps);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == kMigrationFailed);
    CHECK_THAT(r.error().message, Contains("stays at schema version 2"));
    CHECK(raw.integer("PRAGMA user_version") == 2);
    CHECK(raw.integer("SELECT count(*) FROM sqlite_schema WHERE name = 'u'") == 0);
  }
}

}  // namespace
}  // namespace pemx::sqlite_store
