#pragma once
// RAII owners of SQLite handles and the few helpers every SQL call site of the store shares.
// sqlite3.h stays out of this header: the handles are opaque here.
//
// Error policy: no exceptions; every SQLite return code is turned into an Error whose code is
// stable (see transient()) and whose message names the file, what was being done, SQLite's
// own explanation and what the operator can do about it.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "pemx/result.hpp"

extern "C" {
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
}

namespace pemx::sqlite_store {

struct DbDeleter {  // sqlite3_close_v2: also safe with statements still alive
  void operator()(sqlite3* db) const;
};
struct StmtDeleter {  // sqlite3_finalize
  void operator()(sqlite3_stmt* stmt) const;
};
using DbPtr = std::unique_ptr<sqlite3, DbDeleter>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

// Resets a statement and clears its bindings when the scope ends, so that a statement whose
// text parameters were bound without a copy never keeps pointers past the call that bound them.
class StmtReset {
 public:
  explicit StmtReset(sqlite3_stmt* stmt) : stmt_(stmt) {}
  StmtReset(const StmtReset&) = delete;
  StmtReset& operator=(const StmtReset&) = delete;
  ~StmtReset();

 private:
  sqlite3_stmt* stmt_;
};

// Stable error codes (Error::code) of the store.
inline constexpr std::string_view kBusy = "busy";      // another connection holds the lock
inline constexpr std::string_view kLocked = "locked";  // a conflict inside this process
inline constexpr std::string_view kDiskFull = "disk_full";
inline constexpr std::string_view kIoError = "io_error";
inline constexpr std::string_view kNoMemory = "no_memory";
inline constexpr std::string_view kReadOnly = "read_only";
inline constexpr std::string_view kCantOpen = "cant_open";
inline constexpr std::string_view kCorrupt = "corrupt";
inline constexpr std::string_view kSqliteError = "sqlite_error";

// Transient failures are worth retrying with a backoff (the lock is released, space is freed,
// the disk recovers); the others need an operator.
bool transient(const Error& error);

enum class OpenMode { kReadWrite, kReadOnly };

// Opens the file (creating it in kReadWrite mode), with extended result codes, the busy
// timeout, and the safety settings every connection of the store uses.
Result<DbPtr> open_db(const std::string& path, OpenMode mode,
                      std::chrono::milliseconds busy_timeout);
// Prepares one statement (kept for the connection's lifetime).
Result<StmtPtr> prepare(sqlite3* db, std::string_view sql, const std::string& path);
// Runs SQL that returns no rows (may hold several statements).
std::optional<Error> exec(sqlite3* db, const char* sql, std::string_view what,
                          const std::string& path);
// Runs a statement that returns one integer (a PRAGMA read).
Result<std::int64_t> query_int(sqlite3* db, const char* sql, const std::string& path);
// The Error for return code rc of the connection's last call: code, SQLite's message, the file
// and a fix. `what` says what was being done ("commit", "open").
Error sqlite_error(sqlite3* db, int rc, std::string_view what, const std::string& path);

}  // namespace pemx::sqlite_store
