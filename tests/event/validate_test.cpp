// validate_event (the reference push API's field rules and exact messages), is_uuid and
// is_iso8601.
#include "event/validate.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "event/event.hpp"

namespace pemx::event {
namespace {

constexpr const char* kValidEvent =
    R"({"eventId":"3b241101-e2bb-4255-8caf-4136c566a962","eventType":"ProductPriceUpdate",)"
    R"("productId":"AB12CD34EF","region":"US","createdAt":"2024-07-26T14:41:17.123Z",)"
    R"("data":{"newPrice":7.31,"previousPrice":2.05}})";

// Validates `json` and answers "field: message" for each error, in order.
std::vector<std::string> errors_of(const std::string& json) {
  ParsedEvent event;
  REQUIRE_FALSE(event.parse(json));
  std::vector<std::string> out;
  for (const auto& e : validate_event(event.root())) out.push_back(e.field + ": " + e.msg);
  return out;
}

// The valid event with one field's JSON text replaced ("" removes the field); not for "data",
// the last field.
std::string with_field(const std::string& field, const std::string& json_value) {
  std::string event = kValidEvent;
  std::string key = "\"" + field + "\":";
  auto start = event.find(key);
  REQUIRE(start != std::string::npos);
  auto end = event.find(',', start);
  REQUIRE(end != std::string::npos);
  if (json_value.empty()) return event.erase(start, end + 1 - start);
  return event.replace(start + key.size(), end - start - key.size(), json_value);
}

TEST_CASE("the reference messages are the exact texts", "[unit][validate]") {
  CHECK(kMsgEventId == "Event ID must be a valid UUID");
  CHECK(kMsgEventType == "Event type is required");
  CHECK(kMsgProductId == "Product ID is required");
  CHECK(kMsgRegion == "Region is required");
  CHECK(kMsgCreatedAt == "Created at must be a valid ISO 8601 date");
}

TEST_CASE("a complete reference event is valid", "[unit][validate]") {
  CHECK(errors_of(kValidEvent).empty());
}

TEST_CASE("data is not checked: events without it are valid", "[unit][validate]") {
  CHECK(errors_of(R"({"eventId":"3b241101-e2bb-4255-8caf-4136c566a962","eventType":"Country",)"
                  R"("productId":"AB12CD34EF","region":"US","createdAt":"2024-07-26"})")
            .empty());
}

TEST_CASE("a missing field gives its reference message", "[unit][validate]") {
  using V = std::vector<std::string>;
  CHECK(errors_of(with_field("eventId", "")) == V{"eventId: Event ID must be a valid UUID"});
  CHECK(errors_of(with_field("eventType", "")) == V{"eventType: Event type is required"});
  CHECK(errors_of(with_field("productId", "")) == V{"productId: Product ID is required"});
  CHECK(errors_of(with_field("region", "")) == V{"region: Region is required"});
  CHECK(errors_of(with_field("createdAt", "")) ==
        V{"createdAt: Created at must be a valid ISO 8601 date"});
}

TEST_CASE("empty strings count as missing", "[unit][validate]") {
  using V = std::vector<std::string>;
  CHECK(errors_of(with_field("eventId", "\"\"")) == V{"eventId: Event ID must be a valid UUID"});
  CHECK(errors_of(with_field("eventType", "\"\"")) == V{"eventType: Event type is required"});
  CHECK(errors_of(with_field("productId", "\"\"")) == V{"productId: Product ID is required"});
  CHECK(errors_of(with_field("region", "\"\"")) == V{"region: Region is required"});
  CHECK(errors_of(with_field("createdAt", "\"\"")) ==
        V{"createdAt: Created at must be a valid ISO 8601 date"});
}

TEST_CASE("non-string values are refused", "[unit][validate]") {
  using V = std::vector<std::string>;
  CHECK(errors_of(with_field("eventType", "null")) == V{"eventType: Event type is required"});
  CHECK(errors_of(with_field("productId", "{}")) == V{"productId: Product ID is required"});
  CHECK(errors_of(with_field("region", "[\"US\"]")) == V{"region: Region is required"});
  CHECK(errors_of(with_field("eventId", "12345")) == V{"eventId: Event ID must be a valid UUID"});
  CHECK(errors_of(with_field("createdAt", "1721999999")) ==
        V{"createdAt: Created at must be a valid ISO 8601 date"});
}

TEST_CASE("malformed eventId and createdAt give their messages", "[unit][validate]") {
  using V = std::vector<std::string>;
  CHECK(errors_of(with_field("eventId", "\"not-a-uuid\"")) ==
        V{"eventId: Event ID must be a valid UUID"});
  CHECK(errors_of(with_field("createdAt", "\"yesterday\"")) ==
        V{"createdAt: Created at must be a valid ISO 8601 date"});
}

TEST_CASE("every error is reported, in the reference's field order", "[unit][validate]") {
  CHECK(errors_of("{}") == std::vector<std::string>{
                               "eventId: Event ID must be a valid UUID",
                               "eventType: Event type is required",
                               "productId: Product ID is required",
                               "region: Region is required",
                               "createdAt: Created at must be a valid ISO 8601 date",
                           });
}

TEST_CASE("is_uuid accepts 8-4-4-4-12 hex digits of any version", "[unit][validate]") {
  CHECK(is_uuid("3b241101-e2bb-4255-8caf-4136c566a962"));  // v4
  CHECK(is_uuid("3B241101-E2BB-4255-8CAF-4136C566A962"));  // upper case
  CHECK(is_uuid("c232ab00-9414-11ec-b3c8-9f6bdeced846"));  // v1
  CHECK(is_uuid("00000000-0000-0000-0000-000000000000"));
}

TEST_CASE("is_uuid refuses anything else", "[unit][validate]") {
  CHECK_FALSE(is_uuid(""));
  CHECK_FALSE(is_uuid("3b241101-e2bb-4255-8caf-4136c566a96"));    // 35 chars
  CHECK_FALSE(is_uuid("3b241101-e2bb-4255-8caf-4136c566a9620"));  // 37 chars
  CHECK_FALSE(is_uuid("3b241101e-2bb-4255-8caf-4136c566a962"));   // dash moved
  CHECK_FALSE(is_uuid("3b241101-e2bb-4255-8caf-4136c566a96g"));   // not hex
  CHECK_FALSE(is_uuid("3b241101_e2bb_4255_8caf_4136c566a962"));
  CHECK_FALSE(is_uuid("3b241101e2bb42558caf4136c566a962"));  // no dashes
  CHECK_FALSE(is_uuid("{3b241101-e2bb-4255-8caf-4136c566a96}"));
}

TEST_CASE("is_iso8601 accepts ISO 8601 dates and date-times", "[unit][validate]") {
  auto text = GENERATE(as<std::string>{},
                       "2024-07-26T14:41:17.123Z",  // what the reference generator sends
                       "2024-07-26",                // a date alone
                       "2024-07-26T14:41",          // without seconds
                       "2024-07-26T14:41:17",       // local time
                       "2024-07-26T14:41:17+02:00", "2024-07-26T14:41:17-0530",
                       "2024-07-26T14:41:17+05",    // offset hours only
                       "2024-07-26 14:41:17Z",      // space as separator
                       "2024-07-26T14:41:17,5Z",    // decimal comma
                       "20240726T144117Z",          // basic format
                       "20240726", "2024-02-29",    // leap year
                       "2000-02-29",                // divisible by 400
                       "2016-12-31T23:59:60Z",      // leap second
                       "2024-07-26T24:00:00Z",      // end of day
                       "2024-12-31T23:59:59.999999999Z");
  CAPTURE(text);
  CHECK(is_iso8601(text));
}

TEST_CASE("is_iso8601 refuses malformed and out-of-range dates", "[unit][validate]") {
  auto text = GENERATE(as<std::string>{}, "", "yesterday", "2024-07-26T14:41:17.123Zjunk",
                       "24-07-26",                  // two-digit year
                       "2024/07/26", "26-07-2024",
                       "2024-0726",                 // mixed basic and extended
                       "2024-13-01", "2024-00-10", "2024-07-00", "2024-07-32",
                       "2024-02-30", "2023-02-29",  // not a leap year
                       "1900-02-29",                // divisible by 100, not by 400
                       "2024-04-31", "2024-07-26T25:00", "2024-07-26T24:01",
                       "2024-07-26T24:00:01", "2024-07-26T14:60", "2024-07-26T14:41:61",
                       "2024-07-26T24:00:00.001Z", "20240726T240000,5",  // past end of day
                       "2024-07-26T14", "2024-07-26T1441",  // extended date, basic time
                       "2024-07-26T14:41:17.",              // fraction without digits
                       "2024-07-26T14:41:17+24:00", "2024-07-26T14:41:17+02:60",
                       "2024-07-26T14:41:17 Z", "2024-07-26X14:41", "2024-07-26T");
  CAPTURE(text);
  CHECK_FALSE(is_iso8601(text));
}

}  // namespace
}  // namespace pemx::event
