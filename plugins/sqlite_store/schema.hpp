#pragma once
// The store's schema and its migrations. The schema version lives in the file's header
// (PRAGMA user_version); the file is marked as a PEMX store with PRAGMA application_id.
//
// Migrations are an ordered list; step N brings the schema from version N-1 to N and runs in
// one transaction of its own together with the version bump, so a crash or an error leaves
// the file at the previous version, never half-migrated. Start-up refuses a file whose version
// is newer than this binary knows (an older pemx must not write a newer schema), and a file
// that holds tables but is not a PEMX store.
//
// Adding a migration: append a step with the next version; never edit a released one.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "pemx/result.hpp"

extern "C" {
typedef struct sqlite3 sqlite3;
}

namespace pemx::sqlite_store {

inline constexpr std::int32_t kApplicationId = 0x50454D58;  // "PEMX"

inline constexpr std::string_view kSchemaTooNew = "schema_too_new";       // Error::code
inline constexpr std::string_view kNotAPemxStore = "not_a_pemx_store";    // Error::code
inline constexpr std::string_view kMigrationFailed = "migration_failed";  // Error::code

struct Migration {
  int version;            // the schema version after this step: 1, 2, ...
  std::string_view name;  // for the log
  std::string_view sql;   // one or more statements
};

// This binary's migrations, oldest first.
std::span<const Migration> migrations();

struct MigrationReport {
  int from = 0;  // version found
  int to = 0;    // version now
};

// Brings the database to the last version of `steps` (their versions must be 1..N in order).
Result<MigrationReport> migrate(sqlite3* db, const std::string& path,
                                std::span<const Migration> steps = migrations());

}  // namespace pemx::sqlite_store
