#pragma once
// The PostgreSQL store's schema and its migrations. The applied versions are rows of a table
// of their own, pemx_schema_migrations (version, name, applied_at), in the connection's
// schema (its search_path: several stores may share a database in separate schemas).
//
// migrate() holds a session advisory lock for the whole run, so two pemx instances starting
// at once apply each step once: the second waits, then finds the steps applied. Each step
// runs in one transaction with its version row, so an error leaves the previous version.
// Start-up refuses a database whose version is newer than this binary knows, and one that has
// an `events` table but no migrations table (not a PEMX store).
//
// Adding a migration: append a step with the next version; never edit a released one.
#include <span>
#include <string>
#include <string_view>

#include "pemx/result.hpp"

extern "C" {
typedef struct pg_conn PGconn;
}

namespace pemx::postgres_store {

inline constexpr std::string_view kSchemaTooNew = "schema_too_new";       // Error::code
inline constexpr std::string_view kNotAPemxStore = "not_a_pemx_store";    // Error::code
inline constexpr std::string_view kMigrationFailed = "migration_failed";  // Error::code
// pg_advisory_lock's key while migrating ("PEMX" "MIGR").
inline constexpr long long kMigrationLockKey = 0x50454D584D494752LL;

struct Migration {
  int version;            // the schema version after this step: 1, 2, ...
  std::string_view name;  // stored in pemx_schema_migrations
  std::string_view sql;   // one or more statements
};

std::span<const Migration> migrations();

struct MigrationReport {
  int from = 0;
  int to = 0;
};

// Brings the connection's schema to the last version of `steps` (versions 1..N in order).
// `where` names the database in messages; `conninfo` is for redaction only.
Result<MigrationReport> migrate(PGconn* conn, const std::string& where,
                                std::string_view conninfo,
                                std::span<const Migration> steps = migrations());

}  // namespace pemx::postgres_store
