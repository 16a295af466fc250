// GET /api/analytics on the real broker: events pushed to the input topic are routed and
// stored by --role=all, then the store's analytics answer their counts per hour, type and
// region, the product that changes most and the change histograms.
#include <catch2/catch.hpp>
#include <rapidjson/document.h>

#include <csignal>
#include <string>
#include <thread>

#include "integration/pemx_runner.hpp"
#include "integration/web_util.hpp"
#include "support/http_client.hpp"

using namespace pemx::test;
using namespace std::chrono_literals;

namespace {

std::string analytics_event(int n, const std::string& type, const std::string& product,
                            const std::string& region, const std::string& at,
                            const std::string& data) {
  return R"({"eventId":")" + event_id(900 + n) + R"(","eventType":")" + type +
         R"(","productId":")" + product + R"(","region":")" + region + R"(","createdAt":")" +
         at + R"(","data":)" + data + "}";
}

}  // namespace

TEST_CASE("analytics answer the counts of the events routed and stored", "[integration][web]") {
  const std::string brokers = test_brokers();
  const std::string p = unique_prefix();
  create_topic(brokers, p + "-product-event", 3);
  PemxRunner pemx(prefixed_config(p));
  auto& proc = pemx.start("all", {"--set", "kafka.brokers=" + brokers});
  auto port = wait_port(proc);

  const std::string a = "ANLA" + p.substr(p.size() - 6);
  const std::string b = "ANLB" + p.substr(p.size() - 6);
  const std::string price = R"({"newPrice":12,"previousPrice":10})";        // +20 %
  const std::string discount =
      R"({"newDiscountPercentage":25,"previousDiscountPercentage":40})";  // -15 points
  // 10:xx: three price updates of A (EU), a country change of B (EU); 11:xx: a discount
  // update of A (US), a price update of B (US). 12:00 is the window's (exclusive) end.
  const std::string body =
      R"({"events":[)" +
      analytics_event(1, "ProductPriceUpdate", a, "EU", "2024-03-05T10:05:00Z", price) + "," +
      analytics_event(2, "ProductPriceUpdate", a, "EU", "2024-03-05T10:15:00Z", price) + "," +
      analytics_event(3, "ProductPriceUpdate", a, "EU", "2024-03-05T10:25:00Z", price) + "," +
      analytics_event(4, "Country", b, "EU", "2024-03-05T10:35:00Z",
                      R"({"country":"Sweden","region":"EU"})") + "," +
      analytics_event(5, "SpecificProductDiscountUpdate", a, "US", "2024-03-05T11:05:00Z",
                      discount) + "," +
      analytics_event(6, "ProductPriceUpdate", b, "US", "2024-03-05T11:10:00+01:00", price) +
      "," +  // 10:10 UTC
      analytics_event(7, "ProductPriceUpdate", b, "US", "2024-03-05T12:00:00Z", price) + "]}";
  auto posted = http_post(port, "/event", body);
  REQUIRE(posted.status == 201);
  REQUIRE(wait_history(port, a + "," + b, 7, 90s).Size() == 7);

  auto r = http_get(port,
                    "/api/analytics?from=2024-03-05T10:00:00Z&to=2024-03-05T12:00:00Z&bucket=1h"
                    "&top=1");
  INFO(r.body);
  REQUIRE(r.status == 200);
  auto d = parse_json(r.body);
  CHECK(d["events"].GetInt64() == 6);
  CHECK(d["complete"].GetBool());
  CHECK(std::string(d["bucket"].GetString()) == "1h");
  std::vector<std::string> series;
  for (const auto& row : d["series"].GetArray()) {
    series.push_back(std::string(row["start"].GetString()).substr(11, 5) + " " +
                     row["eventType"].GetString() + " " + row["region"].GetString() + " " +
                     std::to_string(row["count"].GetInt64()));
  }
  CHECK(series == std::vector<std::string>{"10:00 Country EU 1", "10:00 ProductPriceUpdate EU 3",
                                           "10:00 ProductPriceUpdate US 1",
                                           "11:00 SpecificProductDiscountUpdate US 1"});
  REQUIRE(d["topProducts"].Size() == 1);
  CHECK(std::string(d["topProducts"][0]["productId"].GetString()) == a);
  CHECK(d["topProducts"][0]["changes"].GetInt64() == 4);
  // +20 %: the bin [20, 30) (index 1 + 12 in the answer's list, after "below -100").
  const auto& prices = d["priceChanges"]["bins"];
  CHECK(prices[13]["from"].GetDouble() == 20.0);
  CHECK(prices[13]["count"].GetInt64() == 4);
  // -15 points: the bin [-20, -10).
  const auto& discounts = d["discountChanges"]["bins"];
  CHECK(discounts[9]["from"].GetDouble() == -20.0);
  CHECK(discounts[9]["count"].GetInt64() == 1);

  CHECK(http_get(port, "/api/analytics?bucket=1m&from=2024-03-01T00:00:00Z&to=2024-03-08T00:00:00Z")
            .status == 400);

  proc.signal(SIGTERM);
  CHECK(proc.wait(60s) == 0);
}
