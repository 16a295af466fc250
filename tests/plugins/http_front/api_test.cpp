// The HTTP API's pure core: query parsing and limits, the reference's validation messages
// and error shapes, the history answer, the push's 201 and Prefer (the guards: guards_test).
// Tagged [compat]: what reference-behaviour.md measured on the original.
#include <catch2/catch.hpp>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "builtin_stages.hpp"
#include "core/config.hpp"
#include "event/time.hpp"
#include "http_front/api.hpp"
#include "http_front/server.hpp"
#include "support/json.hpp"

using namespace pemx;
using namespace pemx::http_front;
using pemx::test::parse_json;

namespace {
Answer as_answer(std::variant<EventQuery, Answer> v) {
  REQUIRE(std::holds_alternative<Answer>(v));
  return std::get<Answer>(v);
}
EventQuery as_query(std::variant<EventQuery, Answer> v) {
  if (auto* a = std::get_if<Answer>(&v)) FAIL("unexpected answer: " << a->body);
  return std::get<EventQuery>(v);
}
Answer push_answer(const std::string& body) {
  auto v = parse_push_request(body);
  REQUIRE(std::holds_alternative<Answer>(v));
  return std::get<Answer>(v);
}
const std::string kValid =
    R"({"eventId":"6f1c2a34-1111-4aaa-8bbb-000000000001","eventType":"Country","productId":"P1","region":"EU","createdAt":"2024-07-26T14:41:17.123Z","data":{"country":"Sweden"}})";
}  // namespace

TEST_CASE("productIds are split on commas and trimmed", "[unit][http]") {
  auto q = as_query(parse_history_request("productIds=%20A%20,B,,%20C", {}));
  CHECK(q.product_ids == std::vector<std::string>{"A", "B", "C"});
  CHECK(q.limit == 1000);
  CHECK_FALSE(q.cursor);
}

TEST_CASE("a missing productIds is the 400 the reference meant", "[unit][http][compat]") {
  for (const char* qs : {"", "limit=5", "productid=A"}) {
    INFO(qs);
    Answer a = as_answer(parse_history_request(qs, {}));
    CHECK(a.status == 400);
    auto d = parse_json(a.body);
    REQUIRE(d["errors"].Size() == 1);
    CHECK(std::string(d["errors"][0]["msg"].GetString()) == "Product Id is missing in query");
    CHECK(std::string(d["errors"][0]["path"].GetString()) == "productIds");
    CHECK(std::string(d["errors"][0]["location"].GetString()) == "query");
    CHECK(std::string(d["errors"][0]["type"].GetString()) == "field");
    // Missing entirely: express-validator leaves out "value".
    CHECK_FALSE(d["errors"][0].HasMember("value"));
  }
}

TEST_CASE("productIds given more than once is a 400 (not the last one silently)",
          "[unit][http]") {
  // Express's query parser makes an array of them and the reference crashed into a 500; which
  // one PEMX searched for depended on their order ("productIds=&productIds=A" found A's events,
  // "productIds=A&productIds=" answered []).
  for (const char* qs : {"productIds=&productIds=A", "productIds=A&productIds=",
                         "productIds=A&limit=5&productIds=B"}) {
    INFO(qs);
    Answer a = as_answer(parse_history_request(qs, {}));
    CHECK(a.status == 400);
    auto d = parse_json(a.body);
    REQUIRE(d["errors"].Size() == 1);
    CHECK(std::string(d["errors"][0]["path"].GetString()) == "productIds");
    CHECK(std::string(d["errors"][0]["msg"].GetString()).find("more than once") !=
          std::string::npos);
    // The value is every one given, as express-validator would show the array.
    CHECK(d["errors"][0]["value"].IsArray());
    CHECK(d["errors"][0]["value"].Size() == 2);
  }
}

TEST_CASE("a productIds naming no id is the reference's 200 []", "[unit][http][compat]") {
  // What the old page sends when Search is clicked with no chip, and ids all blank.
  for (const char* qs : {"productIds=", "productIds=,%20,", "productIds=%20", "productIds=,,",
                         "productIds=+", "productIds=&limit=5"}) {
    INFO(qs);
    Answer a = as_answer(parse_history_request(qs, {}));
    CHECK(a.status == 200);
    CHECK(a.body == "[]");
    CHECK(a.headers.empty());
    CHECK(a.content_type.empty());  // application/json, as every API answer
  }
  // PEMX's own parameters are still checked.
  Answer bad = as_answer(parse_history_request("productIds=&limit=0", {}));
  CHECK(bad.status == 400);
  CHECK(bad.body.find("limit must be an integer") != std::string::npos);
}

TEST_CASE("200 ids are accepted, 201 are refused", "[unit][http]") {
  std::string ids;
  for (int i = 0; i < 200; ++i) ids += (i ? "," : "") + std::string("P") + std::to_string(i);
  CHECK(as_query(parse_history_request("productIds=" + ids, {})).product_ids.size() == 200);
  Answer a = as_answer(parse_history_request("productIds=" + ids + ",P200", {}));
  CHECK(a.status == 400);
  auto d = parse_json(a.body);
  REQUIRE(d["errors"].Size() == 1);
  // The reference's text, misspelling included.
  CHECK(std::string(d["errors"][0]["msg"].GetString()) ==
        "Product ids out of the limit, must be between 1 and 200 product ids at a time and "
        "should be comma seprated");
  CHECK(std::string(d["errors"][0]["path"].GetString()) == "productIds");
  CHECK(std::string(d["errors"][0]["location"].GetString()) == "query");
  CHECK(std::string(d["errors"][0]["value"].GetString()) == ids + ",P200");
}

TEST_CASE("limit, type and time filters are parsed and bounded", "[unit][http]") {
  HistoryLimits limits{50, 500};
  auto q = as_query(parse_history_request(
      "productIds=A&limit=20&eventType=Country&from=2024-07-26T00:00:00Z&to=2024-07-27&cursor=abc",
      limits));
  CHECK(q.limit == 20);
  CHECK(q.event_type == std::string("Country"));
  CHECK(q.from_ms == 1721952000000);
  CHECK(q.to_ms == 1722038400000);
  CHECK(q.cursor == std::string("abc"));
  CHECK(as_query(parse_history_request("productIds=A", limits)).limit == 50);
  for (const char* bad : {"limit=0", "limit=501", "limit=x", "limit=-1", "limit=10abc"}) {
    INFO(bad);
    Answer a = as_answer(parse_history_request(std::string("productIds=A&") + bad, limits));
    CHECK(a.status == 400);
    CHECK(a.body.find("limit must be an integer from 1 to 500") != std::string::npos);
  }
  Answer bad_date = as_answer(parse_history_request("productIds=A&from=yesterday", limits));
  CHECK(bad_date.body.find("from must be a valid ISO 8601 date") != std::string::npos);
}

TEST_CASE("a malformed percent-escape is a 400, not a crash", "[unit][http]") {
  for (const char* qs : {"productIds=%", "productIds=%4", "productIds=%zz", "productIds=A%"}) {
    INFO(qs);
    Answer a = as_answer(parse_history_request(qs, {}));
    CHECK(a.status == 400);
    CHECK(parse_json(a.body)["error"].IsString());
  }
  CHECK(url_decode("a%2Cb+c") == std::string("a,b c"));
}

TEST_CASE("push: every reference validation message, with its path and value", "[unit][http]") {
  Answer a = push_answer(
      R"({"events":[{"eventId":"nope","eventType":"","productId":"P","region":"EU","createdAt":"2024-13-01"},{"eventType":"T"}]})");
  CHECK(a.status == 400);
  auto d = parse_json(a.body);
  const auto& errors = d["errors"];
  std::vector<std::string> got;
  for (const auto& e : errors.GetArray()) {
    CHECK(std::string(e["type"].GetString()) == "field");
    CHECK(std::string(e["location"].GetString()) == "body");
    got.push_back(std::string(e["path"].GetString()) + " " + e["msg"].GetString());
  }
  CHECK(got == std::vector<std::string>{
                   "events[0].eventId Event ID must be a valid UUID",
                   "events[0].eventType Event type is required",
                   "events[0].createdAt Created at must be a valid ISO 8601 date",
                   "events[1].eventId Event ID must be a valid UUID",
                   "events[1].productId Product ID is required",
                   "events[1].region Region is required",
                   "events[1].createdAt Created at must be a valid ISO 8601 date",
               });
  CHECK(std::string(errors[0]["value"].GetString()) == "nope");
  CHECK_FALSE(errors[3].HasMember("value"));  // missing: no value, like express-validator
}

namespace {
// The errors of a 400 as "path msg" lines, and their values as JSON text ("-": none).
struct Errors {
  std::vector<std::string> lines;
  std::vector<std::string> values;
};
std::string json_text(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return {buf.GetString(), buf.GetSize()};
}
Errors errors_of(const Answer& a) {
  CHECK(a.status == 400);
  auto d = parse_json(a.body);
  Errors out;
  for (const auto& e : d["errors"].GetArray()) {
    CHECK(std::string(e["type"].GetString()) == "field");
    CHECK(std::string(e["location"].GetString()) == "body");
    out.lines.push_back(std::string(e["path"].GetString()) + " " + e["msg"].GetString());
    out.values.push_back(e.HasMember("value") ? json_text(e["value"]) : "-");
  }
  return out;
}
const std::string kOutOfLimit =
    "events Events out of the limit, between 1 and 200 events can be pushed at a time";
}  // namespace

TEST_CASE("push: events absent fails both rules of the chain, with no value",
          "[unit][http][compat]") {
  // The body an object without "events", or not an object at all: req.body.events is undefined.
  for (const char* body : {R"({})", R"({"event":[]})", R"([1,2])", R"("abc")", "null", "7"}) {
    INFO(body);
    Errors e = errors_of(push_answer(body));
    CHECK(e.lines == std::vector<std::string>{"events Zero events entered", kOutOfLimit});
    CHECK(e.values == std::vector<std::string>{"-", "-"});
  }
}

TEST_CASE("push: events present but not an array of 1 to 200 fails only the limit, with the "
          "whole value",
          "[unit][http][compat]") {
  std::string many = "[";
  for (int i = 0; i < 201; ++i) many += (i ? "," : "") + kValid;
  many += "]";
  for (const std::string& value :
       {std::string("[]"), std::string("{}"), std::string(R"("abc")"), std::string("null"),
        std::string("0"), std::string("false"), std::string(R"({"a":[1,2]})"), many}) {
    INFO(value.substr(0, 80));
    Errors e = errors_of(push_answer(R"({"events":)" + value + "}"));
    CHECK(e.lines == std::vector<std::string>{kOutOfLimit});
    CHECK(e.values == std::vector<std::string>{value});
  }
}

TEST_CASE("push: bad JSON and bad UTF-8 are 400 with an error message", "[unit][http]") {
  for (std::string body : {std::string("{\"events\": ["), std::string("not json"),
                           std::string("{\"events\":[\"\xff\xfe\"]}")}) {
    Answer a = push_answer(body);
    CHECK(a.status == 400);
    CHECK(std::string(parse_json(a.body)["error"].GetString()).find("not valid JSON") !=
          std::string::npos);
  }
}

TEST_CASE("push: valid events come out keyed by productId", "[unit][http]") {
  auto v = parse_push_request(R"({"events":[)" + kValid + "," + kValid + "]}");
  REQUIRE(std::holds_alternative<std::vector<PushEvent>>(v));
  const auto& events = std::get<std::vector<PushEvent>>(v);
  REQUIRE(events.size() == 2);
  CHECK(events[0].key == "P1");
  CHECK(events[0].value == kValid);
}

TEST_CASE("the history answer has exactly the six fields, and a next-page link", "[unit][http]") {
  EventPage page;
  page.events.push_back({"id1", "Country", "P1", "EU", "2024-07-26T14:41:17.123Z",
                         R"({"country":"Sweden"})"});
  page.next_cursor = "c/1";
  Answer a = history_answer(page, "/event", "productIds=P1&limit=1&cursor=old");
  auto d = parse_json(a.body);
  REQUIRE(d.IsArray());
  REQUIRE(d.Size() == 1);
  CHECK(d[0].MemberCount() == 6);
  CHECK(std::string(d[0]["data"]["country"].GetString()) == "Sweden");
  REQUIRE(a.headers.size() == 2);
  CHECK(a.headers[0] == std::make_pair(std::string("X-Next-Cursor"), std::string("c/1")));
  CHECK(a.headers[1].second == "</event?productIds=P1&limit=1&cursor=c%2F1>; rel=\"next\"");
  page.next_cursor.reset();
  CHECK(history_answer(page, "/event", "productIds=P1").headers.empty());
}

// history_answer writes a createdAt already in the normal form as it is, without normalising a
// copy: its answer must stay byte for byte what normalising every createdAt gave, escapes
// included, for every byte value a stored text may hold.
TEST_CASE("the history answer is byte-identical to normalising every createdAt", "[unit][http]") {
  const auto with_writer = [](const EventPage& page) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    const auto str = [&w](const std::string& s) {
      w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    };
    w.StartArray();
    for (const auto& e : page.events) {
      w.StartObject();
      w.Key("eventId");
      str(e.event_id);
      w.Key("eventType");
      str(e.event_type);
      w.Key("productId");
      str(e.product_id);
      w.Key("region");
      str(e.region);
      w.Key("createdAt");
      str(normalise_created_at(e.created_at));
      w.Key("data");
      w.RawValue(e.data_json.data(), e.data_json.size(), rapidjson::kObjectType);
      w.EndObject();
    }
    w.EndArray();
    return std::string(buf.GetString(), buf.GetSize());
  };
  EventPage page;
  CHECK(history_answer(page, "/event", "productIds=P1").body == with_writer(page));
  std::string every_byte;
  for (int c = 0; c < 256; ++c) every_byte += static_cast<char>(c);
  page.events.push_back({"id1", "Country", "P1", "EU", "2024-07-26T14:41:17.123Z",
                         R"({"country":"Sweden"})"});
  page.events.push_back({every_byte, "quote\" and \\ back", "P\n\t\r\b\f2", "\x7f\xc3\xa9\xff",
                         "2024-07-26T16:41:17.5+02:00", R"({"a":[1,"\u0000"]})"});
  page.events.push_back({"", "", "", "", "", "{}"});
  page.events.push_back({"id\"", "T", "P", "R", every_byte, "{}"});
  CHECK(history_answer(page, "/event", "productIds=P1").body == with_writer(page));

  // Each byte the writer escapes, and bytes next to them in value or with the high bit set, at
  // every position of strings of 1 to 19 bytes (0x22 is the quote, 0x5c the backslash):
  // HistoryAnswer looks for them 8 bytes at a time.
  page.events.clear();
  for (const int b : {0x00, 0x01, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7f, 0x80, 0x9f,
                      0xa0, 0xa2, 0xdc, 0xff}) {
    for (std::size_t len = 1; len < 20; ++len) {
      for (std::size_t at = 0; at < len; ++at) {
        std::string s(len, 'a');
        s[at] = static_cast<char>(b);
        page.events.push_back({s, s, s, s, s, "{}"});
      }
    }
  }
  CHECK(history_answer(page, "/event", "productIds=P1").body == with_writer(page));
}

TEST_CASE("history createdAt: the stored instant in UTC with milliseconds, as the reference",
          "[unit][http][compat]") {
  CHECK(normalise_created_at("2024-07-26T16:41:17.5+02:00") == "2024-07-26T14:41:17.500Z");
  CHECK(normalise_created_at("2024-07-26T14:41:17Z") == "2024-07-26T14:41:17.000Z");
  CHECK(normalise_created_at("2024-07-26T14:41:17.123Z") == "2024-07-26T14:41:17.123Z");
  // Past the milliseconds: truncated, as JS Date does (not rounded).
  CHECK(normalise_created_at("2024-07-26T14:41:17.123999Z") == "2024-07-26T14:41:17.123Z");
  CHECK(normalise_created_at("2024-07-26T00:30:00-01:30") == "2024-07-26T02:00:00.000Z");
  CHECK(normalise_created_at("2024-01-01T00:30:00+01:00") == "2023-12-31T23:30:00.000Z");
  CHECK(normalise_created_at("2024-07-26") == "2024-07-26T00:00:00.000Z");
  // Not ISO 8601 (stored from the Kafka path when it is not validated): as received.
  for (const char* kept : {"yesterday", "", "2024-13-01T00:00:00Z", "1721952000000"}) {
    CHECK(normalise_created_at(kept) == kept);
  }

  // Text already in the normal form is returned without parsing: it must be exactly what the
  // parse and format would give, edges included (24:00, a leap second, invalid dates).
  const auto slow = [](const std::string& t) {
    auto ms = event::iso8601_to_epoch_ms(t);
    return ms ? event::epoch_ms_to_iso8601(*ms) : t;
  };
  for (const char* date : {"2024-07-26", "2024-02-29", "2023-02-29", "2024-02-30", "0000-01-01",
                           "9999-12-31", "1969-12-31", "2024-13-01", "2024-00-10", "2024-12-00"}) {
    for (const char* time : {"00:00:00.000", "14:41:17.123", "23:59:59.999", "24:00:00.000",
                             "23:59:60.000", "23:60:00.000", "25:00:00.000", "12:00:59.500"}) {
      const std::string t = std::string(date) + "T" + time + "Z";
      CHECK(normalise_created_at(t) == slow(t));
    }
  }
  CHECK(normalise_created_at("2024-07-26T24:00:00.000Z") == "2024-07-27T00:00:00.000Z");

  EventPage page;
  page.events.push_back({"id1", "Country", "P1", "EU", "2024-07-26T16:41:17.5+02:00", "{}"});
  page.events.push_back({"id2", "Country", "P1", "EU", "not a date", "{}"});
  auto d = parse_json(history_answer(page, "/event", "productIds=P1").body);
  CHECK(std::string(d[0]["createdAt"].GetString()) == "2024-07-26T14:41:17.500Z");
  CHECK(std::string(d[1]["createdAt"].GetString()) == "not a date");
}

TEST_CASE("Prefer: the first return preference, parsed as RFC 7240 says", "[unit][http][compat]") {
  using P = ReturnPreference;
  const std::vector<std::pair<std::string, P>> cases = {
      {"", P::kNone},
      {"return=representation", P::kRepresentation},
      {"Return=Representation", P::kRepresentation},
      {"RETURN = representation", P::kRepresentation},  // BWS around "="
      {"return=\"representation\"", P::kRepresentation},
      {"return=minimal", P::kMinimal},
      {"respond-async, return=representation", P::kRepresentation},
      {"wait=10,return=representation;foo=bar", P::kRepresentation},
      {"handling=lenient; x=\"a,return=minimal\", return=representation", P::kRepresentation},
      {"return=representation; charset=\"utf-8\" ;; x", P::kRepresentation},
      {" , ,return=representation , ", P::kRepresentation},
      {"return=minimal, return=representation", P::kMinimal},  // the first one counts
      {"return=representation, return=minimal", P::kRepresentation},
      {"return", P::kNone},
      {"return=full, return=representation", P::kNone},
      {"returns=representation", P::kNone},
      {"representation", P::kNone},
      {"x-return=representation", P::kNone},
      {"return=representation-ish", P::kNone},
      {"@@@, return=representation", P::kRepresentation},  // a malformed element is skipped
      {"return=\"representation", P::kNone},               // unterminated quoted-string
      {"foo=\"a\\\",return=minimal\", return=representation", P::kRepresentation},
  };
  for (const auto& [header, expected] : cases) {
    INFO("Prefer: " << header);
    CHECK(return_preference(header) == expected);
  }
}

TEST_CASE("the push's 201: the reference's text, or the JSON receipt when preferred",
          "[unit][http][compat]") {
  const std::vector<Delivered> delivered = {{"product-event", 2, 41}, {"product-event", 0, 7}};
  for (auto preference : {ReturnPreference::kNone, ReturnPreference::kMinimal}) {
    Answer text = pushed_answer(delivered, preference);
    CHECK(text.status == 201);
    CHECK(text.body == "Events pushed to the queue successfully");
    CHECK(text.content_type == "text/html; charset=utf-8");
    CHECK(text.headers ==
          std::vector<std::pair<std::string, std::string>>{{"Vary", "Prefer"}});
  }
  Answer receipt = pushed_answer(delivered, ReturnPreference::kRepresentation);
  CHECK(receipt.status == 201);
  CHECK(receipt.content_type.empty());  // application/json
  CHECK(receipt.headers == std::vector<std::pair<std::string, std::string>>{
                               {"Preference-Applied", "return=representation"},
                               {"Vary", "Prefer"}});
  CHECK(receipt.body ==
        R"({"message":"Events pushed","count":2,"events":[)"
        R"({"topic":"product-event","partition":2,"offset":41},)"
        R"({"topic":"product-event","partition":0,"offset":7}]})");
}

TEST_CASE("UTF-8 validation", "[unit][http]") {
  CHECK(valid_utf8("plain ascii"));
  CHECK(valid_utf8("Sverige \xc3\xa5\xc3\xa4\xc3\xb6 \xe2\x82\xac \xf0\x9f\x98\x80"));
  CHECK_FALSE(valid_utf8("\xff"));
  CHECK_FALSE(valid_utf8("\xc3"));
  CHECK_FALSE(valid_utf8("\xe2\x82"));
  CHECK_FALSE(valid_utf8("\xc0\xaf"));  // overlong
  CHECK_FALSE(valid_utf8("a\x80"));
  // Found by attacking the server: these were echoed raw in 400 bodies.
  CHECK_FALSE(valid_utf8("\xed\xa0\x80"));      // an encoded surrogate (U+D800)
  CHECK_FALSE(valid_utf8("\xe0\x80\xaf"));      // overlong three-byte form
  CHECK_FALSE(valid_utf8("\xf0\x80\x80\xaf"));  // overlong four-byte form
  CHECK_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  CHECK(valid_utf8("\xf4\x8f\xbf\xbf"));        // U+10FFFF itself
  CHECK(valid_utf8("\xed\x9f\xbf"));             // U+D7FF, just below the surrogates
  CHECK(valid_utf8(std::string_view("a\0b", 3)));  // NUL is a character
}

TEST_CASE("a query that decodes to invalid UTF-8 is a 400", "[unit][http]") {
  for (const char* qs : {"productIds=%FF%FE", "productIds=a&eventType=%C0%AF", "%FF=1&productIds=a"}) {
    INFO(qs);
    Answer a = as_answer(parse_history_request(qs, {}));
    CHECK(a.status == 400);
    CHECK(a.body.find("not valid UTF-8") != std::string::npos);
  }
}

TEST_CASE("push: numbers keep their value (full precision, shortest text)", "[unit][http]") {
  std::string e = kValid;
  e.replace(e.find(R"({"country":"Sweden"})"), 20,
            R"({"newPrice":123456789.123456789,"previousPrice":7.31,"n":0.1})");
  auto v = parse_push_request(R"({"events":[)" + e + "]}");
  REQUIRE(std::holds_alternative<std::vector<PushEvent>>(v));
  const std::string& out = std::get<std::vector<PushEvent>>(v)[0].value;
  CHECK(out.find("\"newPrice\":123456789.12345679") != std::string::npos);
  CHECK(out.find("\"previousPrice\":7.31") != std::string::npos);
  CHECK(out.find("\"n\":0.1") != std::string::npos);
}

TEST_CASE("push: numbers are written as the reference's JSON.stringify wrote them",
          "[unit][http][compat]") {
  // Each text as sent, and as node writes it: JSON.stringify(JSON.parse(text)). The same in
  // the echoed "value" of a 400 and in the event produced.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"1.0", "1"},
      {"1e2", "100"},
      {"1E+2", "100"},
      {"2.50", "2.5"},
      {"-0.0", "0"},
      {"123.456e5", "12345600"},
      {"1e21", "1e+21"},
      {"999999999999999999999.5", "1e+21"},
      {"100000000000000000000", "100000000000000000000"},
      {"123456789012345678901", "123456789012345680000"},
      {"18446744073709551616", "18446744073709552000"},
      {"1.7976931348623157e308", "1.7976931348623157e+308"},
      {"1e-6", "0.000001"},
      {"1.25e-5", "0.0000125"},
      {"1e-7", "1e-7"},
      {"-123.456e-10", "-1.23456e-8"},
      {"123e-20", "1.23e-18"},
      {"5e-324", "5e-324"},
      {"0.1000000000000000055511151231257827", "0.1"},
      // Integers that fit 64 bits stay as sent (JSON.parse would round those past 2^53).
      {"-0", "0"},
      {"9007199254740993", "9007199254740993"},
      {"-9223372036854775808", "-9223372036854775808"},
      {"18446744073709551615", "18446744073709551615"},
  };
  for (const auto& [sent, js] : cases) {
    INFO(sent);
    Answer a = push_answer(R"({"events":)" + sent + "}");
    CHECK(a.body == R"({"errors":[{"type":"field","value":)" + js +
                        R"(,"msg":"Events out of the limit, between 1 and 200 events can be )"
                        R"(pushed at a time","path":"events","location":"body"}]})");
    std::string e = kValid;
    e.replace(e.find(R"({"country":"Sweden"})"), 20, R"({"n":[)" + sent + "]}");
    auto v = parse_push_request(R"({"events":[)" + e + "]}");
    REQUIRE(std::holds_alternative<std::vector<PushEvent>>(v));
    CHECK(std::get<std::vector<PushEvent>>(v)[0].value.find(R"("data":{"n":[)" + js + "]}") !=
          std::string::npos);
  }
}

// --- the push decides like the router ----------------------------------------------------

namespace {
// The event check of the router in the shipped pemx.toml, made the way the supervisor makes it.
std::shared_ptr<EventCheck> shipped_router_check() {
  Registry registry = builtin_stages();
  LoadResult loaded = load_config(PEMX_SOURCE_DIR "/pemx.toml", {}, registry);
  REQUIRE(loaded.errors.empty());
  const StageInstance* router = loaded.config->stage("router");
  REQUIRE(router != nullptr);
  auto check = router->spec->event_check();
  REQUIRE(check != nullptr);
  return check;
}
std::string with(std::string event, const std::string& from, const std::string& to) {
  auto at = event.find(from);
  REQUIRE(at != std::string::npos);
  return event.replace(at, from.size(), to);
}
}  // namespace

TEST_CASE("push: an event the router would dead-letter is a 400 with its reason",
          "[unit][http][push_check]") {
  auto check = shipped_router_check();
  PushRules rules;
  rules.check = check.get();

  struct Case {
    std::string event;
    std::string reason;
    std::string path;
  };
  const Case cases[] = {
      {with(kValid, "\"Country\"", "\"InventoryUpdate\""), "unknown_event_type",
       "events[1].eventType"},
      {with(kValid, "\"Sweden\"", "\"New Zealand\""), "illegal_topic", "events[1].data.country"},
      {with(kValid, "\"Sweden\"", "\"" + std::string(300, 'x') + "\""), "illegal_topic",
       "events[1].data.country"},
      {with(with(kValid, "\"Country\"", "\"ProductPriceUpdate\""), "\"EU\"", "\"EU/US\""),
       "illegal_topic", "events[1].region"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.event);
    // A good event first: the answer names the refused one only, and nothing is produced.
    auto v = parse_push_request(R"({"events":[)" + kValid + "," + c.event + "]}", rules);
    REQUIRE(std::holds_alternative<Answer>(v));
    const Answer& a = std::get<Answer>(v);
    CHECK(a.status == 400);
    auto d = parse_json(a.body);
    REQUIRE(d["errors"].Size() == 1);
    const auto& e = d["errors"][0];
    CHECK(std::string(e["reason"].GetString()) == c.reason);
    CHECK(std::string(e["path"].GetString()) == c.path);
    CHECK(std::string(e["location"].GetString()) == "body");
    CHECK_THAT(std::string(e["msg"].GetString()),
               Catch::Matchers::StartsWith("the router would not deliver this event (" + c.reason));
  }
  // Without the check (a web role with no router in its config) the reference rules alone.
  auto v = parse_push_request(
      R"({"events":[)" + with(kValid, "\"Country\"", "\"InventoryUpdate\"") + "]}", {});
  CHECK(std::holds_alternative<std::vector<PushEvent>>(v));
}

TEST_CASE("push: what the router routes is accepted, and reference messages come first",
          "[unit][http][push_check]") {
  auto check = shipped_router_check();
  PushRules rules;
  rules.check = check.get();
  auto v = parse_push_request(R"({"events":[)" + kValid + "]}", rules);
  REQUIRE(std::holds_alternative<std::vector<PushEvent>>(v));
  // Every event is asked about exactly as it is produced.
  CHECK(check->check(std::get<std::vector<PushEvent>>(v)[0].value) == std::nullopt);

  // An event failing the reference's rules gets the reference's messages, not the router's.
  auto bad = parse_push_request(
      R"({"events":[)" + with(with(kValid, "\"Country\"", "\"Nope\""), "\"EU\"", "\"\"") + "]}",
      rules);
  REQUIRE(std::holds_alternative<Answer>(bad));
  auto d = parse_json(std::get<Answer>(bad).body);
  REQUIRE(d["errors"].Size() == 1);
  CHECK(std::string(d["errors"][0]["msg"].GetString()) == "Region is required");
  CHECK_FALSE(d["errors"][0].HasMember("reason"));
}

TEST_CASE("push: a body nested too deeply is a 400, never a crash", "[unit][http][push_check]") {
  // 240 KB of nested arrays in data crashed the server (stack overflow in the parser).
  const std::string deep = std::string(120'000, '[') + std::string(120'000, ']');
  auto a = push_answer(R"({"events":[)" + with(kValid, "\"Sweden\"", deep) + "]}");
  CHECK(a.status == 400);
  CHECK_THAT(a.body, Catch::Matchers::Contains("nested too deeply"));
  CHECK_THAT(a.body, Catch::Matchers::Contains("at most 64 levels"));

  // Exactly the event limit is fine: the event is level 1, data 2, 62 more arrays inside.
  std::string at_limit = std::string(62, '[') + std::string(62, ']');
  auto ok = parse_push_request(R"({"events":[)" + with(kValid, "\"Sweden\"", at_limit) + "]}");
  CHECK(std::holds_alternative<std::vector<PushEvent>>(ok));
  std::string over = std::string(63, '[') + std::string(63, ']');
  CHECK(push_answer(R"({"events":[)" + with(kValid, "\"Sweden\"", over) + "]}").status == 400);
}

TEST_CASE("push: a duplicate key anywhere is a 400 naming it", "[unit][http][push_check]") {
  auto a = push_answer(R"({"events":[)" +
                       with(kValid, "\"productId\":\"P1\"", R"("productId":"P1","productId":"P2")") +
                       "]}");
  CHECK(a.status == 400);
  CHECK_THAT(a.body, Catch::Matchers::Contains(R"(duplicate key \"productId\" in events[0])"));
  a = push_answer(R"({"events":[)" + kValid + R"(],"events":[]})");
  CHECK_THAT(a.body, Catch::Matchers::Contains(R"(duplicate key \"events\" at the top level)"));
}

TEST_CASE("push: an event larger than max_bytes is a 400 for that event",
          "[unit][http][push_check]") {
  PushRules rules;
  rules.limits.max_bytes = 400;
  std::string big = with(kValid, "\"Sweden\"", "\"" + std::string(300, 's') + "\"");
  auto v = parse_push_request(R"({"events":[)" + kValid + "," + big + "]}", rules);
  REQUIRE(std::holds_alternative<Answer>(v));
  auto d = parse_json(std::get<Answer>(v).body);
  REQUIRE(d["errors"].Size() == 1);
  CHECK(std::string(d["errors"][0]["path"].GetString()) == "events[1]");
  CHECK(std::string(d["errors"][0]["reason"].GetString()) == "event_too_large");
}

namespace {
// The shipped example schemas (schemas/), as [schemas] would name them.
std::shared_ptr<const event::SchemaSet> shipped_schemas() {
  Registry registry = builtin_stages();
  auto r = load_config_text(
      std::string(R"([roles]
x = []
[schemas]
ProductPriceUpdate = "product-price-update.json"
Country = "country.json"
SpecificProductDiscountUpdate = "specific-product-discount-update.json"
)"),
      PEMX_SOURCE_DIR "/schemas/pemx.toml", {}, registry);
  for (const auto& e : r.errors) FAIL(e.str());
  REQUIRE(r.config);
  REQUIRE(r.config->common.schemas);
  return r.config->common.schemas;
}
}  // namespace

TEST_CASE("push: an event failing its type's schema is a 400 naming the JSON pointer",
          "[unit][http][push_check][schema]") {
  PushRules rules;
  rules.schemas = shipped_schemas();
  const std::string price = with(kValid, R"("eventType":"Country")",
                                 R"("eventType":"ProductPriceUpdate")");
  const std::string bad_price = with(price, R"({"country":"Sweden"})", R"({"newPrice":-3})");
  const std::string no_price = with(price, R"({"country":"Sweden"})", R"({"previousPrice":1})");
  // Valid events around the bad ones: only those are named, nothing is produced.
  auto v = parse_push_request(R"({"events":[)" + kValid + "," + bad_price + "," + no_price +
                                  "]}",
                              rules);
  REQUIRE(std::holds_alternative<Answer>(v));
  const Answer& a = std::get<Answer>(v);
  CHECK(a.status == 400);
  auto d = parse_json(a.body);
  REQUIRE(d["errors"].Size() == 2);
  const auto& e = d["errors"][0];
  CHECK(std::string(e["type"].GetString()) == "field");
  CHECK(std::string(e["msg"].GetString()) ==
        "/events/1/data/newPrice: must be ≥ 0 (the schema of ProductPriceUpdate, minimum)");
  CHECK(std::string(e["pointer"].GetString()) == "/events/1/data/newPrice");
  CHECK(std::string(e["path"].GetString()) == "events[1].data.newPrice");
  CHECK(std::string(e["reason"].GetString()) == "schema");
  CHECK(std::string(e["location"].GetString()) == "body");
  CHECK(e["value"].GetInt() == -3);
  const auto& missing = d["errors"][1];
  CHECK(std::string(missing["pointer"].GetString()) == "/events/2/data/newPrice");
  CHECK(std::string(missing["msg"].GetString()) ==
        "/events/2/data/newPrice: is required (the schema of ProductPriceUpdate, required)");
  CHECK_FALSE(missing.HasMember("value"));
  // The reference's own messages keep their shape (no pointer); errors come in event order.
  auto both = parse_push_request(
      R"({"events":[)" + with(kValid, R"("region":"EU")", R"("region":"")") + "," + bad_price +
          "]}",
      rules);
  auto db = parse_json(std::get<Answer>(both).body);
  REQUIRE(db["errors"].Size() == 2);
  CHECK(std::string(db["errors"][0]["msg"].GetString()) == "Region is required");
  CHECK_FALSE(db["errors"][0].HasMember("pointer"));
  CHECK(std::string(db["errors"][1]["reason"].GetString()) == "schema");
  // Without schemas (the default) the same event is accepted, as the reference accepted it.
  CHECK(std::holds_alternative<std::vector<PushEvent>>(
      parse_push_request(R"({"events":[)" + bad_price + "]}", {})));
  // Valid events of every type pass.
  CHECK(std::holds_alternative<std::vector<PushEvent>>(parse_push_request(
      R"({"events":[)" + kValid + "," +
          with(price, R"({"country":"Sweden"})", R"({"newPrice":1})") + "]}",
      rules)));
}

TEST_CASE("GET /api/schemas lists the types; /api/schemas/{type} serves the file",
          "[unit][http][schema]") {
  auto schemas = shipped_schemas();
  auto list = parse_json(schema_list_answer(schemas.get()).body);
  REQUIRE(list["schemas"].Size() == 3);
  CHECK(std::string(list["schemas"][0]["eventType"].GetString()) == "Country");
  CHECK(std::string(list["schemas"][0]["href"].GetString()) == "/api/schemas/Country");
  CHECK(schema_list_answer(nullptr).body == R"({"schemas":[]})");
  Answer one = schema_answer(schemas.get(), "ProductPriceUpdate");
  CHECK(one.status == 200);
  CHECK(one.content_type == "application/schema+json");
  CHECK(one.body == schemas->find("ProductPriceUpdate")->text());
  CHECK(schema_answer(schemas.get(), "Product%50riceUpdate").status == 200);
  Answer none = schema_answer(schemas.get(), "InventoryUpdate");
  CHECK(none.status == 404);
  CHECK_THAT(none.body, Catch::Matchers::Contains(
                            "schemas exist for Country, ProductPriceUpdate, "
                            "SpecificProductDiscountUpdate"));
  CHECK(schema_answer(nullptr, "Country").status == 404);
  CHECK(schema_answer(schemas.get(), "Country%4").status == 400);
}

TEST_CASE("a store reader's error as every read route answers it", "[unit][http]") {
  Answer busy = store_error_answer(Error{"store_busy", "every reader connection stayed busy"});
  CHECK(busy.status == 503);
  CHECK(busy.headers == std::vector<std::pair<std::string, std::string>>{{"Retry-After", "1"}});
  CHECK(busy.body == R"({"error":"every reader connection stayed busy"})");
  CHECK(store_error_answer(Error{"unsupported", "cannot"}).status == 503);
  CHECK(store_error_answer(Error{"unsupported", "cannot"}).headers.empty());
  CHECK(store_error_answer(Error{"bad_cursor", "bad"}).status == 400);
  CHECK(store_error_answer(Error{"sqlite_error", "disk I/O error"}).status == 500);
}
