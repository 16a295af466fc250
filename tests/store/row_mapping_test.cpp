// map_event_row: the pure mapping from a consumed message to a store row (every backend's),
// or to the dead-letter reason.
#include "store/row_mapping.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace pemx::store {
namespace {

using Catch::Matchers::Contains;
// The reason codes the mapping gives (event/reasons.hpp), by the names the checks below use.
constexpr std::string_view kInvalidJson = event::kReasonInvalidJson;
constexpr std::string_view kInvalidEvent = event::kReasonInvalidEvent;

constexpr const char* kId = "0b9d2c3e-6a4f-4c1a-9e2b-7f1d3c5a8b90";
const SourcePosition kSource{"product-event-storage-pemx", 2, 41};

std::string event(const std::string& created_at, const std::string& data = "") {
  std::string json =
      std::string(R"({"eventId":")") + kId +
      R"(","eventType":"ProductPriceUpdate","productId":"AB12CD34EF","region":"US","createdAt":")" +
      created_at + "\"";
  if (!data.empty()) json += ",\"data\":" + data;
  return json + "}";
}

TEST_CASE("a valid event maps to a row with every field", "[unit][store]") {
  const std::string value =
      R"({ "eventId": "0b9d2c3e-6a4f-4c1a-9e2b-7f1d3c5a8b90", "eventType": "ProductPriceUpdate",
           "productId": "AB12CD34EF", "region": "US", "createdAt": "2024-07-26T14:41:17.123Z",
           "data": { "newPrice": 7.31, "previousPrice": 2.05 } })";
  auto row = map_event_row(value, kSource, 1'700'000'000'000);
  REQUIRE(row.ok());
  CHECK(row->event_id == kId);
  CHECK(row->event_type == "ProductPriceUpdate");
  CHECK(row->product_id == "AB12CD34EF");
  CHECK(row->region == "US");
  CHECK(row->created_at == "2024-07-26T14:41:17.123Z");
  CHECK(row->created_ms == 1'722'004'877'123);
  CHECK(row->data_json == R"({"newPrice":7.31,"previousPrice":2.05})");  // compact, same numbers
  CHECK(row->raw_json == value);                                         // byte for byte
  CHECK(row->source_topic == "product-event-storage-pemx");
  CHECK(row->source_partition == 2);
  CHECK(row->source_offset == 41);
  CHECK(row->stored_at_ms == 1'700'000'000'000);
}

TEST_CASE("data is re-serialised as compact JSON, {} when absent", "[unit][store]") {
  SECTION("absent") {
    auto row = map_event_row(event("2024-01-01T00:00:00Z"), kSource, 0);
    REQUIRE(row.ok());
    CHECK(row->data_json == "{}");
  }
  SECTION("each reference shape keeps its values") {
    auto country = map_event_row(
        event("2024-01-01T00:00:00Z", R"( {"country" : "Sweden", "region" : "EU"} )"), kSource, 0);
    REQUIRE(country.ok());
    CHECK(country->data_json == R"({"country":"Sweden","region":"EU"})");
    auto discount =
        map_event_row(event("2024-01-01T00:00:00Z",
                            R"({"newDiscountPercentage": 40, "previousDiscountPercentage": 15})"),
                      kSource, 0);
    REQUIRE(discount.ok());
    CHECK(discount->data_json == R"({"newDiscountPercentage":40,"previousDiscountPercentage":15})");
  }
  SECTION("nested values, escapes and non-ASCII text survive") {
    auto row = map_event_row(
        event("2024-01-01T00:00:00Z",
              R"({"a": [1, -2.5, true, null, {"b": "q\"uote\n"}], "name": "Göteborg ✓"})"),
        kSource, 0);
    REQUIRE(row.ok());
    CHECK(row->data_json == R"({"a":[1,-2.5,true,null,{"b":"q\"uote\n"}],"name":"Göteborg ✓"})");
  }
  SECTION("prices keep their decimal value") {
    for (const char* price : {"0.1", "7.31", "19.99", "1234567.89", "0.3"}) {
      CAPTURE(price);
      auto row = map_event_row(
          event("2024-01-01T00:00:00Z", std::string(R"({"newPrice":)") + price + "}"), kSource, 0);
      REQUIRE(row.ok());
      CHECK(row->data_json == std::string(R"({"newPrice":)") + price + "}");
    }
  }
  SECTION("a data value that is not an object is kept as it is") {
    auto row = map_event_row(event("2024-01-01T00:00:00Z", "null"), kSource, 0);
    REQUIRE(row.ok());
    CHECK(row->data_json == "null");
  }
}

TEST_CASE("created_ms is the UTC instant, whatever the offset", "[unit][store]") {
  auto ms = [](const std::string& created_at) {
    auto row = map_event_row(event(created_at), kSource, 0);
    REQUIRE(row.ok());
    CHECK(row->created_at == created_at);  // the text stays as received
    return row->created_ms;
  };
  constexpr std::int64_t kNewYear = 1'704'067'200'000;  // 2024-01-01T00:00:00Z
  CHECK(ms("2024-01-01T00:00:00Z") == kNewYear);
  CHECK(ms("2024-01-01T00:00:00.000Z") == kNewYear);
  CHECK(ms("2024-01-01T02:00:00+02:00") == kNewYear);
  CHECK(ms("2023-12-31T18:30:00-05:30") == kNewYear);
  CHECK(ms("2024-01-01T00:00:00") == kNewYear);   // no offset: UTC
  CHECK(ms("2024-01-01") == kNewYear);            // a date alone: midnight UTC
  CHECK(ms("20240101T010000+0100") == kNewYear);  // basic format
  CHECK(ms("2024-01-01T00:00:00.250Z") == kNewYear + 250);
  // Later by the clock text but earlier in time: the offset decides.
  CHECK(ms("2024-01-01T10:00:00+09:00") < ms("2024-01-01T02:00:00Z"));
}

TEST_CASE("bad JSON is refused as invalid_json", "[unit][store]") {
  for (const std::string& value :
       {std::string(""), std::string("not json"), std::string("{\"eventId\": "),
        std::string("[1, 2]"), std::string("\"a string\""), std::string("42"), std::string("{} {}"),
        std::string("{\"a\": \"\xff\xfe\"}"), std::string("null")}) {
    CAPTURE(value);
    auto row = map_event_row(value, kSource, 0);
    REQUIRE_FALSE(row.ok());
    CHECK(row.error().code == kInvalidJson);
    CHECK_FALSE(row.error().message.empty());
  }
}

TEST_CASE("deeply nested JSON is refused before parsing", "[unit][store]") {
  std::string deep =
      event("2024-01-01T00:00:00Z", std::string(100'000, '[') + std::string(100'000, ']'));
  auto row = map_event_row(deep, kSource, 0);
  REQUIRE_FALSE(row.ok());
  CHECK(row.error().code == event::kReasonTooDeep);
  CHECK_THAT(row.error().message, Contains("deeper than 64"));

  // Brackets inside strings do not count.
  auto fine = map_event_row(
      event("2024-01-01T00:00:00Z", "{\"text\":\"" + std::string(500, '[') + "\\\"\"}"), kSource,
      0);
  CHECK(fine.ok());
}

TEST_CASE("an event failing validation is refused as invalid_event", "[unit][store]") {
  // An event from its fields as raw JSON texts ("" leaves the field out).
  auto ev = [](std::string id, std::string type, std::string product, std::string region,
               std::string created) {
    std::string json;
    auto add = [&](const char* name, const std::string& raw) {
      if (!raw.empty()) json += (json.empty() ? "" : ",") + std::string("\"") + name + "\":" + raw;
    };
    add("eventId", id);
    add("eventType", type);
    add("productId", product);
    add("region", region);
    add("createdAt", created);
    return "{" + json + "}";
  };
  const std::string id = std::string("\"") + kId + "\"";
  const std::string type = R"("Country")", product = R"("P1")", region = R"("EU")";
  const std::string created = R"("2024-01-01T00:00:00Z")";
  REQUIRE(map_event_row(ev(id, type, product, region, created), kSource, 0).ok());

  struct Case {
    std::string value;
    std::string detail;
  };
  const std::string bad_id = "eventId: Event ID must be a valid UUID";
  const std::string bad_created = "createdAt: Created at must be a valid ISO 8601 date";
  for (const Case& c : {
           Case{ev("", type, product, region, created), bad_id},
           Case{ev(R"("not-a-uuid")", type, product, region, created), bad_id},
           Case{ev("42", type, product, region, created), bad_id},
           Case{ev(id, "", product, region, created), "eventType: Event type is required"},
           Case{ev(id, type, R"("")", region, created), "productId: Product ID is required"},
           Case{ev(id, type, product, "7", created), "region: Region is required"},
           Case{ev(id, type, product, region, R"("yesterday")"), bad_created},
           Case{ev(id, type, product, region, R"("2024-02-30")"), bad_created},
           Case{"{}", bad_id + "; eventType: Event type is required; " +
                          "productId: Product ID is required; region: Region is required; " +
                          bad_created},
       }) {
    CAPTURE(c.value);
    auto row = map_event_row(c.value, kSource, 0);
    REQUIRE_FALSE(row.ok());
    CHECK(row.error().code == kInvalidEvent);
    CHECK(row.error().message == c.detail);
  }
}

TEST_CASE("report and off keep what the reference stored, with what a row needs",
          "[unit][store]") {
  using event::ValidationMode;
  const SourcePosition with_time{"product-event-storage-pemx", 0, 7, 1'800'000'000'123};
  const event::JsonLimits limits;
  const std::string at = R"("createdAt":"2024-01-01T00:00:00Z")";
  struct Case {
    const char* name;
    std::string value;
    std::vector<std::string> invalid;
  };
  for (const Case& c : {
           Case{"non-UUID eventId",
                R"({"eventId":"evt-1","eventType":"Country","productId":"P1","region":"EU",)" +
                    at + "}",
                {"eventId"}},
           Case{"empty productId",
                std::string(R"({"eventId":")") + kId +
                    R"(","eventType":"Country","productId":"","region":"EU",)" + at + "}",
                {"productId"}},
           Case{"Country without region",
                std::string(R"({"eventId":")") + kId +
                    R"(","eventType":"Country","productId":"P1",)" + at + R"(,"data":{}})",
                {"region"}},
       }) {
    CAPTURE(c.name);
    REQUIRE_FALSE(map_event_row(c.value, with_time, 5, limits, ValidationMode::kStrict).ok());
    auto report = map_event_row(c.value, with_time, 5, limits, ValidationMode::kReport);
    REQUIRE(report.ok());
    CHECK(report->invalid == c.invalid);
    CHECK(report->created_ms == 1'704'067'200'000);  // its createdAt
    CHECK(report->raw_json == c.value);
    auto off = map_event_row(c.value, with_time, 5, limits, ValidationMode::kOff);
    REQUIRE(off.ok());
    CHECK(off->invalid.empty());
  }
  // The fields are stored as received; a missing one as "".
  auto row = map_event_row(R"({"eventId":"evt-1","eventType":"Country","productId":"P1",)" + at +
                               "}",
                           with_time, 5, limits, ValidationMode::kReport);
  REQUIRE(row.ok());
  CHECK(row->event_id == "evt-1");
  CHECK(row->product_id == "P1");
  CHECK(row->region.empty());
  CHECK(row->created_at == "2024-01-01T00:00:00Z");
  CHECK(row->invalid == std::vector<std::string>{"eventId", "region"});
}

TEST_CASE("report: a createdAt that is no instant is kept as received and ordered by the "
          "message's timestamp, else by the time it is stored",
          "[unit][store]") {
  const std::string value = std::string(R"({"eventId":")") + kId +
                            R"(","eventType":"Country","productId":"P1","region":"EU",)"
                            R"("createdAt":"26 July 2024"})";
  SourcePosition source = kSource;
  source.timestamp_ms = 1'722'000'000'000;
  auto row = map_event_row(value, source, 5, {}, event::ValidationMode::kReport);
  REQUIRE(row.ok());
  CHECK(row->created_at == "26 July 2024");
  CHECK(row->created_ms == 1'722'000'000'000);
  CHECK(row->invalid == std::vector<std::string>{"createdAt"});
  source.timestamp_ms = -1;  // a message without a timestamp
  row = map_event_row(value, source, 5, {}, event::ValidationMode::kReport);
  REQUIRE(row.ok());
  CHECK(row->created_ms == 5);
  // Not a string: its JSON text, as received.
  row = map_event_row(std::string(R"({"eventId":")") + kId + R"(","createdAt":1722000000})",
                      source, 5, {}, event::ValidationMode::kOff);
  REQUIRE(row.ok());
  CHECK(row->created_at == "1722000000");
  CHECK(row->created_ms == 5);
}

TEST_CASE("report: an event without a non-empty string eventId cannot be a row",
          "[unit][store]") {
  for (const char* value : {R"({"productId":"P1"})", R"({"eventId":"","productId":"P1"})",
                            R"({"eventId":42,"productId":"P1"})",
                            R"({"eventId":null,"productId":"P1"})"}) {
    CAPTURE(value);
    for (auto mode : {event::ValidationMode::kReport, event::ValidationMode::kOff}) {
      auto row = map_event_row(value, kSource, 0, {}, mode);
      REQUIRE_FALSE(row.ok());
      CHECK(row.error().code == kInvalidEvent);
      CHECK_THAT(row.error().message, Contains("non-empty string eventId"));
    }
  }
  CHECK(map_event_row("[1]", kSource, 0, {}, event::ValidationMode::kReport).error().code ==
        kInvalidJson);
}

TEST_CASE("a large event maps as well as a small one", "[unit][store]") {
  // Bigger than the mapper's stack buffer: the parse tree spills to the heap.
  std::string big = "{";
  for (int i = 0; i < 2000; ++i)
    big += (i ? "," : "") + std::string("\"k") + std::to_string(i) + "\":" + std::to_string(i);
  big += "}";
  auto row = map_event_row(event("2024-01-01T00:00:00Z", big), kSource, 0);
  REQUIRE(row.ok());
  CHECK(row->data_json == big);
}

}  // namespace
}  // namespace pemx::store
