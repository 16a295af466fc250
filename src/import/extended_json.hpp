#pragma once
// MongoDB Extended JSON v2 (what `mongoexport` writes, relaxed or canonical) to the event JSON
// PEMX stores: a pure function from one exported document to one event's text, or to the
// reason the document cannot become an event. No IO, no threads, no clock. Used by
// `pemx import` (src/store/import.cpp); docs/importing.md lists every shape.
//
// The document is untrusted: it is parsed with event::parse_bounded (depth, size, no duplicate
// key), and every value it returns is within the limits, so the walk below is bounded too.
//
// What it does:
//  - drops the top-level `_id` and `__v` (MongoDB's and Mongoose's own fields);
//  - requires a top-level `eventId` (the store is idempotent on it);
//  - anywhere in the document, replaces each wrapper object by plain JSON:
//      {"$binary":{"base64":B,"subType":"04"}}, {"$binary":B,"$type":"04"}, {"$uuid":U}
//                                      -> "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (lowercase)
//      {"$date":"…"} (ISO 8601, any offset), {"$date":{"$numberLong":"ms"}}, {"$date":ms}
//                                      -> "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC, years 0000..9999)
//      {"$numberInt":"…"}, {"$numberLong":"…"}   -> the integer
//      {"$numberDouble":"…"}, {"$numberDecimal":"…"} -> the number (nearest double when it is
//                                      not a 64-bit integer); Infinity, -Infinity, NaN refused
//      {"$oid":"24 hex digits"}        -> the hex string (lowercase)
//  - refuses every other object with a `$` key (named in the detail), binary data of any
//    subtype but 04 (subtype 03, the legacy UUID, has a driver-dependent byte order), and a
//    wrapper with other keys beside its own.
// Everything else is copied as it is (a plain-string eventId or createdAt stays unchanged).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "event/json.hpp"
#include "pemx/result.hpp"

namespace pemx::import {

// Reasons (Error::code) a document is refused, besides event::kJsonReasons for text that is
// not JSON, too deep, too large or has a duplicate key.
inline constexpr std::string_view kNotAnObject = "not_an_object";
inline constexpr std::string_view kMissingEventId = "missing_event_id";
inline constexpr std::string_view kBadBase64 = "bad_base64";
inline constexpr std::string_view kBadUuid = "bad_uuid";
inline constexpr std::string_view kUnsupportedBinary = "unsupported_binary";
inline constexpr std::string_view kBadDate = "bad_date";
inline constexpr std::string_view kBadNumber = "bad_number";
inline constexpr std::string_view kNonFiniteNumber = "non_finite_number";
inline constexpr std::string_view kBadObjectId = "bad_object_id";
inline constexpr std::string_view kUnknownOperator = "unknown_operator";
inline constexpr std::string_view kMalformedWrapper = "malformed_wrapper";

// The limits one exported document is parsed under, from the [events] limits of the events
// it becomes: the wrappers make a document larger (twice the bytes) and one level deeper than
// its event. The converted event must then fit the [events] limits like any other.
event::JsonLimits document_limits(const event::JsonLimits& events);

// The event text for one exported document (one line of mongoexport's output, without its
// line break), or Error{reason, detail}; the detail names the field ("data.price") and what
// is wrong with it.
Result<std::string> convert_document(std::string_view document, const event::JsonLimits& limits);

// Helpers, exposed for their tests.
// Strict base64 (RFC 4648 standard alphabet, padding required, no whitespace).
std::optional<std::string> decode_base64(std::string_view text);
// Epoch milliseconds to "YYYY-MM-DDTHH:MM:SS.mmmZ"; nullopt outside years 0000..9999.
std::optional<std::string> format_utc_ms(std::int64_t epoch_ms);

}  // namespace pemx::import
