#pragma once
// The store contract: what the HTTP front end (and any other reader) may ask of the event
// store, whichever database implements it. A store stage (e.g. sqlite_store) provides an
// EventReader through the StageContext's services; readers never block the writer.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pemx/result.hpp"

namespace pemx {

// One stored event: the six fields of the reference's history answer.
struct StoredEvent {
  std::string event_id;
  std::string event_type;
  std::string product_id;
  std::string region;
  std::string created_at;  // as received
  std::string data_json;   // the "data" value as JSON text ("{}" when absent)
};

// One stored row as the store holds it, for lineage (GET /event/{eventId}/lineage): the event,
// the message value as received and where the store consumed it (the storage topic's
// coordinates), and when it was stored.
struct StoredRow {
  StoredEvent event;
  std::string raw_json;
  std::string source_topic;
  std::int32_t source_partition = -1;
  std::int64_t source_offset = -1;
  std::int64_t stored_at_ms = 0;
};

struct EventQuery {
  std::vector<std::string> product_ids;   // 1..200, already trimmed and non-empty
  std::size_t limit = 1000;               // at most this many events
  std::optional<std::string> event_type;  // only this type
  std::optional<std::int64_t> from_ms;    // createdAt >= from (epoch milliseconds, UTC)
  std::optional<std::int64_t> to_ms;      // createdAt <  to
  std::optional<std::string> cursor;      // from a previous page's next_cursor
};

struct EventPage {
  std::vector<StoredEvent> events;        // newest createdAt first (ties: eventId descending)
  std::optional<std::string> next_cursor; // set when more events match
};

class EventReader {
 public:
  virtual ~EventReader() = default;
  // Thread-safe: called from HTTP worker threads, never from an Asio I/O thread.
  virtual Result<EventPage> query(const EventQuery& query) = 0;
  // Like query, but never waits for a free connection (nullopt when none is free right now),
  // so that a small query can run on an I/O thread. The default never runs one there: a
  // reader that cannot answer without waiting keeps to query() on the worker threads.
  virtual std::optional<Result<EventPage>> try_query(const EventQuery&) { return std::nullopt; }
  // The row of one eventId; nullopt when it is not stored. Thread-safe, worker threads only.
  // The default answers "unsupported" (a reader that cannot look one event up).
  virtual Result<std::optional<StoredRow>> find_event(const std::string& event_id) {
    (void)event_id;
    return Error{"unsupported", "this store cannot look an event up by its eventId"};
  }
  // Readiness: the store is open and writable; the reason otherwise.
  virtual std::optional<std::string> problem() = 0;
};

}  // namespace pemx
