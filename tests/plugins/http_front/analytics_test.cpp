// GET /api/analytics's pure core (plugins/http_front/analytics.hpp): the request's defaults
// and checks, and the answer's JSON.
#include "http_front/analytics.hpp"

#include <catch2/catch.hpp>

#include <string>

#include "event/time.hpp"
#include "support/json.hpp"

namespace pemx::http_front {
namespace {

std::int64_t ms(const char* iso) { return event::iso8601_to_epoch_ms(iso).value(); }

// A copy: the variant is often a temporary.
AnalyticsQuery query_of(const std::variant<AnalyticsQuery, Answer>& v) {
  if (const auto* a = std::get_if<Answer>(&v)) FAIL("refused: " << a->body);
  return std::get<AnalyticsQuery>(v);
}

int status_of(const std::variant<AnalyticsQuery, Answer>& v) {
  const auto* a = std::get_if<Answer>(&v);
  return a ? a->status : 200;
}

TEST_CASE("analytics requests: defaults, bucket choice and checks", "[unit][http][analytics]") {
  const std::int64_t now = ms("2024-07-26T12:00:00Z");
  // Nothing given: the 24 hours before now, in hours (the narrowest bucket of <= 60).
  const AnalyticsQuery d = query_of(parse_analytics_request("", now));
  CHECK(d.to_ms == now);
  CHECK(d.from_ms == now - 86'400'000);
  CHECK(d.bucket_ms == 3'600'000);
  CHECK(d.top == kDefaultAnalyticsTop);
  // An hour: minutes; a week: 6 hours; 31 days: a day.
  auto q = parse_analytics_request("from=2024-07-26T10:00:00Z&to=2024-07-26T11:00:00Z", now);
  CHECK(query_of(q).bucket_ms == 60'000);
  CHECK(query_of(q).from_ms == ms("2024-07-26T10:00:00Z"));
  CHECK(query_of(parse_analytics_request("from=2024-07-01T00:00:00Z&to=2024-07-08T00:00:00Z",
                                         now))
            .bucket_ms == 21'600'000);
  CHECK(query_of(parse_analytics_request("from=2024-07-01T00:00:00Z&to=2024-08-01T00:00:00Z",
                                         now))
            .bucket_ms == 86'400'000);
  // Only from: the 24 hours after it. An explicit bucket and top.
  auto f = parse_analytics_request("from=2024-07-20T00:00:00Z&bucket=15m&top=3", now);
  CHECK(query_of(f).to_ms == ms("2024-07-21T00:00:00Z"));
  CHECK(query_of(f).bucket_ms == 900'000);
  CHECK(query_of(f).top == 3);

  // Defaults stop at the years a request can name: the answer's window can be sent back.
  for (const char* edge : {"from=9999-12-31T23:59:59Z", "to=0000-01-01T01:00:00Z"}) {
    INFO(edge);
    const AnalyticsQuery e = query_of(parse_analytics_request(edge, now));
    const std::string again = "from=" + event::epoch_ms_to_iso8601(e.from_ms) +
                              "&to=" + event::epoch_ms_to_iso8601(e.to_ms);
    INFO(again);
    const AnalyticsQuery back = query_of(parse_analytics_request(again, now));
    CHECK(back.from_ms == e.from_ms);
    CHECK(back.to_ms == e.to_ms);
  }

  for (const char* bad :
       {"from=yesterday", "to=2024-13-01T00:00:00Z", "bucket=2m", "bucket=", "top=0", "top=101",
        "top=x", "limit=3", "from=2024-07-26T00:00:00Z&to=2024-07-26T00:00:00Z",
        "from=2024-07-01T00:00:00Z&to=2024-08-02T00:00:00Z",
        "from=2024-07-01T00:00:00Z&to=2024-07-08T00:00:00Z&bucket=5m", "from=%zz"}) {
    INFO(bad);
    CHECK(status_of(parse_analytics_request(bad, now)) == 400);
  }
  // Every bad parameter at once, each named.
  auto many = parse_analytics_request("bucket=2m&top=0", now);
  REQUIRE(status_of(many) == 400);
  auto body = test::parse_json(std::get<Answer>(many).body);
  REQUIRE(body["errors"].Size() == 2);
  CHECK(std::string(body["errors"][0]["path"].GetString()) == "bucket");
  CHECK(std::string(body["errors"][1]["path"].GetString()) == "top");
}

TEST_CASE("analytics answers: series by bucket start, top products, fixed bins",
          "[unit][http][analytics]") {
  AnalyticsQuery q;
  q.from_ms = ms("2024-07-26T00:00:00Z");
  q.to_ms = ms("2024-07-26T03:00:00Z");
  q.bucket_ms = 3'600'000;
  Analytics a;
  a.counts = {{0, "Country", "EU", 2}, {2, "ProductPriceUpdate", "US", 5}};
  a.top = {{"K7Q2M9X4PL", 4}};
  a.price_changes.below = 1;
  a.price_changes.bins[10] = 3;
  a.discount_changes.above = 2;
  a.events = 7;
  Answer r = analytics_answer(q, a);
  CHECK(r.status == 200);
  auto doc = test::parse_json(r.body);
  CHECK(std::string(doc["from"].GetString()) == "2024-07-26T00:00:00.000Z");
  CHECK(std::string(doc["bucket"].GetString()) == "1h");
  CHECK(doc["events"].GetInt64() == 7);
  CHECK(doc["complete"].GetBool());
  REQUIRE(doc["series"].Size() == 2);
  CHECK(std::string(doc["series"][1]["start"].GetString()) == "2024-07-26T02:00:00.000Z");
  CHECK(std::string(doc["series"][1]["region"].GetString()) == "US");
  CHECK(doc["series"][1]["count"].GetInt64() == 5);
  CHECK(std::string(doc["topProducts"][0]["productId"].GetString()) == "K7Q2M9X4PL");
  const auto& bins = doc["priceChanges"]["bins"];
  REQUIRE(bins.Size() == kAnalyticsBins + 2);
  CHECK(bins[0]["from"].IsNull());
  CHECK(bins[0]["to"].GetDouble() == -100.0);
  CHECK(bins[0]["count"].GetInt64() == 1);
  CHECK(bins[11]["from"].GetDouble() == 0.0);  // bins[10] of the store: [0, 10)
  CHECK(bins[11]["count"].GetInt64() == 3);
  CHECK(bins[kAnalyticsBins + 1]["to"].IsNull());
  CHECK(doc["discountChanges"]["bins"][kAnalyticsBins + 1]["count"].GetInt64() == 2);
  CHECK(std::string(doc["discountChanges"]["unit"].GetString()) == "percentage points");
}

}  // namespace
}  // namespace pemx::http_front
