#pragma once
// Analytics (EventReader::analytics, GET /api/analytics) checked the same way on every
// backend: rows written through the backend, then the window's counts per bucket, type and
// region, the products that change most, the change histograms and the row budget. Each
// backend's test calls check_analytics_answers on a fresh, empty store.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "store/backend.hpp"

namespace pemx::store::test {

inline constexpr std::int64_t kAnalyticsT0 = 1'700'000'000'000;
inline constexpr std::int64_t kMinute = 60'000;

inline EventRow analytics_row(const std::string& id, const std::string& product,
                              std::int64_t minute, const std::string& type,
                              const std::string& region, const std::string& data) {
  EventRow r;
  r.event_id = id;
  r.event_type = type;
  r.product_id = product;
  r.region = region;
  r.created_ms = kAnalyticsT0 + minute * kMinute;
  r.created_at = "at-" + std::to_string(r.created_ms);
  r.data_json = data;
  r.raw_json = R"({"eventId":")" + id + "\"}";
  r.source_topic = "storage";
  r.source_partition = 0;
  r.source_offset = minute + 1000;
  r.stored_at_ms = kAnalyticsT0;
  return r;
}

inline void check_analytics_answers(Backend& backend) {
  const std::string price = "ProductPriceUpdate";
  const std::string discount = "SpecificProductDiscountUpdate";
  const std::vector<EventRow> rows = {
      analytics_row("a1", "P1", 10, price, "EU", R"({"newPrice":11,"previousPrice":10})"),
      analytics_row("a2", "P1", 20, price, "EU", R"({"newPrice":5.0,"previousPrice":10})"),
      analytics_row("a3", "P1", 70, discount, "US",
                    R"({"newDiscountPercentage":40,"previousDiscountPercentage":10})"),
      analytics_row("a4", "P2", 70, "Country", "EU", R"({"country":"Sweden","region":"EU"})"),
      analytics_row("a5", "P2", 130, discount, "US",
                    R"({"newDiscountPercentage":0,"previousDiscountPercentage":50})"),
      analytics_row("a6", "P3", 130, price, "US", R"({"newPrice":5,"previousPrice":1})"),
      analytics_row("a7", "P3", 131, price, "US", "{}"),  // no numbers: no bin
      analytics_row("a8", "P5", 140, price, "EU", R"({"newPrice":3,"previousPrice":0})"),
      analytics_row("a9", "P5", 150, discount, "EU",
                    R"({"newDiscountPercentage":"40","previousDiscountPercentage":10})"),
      // Outside [T0, T0 + 3h): before it, and at its (exclusive) end.
      analytics_row("b1", "P4", -1, price, "EU", R"({"newPrice":1,"previousPrice":2})"),
      analytics_row("b2", "P4", 180, price, "EU", R"({"newPrice":1,"previousPrice":2})"),
  };
  REQUIRE(backend.write_batch(rows));
  auto reader = backend.reader();
  AnalyticsQuery q;
  q.from_ms = kAnalyticsT0;
  q.to_ms = kAnalyticsT0 + 180 * kMinute;
  q.bucket_ms = 60 * kMinute;
  q.top = 3;
  auto got = reader->analytics(q);
  INFO((got ? "" : got.error().message));
  REQUIRE(got);
  const Analytics& a = got.value();
  CHECK(a.events == 9);
  CHECK_FALSE(a.budget_reached);
  CHECK_FALSE(a.counts_capped);
  struct Row {
    std::int64_t bucket;
    std::string type;
    std::string region;
    std::int64_t count;
  };
  std::vector<Row> expected = {{0, price, "EU", 2},    {1, "Country", "EU", 1},
                               {1, discount, "US", 1}, {2, price, "EU", 1},
                               {2, price, "US", 2},    {2, discount, "EU", 1},
                               {2, discount, "US", 1}};
  REQUIRE(a.counts.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("series row " << i);
    CHECK(a.counts[i].bucket == expected[i].bucket);
    CHECK(a.counts[i].event_type == expected[i].type);
    CHECK(a.counts[i].region == expected[i].region);
    CHECK(a.counts[i].count == expected[i].count);
  }
  // P1 3; P2, P3 and P5 2 each: ties by productId, three asked for.
  REQUIRE(a.top.size() == 3);
  CHECK(a.top[0].product_id == "P1");
  CHECK(a.top[0].changes == 3);
  CHECK(a.top[1].product_id == "P2");
  CHECK(a.top[2].product_id == "P3");
  CHECK(a.top[2].changes == 2);
  // Price: +10 % (bin [10, 20) = 11), -50 % (bin [-50, -40) = 5), +400 % (above); a
  // previousPrice of 0 and empty data are left out.
  ChangeHistogram want_price;
  want_price.bins[11] = 1;
  want_price.bins[5] = 1;
  want_price.above = 1;
  // Discount: +30 points (bin [30, 40) = 13), -50 points (bin 5); a string is left out.
  ChangeHistogram want_discount;
  want_discount.bins[13] = 1;
  want_discount.bins[5] = 1;
  for (auto [got_h, want_h] : {std::pair{&a.price_changes, &want_price},
                               std::pair{&a.discount_changes, &want_discount}}) {
    CHECK(got_h->below == want_h->below);
    CHECK(got_h->above == want_h->above);
    for (int i = 0; i < kAnalyticsBins; ++i) {
      INFO("bin " << i);
      CHECK(got_h->bins[i] == want_h->bins[i]);
    }
  }

  // A budget of 4 events: the oldest four only, and the answer says it reached the budget.
  q.row_budget = 4;
  auto cut = reader->analytics(q);
  REQUIRE(cut);
  CHECK(cut.value().events == 4);
  CHECK(cut.value().budget_reached);
  REQUIRE(cut.value().counts.size() == 3);
  CHECK(cut.value().counts[0].count == 2);
  CHECK(cut.value().counts[1].event_type == "Country");
  CHECK(cut.value().counts[2].event_type == discount);
  CHECK(cut.value().price_changes.bins[11] == 1);
  CHECK(cut.value().price_changes.above == 0);

  // An empty window answers nothing; a query out of bounds is refused before the database.
  AnalyticsQuery later = q;
  later.from_ms = kAnalyticsT0 + 1000 * kMinute;
  later.to_ms = later.from_ms + kMinute;
  later.row_budget = kAnalyticsRowBudget;
  auto none = reader->analytics(later);
  REQUIRE(none);
  CHECK(none.value().events == 0);
  CHECK(none.value().counts.empty());
  CHECK(none.value().top.empty());
  AnalyticsQuery bad = q;
  bad.bucket_ms = 1;
  CHECK(reader->analytics(bad).error().code == "bad_query");
}

}  // namespace pemx::store::test
