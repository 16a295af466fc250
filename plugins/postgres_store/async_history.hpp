#pragma once
// The reader's connections for asynchronous history queries (pemx::AsyncHistoryReader,
// include/pemx/async_history.hpp), and the query in flight on one of them (HistoryCall).
//
// A few connections of their own, apart from the pool's: a query in flight holds its
// connection until its result is read, and the pool's are for the blocking queries (the
// fallback, count, recent products, analytics, probes). As many as the pool's (`readers`, the
// operator's budget of reader sessions), at most kAsyncHistoryConnections (4,
// postgres_backend.hpp): each carries one query at a time, and a history query is a fraction
// of a millisecond of the server's CPU, so a handful saturate a small server's cores; a
// request that finds none free goes to the query pool as before (tested), which is the
// back-pressure.
//
// Threads: AsyncHistorySet is thread-safe (its mutex). A HistoryCall is used by one thread at
// a time (http_front: the session's strand); it never blocks and never connects. Abandoned
// calls and lost connections wait in the set for upkeep (PostgresEventReader::upkeep, on a
// thread that may block), which cancels, drains, reconnects and frees them.
#include <chrono>
#include <deque>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pemx/async_history.hpp"
#include "postgres_store/history_query.hpp"
#include "postgres_store/postgres_backend.hpp"
#include "postgres_store/reader_connection.hpp"

namespace pemx::postgres_store {

// After an upkeep that could not reconnect (the server is down), the next one waits this
// long, so that requests meanwhile do not keep a query thread reconnecting.
inline constexpr std::chrono::milliseconds kUpkeepRetry{1000};

class AsyncHistorySet {
 public:
  // where/conninfo: how errors name the database (pg_error), as the pool's do.
  AsyncHistorySet(std::string where, std::string conninfo)
      : where_(std::move(where)), conninfo_(std::move(conninfo)) {}
  // Cancels the queries still abandoned (blocking: the reader is being destroyed, off any I/O
  // thread) and closes every connection.
  ~AsyncHistorySet();

  void add(std::unique_ptr<ReaderConnection> conn);  // at open
  std::unique_ptr<ReaderConnection> take();           // a free, ready one, or null
  // From a finished or abandoned call: free again, or (lost, abandoned) left for upkeep.
  void give_back(std::unique_ptr<ReaderConnection> conn);
  bool claim_upkeep();
  std::vector<std::unique_ptr<ReaderConnection>> take_for_upkeep();
  // After upkeep: the repaired connections become free; the others wait for the next round,
  // no sooner than kUpkeepRetry.
  void upkeep_done(std::vector<std::unique_ptr<ReaderConnection>> repaired,
                   std::vector<std::unique_ptr<ReaderConnection>> failed);

  const std::string& where() const { return where_; }
  const std::string& conninfo() const { return conninfo_; }
  AsyncHistoryStats stats() const;

 private:
  const std::string where_;
  const std::string conninfo_;
  mutable std::mutex mutex_;
  // Taken at the front, given back at the back: every connection is used in turn, so one the
  // server dropped while idle is found (and replaced) soon, not only under load.
  std::deque<std::unique_ptr<ReaderConnection>> free_;  // guarded by mutex_
  std::vector<std::unique_ptr<ReaderConnection>> care_;  // guarded by mutex_
  bool claimed_ = false;                                 // guarded by mutex_
  std::chrono::steady_clock::time_point next_upkeep_{};  // guarded by mutex_
  AsyncHistoryStats stats_;  // guarded by mutex_; its free is free_.size()
};

// A history query sent on `conn` (PQsendQueryPrepared, the connection in nonblocking mode); the
// connection goes back to `set` when the call is destroyed.
std::unique_ptr<HistoryCall> start_history_call(std::shared_ptr<AsyncHistorySet> set,
                                                std::unique_ptr<ReaderConnection> conn,
                                                const HistoryStatement& statement,
                                                std::size_t limit);
// A call that needs no round trip: done at once with this answer.
std::unique_ptr<HistoryCall> done_history_call(Result<std::optional<std::string>> answer);

// Blocking: cancels the query an abandoned call left running and reads its results to the
// end, so the connection can carry the next query (or is found lost).
void cancel_and_drain(ReaderConnection& conn);

}  // namespace pemx::postgres_store
