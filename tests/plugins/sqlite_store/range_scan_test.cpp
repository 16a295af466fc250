// The range scan of `pemx replay` on a real SQLite file: order, bounds, keyset pages,
// products (tests/store/range_scan_checks.hpp), and migration 2's index, which serves it.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include "plugins/sqlite_store/store_fixtures.hpp"
#include "plugins/sqlite_store/temp_dir.hpp"
#include "sqlite_store/schema.hpp"
#include "sqlite_store/sqlite_backend.hpp"
#include "store/range_scan_checks.hpp"

namespace pemx::sqlite_store {
namespace {

using test::RawDb;
using test::TempDir;

TEST_CASE("the SQLite store scans a time range across products in keyset pages",
          "[unit][sqlite_store][replay]") {
  TempDir dir;
  StoreOptions o;
  o.path = dir.file("scan.db");
  auto store = SqliteEventStore::open(o);
  REQUIRE(store);
  store::test::check_range_scan(*store.value());
}

TEST_CASE("migration 2 adds the (created_ms, event_id) index, and the scan uses it",
          "[unit][sqlite_store][replay]") {
  TempDir dir;
  const std::string path = dir.file("v1.db");
  {
    // A version 1 file, as an older pemx left it.
    auto db = open_db(path, OpenMode::kReadWrite, std::chrono::milliseconds(0));
    REQUIRE(db);
    auto first = migrate(db.value().get(), path, migrations().first(1));
    REQUIRE(first);
    CHECK(first.value().to == 1);
  }
  StoreOptions o;
  o.path = path;
  auto store = SqliteEventStore::open(o);
  REQUIRE(store);
  CHECK(store.value()->migrated_from() == 1);
  CHECK(store.value()->schema_version() == 2);
  RawDb raw(path);
  CHECK(raw.integer("SELECT count(*) FROM pragma_index_info('events_by_created')") == 2);
  CHECK(raw.integer("SELECT count(*) FROM pragma_index_info('events_by_created') "
                    "WHERE seqno = 0 AND name = 'created_ms'") == 1);
  // The scan's plan walks the index rather than sorting the table.
  auto plan = prepare(raw.get(),
                      "EXPLAIN QUERY PLAN SELECT event_id FROM events WHERE created_ms >= 1 AND "
                      "created_ms < 2 AND (created_ms, event_id) > (0, '') ORDER BY created_ms, "
                      "event_id LIMIT 10",
                      path);
  REQUIRE(plan);
  std::string details;
  while (sqlite3_step(plan.value().get()) == SQLITE_ROW) {
    details += reinterpret_cast<const char*>(sqlite3_column_text(plan.value().get(), 3));
    details += "\n";
  }
  INFO(details);
  CHECK(details.find("events_by_created") != std::string::npos);
  CHECK(details.find("TEMP B-TREE") == std::string::npos);
}

}  // namespace
}  // namespace pemx::sqlite_store
