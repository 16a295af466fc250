#pragma once
// The reference system's field rules for an event (its push API's express-validator chain),
// with its exact messages. Used by the router (validation of consumed events) and by the
// HTTP push path, so both accept and refuse the same events.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>

namespace pemx::event {

inline constexpr std::string_view kMsgEventId = "Event ID must be a valid UUID";
inline constexpr std::string_view kMsgEventType = "Event type is required";
inline constexpr std::string_view kMsgProductId = "Product ID is required";
inline constexpr std::string_view kMsgRegion = "Region is required";
inline constexpr std::string_view kMsgCreatedAt = "Created at must be a valid ISO 8601 date";

// The fields validate_event checks, in its order: also the `reason` label of the counters of
// events that fail a rule but are kept (ValidationMode::kReport).
inline constexpr std::string_view kValidatedFields[] = {"eventId", "eventType", "productId",
                                                        "region", "createdAt"};

// What a stage on the Kafka path does with an event that fails the field rules. The reference
// system validated only its HTTP push: on Kafka it routed and stored such events, so kReport
// (keep the event, count each failing rule) is the compatible default; kStrict dead-letters
// them (invalid_event); kOff does not check at all.
enum class ValidationMode { kOff, kReport, kStrict };
inline constexpr std::string_view kValidationModeNames[] = {"off", "report", "strict"};
std::optional<ValidationMode> parse_validation_mode(std::string_view text);
std::string_view validation_mode_name(ValidationMode mode);

struct FieldError {
  std::string field;  // "eventId"
  std::string msg;    // one of the kMsg* texts
};

// Checks an event object; empty when valid. `event` must be an object.
std::vector<FieldError> validate_event(const rapidjson::Value& event);

// 8-4-4-4-12 hexadecimal digits, any version (validator.js isUUID "all").
bool is_uuid(std::string_view s);
// ISO 8601 calendar dates with an optional time and offset, in extended (2024-07-26T14:41:17.123Z)
// or basic (20240726T144117Z) format, and the reduced forms "2024" and "2024-07"; month, day,
// hour, minute and second ranges are checked. Week (2024-W30-5) and ordinal (2024-208) dates,
// which the reference's validator also accepts, are refused.
bool is_iso8601(std::string_view s);

}  // namespace pemx::event
