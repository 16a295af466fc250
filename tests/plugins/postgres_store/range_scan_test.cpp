// The range scan of `pemx replay` on the test PostgreSQL (PEMX_TEST_POSTGRES; skipped when
// unset): the same answers as the SQLite store's (tests/store/range_scan_checks.hpp), and
// migration 2's index.
#include <catch2/catch.hpp>

#include "plugins/postgres_store/pg_fixture.hpp"
#include "postgres_store/postgres_backend.hpp"
#include "store/range_scan_checks.hpp"

namespace pemx::postgres_store {
namespace {

TEST_CASE("the PostgreSQL store scans a time range across products in keyset pages",
          "[postgres_store][postgres][replay]") {
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
  CHECK(store.value()->schema_version() >= 2);  // version 2 adds the index
  CHECK(test::admin_value(schema.connection(),
                          "SELECT indexdef FROM pg_indexes WHERE schemaname = '" + schema.name() +
                              "' AND indexname = 'events_by_created'")
            .find("(created_ms, event_id)") != std::string::npos);
  store::test::check_range_scan(*store.value());
}

}  // namespace
}  // namespace pemx::postgres_store
