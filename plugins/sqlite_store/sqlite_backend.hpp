#pragma once
// The SQLite backend of the store (the contract: src/store/backend.hpp), without Kafka and
// without threads of its own:
//
//   SqliteEventStore   the writer: one read-write connection (WAL), schema migrations at
//                      open, batches of rows in one transaction each, idempotent on event_id.
//                      Thread-compatible: the stage's worker thread is its only user.
//   SqliteEventReader  pemx::EventReader on a small pool of read-only connections. Thread-safe:
//                      HTTP worker threads call it concurrently; in WAL mode readers see the
//                      last committed state and never block the writer (nor it them).
//
// Both report failures as Result/Error (codes in sqlite_handle.hpp, store/cursor.hpp,
// schema.hpp); nothing here throws on the data path.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pemx/event_sink.hpp"
#include "pemx/event_store.hpp"
#include "pemx/result.hpp"
#include "sqlite_store/sqlite_handle.hpp"
#include "store/analytics.hpp"
#include "store/backend.hpp"
#include "store/connection_pool.hpp"

namespace pemx::sqlite_store {

// How the writer's commits reach the disk (PRAGMA synchronous in WAL mode).
//  kFull:   every commit is fsynced before write_batch returns. An acknowledged (offset-
//           committed) event survives a power loss or an OS crash. One fsync per batch.
//  kNormal: the WAL is fsynced only at checkpoints. Survives a crash of pemx, but a power
//           loss can lose the last commits, whose offsets Kafka may already have committed:
//           those events would then be lost. Only for disposable data.
enum class SyncMode { kFull, kNormal };

struct StoreOptions {
  std::string path = "pemx.db";
  SyncMode synchronous = SyncMode::kFull;
  std::chrono::milliseconds busy_timeout{5000};  // how long a connection waits for a lock
  std::size_t reader_connections = 4;            // read-only connections in the pool
  std::chrono::milliseconds reader_wait{2000};   // wait for a free reader before "store_busy"
  // How much of the file each reader maps (address space, not memory: the pages are the OS's
  // file cache). Clamped by SQLite to its compile-time maximum.
  std::int64_t reader_mmap_bytes = std::int64_t{1} << 40;
};

using store::EventRow;
using store::StoreHealth;
using store::WriteStats;

class SqliteEventReader;

class SqliteEventStore final : public store::Backend {
 public:
  // Opens or creates the file, runs the migrations, switches to WAL with the chosen
  // synchronous mode, prepares the statements and opens the reader pool. Any failure is one
  // Error whose message names the file and the fix (the stage turns it into a start-up error).
  static Result<std::unique_ptr<SqliteEventStore>> open(const StoreOptions& options);
  ~SqliteEventStore() override;  // readers stay usable; problem() then says the writer is closed
  SqliteEventStore(const SqliteEventStore&) = delete;
  SqliteEventStore& operator=(const SqliteEventStore&) = delete;

  // Stores the rows in one transaction (BEGIN IMMEDIATE ... COMMIT). A row whose event_id is
  // already stored (or repeated in the batch) is a duplicate: counted, not changed. On error
  // the transaction is rolled back, nothing of the batch is stored, and the Error says why
  // (transient(error): worth retrying). When it returns a value, the batch is durable as
  // SyncMode says.
  Result<WriteStats> write_batch(std::span<const EventRow> rows) override;
  // busy, locked, disk full, I/O (sqlite_handle.hpp's transient()).
  bool transient(const Error& error) const override;
  // One DELETE of at most `limit` rows older than `before_ms`, oldest first
  // (events_by_created, schema version 2), in its own implicit transaction.
  Result<std::size_t> prune(std::int64_t before_ms, std::size_t limit) override;

  std::shared_ptr<EventReader> reader() const override;
  const std::string& location() const override { return options_.path; }
  int schema_version() const override { return schema_version_; }
  const std::string& path() const { return options_.path; }
  int migrated_from() const { return migrated_from_; }

 private:
  SqliteEventStore() = default;
  Error fail_write(Error error);  // rolls back, records the problem for readers

  StoreOptions options_;
  int schema_version_ = 0;
  int migrated_from_ = 0;
  std::shared_ptr<StoreHealth> health_;
  std::shared_ptr<SqliteEventReader> reader_;
  DbPtr db_;  // declared before the statements: destroyed after them
  StmtPtr begin_;
  StmtPtr commit_;
  StmtPtr rollback_;
  StmtPtr insert_;
  StmtPtr prune_;
};

class SqliteEventReader final : public EventReader, public RowStreamReader {
 public:
  // Opens `connections` read-only connections to an existing, migrated store file.
  static Result<std::shared_ptr<SqliteEventReader>> open(const StoreOptions& options,
                                                         std::shared_ptr<StoreHealth> health);
  ~SqliteEventReader() override;

  // Events of the query's products, newest created_ms first (ties: event_id descending), at
  // most `limit`; next_cursor is set only when more rows match. Errors: "bad_cursor",
  // "bad_query" (limit 0), "store_busy" (no free connection within reader_wait), or a SQLite
  // error code.
  Result<EventPage> query(const EventQuery& query) override;
  std::optional<Result<EventPage>> try_query(const EventQuery& query) override;
  // try_query's rows given to `sink` as they are stepped, viewed in SQLite's row buffer (no
  // copy per field); the answer is the next page's cursor.
  std::optional<Result<std::optional<std::string>>> try_query_into(const EventQuery& query,
                                                                   EventSink& sink) override;
  // A time range across products, oldest first (pemx/event_store.hpp); events_by_created
  // serves it. Errors: "bad_query" (limit 0), "store_busy", or a SQLite error code.
  Result<std::vector<ArchivedEvent>> scan(const RangeScan& scan) override;
  // Errors: "bad_query" (limit out of 1..kMaxRecentProducts), "store_busy", or SQLite's.
  Result<std::vector<RecentProduct>> recent_products(std::size_t limit) override;
  // Errors: "store_busy", or SQLite's.
  Result<EventCount> count(const EventQuery& query) override;
  // One statement over the window's first row_budget events (events_by_created), stopped
  // after 10 s ("timeout"). Errors: "bad_query", "store_busy", "timeout", or SQLite's.
  Result<Analytics> analytics(const AnalyticsQuery& query) override;
  // The row of one eventId (its primary key), or nullopt; "store_busy" as for query.
  Result<std::optional<StoredRow>> find_event(const std::string& event_id) override;
  // nullopt when the writer is open, its last write succeeded, the file is writable and a
  // read succeeds; else what is wrong.
  std::optional<std::string> problem() override;

 private:
  struct Connection;
  using Lease = store::ConnectionPool<Connection>::Lease;
  explicit SqliteEventReader(StoreOptions options, std::shared_ptr<StoreHealth> health);
  Error busy() const;  // no reader connection became free within the wait
  // Checks the query, then takes a connection within `wait` and runs it, each row to `sink`;
  // the answer is the next page's cursor. nullopt when no connection was free and `wait` is
  // zero (try_query), else "store_busy".
  std::optional<Result<std::optional<std::string>>> run(const EventQuery& query,
                                                        std::chrono::milliseconds wait,
                                                        EventSink& sink);
  // run into an EventPage (query, try_query).
  std::optional<Result<EventPage>> run_page(const EventQuery& query,
                                            std::chrono::milliseconds wait);

  StoreOptions options_;
  std::shared_ptr<StoreHealth> health_;
  store::ConnectionPool<Connection> pool_;  // filled at open
  store::AnalyticsGate analytics_gate_;     // one analytics statement at a time
};

}  // namespace pemx::sqlite_store
