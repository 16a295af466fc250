#pragma once
// A store reader with no events, for server tests that need the history route to answer.
#include <optional>
#include <string>

#include "pemx/event_store.hpp"

namespace pemx::http_front::test {

class EmptyReader final : public EventReader {
 public:
  Result<EventPage> query(const EventQuery&) override { return EventPage{}; }
  Result<Analytics> analytics(const AnalyticsQuery&) override { return Analytics{}; }
  std::optional<std::string> problem() override { return std::nullopt; }
};

}  // namespace pemx::http_front::test
