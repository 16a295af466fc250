#pragma once
// GET /api/analytics: the request's parsing and the JSON answer (pure; the store computes the
// numbers, EventReader::analytics). The window is [from, to) in ISO 8601 (default: the 24
// hours before now), the bucket one of kBucketNames (default: the narrowest that cuts the
// window into at most kDefaultBuckets), top the number of products that change most.
#include <array>
#include <cstdint>
#include <string_view>
#include <utility>
#include <variant>

#include "http_front/api.hpp"
#include "pemx/event_store.hpp"

namespace pemx::http_front {

struct AnalyticsBucket {
  std::string_view name;
  std::int64_t ms;
};
inline constexpr std::array<AnalyticsBucket, 7> kBucketNames{{{"1m", 60'000},
                                                               {"5m", 300'000},
                                                               {"15m", 900'000},
                                                               {"1h", 3'600'000},
                                                               {"6h", 21'600'000},
                                                               {"1d", 86'400'000},
                                                               {"7d", 604'800'000}}};
inline constexpr std::int64_t kDefaultAnalyticsSpanMs = 24LL * 3600 * 1000;
inline constexpr std::int64_t kDefaultBuckets = 60;
inline constexpr std::size_t kDefaultAnalyticsTop = 10;

// The query (its bounds checked as store::check_analytics does), or the 400 listing every
// bad parameter. `now_ms`: the default window's end.
std::variant<AnalyticsQuery, Answer> parse_analytics_request(std::string_view query_string,
                                                             std::int64_t now_ms);
// {"from", "to", "bucket", "bucketMs", "events", "complete", "rowBudget", "series": [{"start",
// "eventType", "region", "count"}], "seriesCapped", "topProducts": [{"productId", "changes"}],
// "priceChanges" and "discountChanges": {"unit", "bins": [{"from", "to", "count"}]}}.
Answer analytics_answer(const AnalyticsQuery& q, const Analytics& a);

}  // namespace pemx::http_front
