// Analytics (EventReader::analytics) on a real SQLite file: the answers every backend gives
// (tests/store/analytics_checks.hpp).
#include <catch2/catch.hpp>

#include "plugins/sqlite_store/temp_dir.hpp"
#include "sqlite_store/sqlite_backend.hpp"
#include "store/analytics_checks.hpp"

namespace pemx::sqlite_store {
namespace {

TEST_CASE("the SQLite store's analytics: counts per bucket, type and region, top products, "
          "change histograms, row budget",
          "[unit][sqlite_store][analytics]") {
  test::TempDir dir;
  StoreOptions o;
  o.path = dir.file("analytics.db");
  auto store = SqliteEventStore::open(o);
  REQUIRE(store);
  store::test::check_analytics_answers(*store.value());
}

}  // namespace
}  // namespace pemx::sqlite_store
