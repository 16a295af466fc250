#include "store/analytics.hpp"

#include <algorithm>
#include <tuple>
#include <utility>

namespace pemx::store {

std::optional<Error> check_analytics(const AnalyticsQuery& q) {
  auto bad = [](std::string why) { return Error{"bad_query", std::move(why)}; };
  if (q.to_ms <= q.from_ms) return bad("the window is empty: to must be after from");
  if (q.to_ms - q.from_ms > kAnalyticsMaxSpanMs) {
    return bad("the window is longer than " + std::to_string(kAnalyticsMaxSpanMs / 86400000) +
               " days; ask for a shorter one");
  }
  if (q.bucket_ms <= 0) return bad("the bucket must be positive");
  const std::int64_t span = q.to_ms - q.from_ms;
  if ((span + q.bucket_ms - 1) / q.bucket_ms > kAnalyticsMaxBuckets) {
    return bad("the window makes more than " + std::to_string(kAnalyticsMaxBuckets) +
               " buckets; ask for a wider bucket or a shorter window");
  }
  if (q.top < 1 || q.top > kAnalyticsMaxTop) {
    return bad("top must be from 1 to " + std::to_string(kAnalyticsMaxTop));
  }
  if (q.row_budget < 1 || q.row_budget > kAnalyticsRowBudget) {
    return bad("the row budget must be from 1 to " + std::to_string(kAnalyticsRowBudget));
  }
  return std::nullopt;
}

Error analytics_busy(const std::string& store) {
  return Error{"store_busy", store +
                                 ": another analytics query is running (one at a time, so that "
                                 "the history keeps its reader connections); try again when it "
                                 "ends"};
}

void add_analytics_row(Analytics& out, int part, std::int64_t key, std::string text1,
                       std::string text2, std::int64_t n) {
  switch (part) {
    case kAnalyticsPartCount:
      out.counts.push_back({key, std::move(text1), std::move(text2), n});
      break;
    case kAnalyticsPartTop:
      out.top.push_back({std::move(text1), n});
      break;
    case kAnalyticsPartChange: {
      ChangeHistogram* h = text1 == kPriceEvent      ? &out.price_changes
                           : text1 == kDiscountEvent ? &out.discount_changes
                                                     : nullptr;
      if (h == nullptr) break;
      if (key < 0) {
        h->below += n;
      } else if (key >= kAnalyticsBins) {
        h->above += n;
      } else {
        h->bins[key] += n;
      }
      break;
    }
    case kAnalyticsPartTotal:
      out.events = n;
      break;
    default:
      break;  // a part this version does not know: nothing to add
  }
}

void finish_analytics(Analytics& out, const AnalyticsQuery& q) {
  // A compound statement's order is the database's choice: sort here, the same for both.
  std::sort(out.counts.begin(), out.counts.end(), [](const auto& a, const auto& b) {
    return std::tie(a.bucket, a.event_type, a.region) < std::tie(b.bucket, b.event_type, b.region);
  });
  std::sort(out.top.begin(), out.top.end(), [](const auto& a, const auto& b) {
    return a.changes != b.changes ? a.changes > b.changes : a.product_id < b.product_id;
  });
  if (out.counts.size() > kAnalyticsMaxGroups) {
    out.counts.resize(kAnalyticsMaxGroups);
    out.counts_capped = true;
  }
  out.budget_reached = out.events >= static_cast<std::int64_t>(q.row_budget);
}

}  // namespace pemx::store
