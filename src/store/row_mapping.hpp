#pragma once
// The store's row mapping: a pure function from a consumed message (the event JSON as
// received, and where it came from) to the row every store backend holds, or to the reason the
// event cannot be stored (it then goes to the dead-letter topic). No IO, no threads, no clock:
// the caller passes the time.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "event/json.hpp"
#include "event/reasons.hpp"
#include "event/validate.hpp"
#include "pemx/result.hpp"

namespace pemx::store {

// Dead-letter reasons (Error::code of a failed mapping), carried in the pemx-dlq-reason
// header: the router's codes for the same faults (event/reasons.hpp). event::reason_code's for
// JSON that is malformed, too deep, too large or has a duplicate key; kReasonInvalidJson for a
// value that is not a JSON object; kReasonInvalidEvent in strict mode for an event failing
// validate_event, in report and off mode for one that cannot be a row at all (no non-empty
// string eventId, the row's key).

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
  // Not stored: the fields (event::kValidatedFields) whose reference rule the event fails,
  // kept under ValidationMode::kReport (for the stage's counters).
  std::vector<std::string> invalid;
};

struct SourcePosition {
  std::string_view topic;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::int64_t timestamp_ms = -1;  // the Kafka message's timestamp; -1 when it has none
};

// The row for one message value, or Error{reason code, detail}; the JSON is parsed within
// `limits` (depth, size, no duplicate key).
//
// kStrict: the event must pass the reference's field rules (validate_event); the detail of an
// invalid event lists every failing field with the reference's message ("eventId: Event ID
// must be a valid UUID; region: Region is required").
// kReport and kOff keep what the reference system stored: any event object with a non-empty
// string eventId (the row's key). eventType, productId and region are their text when strings,
// their compact JSON when other values, "" when absent; created_at likewise (as received).
// A createdAt that does not convert to an instant is ordered by the message's Kafka timestamp
// (source.timestamp_ms), else by stored_at_ms. kReport also lists the failing fields in
// EventRow::invalid.
Result<EventRow> map_event_row(std::string_view value, const SourcePosition& source,
                               std::int64_t stored_at_ms, const event::JsonLimits& limits,
                               event::ValidationMode validation);
// kStrict (the mapping before validation modes existed).
Result<EventRow> map_event_row(std::string_view value, const SourcePosition& source,
                               std::int64_t stored_at_ms, const event::JsonLimits& limits = {});

// The ids a dead letter of the store is listed under (the page's dead letters, lineage): the
// event's eventId and productId when the value parses as a JSON object within `limits` and
// they are strings, as the router's dead letters give them; empty otherwise (the caller
// falls back on the message key for the productId).
struct DeadLetterIds {
  std::string event_id;
  std::string product_id;
};
DeadLetterIds dead_letter_ids(std::string_view value, const event::JsonLimits& limits);

}  // namespace pemx::store
