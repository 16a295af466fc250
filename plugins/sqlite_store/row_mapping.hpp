#pragma once
// The store's row mapping: a pure function from a consumed message (the event JSON as
// received, and where it came from) to the row the events table holds, or to the reason the
// event cannot be stored (it then goes to the dead-letter topic). No IO, no threads, no clock:
// the caller passes the time.
#include <cstdint>
#include <string>
#include <string_view>

#include "event/json.hpp"
#include "pemx/result.hpp"

namespace pemx::sqlite_store {

// Dead-letter reasons (Error::code of a failed mapping), carried in the pemx-dlq-reason
// header. The same codes as the router's for the same faults: event::reason_code's for JSON
// that is malformed, too deep, too large or has a duplicate key, and:
inline constexpr std::string_view kInvalidJson = event::kReasonInvalidJson;  // not a JSON object
inline constexpr std::string_view kInvalidEvent = "invalid_event";  // fails validate_event

struct EventRow {
  std::string event_id;
  std::string event_type;
  std::string product_id;
  std::string region;
  std::string created_at;       // as received
  std::int64_t created_ms = 0;  // createdAt in epoch milliseconds (UTC): the order of history
  std::string data_json;        // the "data" value re-serialised; "{}" when absent
  std::string raw_json;         // the message value exactly as received
  std::string source_topic;
  std::int32_t source_partition = -1;
  std::int64_t source_offset = -1;
  std::int64_t stored_at_ms = 0;
};

struct SourcePosition {
  std::string_view topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
};

// The row for one message value, or Error{reason code, detail}; the JSON is parsed within
// `limits` (depth, size, no duplicate key). The detail
// of an invalid event lists every failing field with the reference's message
// ("eventId: Event ID must be a valid UUID; region: Region is required").
Result<EventRow> map_event_row(std::string_view value, const SourcePosition& source,
                               std::int64_t stored_at_ms, const event::JsonLimits& limits = {});

}  // namespace pemx::sqlite_store
