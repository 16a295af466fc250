#include "sqlite_store/schema.hpp"

#include <sqlite3.h>

#include "sqlite_store/sqlite_handle.hpp"

namespace pemx::sqlite_store {

namespace {

// Version 1: the events table keyed by eventId, and the index that serves "events of these
// products, newest first" (and the keyset cursor) without a sort per product.
constexpr std::string_view kV1 = R"sql(
CREATE TABLE events (
  event_id         TEXT    NOT NULL PRIMARY KEY,
  event_type       TEXT    NOT NULL,
  product_id       TEXT    NOT NULL,
  region           TEXT    NOT NULL,
  created_at       TEXT    NOT NULL,
  created_ms       INTEGER NOT NULL,
  data_json        TEXT    NOT NULL,
  raw_json         TEXT    NOT NULL,
  source_topic     TEXT    NOT NULL,
  source_partition INTEGER NOT NULL,
  source_offset    INTEGER NOT NULL,
  stored_at_ms     INTEGER NOT NULL
);
CREATE INDEX events_by_product ON events (product_id, created_ms DESC, event_id DESC);
)sql";

// Version 2: the index that serves a time range across products in (created_ms, event_id)
// order (`pemx replay`, EventReader::scan) and its keyset pages.
constexpr std::string_view kV2 = R"sql(
CREATE INDEX events_by_created ON events (created_ms, event_id);
)sql";

constexpr Migration kMigrations[] = {
    {1, "events table and its product history index", kV1},
    {2, "time range index across products", kV2},
};

std::string known_versions(std::span<const Migration> steps) {
  return steps.empty() ? "none" : "up to " + std::to_string(steps.back().version);
}

// Applies one step: its SQL and the version bump in one transaction. The version is read
// again under the write lock, so two processes migrating at once apply each step once.
std::optional<Error> apply(sqlite3* db, const std::string& path, const Migration& step) {
  if (auto e = exec(db, "BEGIN IMMEDIATE", "begin migration", path)) return e;
  auto fail = [&](Error e) {
    exec(db, "ROLLBACK", "roll back migration", path);  // the step's error is the one to report
    return e;
  };
  auto current = query_int(db, "PRAGMA user_version", path);
  if (!current) return fail(current.error());
  if (current.value() >= step.version) {
    exec(db, "ROLLBACK", "end migration", path);
    return std::nullopt;  // somebody else applied it meanwhile
  }
  std::string sql(step.sql);
  sql += "\nPRAGMA user_version = " + std::to_string(step.version) + ";";
  sql += "\nPRAGMA application_id = " + std::to_string(kApplicationId) + ";";
  if (auto e = exec(db, sql.c_str(), "migration " + std::to_string(step.version), path)) {
    Error err = fail(*e);
    err.code = std::string(kMigrationFailed);
    err.message += "; the file stays at schema version " + std::to_string(current.value());
    return err;
  }
  if (auto e = exec(db, "COMMIT", "commit migration", path)) return fail(*e);
  return std::nullopt;
}

}  // namespace

std::span<const Migration> migrations() { return kMigrations; }

Result<MigrationReport> migrate(sqlite3* db, const std::string& path,
                                std::span<const Migration> steps) {
  auto version = query_int(db, "PRAGMA user_version", path);
  if (!version) return version.error();
  auto app = query_int(db, "PRAGMA application_id", path);
  if (!app) return app.error();
  const std::int64_t newest = steps.empty() ? 0 : steps.back().version;
  MigrationReport report{static_cast<int>(version.value()), static_cast<int>(version.value())};

  if (version.value() == 0) {
    auto objects = query_int(db, "SELECT count(*) FROM sqlite_schema", path);
    if (!objects) return objects.error();
    if (objects.value() > 0) {
      return Error{std::string(kNotAPemxStore),
                   "SQLite store " + path +
                       ": the file holds tables but is not a PEMX store (schema version 0); "
                       "point store.path at a new file or at a PEMX store"};
    }
  } else if (app.value() != kApplicationId) {
    return Error{std::string(kNotAPemxStore),
                 "SQLite store " + path + ": the file is not a PEMX store (application_id " +
                     std::to_string(app.value()) +
                     "); point store.path at a new file or at a PEMX store"};
  }
  if (version.value() > newest) {
    return Error{std::string(kSchemaTooNew),
                 "SQLite store " + path + ": schema version " + std::to_string(version.value()) +
                     " is newer than this pemx knows (" + known_versions(steps) +
                     "); run the newer pemx that wrote it, or restore a backup made before "
                     "the upgrade"};
  }
  for (const auto& step : steps) {
    if (step.version <= version.value()) continue;
    if (auto e = apply(db, path, step)) return *e;
    report.to = step.version;
  }
  return report;
}

}  // namespace pemx::sqlite_store
