#include "sqlite_store/sqlite_handle.hpp"

#include <sqlite3.h>

#include <climits>

namespace pemx::sqlite_store {

void DbDeleter::operator()(sqlite3* db) const { sqlite3_close_v2(db); }
void StmtDeleter::operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }

StmtReset::~StmtReset() {
  // Both only report the statement's last error again; nothing to handle here.
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool transient(const Error& error) {
  return error.code == kBusy || error.code == kLocked || error.code == kDiskFull ||
         error.code == kIoError || error.code == kNoMemory;
}

namespace {

struct Kind {
  std::string_view code;
  const char* fix;
};

Kind classify(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
      return {kBusy,
              "another connection holds the write lock (a second pemx on the same file, or a "
              "tool such as the sqlite3 shell in a transaction); close it"};
    case SQLITE_LOCKED:
      return {kLocked, "a conflicting statement in this process; retried automatically"};
    case SQLITE_FULL:
      return {kDiskFull, "free space on the volume that holds the file"};
    case SQLITE_IOERR:
      return {kIoError, "check the disk and file system that hold the file (dmesg)"};
    case SQLITE_NOMEM:
      return {kNoMemory, "the process is out of memory; check its limits"};
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return {kReadOnly,
              "make the file, its -wal and -shm files and their directory writable by the "
              "user pemx runs as"};
    case SQLITE_CANTOPEN:
      return {kCantOpen,
              "check that the directory exists and that the user pemx runs as may create "
              "files in it (store.path)"};
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return {kCorrupt,
              "the file is damaged or not a database: move it away (keep it for analysis) and "
              "restore a backup, or point store.path at a new file"};
    default:
      return {kSqliteError, "see SQLite's message; report it if it persists"};
  }
}

}  // namespace

Error sqlite_error(sqlite3* db, int rc, std::string_view what, const std::string& path) {
  Kind kind = classify(rc);
  std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string message = "SQLite store " + path + ": " + std::string(what) + " failed: " + detail +
                        " (" + sqlite3_errstr(rc) + ", code " + std::to_string(rc) + "); " +
                        kind.fix;
  return Error{std::string(kind.code), std::move(message)};
}

Result<DbPtr> open_db(const std::string& path, OpenMode mode,
                      std::chrono::milliseconds busy_timeout) {
  // NOMUTEX: each connection is used by one thread at a time (the writer's worker thread, or
  // the reader pool's lease holder), so SQLite's own per-connection mutex is not needed.
  int flags = SQLITE_OPEN_NOMUTEX;
  flags |= mode == OpenMode::kReadWrite ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                                        : SQLITE_OPEN_READONLY;
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  DbPtr db(raw);  // sqlite3_open_v2 may hand out a handle even on failure: owned either way
  if (rc != SQLITE_OK) return sqlite_error(db.get(), rc, "open", path);
  if (db == nullptr)
    return Error{std::string(kNoMemory), "SQLite store " + path + ": open: out of memory"};
  rc = sqlite3_extended_result_codes(db.get(), 1);
  if (rc != SQLITE_OK) return sqlite_error(db.get(), rc, "enable extended result codes", path);
  auto ms = busy_timeout.count() > INT_MAX ? INT_MAX : static_cast<int>(busy_timeout.count());
  rc = sqlite3_busy_timeout(db.get(), ms);
  if (rc != SQLITE_OK) return sqlite_error(db.get(), rc, "set busy_timeout", path);
  // Defensive: the file's schema cannot call functions with side effects or corrupt it
  // through writable_schema; it is data, not code.
  rc = sqlite3_db_config(db.get(), SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  if (rc != SQLITE_OK) return sqlite_error(db.get(), rc, "enable defensive mode", path);
  rc = sqlite3_db_config(db.get(), SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  if (rc != SQLITE_OK) return sqlite_error(db.get(), rc, "turn off trusted_schema", path);
  return db;
}

Result<StmtPtr> prepare(sqlite3* db, std::string_view sql, const std::string& path) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  StmtPtr stmt(raw);
  if (rc != SQLITE_OK) {
    return sqlite_error(db, rc, "prepare \"" + std::string(sql.substr(0, 60)) + "…\"", path);
  }
  return stmt;
}

std::optional<Error> exec(sqlite3* db, const char* sql, std::string_view what,
                          const std::string& path) {
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return sqlite_error(db, rc, what, path);
  return std::nullopt;
}

Result<std::int64_t> query_int(sqlite3* db, const char* sql, const std::string& path) {
  auto stmt = prepare(db, sql, path);
  if (!stmt) return stmt.error();
  int rc = sqlite3_step(stmt.value().get());
  if (rc != SQLITE_ROW) {
    return rc == SQLITE_DONE ? Error{std::string(kSqliteError),
                                     "SQLite store " + path + ": \"" + sql + "\" returned no row"}
                             : sqlite_error(db, rc, sql, path);
  }
  return static_cast<std::int64_t>(sqlite3_column_int64(stmt.value().get(), 0));
}

}  // namespace pemx::sqlite_store
