// ParsedEvent (parse, dotted-path lookups), scalar_text and json_excerpt.
#include "event/event.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace pemx::event {
namespace {

// true when parsed; otherwise `error` says what is wrong.
bool parse(ParsedEvent& event, std::string_view json, std::string& error) {
  JsonError e = event.parse(json);
  error = e.detail;
  return !e;
}

constexpr const char* kCountryEvent =
    R"({"eventId":"3b241101-e2bb-4255-8caf-4136c566a962","eventType":"Country",)"
    R"("productId":"AB12CD34EF","region":"US","createdAt":"2024-07-26T14:41:17.123Z",)"
    R"("data":{"country":"Sweden","region":"EU","nested":{"depth":3}}})";

TEST_CASE("parse accepts a JSON object and find follows dotted paths", "[unit][event]") {
  ParsedEvent event;
  std::string error;
  REQUIRE(parse(event, kCountryEvent, error));

  CHECK(event.root().IsObject());
  CHECK(event.string_at("eventType") == "Country");
  CHECK(event.string_at("data.country") == "Sweden");
  CHECK(event.string_at("data.region") == "EU");
  const rapidjson::Value* depth = event.find("data.nested.depth");
  REQUIRE(depth != nullptr);
  CHECK(depth->GetInt() == 3);
  const rapidjson::Value* data = event.find("data");
  REQUIRE(data != nullptr);
  CHECK(data->IsObject());
}

TEST_CASE("find answers null when a step is missing or not an object", "[unit][event]") {
  ParsedEvent event;
  std::string error;
  REQUIRE(parse(event, kCountryEvent, error));

  CHECK(event.find("missing") == nullptr);
  CHECK(event.find("data.missing") == nullptr);
  CHECK(event.find("data.country.deeper") == nullptr);  // "Sweden" is not an object
  CHECK(event.find("eventId.x") == nullptr);
  CHECK(event.find("data.nested.depth.x") == nullptr);
  CHECK(event.find("Data.country") == nullptr);  // names are case-sensitive
}

TEST_CASE("string_at answers nullopt for non-string values", "[unit][event]") {
  ParsedEvent event;
  std::string error;
  REQUIRE(parse(event, R"({"n":5,"b":true,"z":null,"o":{},"a":[],"s":""})", error));

  CHECK_FALSE(event.string_at("n"));
  CHECK_FALSE(event.string_at("b"));
  CHECK_FALSE(event.string_at("z"));
  CHECK_FALSE(event.string_at("o"));
  CHECK_FALSE(event.string_at("a"));
  CHECK_FALSE(event.string_at("missing"));
  REQUIRE(event.string_at("s"));
  CHECK(event.string_at("s")->empty());
}

TEST_CASE("parse refuses malformed JSON and says where", "[unit][event]") {
  ParsedEvent event;
  std::string error;

  SECTION("truncated object") {
    CHECK_FALSE(parse(event, R"({"eventId": "x")", error));
    CHECK_THAT(error, Catch::Matchers::Contains("at byte"));
  }
  SECTION("trailing garbage after the object") {
    CHECK_FALSE(parse(event, R"({"a":1} {"b":2})", error));
    CHECK_THAT(error, Catch::Matchers::Contains("at byte 8"));
  }
  SECTION("empty input") {
    CHECK_FALSE(parse(event, "", error));
    CHECK_FALSE(error.empty());
  }
  SECTION("invalid UTF-8 inside a string") {
    CHECK_FALSE(parse(event, "{\"a\":\"\xff\xfe\"}", error));
    CHECK_THAT(error, Catch::Matchers::Contains("at byte"));
  }
}

TEST_CASE("parse refuses JSON that is not an object", "[unit][event]") {
  ParsedEvent event;
  std::string error;
  for (const char* json : {"[]", "[{\"eventId\":\"x\"}]", "42", "\"text\"", "null", "true"}) {
    CAPTURE(json);
    error.clear();
    CHECK_FALSE(parse(event, json, error));
    CHECK(error == "an event must be a JSON object");
  }
}

TEST_CASE("parse reads exactly the bytes of the view, not up to a terminator", "[unit][event]") {
  const std::string buffer = R"({"a":"first"}{"a":"second"})";
  ParsedEvent event;
  std::string error;
  REQUIRE(parse(event, std::string_view(buffer).substr(0, 13), error));
  CHECK(event.string_at("a") == "first");
}

TEST_CASE("parse can be called again: each parse replaces the previous event", "[unit][event]") {
  ParsedEvent event;
  std::string error;
  REQUIRE(parse(event, R"({"a":"one","only_first":1})", error));
  REQUIRE(parse(event, R"({"a":"two"})", error));
  CHECK(event.string_at("a") == "two");
  CHECK(event.find("only_first") == nullptr);

  CHECK_FALSE(parse(event, "{broken", error));
  REQUIRE(parse(event, R"({"a":"three"})", error));
  CHECK(event.string_at("a") == "three");
}

TEST_CASE("scalar_text renders non-empty strings and integers only", "[unit][event]") {
  ParsedEvent event;
  std::string error;
  REQUIRE(parse(event, R"({"s":"US","empty":"","int":42,"neg":-7,)"
                      R"("big":18446744073709551615,"float":1.5,"whole_float":2.0,)"
                      R"("t":true,"f":false,"null":null,"obj":{"a":1},"arr":[1]})",
                      error));
  auto text = [&](const char* path) { return scalar_text(*event.find(path)); };

  CHECK(text("s") == "US");
  CHECK(text("int") == "42");
  CHECK(text("neg") == "-7");
  CHECK(text("big") == "18446744073709551615");
  CHECK_FALSE(text("empty"));
  CHECK_FALSE(text("float"));
  CHECK_FALSE(text("whole_float"));
  CHECK_FALSE(text("t"));
  CHECK_FALSE(text("f"));
  CHECK_FALSE(text("null"));
  CHECK_FALSE(text("obj"));
  CHECK_FALSE(text("arr"));
}

TEST_CASE("scalar_view gives scalar_text's text without a copy", "[unit][event]") {
  ParsedEvent event;
  std::string error;
  REQUIRE(parse(event, R"({"s":"United States","empty":"","int":42,"neg":-7,)"
                      R"("big":18446744073709551615,"float":1.5,"null":null,"obj":{"a":1}})",
                      error));
  for (const char* path : {"s", "empty", "int", "neg", "big", "float", "null", "obj"}) {
    INFO(path);
    ScalarBuffer buffer;
    auto view = scalar_view(*event.find(path), buffer);
    auto text = scalar_text(*event.find(path));
    REQUIRE(view.has_value() == text.has_value());
    if (view) CHECK(std::string(*view) == *text);
  }
  // A string is viewed in place, inside the parsed event: no copy per lookup.
  ScalarBuffer buffer;
  auto view = scalar_view(*event.find("s"), buffer);
  REQUIRE(view);
  CHECK(view->data() == event.find("s")->GetString());
}

TEST_CASE("json_excerpt renders a value and truncates long ones", "[unit][event]") {
  ParsedEvent event;
  std::string error;
  REQUIRE(parse(event, R"({"obj":{"a":[1,2]},"long":"0123456789012345678901234567890123456789"})",
                      error));

  CHECK(json_excerpt(*event.find("obj")) == R"({"a":[1,2]})");
  CHECK(json_excerpt(*event.find("long"), 10) == "\"012345678…");
  CHECK(json_excerpt(*event.find("long")) == R"("0123456789012345678901234567890123456789")");
}

TEST_CASE("replay builds the event from a reader's events; tokens that are not one complete "
          "value are not trusted and the text is parsed",
          "[unit][event][replay]") {
  using K = JsonToken::Kind;
  auto tok = [](K k, std::string_view text = {}, std::uint32_t count = 0) {
    return JsonToken{k, count, text};
  };
  ParsedEvent event;
  // Well-formed tokens are what the document is built from (here other than the text's, to
  // show it): numbers read as parse reads them.
  const JsonTokens b = {tok(K::kStartObject), tok(K::kKey, "b"), tok(K::kStartArray),
                        tok(K::kNumber, "2"), tok(K::kNumber, "-3"), tok(K::kNumber, "0.5"),
                        tok(K::kNumber, "18446744073709551615"), tok(K::kString, "x"),
                        tok(K::kNull), tok(K::kTrue), tok(K::kFalse), tok(K::kEndArray, {}, 8),
                        tok(K::kEndObject, {}, 1)};
  REQUIRE_FALSE(event.replay(R"({"a":1})", b));
  REQUIRE(event.find("a") == nullptr);
  const rapidjson::Value* list = event.find("b");
  REQUIRE(list != nullptr);
  REQUIRE(list->IsArray());
  REQUIRE(list->Size() == 8);
  CHECK((*list)[0].IsUint());
  CHECK((*list)[1].GetInt() == -3);
  CHECK((*list)[2].GetDouble() == 0.5);
  CHECK((*list)[3].GetUint64() == 18446744073709551615ULL);
  CHECK(std::string((*list)[4].GetString()) == "x");
  CHECK((*list)[5].IsNull());
  CHECK((*list)[6].IsTrue());
  CHECK((*list)[7].IsFalse());

  // Anything else: the text is parsed, with its own result.
  const JsonTokens broken[] = {
      {},                                                                    // nothing
      {tok(K::kStartObject), tok(K::kKey, "b"), tok(K::kNumber, "2")},       // not closed
      {tok(K::kStartObject), tok(K::kKey, "b"), tok(K::kNumber, "2"),
       tok(K::kEndObject, {}, 2)},                                           // wrong count
      {tok(K::kStartObject), tok(K::kNumber, "2"), tok(K::kEndObject, {}, 1)},  // no key
      {tok(K::kStartObject), tok(K::kKey, "b"), tok(K::kKey, "c"),
       tok(K::kNumber, "2"), tok(K::kEndObject, {}, 1)},                     // two keys
      {tok(K::kStartArray), tok(K::kKey, "b"), tok(K::kEndArray, {}, 0)},   // key in an array
      {tok(K::kStartObject), tok(K::kEndArray, {}, 0)},                     // mismatched end
      {tok(K::kEndObject, {}, 0)},                                          // an end first
      {tok(K::kStartObject), tok(K::kEndObject, {}, 0), tok(K::kStartObject),
       tok(K::kEndObject, {}, 0)},                                          // two values
      {tok(K::kStartObject), tok(K::kKey, "b"), tok(K::kNumber, "1e999"),
       tok(K::kEndObject, {}, 1)},                                          // a number too big
  };
  for (const JsonTokens& tokens : broken) {
    REQUIRE_FALSE(event.replay(R"({"a":1})", tokens));
    CHECK(event.find("b") == nullptr);
    REQUIRE(event.find("a") != nullptr);
    CHECK(event.find("a")->GetInt() == 1);
  }
  // Too deep: the text's own verdict.
  ParsedEvent shallow(JsonLimits{2, 1000});
  const JsonTokens deep = {tok(K::kStartObject), tok(K::kKey, "a"), tok(K::kStartObject),
                           tok(K::kKey, "b"), tok(K::kStartObject), tok(K::kEndObject, {}, 0),
                           tok(K::kEndObject, {}, 1), tok(K::kEndObject, {}, 1)};
  JsonError e = shallow.replay(R"({"a":{"b":{}}})", deep);
  CHECK(e.problem == JsonProblem::kTooDeep);
  // Too large: the text's verdict too.
  ParsedEvent small(JsonLimits{64, 4});
  CHECK(small.replay(R"({"a":1})", b).problem == JsonProblem::kTooLarge);
  // A scalar root is no event.
  CHECK(event.replay("1", {tok(K::kNumber, "1")}).detail == "an event must be a JSON object");
}

}  // namespace
}  // namespace pemx::event
