// convert_document: every shape mongoexport writes for the original's events collection
// (reference-behaviour.md, "How the original stores events"), relaxed and canonical, and the
// documents it must refuse, each with its reason.
#include "import/extended_json.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace pemx::import {
namespace {

using Catch::Matchers::Contains;

constexpr const char* kUuid = "3b241101-e2bb-4255-8caf-4136c566a962";
constexpr const char* kUuidBase64 = "OyQRAeK7QlWMr0E2xWapYg==";

event::JsonLimits limits() { return document_limits({}); }

std::string convert(const std::string& doc) {
  auto r = convert_document(doc, limits());
  INFO(doc);
  if (!r) INFO(r.error().code + ": " + r.error().message);
  REQUIRE(r.ok());
  return r.value();
}

Error refuse(const std::string& doc) {
  auto r = convert_document(doc, limits());
  INFO(doc);
  REQUIRE_FALSE(r.ok());
  return r.error();
}

// A document with the given eventId, createdAt and data (raw JSON text each).
std::string doc(const std::string& event_id, const std::string& created_at = R"("2024-01-01")",
                const std::string& data = "{}") {
  return R"({"_id":{"$oid":"66a3b1f2c0ffee0000000001"},"eventId":)" + event_id +
         R"(,"eventType":"ProductPriceUpdate","productId":"AB12","region":"US","createdAt":)" +
         created_at + R"(,"data":)" + data + R"(,"__v":0})";
}

std::string binary(const std::string& base64, const std::string& subtype = "04") {
  return R"({"$binary":{"base64":")" + base64 + R"(","subType":")" + subtype + R"("}})";
}

TEST_CASE("a relaxed mongoexport line becomes the event the original received",
          "[unit][import]") {
  std::string line =
      R"({"_id":{"$oid":"66a3b1f2c0ffee0000000001"},"eventId":{"$binary":{"base64":")" +
      std::string(kUuidBase64) +
      R"(","subType":"04"}},"eventType":"ProductPriceUpdate","productId":"AB12CD34EF",)"
      R"("region":"US","createdAt":{"$date":"2024-07-26T14:41:17.123Z"},)"
      R"("data":{"newPrice":7.31,"previousPrice":2.05},"__v":0})";
  CHECK(convert(line) ==
        R"({"eventId":"3b241101-e2bb-4255-8caf-4136c566a962","eventType":"ProductPriceUpdate",)"
        R"("productId":"AB12CD34EF","region":"US","createdAt":"2024-07-26T14:41:17.123Z",)"
        R"("data":{"newPrice":7.31,"previousPrice":2.05}})");
}

TEST_CASE("a canonical mongoexport line becomes the same event", "[unit][import]") {
  std::string line =
      R"({"_id":{"$oid":"66a3b1f2c0ffee0000000001"},"eventId":{"$binary":{"base64":")" +
      std::string(kUuidBase64) +
      R"(","subType":"04"}},"eventType":"ProductPriceUpdate","productId":"AB12CD34EF",)"
      R"("region":"US","createdAt":{"$date":{"$numberLong":"1722004877123"}},)"
      R"("data":{"newPrice":{"$numberDouble":"7.31"},"previousPrice":{"$numberDouble":"2.05"},)"
      R"("stock":{"$numberInt":"12"},"sold":{"$numberLong":"9007199254740993"},)"
      R"("tax":{"$numberDecimal":"0.20"}},"__v":{"$numberInt":"0"}})";
  CHECK(convert(line) ==
        R"({"eventId":"3b241101-e2bb-4255-8caf-4136c566a962","eventType":"ProductPriceUpdate",)"
        R"("productId":"AB12CD34EF","region":"US","createdAt":"2024-07-26T14:41:17.123Z",)"
        R"("data":{"newPrice":7.31,"previousPrice":2.05,"stock":12,"sold":9007199254740993,)"
        R"("tax":0.2}})");
}

TEST_CASE("eventId: $binary subtype 04 (both forms), $uuid and a plain string",
          "[unit][import]") {
  const std::string expected = R"("eventId":")" + std::string(kUuid) + "\"";
  CHECK_THAT(convert(doc(binary(kUuidBase64))), Contains(expected));
  CHECK_THAT(convert(doc(binary(kUuidBase64, "4"))), Contains(expected));
  CHECK_THAT(convert(doc(R"({"$binary":")" + std::string(kUuidBase64) + R"(","$type":"04"})")),
             Contains(expected));
  CHECK_THAT(convert(doc(R"({"$uuid":"3B241101-E2BB-4255-8CAF-4136C566A962"})")),
             Contains(expected));
  // A plain string stays as it is (the row mapping then checks it like any event's).
  CHECK_THAT(convert(doc(R"("3B241101-E2BB-4255-8CAF-4136C566A962")")),
             Contains(R"("eventId":"3B241101-E2BB-4255-8CAF-4136C566A962")"));
}

TEST_CASE("eventId: bad base64, wrong length, subtype 03 and others are refused",
          "[unit][import]") {
  CHECK(refuse(doc(binary("OyQRAeK7QlWMr0E2xWapYg="))).code == kBadBase64);   // not padded
  CHECK(refuse(doc(binary("OyQRAeK7QlWMr0E2xWap!g=="))).code == kBadBase64);  // alphabet
  CHECK(refuse(doc(binary("OyQRAeK7QlWMr0E2xWapYh=="))).code == kBadBase64);  // non-zero pad bits
  Error short_uuid = refuse(doc(binary("OyQRAeK7QlWMr0E2xWap")));
  CHECK(short_uuid.code == kBadUuid);
  CHECK_THAT(short_uuid.message, Contains("eventId") && Contains("15"));
  Error legacy = refuse(doc(binary(kUuidBase64, "03")));
  CHECK(legacy.code == kUnsupportedBinary);
  CHECK_THAT(legacy.message, Contains("byte order"));
  CHECK(refuse(doc(binary(kUuidBase64, "00"))).code == kUnsupportedBinary);
  CHECK(refuse(doc(binary(kUuidBase64, "x4"))).code == kMalformedWrapper);
  CHECK(refuse(doc(binary(kUuidBase64, "004"))).code == kMalformedWrapper);
  CHECK(refuse(doc(R"({"$binary":{"base64":"AA=="}})")).code == kMalformedWrapper);
  CHECK(refuse(doc(R"({"$uuid":"3b241101-e2bb-4255-8caf-4136c566a96"})")).code == kBadUuid);
  CHECK(refuse(doc(R"({"$uuid":"3b241101e2bb42558caf4136c566a962"})")).code == kBadUuid);
  CHECK(refuse(doc(R"({"$uuid":"3b241101-e2bb-4255-8caf-4136c566a96g"})")).code == kBadUuid);
}

TEST_CASE("createdAt: relaxed with offsets, canonical epoch ms, before 1970", "[unit][import]") {
  auto created = [](const std::string& date) {
    return convert(doc(R"("x")", R"({"$date":)" + date + "}"));
  };
  CHECK_THAT(created(R"("2024-07-26T14:41:17.123Z")"),
             Contains(R"("createdAt":"2024-07-26T14:41:17.123Z")"));
  CHECK_THAT(created(R"("2024-07-26T16:41:17.123+02:00")"),
             Contains(R"("createdAt":"2024-07-26T14:41:17.123Z")"));
  CHECK_THAT(created(R"("2024-07-26T00:11:17-0530")"),
             Contains(R"("createdAt":"2024-07-26T05:41:17.000Z")"));
  CHECK_THAT(created(R"({"$numberLong":"1722004877123"})"),
             Contains(R"("createdAt":"2024-07-26T14:41:17.123Z")"));
  CHECK_THAT(created(R"({"$numberLong":"-1"})"),
             Contains(R"("createdAt":"1969-12-31T23:59:59.999Z")"));
  CHECK_THAT(created(R"({"$numberLong":"-2208988800000"})"),
             Contains(R"("createdAt":"1900-01-01T00:00:00.000Z")"));
  CHECK_THAT(created(R"({"$numberLong":"0"})"),
             Contains(R"("createdAt":"1970-01-01T00:00:00.000Z")"));
  CHECK_THAT(created("1722004877123"), Contains(R"("createdAt":"2024-07-26T14:41:17.123Z")"));
  // A plain string stays as it is.
  CHECK_THAT(convert(doc(R"("x")", R"("2024-07-26T16:41:17+02:00")")),
             Contains(R"("createdAt":"2024-07-26T16:41:17+02:00")"));

  CHECK(refuse(doc(R"("x")", R"({"$date":"yesterday"})")).code == kBadDate);
  CHECK(refuse(doc(R"("x")", R"({"$date":{"$numberLong":"1.5"}})")).code == kBadDate);
  CHECK(refuse(doc(R"("x")", R"({"$date":{"$numberLong":"99999999999999999999"}})")).code ==
        kBadDate);
  CHECK(refuse(doc(R"("x")", R"({"$date":{"$numberLong":"-62167219200001"}})")).code ==
        kBadDate);  // before year 0000
  CHECK(refuse(doc(R"("x")", R"({"$date":{"$numberLong":"253402300800000"}})")).code ==
        kBadDate);  // after 9999
  CHECK(refuse(doc(R"("x")", R"({"$date":true})")).code == kBadDate);
  CHECK(refuse(doc(R"("x")", R"({"$date":"2024-07-26T14:41:17Z","x":1})")).code ==
        kMalformedWrapper);
}

TEST_CASE("format_utc_ms: the edges of the years an ISO date holds", "[unit][import]") {
  CHECK(format_utc_ms(-62167219200000) == "0000-01-01T00:00:00.000Z");
  CHECK(format_utc_ms(253402300799999) == "9999-12-31T23:59:59.999Z");
  CHECK(format_utc_ms(951782400000) == "2000-02-29T00:00:00.000Z");
  CHECK(format_utc_ms(-86400001) == "1969-12-30T23:59:59.999Z");
  CHECK_FALSE(format_utc_ms(-62167219200001));
  CHECK_FALSE(format_utc_ms(INT64_MIN));
  CHECK_FALSE(format_utc_ms(INT64_MAX));
}

TEST_CASE("numbers: every $number* wrapper, in data at any depth", "[unit][import]") {
  auto data = [](const std::string& value) {
    return convert(doc(R"("x")", R"("2024")", R"({"v":[{"w":)" + value + "}]}"));
  };
  CHECK_THAT(data(R"({"$numberInt":"-2147483648"})"), Contains(R"("v":[{"w":-2147483648}])"));
  CHECK_THAT(data(R"({"$numberLong":"-9223372036854775808"})"),
             Contains(R"({"w":-9223372036854775808})"));
  CHECK_THAT(data(R"({"$numberDouble":"1.0"})"), Contains(R"({"w":1.0})"));
  CHECK_THAT(data(R"({"$numberDouble":"-0.0"})"), Contains(R"({"w":-0.0})"));
  CHECK_THAT(data(R"({"$numberDouble":"1.7976931348623157E+308"})"),
             Contains(R"({"w":1.7976931348623157e308})"));
  CHECK_THAT(data(R"({"$numberDecimal":"7.31"})"), Contains(R"({"w":7.31})"));
  CHECK_THAT(data(R"({"$numberDecimal":"1E+3"})"), Contains(R"({"w":1000.0})"));
  CHECK_THAT(data(R"({"$numberDecimal":"42"})"), Contains(R"({"w":42})"));

  CHECK(refuse(doc(R"("x")", R"("2024")", R"({"a":{"$numberInt":"2147483648"}})")).code ==
        kBadNumber);
  CHECK(refuse(doc(R"("x")", R"("2024")", R"({"a":{"$numberInt":"+1"}})")).code == kBadNumber);
  CHECK(refuse(doc(R"("x")", R"("2024")", R"({"a":{"$numberInt":1}})")).code == kBadNumber);
  CHECK(refuse(doc(R"("x")", R"("2024")", R"({"a":{"$numberLong":"9223372036854775808"}})"))
            .code == kBadNumber);
  CHECK(refuse(doc(R"("x")", R"("2024")", R"({"a":{"$numberDouble":"1e999"}})")).code ==
        kBadNumber);
  CHECK(refuse(doc(R"("x")", R"("2024")", R"({"a":{"$numberDouble":"inf"}})")).code ==
        kBadNumber);
  CHECK(refuse(doc(R"("x")", R"("2024")", R"({"a":{"$numberDecimal":"1E+6144"}})")).code ==
        kBadNumber);
  CHECK(refuse(doc(R"("x")", R"("2024")", R"({"a":{"$numberDecimal":".5"}})")).code ==
        kBadNumber);
  for (const char* text : {"Infinity", "-Infinity", "NaN"}) {
    Error e = refuse(doc(R"("x")", R"("2024")",
                         R"({"a":{"b":{"$numberDouble":")" + std::string(text) + R"("}}})"));
    CHECK(e.code == kNonFiniteNumber);
    CHECK_THAT(e.message, Contains("data.a.b") && Contains(text));
  }
  CHECK(refuse(doc(R"("x")", R"("2024")", R"({"a":{"$numberDecimal":"NaN"}})")).code ==
        kNonFiniteNumber);
}

TEST_CASE("other wrappers in data: $oid and $date become strings, the rest is refused by name",
          "[unit][import]") {
  CHECK_THAT(convert(doc(R"("x")", R"("2024")",
                         R"({"ref":{"$oid":"66A3B1F2C0FFEE0000000001"},)"
                         R"("at":{"$date":{"$numberLong":"0"}},"id":{"$uuid":")" +
                             std::string(kUuid) + R"("}})")),
             Contains(R"("data":{"ref":"66a3b1f2c0ffee0000000001",)"
                      R"("at":"1970-01-01T00:00:00.000Z","id":")" +
                      std::string(kUuid) + R"("})"));
  CHECK(refuse(doc(R"("x")", R"("2024")", R"({"ref":{"$oid":"66a3"}})")).code == kBadObjectId);
  for (const char* wrapper :
       {R"({"$timestamp":{"t":1,"i":1}})", R"({"$regularExpression":{"pattern":"a","options":""}})",
        R"({"$minKey":1})", R"({"$maxKey":1})", R"x({"$code":"f()"})x", R"({"$symbol":"s"})",
        R"({"$undefined":true})", R"({"$ref":"c","$id":1})", R"({"$foo":1})",
        R"({"price":1,"$inc":2})"}) {
    Error e = refuse(doc(R"("x")", R"("2024")", std::string(R"({"items":[1,)") + wrapper + "]}"));
    CHECK(e.code == kUnknownOperator);
    CHECK_THAT(e.message, Contains("data.items[1]"));
  }
  Error e = refuse(doc(R"("x")", R"("2024")", R"({"$timestamp":{"t":1,"i":1}})"));
  CHECK_THAT(e.message, Contains("\"$timestamp\""));
  // Binary data that is not a UUID has no JSON form.
  CHECK(refuse(doc(R"("x")", R"("2024")", R"({"blob":)" + binary("AAEC", "00") + "}")).code ==
        kUnsupportedBinary);
}

TEST_CASE("documents that cannot become events: not JSON, not an object, no eventId, duplicates",
          "[unit][import]") {
  CHECK(refuse("not json").code == event::kReasonInvalidJson);
  CHECK(refuse(R"({"eventId":"x",)").code == event::kReasonInvalidJson);
  CHECK(refuse(R"(["eventId"])").code == kNotAnObject);
  CHECK(refuse(R"({"eventType":"Country"})").code == kMissingEventId);
  // Duplicate keys are refused, also inside a wrapper (which one would win is undefined).
  CHECK(refuse(R"({"eventId":"a","eventId":"b"})").code == event::kReasonDuplicateKey);
  CHECK(refuse(doc(R"({"$uuid":"a","$uuid":"b"})")).code == event::kReasonDuplicateKey);
  CHECK(refuse(doc(R"("x")", R"("2024")", R"({"a":1,"a":2})")).code ==
        event::kReasonDuplicateKey);
}

TEST_CASE("the document limits: twice the bytes and one level more than an event's",
          "[unit][import]") {
  event::JsonLimits events{3, 100};
  event::JsonLimits l = document_limits(events);
  CHECK(l.max_depth == 4);
  CHECK(l.max_bytes == 200);
  // data at the event's depth limit, each number wrapped: one level deeper, still accepted.
  std::string deep = doc(R"("x")", R"("2024")", R"({"a":{"b":{"$numberInt":"1"}}})");
  CHECK(convert_document(deep, document_limits({3, 1000})).ok());
  CHECK(convert_document(deep, document_limits({2, 1000})).error().code ==
        event::kReasonTooDeep);
  CHECK(convert_document(std::string(201, ' '), l).error().code == event::kReasonTooLarge);
}

TEST_CASE("decode_base64: strict RFC 4648", "[unit][import]") {
  CHECK(decode_base64("") == std::string());
  CHECK(decode_base64("Zg==") == std::string("f"));
  CHECK(decode_base64("Zm8=") == std::string("fo"));
  CHECK(decode_base64("Zm9v") == std::string("foo"));
  CHECK_FALSE(decode_base64("Zg="));
  CHECK_FALSE(decode_base64("Z==="));
  CHECK_FALSE(decode_base64("Zg==Zg=="));
  CHECK_FALSE(decode_base64("Zm9v\n"));
  CHECK_FALSE(decode_base64("Zm-_"));
  CHECK_FALSE(decode_base64("Zh=="));  // a non-canonical encoding of "f"
}

}  // namespace
}  // namespace pemx::import
