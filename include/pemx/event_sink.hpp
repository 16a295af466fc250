#pragma once
// A history page given event by event to whoever writes the answer, as the store steps its
// rows, instead of copying each event's fields into an EventPage first (the history's hot
// path, bench/run_history.sh). Optional: a reader that offers it implements RowStreamReader
// beside pemx::EventReader (event_store.hpp); http_front falls back to try_query otherwise,
// and both paths write the same answer.
#include <optional>
#include <string>
#include <string_view>

#include "pemx/event_store.hpp"
#include "pemx/result.hpp"

namespace pemx {

// One stored event's six fields where the reader holds them (the database's row buffer):
// valid only during the EventSink::event call that passes them.
struct StoredEventView {
  std::string_view event_id;
  std::string_view event_type;
  std::string_view product_id;
  std::string_view region;
  std::string_view created_at;
  std::string_view data_json;
};

// Takes a history page's events in page order, as a reader reads them. Called on the thread
// that asked.
class EventSink {
 public:
  virtual void event(const StoredEventView& e) = 0;

 protected:
  ~EventSink() = default;
};

class RowStreamReader {
 public:
  // EventReader::try_query's page given to `sink` event by event as the rows are stepped; the
  // answer is the page's next_cursor. nullopt: no connection free right now, the sink got
  // nothing. On an error the sink may have taken some events: the caller drops them.
  // Never waits for a connection, so it may run on an I/O thread.
  virtual std::optional<Result<std::optional<std::string>>> try_query_into(
      const EventQuery& query, EventSink& sink) = 0;

 protected:
  ~RowStreamReader() = default;
};

}  // namespace pemx
