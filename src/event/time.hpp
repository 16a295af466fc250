#pragma once
// ISO 8601 date-times (the forms is_iso8601 accepts) to epoch milliseconds, UTC. A time
// without an offset, and a date alone, are taken as UTC. Used to order the history by
// createdAt chronologically whatever offsets the events carry, and to read query bounds.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pemx::event {

std::optional<std::int64_t> iso8601_to_epoch_ms(std::string_view text);

// Epoch milliseconds as JS Date.prototype.toISOString writes them, which is how the reference
// answered createdAt: UTC, milliseconds, "Z" ("2024-07-26T14:41:17.500Z"); a year outside
// 0000..9999 as a sign and six digits ("+010000-01-01T00:00:00.000Z").
std::string epoch_ms_to_iso8601(std::int64_t ms);

}  // namespace pemx::event
