#pragma once
// ISO 8601 date-times (the forms is_iso8601 accepts) to epoch milliseconds, UTC. A time
// without an offset, and a date alone, are taken as UTC. Used to order the history by
// createdAt chronologically whatever offsets the events carry, and to read query bounds.
#include <cstdint>
#include <optional>
#include <string_view>

namespace pemx::event {

std::optional<std::int64_t> iso8601_to_epoch_ms(std::string_view text);

}  // namespace pemx::event
