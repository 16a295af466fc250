#pragma once
// A history query run without blocking the thread that asked: the reader sends it on a
// connection of its own and the caller waits for that connection's socket to be readable or
// writable (its event loop: http_front's Asio I/O thread), then steps it on. So a store that
// is a round trip away (PostgreSQL) answers GET /event on the I/O thread, without handing the
// query to a pool thread and back (bench/run_history.sh). Optional: a reader that offers it
// implements AsyncHistoryReader beside pemx::EventReader; http_front falls back to
// EventReader::query on its query pool otherwise, and both paths write the same answer.
// No database or Asio header here: the caller sees a descriptor and what to wait for.
#include <memory>
#include <optional>
#include <string>

#include "pemx/event_sink.hpp"
#include "pemx/event_store.hpp"
#include "pemx/result.hpp"

namespace pemx {

// One history query in flight on a connection leased from its reader. Used by one thread at a
// time (the caller's; http_front: the session's strand). Destroying it before it is done
// abandons the query: its connection goes back to the reader to be cancelled and drained (or
// replaced) by upkeep(), never on the caller's thread.
class HistoryCall {
 public:
  enum class Wait { readable, writable, done };
  virtual ~HistoryCall() = default;
  // The connection's socket: wait on it as advance() says. Owned by the call's connection:
  // never close it (an Asio descriptor must release() it).
  virtual int socket() const = 0;
  // Sends what is still unsent and reads what has arrived; never blocks. Call it first, then
  // whenever the socket is as the last answer asked, until it says done.
  virtual Wait advance() = 0;
  // Once advance() said done: the page's events given to `sink` in page order, and its
  // next_cursor; or the query's error (EventReader::query's codes: bad_cursor, a statement
  // timeout, ...). nullopt: the connection was lost before any answer (the server restarted,
  // the backend was terminated): the sink got nothing, and the query should be run again
  // another way (EventReader::query reconnects), as a pool query is retried once on a
  // connection that was dropped.
  virtual std::optional<Result<std::optional<std::string>>> finish(EventSink& sink) = 0;
};

class AsyncHistoryReader {
 public:
  // Starts `query` on a free connection of the reader's asynchronous set; never waits and
  // never connects. nullptr: none is free (all busy, or lost and waiting for upkeep): run the
  // query the blocking way. A query that needs no round trip (a bad cursor, an empty range)
  // comes back already done.
  virtual std::unique_ptr<HistoryCall> try_start(const EventQuery& query) = 0;
  // True once for each round of upkeep to do (an abandoned query, a lost connection): the
  // caller that got true must call upkeep() on a thread that may block.
  virtual bool claim_upkeep() = 0;
  // Blocking (cancel requests, reconnects: up to the connect timeout): cancels and drains
  // abandoned queries, re-establishes lost connections and makes them free again. Never on an
  // I/O thread.
  virtual void upkeep() = 0;

 protected:
  ~AsyncHistoryReader() = default;
};

}  // namespace pemx
