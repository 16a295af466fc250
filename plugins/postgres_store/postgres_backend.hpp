#pragma once
// The PostgreSQL backend of the store (the contract: src/store/backend.hpp), without Kafka and
// without threads of its own:
//
//   PostgresEventStore   the writer: one connection, the migrations at open (under an advisory
//                        lock), each batch one INSERT ... SELECT FROM unnest(arrays) ON CONFLICT
//                        (event_id) DO NOTHING RETURNING event_id: one statement, hence one
//                        transaction, committed (synchronous_commit as the server says) before
//                        write_batch returns. A lost connection is re-established on the next
//                        call (the writer retries with its backoff). Thread-compatible: the
//                        stage's worker thread is its only user.
//   PostgresEventReader  pemx::EventReader on a small pool of connections of its own, to
//                        `read_connection` (a read-only replica) or else `connection`, and
//                        pemx::AsyncHistoryReader on a few more (async_history.hpp): the
//                        history sent without blocking, for http_front's I/O threads.
//                        Thread-safe: HTTP worker threads call it concurrently.
//
// Nothing here throws on the data path; errors are Result/Error (codes: SQLSTATE,
// pg_connection.hpp's, schema.hpp's, store/cursor.hpp's). No message holds a password.
#include <chrono>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pemx/async_history.hpp"
#include "pemx/event_store.hpp"
#include "pemx/result.hpp"
#include "postgres_store/pg_connection.hpp"
#include "store/analytics.hpp"
#include "store/backend.hpp"
#include "store/connection_pool.hpp"

namespace pemx::postgres_store {

// The most connections a reader opens for asynchronous history queries (async_history.hpp).
inline constexpr std::size_t kAsyncHistoryConnections = 4;
// Counts of the asynchronous set since open (tests): calls started on a connection, calls that
// found their connection lost (the query then went to the pool), calls abandoned before their
// answer (the client or the server went away); connections free now, and in all.
struct AsyncHistoryStats {
  std::uint64_t started = 0;
  std::uint64_t lost = 0;
  std::uint64_t abandoned = 0;
  std::size_t free = 0;
  std::size_t size = 0;
};

struct StoreOptions {
  std::string connection;       // libpq URI or key=value string (may hold a password)
  std::string read_connection;  // the readers' (a replica's); empty: `connection`
  std::size_t reader_connections = 4;
  std::chrono::milliseconds reader_wait{2000};         // wait for a free reader, then store_busy
  std::chrono::milliseconds statement_timeout{30'000};  // per statement, writer and readers
  int connect_timeout_s = 10;
  // The most connections for asynchronous history queries (async_history.hpp), beside the
  // pool's: as many as reader_connections, at most this; 0: none (every query on the pool).
  std::size_t async_history_connections = kAsyncHistoryConnections;
};

using store::EventRow;
using store::StoreHealth;
using store::WriteStats;

class PostgresEventReader;
class AsyncHistorySet;
struct ReaderConnection;

class PostgresEventStore final : public store::Backend {
 public:
  // Connects, runs the migrations, prepares the insert and opens the reader pool. Any failure
  // is one Error naming the database (never the password) and the fix.
  static Result<std::unique_ptr<PostgresEventStore>> open(const StoreOptions& options);
  ~PostgresEventStore() override;  // readers stay usable; problem() then says the writer closed
  PostgresEventStore(const PostgresEventStore&) = delete;
  PostgresEventStore& operator=(const PostgresEventStore&) = delete;

  // The rows in one statement (one transaction). A row whose event_id is stored, or repeated
  // earlier in the batch, is a duplicate. On error nothing of the batch is stored.
  Result<WriteStats> write_batch(std::span<const EventRow> rows) override;
  // Lost connection, serialization failure, deadlock, too many connections, shutdown, lock or
  // statement timeout, disk full (pg_connection.hpp's transient()).
  bool transient(const Error& error) const override;
  // A NUL byte in any text column (PostgreSQL's text cannot hold one; SQLite's can).
  std::optional<std::string> refuse_row(const EventRow& row) const override;
  // SQLSTATE classes 22 and 54 (pg_connection.hpp's row_fault): an invalid or untranslatable
  // character, an index entry too large for its btree page.
  bool row_fault(const Error& error) const override;
  // SELECT 1 on the writer connection (re-established when lost): a failure goes to the
  // readers' StoreHealth (/readyz), a success clears it.
  void probe() override;
  // One DELETE of at most `limit` rows older than `before_ms`, oldest first, through
  // events_by_created (schema version 2). Several instances may prune at once: a row is
  // deleted once.
  Result<std::size_t> prune(std::int64_t before_ms, std::size_t limit) override;
  // Shuts the writer connection's socket down (a blocked statement returns at once, as a lost
  // connection) and makes every later reconnect, write and probe fail at once.
  void interrupt() noexcept override;
  std::shared_ptr<EventReader> reader() const override;
  const std::string& location() const override { return where_; }
  int schema_version() const override { return schema_version_; }
  int migrated_from() const { return migrated_from_; }

 private:
  PostgresEventStore() = default;
  std::optional<Error> ensure_connected();  // reconnects and prepares after a loss
  Error fail_write(Error error);            // records the problem for readers
  void set_socket(int fd);                  // the socket interrupt() may shut down, or -1

  StoreOptions options_;
  ConnectOptions connect_;
  std::string where_;  // user@host:port/db
  int schema_version_ = 0;
  int migrated_from_ = 0;
  bool prepared_ = false;
  bool broken_ = false;  // a command failed as a lost connection: reconnect before the next
  std::shared_ptr<StoreHealth> health_;
  std::shared_ptr<PostgresEventReader> reader_;
  // interrupt() is called on another thread: it shuts down socket_ (under socket_mutex_, so
  // never a descriptor libpq has closed and perhaps reused) and sets interrupted_.
  std::atomic<bool> interrupted_{false};
  std::mutex socket_mutex_;
  int socket_ = -1;  // guarded by socket_mutex_
  ConnPtr conn_;
};

class PostgresEventReader final : public EventReader, public AsyncHistoryReader {
 public:
  // Opens `reader_connections` connections (read-only sessions) to read_connection, else
  // connection; the schema must be migrated. With `replayed_up_to` (the primary's WAL position
  // after the migrations), a standby is first waited for until it has replayed that far
  // (polled, at most connect_timeout; error "replica_behind").
  static Result<std::shared_ptr<PostgresEventReader>> open(const StoreOptions& options,
                                                           std::shared_ptr<StoreHealth> health,
                                                           const std::string& replayed_up_to = {});
  ~PostgresEventReader() override;

  // Same answers as the SQLite store's for the same rows: newest created_ms first (ties:
  // event_id descending, byte order), at most `limit`, next_cursor only when more match.
  // Errors: "bad_cursor", "bad_query", "store_busy", or a PostgreSQL one.
  Result<EventPage> query(const EventQuery& query) override;
  // The SQLite store's answer, by stored_at_ms (index events_by_stored) instead of insertion
  // order: products stored in the same millisecond come by productId. Errors: "bad_query",
  // "store_busy", PostgreSQL's.
  Result<std::vector<RecentProduct>> recent_products(std::size_t limit) override;
  // As the SQLite store's. Errors: "store_busy", or PostgreSQL's.
  Result<EventCount> count(const EventQuery& query) override;
  // The row of one eventId (its primary key), or nullopt; "store_busy" as for query.
  Result<std::optional<StoredRow>> find_event(const std::string& event_id) override;
  // The SQLite store's answer (one statement, events_by_created); bounded by the row budget
  // and the stage's statement_timeout ("timeout"). Errors: "bad_query", "store_busy",
  // "timeout", or PostgreSQL's.
  Result<Analytics> analytics(const AnalyticsQuery& query) override;
  // No try_query: a blocking query is a round trip to the server (and a lost connection a
  // reconnect), which must never run on an Asio I/O thread. The I/O thread starts the history
  // with try_start instead, and waits for its socket (pemx/async_history.hpp); when no
  // asynchronous connection is free, the query goes to the HTTP front end's query pool.
  // Never waits, never connects: a free connection of the asynchronous set, or nullptr.
  std::unique_ptr<HistoryCall> try_start(const EventQuery& query) override;
  bool claim_upkeep() override;
  // Cancels abandoned queries, reconnects lost connections (blocking; a query thread).
  void upkeep() override;
  // The asynchronous set's counts (AsyncHistoryStats).
  AsyncHistoryStats async_stats() const;
  // A time range across products, oldest first (pemx/event_store.hpp); events_by_created
  // serves it. Errors: "bad_query" (limit 0), "store_busy", or a PostgreSQL one.
  Result<std::vector<ArchivedEvent>> scan(const RangeScan& scan) override;
  // nullopt when the writer is open, its last write succeeded and a read succeeds on a
  // reader connection (re-established when lost); else what is wrong.
  std::optional<std::string> problem() override;

 private:
  using Connection = ReaderConnection;
  using Lease = store::ConnectionPool<Connection>::Lease;
  PostgresEventReader(StoreOptions options, std::shared_ptr<StoreHealth> health);
  std::optional<Error> ready(Connection& conn);  // connected and prepared, or why not
  Error busy() const;  // no reader connection became free within the wait
  Result<ResultPtr> run_read(Connection& c, const std::function<ResultPtr()>& execute,
                             const char* what);
  std::optional<Error> wait_replayed(PGconn* conn, const std::string& lsn);
  std::optional<Result<EventPage>> run(const EventQuery& query, std::chrono::milliseconds wait);

  StoreOptions options_;
  ConnectOptions connect_;
  std::string where_;
  std::shared_ptr<StoreHealth> health_;
  store::ConnectionPool<Connection> pool_;  // filled at open
  store::AnalyticsGate analytics_gate_;     // one analytics statement at a time
  // Shared with the calls in flight, which give their connections back to it.
  std::shared_ptr<AsyncHistorySet> async_;  // filled at open
};

}  // namespace pemx::postgres_store
