#pragma once
// Dead-letter reason codes (the pemx-dlq-reason header, the `reason` label of the stages'
// dead-letter counters) that more than one stage gives for the same fault: the router and
// every store parse and check events the same way, so they name the faults the same way.
// Each code is written here once; a stage adds codes of its own only for faults only it has
// (rules_router/routing.hpp: unknown_event_type, no_matching_rule, ...).
#include <string_view>

namespace pemx::event {

// The JSON could not be parsed, or is not an object.
inline constexpr std::string_view kReasonInvalidJson = "invalid_json";
inline constexpr std::string_view kReasonTooDeep = "nesting_too_deep";
inline constexpr std::string_view kReasonTooLarge = "event_too_large";
inline constexpr std::string_view kReasonDuplicateKey = "duplicate_key";
// The event fails the reference's field rules (ValidationMode::kStrict), or cannot be a
// stored row at all (no non-empty string eventId).
inline constexpr std::string_view kReasonInvalidEvent = "invalid_event";

// The event maps to a row, but the store's database refuses that row whatever is retried (a
// NUL byte in a text field for PostgreSQL, an index entry too large): the store gives it
// (store::Backend::refuse_row and row_fault), no other stage.
inline constexpr std::string_view kReasonUnstorable = "unstorable_event";

// Every reason a parse can give (event::reason_code), for the per-reason counters.
inline constexpr std::string_view kJsonReasons[] = {kReasonInvalidJson, kReasonTooDeep,
                                                     kReasonTooLarge, kReasonDuplicateKey};

}  // namespace pemx::event
