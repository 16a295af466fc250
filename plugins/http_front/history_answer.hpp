#pragma once
// GET /event's answer written event by event (pemx::EventSink), as a reader steps its rows
// (pemx::RowStreamReader): history_answer's bytes (api.hpp), without copying each row's
// fields into an EventPage first. Pure: no IO, no threads.
#include <optional>
#include <string>
#include <string_view>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "http_front/api.hpp"
#include "pemx/event_sink.hpp"

namespace pemx::http_front {

class HistoryAnswer final : public EventSink {
 public:
  HistoryAnswer();
  void event(const StoredEventView& e) override;
  // The answer: the array closed, the next page's cursor in X-Next-Cursor and Link when there
  // is one (the same query with the cursor replaced).
  Answer finish(const std::optional<std::string>& next_cursor, std::string_view path,
                std::string_view query) &&;

 private:
  void string(std::string_view s);

  rapidjson::StringBuffer out_;
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
};

}  // namespace pemx::http_front
