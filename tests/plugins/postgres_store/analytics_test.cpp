// Analytics (EventReader::analytics) on the test PostgreSQL (PEMX_TEST_POSTGRES; skipped when
// unset): the same answers as the SQLite store's (tests/store/analytics_checks.hpp).
#include <catch2/catch.hpp>

#include "plugins/postgres_store/pg_fixture.hpp"
#include "postgres_store/postgres_backend.hpp"
#include "store/analytics_checks.hpp"

namespace pemx::postgres_store {
namespace {

TEST_CASE("the PostgreSQL store's analytics: counts per bucket, type and region, top "
          "products, change histograms, row budget",
          "[postgres_store][postgres][analytics]") {
  auto base = test::test_postgres();
  if (!base) {
    WARN(test::kSkip);
    return;
  }
  test::TestSchema schema(*base);
  StoreOptions o;
  o.connection = schema.connection();
  o.reader_connections = 1;
  auto store = PostgresEventStore::open(o);
  INFO((store ? "" : store.error().message));
  REQUIRE(store);
  store::test::check_analytics_answers(*store.value());
  // A \u0000 escape in a stored event's data (text holds it; jsonb and json's operators
  // refuse it) leaves that event out of the bins instead of failing the statement.
  std::vector<store::EventRow> odd = {store::test::analytics_row(
      "z1", "P9", 5, "ProductPriceUpdate", "EU",
      R"({"note":"a\u0000b","newPrice":2,"previousPrice":1})")};
  REQUIRE(store.value()->write_batch(odd));
  AnalyticsQuery q;
  q.from_ms = store::test::kAnalyticsT0;
  q.to_ms = q.from_ms + 60 * store::test::kMinute;
  q.bucket_ms = 60 * store::test::kMinute;
  auto got = store.value()->reader()->analytics(q);
  INFO((got ? "" : got.error().message));
  REQUIRE(got);
  CHECK(got.value().events == 3);  // a1, a2 and z1
  CHECK(got.value().price_changes.above == 0);  // z1's +100 % is not counted
  CHECK(got.value().price_changes.bins[11] == 1);  // a1
  CHECK(got.value().price_changes.bins[5] == 1);   // a2
}

}  // namespace
}  // namespace pemx::postgres_store
