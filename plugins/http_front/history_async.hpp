#pragma once
// GET /event on a reader that sends the history without blocking (pemx::AsyncHistoryReader:
// PostgreSQL): the session's I/O thread starts the query, waits for the store connection's
// socket with Asio (posix::stream_descriptor::async_wait on the session's strand), steps the
// query on, and writes the answer from the result's rows with HistoryAnswer: the same bytes as
// the query pool's path, without its four thread hand-offs per request.
//
// Lifetime: a PendingHistory holds its session and its call; each wait holds the
// PendingHistory. The descriptor is a dup() of the connection's socket, so libpq may close its
// own (a lost connection) without pulling it from under Asio's reactor, and ours is closed with
// the PendingHistory. Session::cancel (server stop) cancels the wait: the call is abandoned
// (its connection cancelled and drained by the reader's upkeep on the query pool), no answer.
// Threads: everything on the session's strand.
#include <memory>
#include <string_view>

#include "pemx/async_history.hpp"
#include "pemx/event_store.hpp"

namespace pemx::http_front {

class Session;

// Runs `call` (just started by s.server().async_history) to its answer on the session's strand.
// A connection lost before the answer sends the query to the query pool (run_on_pool), as the
// pool's own reader retries on a dropped connection.
void answer_history_async(Session& s, std::unique_ptr<HistoryCall> call, EventQuery q);

// GET /event's query on the query pool (EventReader::query), answered on the session's strand.
void answer_history_on_pool(Session& s, EventQuery q);

// When the reader has upkeep to do (abandoned queries, lost connections), posts it to the query
// pool (it blocks). Any thread.
void schedule_history_upkeep(Session& s);

}  // namespace pemx::http_front
