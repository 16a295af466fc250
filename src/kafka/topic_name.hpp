#pragma once
// Kafka topic name legality: 1 to 249 characters of [A-Za-z0-9._-], not "." or "..".
// PEMX also refuses names starting with "__" (Kafka's internal topics), so that an event
// field can never make PEMX write to __consumer_offsets and the like.
#include <optional>
#include <string>
#include <string_view>

namespace pemx::kafka {

inline constexpr std::size_t kMaxTopicLength = 249;

// nullopt when legal; otherwise why not, for the operator.
std::optional<std::string> topic_name_problem(std::string_view name);

}  // namespace pemx::kafka
