#pragma once
// A dead letter must always be producible: it is the way out for an event that cannot go
// anywhere else, so one that the producer refuses would stop its stage on every restart.
#include <string>
#include <string_view>
#include <vector>

#include "event/json.hpp"
#include "pemx/record.hpp"

namespace pemx::event {

inline constexpr std::size_t kMaxDeadLetterHeader = 1024;  // bytes of one header's value
inline constexpr std::size_t kMaxDeadLetterKey = 1024;
inline constexpr std::string_view kHeaderOriginalBytes = "pemx-dlq-original-bytes";
inline constexpr std::string_view kHeaderOriginalKeyBytes = "pemx-dlq-original-key-bytes";

// Fits a dead letter (its value, key and headers, the headers all set) within
// limits.max_bytes plus kHeaderAllowance: every header value (event type and id, detail) cut
// to kMaxDeadLetterHeader, a key longer than kMaxDeadLetterKey cut (its original size in
// pemx-dlq-original-key-bytes), and, if the whole is still over max_bytes, the value cut to
// max_bytes / 2 (its original size in pemx-dlq-original-bytes). Otherwise the event goes as
// received. The whole event stays in its source topic, at the offset the headers name.
void fit_dead_letter(std::string& value, std::string& key, std::vector<Header>& headers,
                     const JsonLimits& limits);

}  // namespace pemx::event
