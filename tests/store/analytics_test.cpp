// The analytics query's bounds and the folding of a backend's rows (src/store/analytics.hpp).
#include "store/analytics.hpp"

#include <catch2/catch.hpp>

namespace pemx::store {
namespace {

AnalyticsQuery day() {
  AnalyticsQuery q;
  q.from_ms = 0;
  q.to_ms = 86'400'000;
  q.bucket_ms = 3'600'000;
  return q;
}

TEST_CASE("analytics queries are checked against their bounds", "[unit][store][analytics]") {
  CHECK_FALSE(check_analytics(day()));
  auto refused = [](AnalyticsQuery q) {
    auto e = check_analytics(q);
    return e && e->code == "bad_query";
  };
  AnalyticsQuery q = day();
  q.to_ms = q.from_ms;
  CHECK(refused(q));  // empty window
  q = day();
  q.to_ms = q.from_ms + kAnalyticsMaxSpanMs + 1;
  q.bucket_ms = 86'400'000;
  CHECK(refused(q));  // too long
  q = day();
  q.bucket_ms = 0;
  CHECK(refused(q));
  q.bucket_ms = 60'000;  // 1440 buckets in a day
  CHECK(refused(q));
  q.bucket_ms = 86'400'000 / kAnalyticsMaxBuckets + 1;
  CHECK_FALSE(check_analytics(q));
  q = day();
  q.top = 0;
  CHECK(refused(q));
  q.top = kAnalyticsMaxTop + 1;
  CHECK(refused(q));
  q = day();
  q.row_budget = 0;
  CHECK(refused(q));
  q.row_budget = kAnalyticsRowBudget + 1;
  CHECK(refused(q));
}

TEST_CASE("analytics rows fold into the answer, sorted and capped", "[unit][store][analytics]") {
  AnalyticsQuery q = day();
  q.row_budget = 10;
  Analytics a;
  add_analytics_row(a, kAnalyticsPartCount, 2, "Country", "EU", 1);
  add_analytics_row(a, kAnalyticsPartCount, 0, "Country", "US", 4);
  add_analytics_row(a, kAnalyticsPartCount, 0, "Country", "EU", 5);
  add_analytics_row(a, kAnalyticsPartTop, 0, "B", "", 3);
  add_analytics_row(a, kAnalyticsPartTop, 0, "A", "", 3);
  add_analytics_row(a, kAnalyticsPartTop, 0, "C", "", 4);
  add_analytics_row(a, kAnalyticsPartChange, -1, std::string(kPriceEvent), "", 2);
  add_analytics_row(a, kAnalyticsPartChange, 7, std::string(kPriceEvent), "", 3);
  add_analytics_row(a, kAnalyticsPartChange, kAnalyticsBins, std::string(kDiscountEvent), "", 6);
  add_analytics_row(a, kAnalyticsPartChange, 3, "Country", "", 9);  // not a change kind
  add_analytics_row(a, kAnalyticsPartTotal, 0, "", "", 10);
  add_analytics_row(a, 9, 0, "", "", 1);  // a part this version does not know
  finish_analytics(a, q);
  REQUIRE(a.counts.size() == 3);
  CHECK(a.counts[0].region == "EU");
  CHECK(a.counts[1].region == "US");
  CHECK(a.counts[2].bucket == 2);
  REQUIRE(a.top.size() == 3);
  CHECK(a.top[0].product_id == "C");
  CHECK(a.top[1].product_id == "A");
  CHECK(a.top[2].product_id == "B");
  CHECK(a.price_changes.below == 2);
  CHECK(a.price_changes.bins[7] == 3);
  CHECK(a.discount_changes.above == 6);
  CHECK(a.events == 10);
  CHECK(a.budget_reached);
  CHECK_FALSE(a.counts_capped);

  Analytics many;
  for (std::size_t i = 0; i <= kAnalyticsMaxGroups; ++i) {
    add_analytics_row(many, kAnalyticsPartCount, static_cast<std::int64_t>(i), "T", "R", 1);
  }
  finish_analytics(many, q);
  CHECK(many.counts.size() == kAnalyticsMaxGroups);
  CHECK(many.counts_capped);
  CHECK_FALSE(many.budget_reached);
}

TEST_CASE("one analytics statement at a time: the gate opens again when its pass ends",
          "[unit][store][analytics]") {
  AnalyticsGate gate;
  {
    REQUIRE(gate.try_enter());
    AnalyticsGate::Pass pass(&gate);
    CHECK_FALSE(gate.try_enter());  // a second one while the first runs
  }
  CHECK(gate.try_enter());
  AnalyticsGate::Pass again(&gate);
  CHECK(analytics_busy("SQLite store /x.db").code == "store_busy");
}

}  // namespace
}  // namespace pemx::store
