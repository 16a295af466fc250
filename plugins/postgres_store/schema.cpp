#include "postgres_store/schema.hpp"

#include <libpq-fe.h>

#include <cstdlib>

#include "postgres_store/pg_connection.hpp"

namespace pemx::postgres_store {

namespace {

// Version 1: the events table keyed by eventId, and the index that serves "events of these
// products, newest first" (and the keyset cursor) without a sort per product. Text compares
// byte-wise (COLLATE "C"), as SQLite's does, so that history pages and cursors are the same
// whatever the database's locale.
constexpr std::string_view kV1 = R"sql(
CREATE TABLE events (
  event_id         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
  event_type       TEXT COLLATE "C" NOT NULL,
  product_id       TEXT COLLATE "C" NOT NULL,
  region           TEXT COLLATE "C" NOT NULL,
  created_at       TEXT NOT NULL,
  created_ms       BIGINT NOT NULL,
  data_json        TEXT NOT NULL,
  raw_json         TEXT NOT NULL,
  source_topic     TEXT NOT NULL,
  source_partition INTEGER NOT NULL,
  source_offset    BIGINT NOT NULL,
  stored_at_ms     BIGINT NOT NULL
);
CREATE INDEX events_by_product ON events (product_id, created_ms DESC, event_id DESC);
)sql";

// Version 2: the index that serves a time range across products in (created_ms, event_id)
// order (`pemx replay`, EventReader::scan) and its keyset pages. IF NOT EXISTS: an operator
// may have built it beforehand with CREATE INDEX CONCURRENTLY, which does not block writes.
constexpr std::string_view kV2 = R"sql(
CREATE INDEX IF NOT EXISTS events_by_created ON events (created_ms, event_id);
)sql";

// Version 3: the newest stored events first (GET /api/products/recent), so that the recent
// products are an index scan of a few thousand entries, not a sort of the table. (SQLite
// reads its rowid backwards instead and needs no index.) A plain CREATE INDEX: it blocks
// writes while it builds, once, at the upgrade (docs: upgrade order).
constexpr std::string_view kV3 = R"sql(
CREATE INDEX IF NOT EXISTS events_by_stored ON events (stored_at_ms DESC);
)sql";

constexpr Migration kMigrations[] = {
    {1, "events table and its product history index", kV1},
    {2, "time range index across products", kV2},
    {3, "index of the newest stored events (recent products)", kV3},
};

constexpr const char* kCreateMigrations = R"sql(
CREATE TABLE IF NOT EXISTS pemx_schema_migrations (
  version    INTEGER PRIMARY KEY,
  name       TEXT NOT NULL,
  applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
))sql";

std::string known_versions(std::span<const Migration> steps) {
  return steps.empty() ? "none" : "up to " + std::to_string(steps.back().version);
}

Result<long long> query_number(PGconn* conn, const char* sql, std::string_view what,
                               const std::string& where, std::string_view conninfo) {
  ResultPtr result(PQexec(conn, sql));
  if (!result || PQresultStatus(result.get()) != PGRES_TUPLES_OK || PQntuples(result.get()) != 1) {
    return pg_error(conn, result.get(), what, where, conninfo);
  }
  return static_cast<long long>(std::strtoll(PQgetvalue(result.get(), 0, 0), nullptr, 10));
}

std::optional<Error> apply(PGconn* conn, const Migration& step, const std::string& where,
                           std::string_view conninfo) {
  if (auto e = exec(conn, "BEGIN", "begin migration", where, conninfo)) return e;
  std::string sql(step.sql);
  sql += "\nINSERT INTO pemx_schema_migrations (version, name) VALUES (" +
         std::to_string(step.version) + ", '" + std::string(step.name) + "');";
  if (auto e = exec(conn, sql.c_str(), "migration " + std::to_string(step.version), where,
                    conninfo)) {
    exec(conn, "ROLLBACK", "roll back migration", where, conninfo);  // the step's error wins
    Error err = *e;
    err.code = std::string(kMigrationFailed);
    err.message += "; the database stays at schema version " + std::to_string(step.version - 1);
    return err;
  }
  return exec(conn, "COMMIT", "commit migration", where, conninfo);
}

Result<MigrationReport> migrate_locked(PGconn* conn, const std::string& where,
                                       std::string_view conninfo,
                                       std::span<const Migration> steps) {
  auto has_table = query_number(
      conn, "SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename = "
            "'pemx_schema_migrations' AND schemaname = current_schema()",
      "read the schema", where, conninfo);
  if (!has_table) return has_table.error();
  if (has_table.value() == 0) {
    auto events = query_number(conn, "SELECT count(*) FROM pg_catalog.pg_tables WHERE "
                                     "tablename = 'events' AND schemaname = current_schema()",
                               "read the schema", where, conninfo);
    if (!events) return events.error();
    if (events.value() > 0) {
      return Error{std::string(kNotAPemxStore),
                   "PostgreSQL " + where +
                       ": an events table exists but pemx_schema_migrations does not, so it is "
                       "not a PEMX store; point the connection at another database or schema "
                       "(options=-csearch_path=...)"};
    }
    if (auto e = exec(conn, kCreateMigrations, "create pemx_schema_migrations", where,
                      conninfo)) {
      return *e;
    }
  }
  auto version = query_number(conn, "SELECT coalesce(max(version), 0) FROM pemx_schema_migrations",
                              "read the schema version", where, conninfo);
  if (!version) return version.error();
  const long long newest = steps.empty() ? 0 : steps.back().version;
  MigrationReport report{static_cast<int>(version.value()), static_cast<int>(version.value())};
  if (version.value() > newest) {
    return Error{std::string(kSchemaTooNew),
                 "PostgreSQL " + where + ": schema version " + std::to_string(version.value()) +
                     " is newer than this pemx knows (" + known_versions(steps) +
                     "); run the newer pemx that wrote it, or restore a backup made before "
                     "the upgrade"};
  }
  for (const auto& step : steps) {
    if (step.version <= version.value()) continue;
    if (auto e = apply(conn, step, where, conninfo)) return *e;
    report.to = step.version;
  }
  return report;
}

}  // namespace

std::span<const Migration> migrations() { return kMigrations; }

Result<MigrationReport> migrate(PGconn* conn, const std::string& where,
                                std::string_view conninfo, std::span<const Migration> steps) {
  const std::string lock = "SELECT pg_advisory_lock(" + std::to_string(kMigrationLockKey) + ")";
  if (auto e = exec(conn, lock.c_str(), "take the migration lock", where, conninfo)) return *e;
  auto report = migrate_locked(conn, where, conninfo, steps);
  const std::string unlock =
      "SELECT pg_advisory_unlock(" + std::to_string(kMigrationLockKey) + ")";
  auto unlocked = exec(conn, unlock.c_str(), "release the migration lock", where, conninfo);
  if (report && unlocked) return *unlocked;
  return report;
}

}  // namespace pemx::postgres_store
