// parse_bounded: the depth, size and duplicate-key limits every untrusted JSON text is read
// under.
#include "event/json.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace pemx::event {
namespace {

using Catch::Matchers::Contains;

JsonError parse(std::string_view text, JsonLimits limits = {}) {
  rapidjson::Document doc;
  return parse_bounded<rapidjson::kParseValidateEncodingFlag>(doc, text, limits);
}

std::string nested_arrays(std::size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

TEST_CASE("a value nested a million levels deep is refused without recursion",
          "[unit][event][json]") {
  // The recursive parser overflowed the stack on this (SIGSEGV); the bounded one stops at the
  // first level past the limit.
  for (const std::string& text :
       {nested_arrays(1'000'000), std::string(1'000'000, '['),
        "{\"data\":" + std::string(500'000, '[') + std::string(500'000, ']') + "}"}) {
    JsonError e = parse(text, {64, 64u << 20});
    CHECK(e.problem == JsonProblem::kTooDeep);
    CHECK_THAT(e.detail, Contains("nested deeper than 64 levels"));
  }
  // Objects count like arrays.
  std::string objects;
  for (int i = 0; i < 100; ++i) objects += "{\"a\":";
  objects += "1" + std::string(100, '}');
  CHECK(parse(objects).problem == JsonProblem::kTooDeep);
}

TEST_CASE("the depth limit is exact: max_depth levels parse, one more does not",
          "[unit][event][json]") {
  CHECK_FALSE(parse(nested_arrays(64)));
  CHECK(parse(nested_arrays(65)).problem == JsonProblem::kTooDeep);
  CHECK_FALSE(parse(nested_arrays(3), {3, 1024}));
  CHECK(parse(nested_arrays(4), {3, 1024}).problem == JsonProblem::kTooDeep);
  // Scalars add no level; brackets inside strings are text.
  CHECK_FALSE(parse("[[\"[[[[[[[[\"]]", {2, 1024}));
  CHECK_FALSE(parse("{\"a\":[1,2,{\"b\":null}]}", {3, 1024}));
  CHECK(parse("{\"a\":[1,2,{\"b\":[]}]}", {3, 1024}).problem == JsonProblem::kTooDeep);
}

TEST_CASE("the size limit is checked before parsing", "[unit][event][json]") {
  std::string text = "{\"a\":\"" + std::string(1000, 'x') + "\"}";
  CHECK_FALSE(parse(text, {64, text.size()}));
  JsonError e = parse(text, {64, text.size() - 1});
  CHECK(e.problem == JsonProblem::kTooLarge);
  CHECK_THAT(e.detail, Contains(std::to_string(text.size()) + " bytes"));
  // Even malformed text that is too large is "too large": nothing of it was read.
  CHECK(parse(std::string(2000, '{'), {64, 1000}).problem == JsonProblem::kTooLarge);
}

TEST_CASE("a duplicate key at any level is refused, and where it is is said",
          "[unit][event][json]") {
  struct Case {
    const char* text;
    const char* detail;
  };
  const Case cases[] = {
      {R"({"eventType":"Country","eventType":"ProductPriceUpdate"})",
       R"(duplicate key "eventType" at the top level)"},
      {R"({"data":{"country":"US","country":"Sweden"}})", R"(duplicate key "country" in data)"},
      {R"({"data":{"items":[{"a":1},{"b":1,"b":2}]}})", R"(duplicate key "b" in data.items[1])"},
      {R"([[{"x":1,"x":1}]])", R"(duplicate key "x" in [0][0])"},
      // The same key spelt two ways is the same key once decoded.
      {R"({"a":1,"\u0061":2})", R"(duplicate key "a" at the top level)"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    JsonError e = parse(c.text);
    CHECK(e.problem == JsonProblem::kDuplicateKey);
    CHECK(e.detail == c.detail);
  }
}

TEST_CASE("duplicate keys are found in large objects too, and distinct keys pass",
          "[unit][event][json]") {
  std::string distinct = "{";
  for (int i = 0; i < 1000; ++i) distinct += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":1";
  CHECK_FALSE(parse(distinct + "}"));
  JsonError e = parse(distinct + ",\"k517\":2}");
  CHECK(e.problem == JsonProblem::kDuplicateKey);
  CHECK(e.detail == R"(duplicate key "k517" at the top level)");
  // Keys that differ only after a NUL byte are distinct.
  CHECK_FALSE(parse(R"({"a\u0000b":1,"a\u0000c":2})"));
  // The same name in different objects is fine.
  CHECK_FALSE(parse(R"({"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]})"));
}

TEST_CASE("syntax errors say where, and the reason codes are stable", "[unit][event][json]") {
  JsonError e = parse(R"({"a":1,})");
  CHECK(e.problem == JsonProblem::kSyntax);
  CHECK_THAT(e.detail, Contains("at byte 7"));
  CHECK(parse("{\"a\":\"\xff\"}").problem == JsonProblem::kSyntax);  // invalid UTF-8
  CHECK(parse(R"({"a":1} {"b":2})").problem == JsonProblem::kSyntax);
  // A raw NUL byte ends nothing: what follows it is not skipped (it would be routed as is).
  using namespace std::string_literals;
  e = parse("{\"a\":1}\0{\"b\":2}"s);
  CHECK(e.problem == JsonProblem::kSyntax);
  CHECK_THAT(e.detail, Contains("at byte 7"));
  CHECK(parse("{\"a\":1} \0"s).problem == JsonProblem::kSyntax);
  CHECK(parse("\0{\"a\":1}"s).problem == JsonProblem::kSyntax);

  CHECK(reason_code(JsonProblem::kSyntax) == "invalid_json");
  CHECK(reason_code(JsonProblem::kTooDeep) == "nesting_too_deep");
  CHECK(reason_code(JsonProblem::kTooLarge) == "event_too_large");
  CHECK(reason_code(JsonProblem::kDuplicateKey) == "duplicate_key");
}

TEST_CASE("a good parse fills the document; the next one replaces it", "[unit][event][json]") {
  rapidjson::Document doc;
  REQUIRE_FALSE(parse_bounded<0>(doc, R"({"a":[1,2,3]})", JsonLimits{}));
  REQUIRE(doc.IsObject());
  CHECK(doc["a"].Size() == 3);
  CHECK(parse_bounded<0>(doc, nested_arrays(100), JsonLimits{}).problem == JsonProblem::kTooDeep);
  REQUIRE_FALSE(parse_bounded<0>(doc, R"([true])", JsonLimits{}));
  REQUIRE(doc.IsArray());
  CHECK(doc[0].IsTrue());
}

TEST_CASE("numbers are read correctly rounded, including where RapidJSON's reader is wrong",
          "[unit][event][json]") {
  auto number = [](std::string_view text) {
    rapidjson::Document doc;
    std::string json = "[" + std::string(text) + "]";
    JsonError e = parse_bounded<rapidjson::kParseFullPrecisionFlag>(doc, json, JsonLimits{});
    REQUIRE_FALSE(e);
    return doc[0].GetDouble();
  };
  // Found by fuzzing: RapidJSON's full-precision reader gave garbage (clz(0)) for a zero
  // significand with a large exponent, and 4.1e42 for a long significand times 1e292.
  CHECK(number("0e47") == 0.0);
  rapidjson::Document doc;
  JsonError e = parse_bounded<0>(doc, "[" + std::string(120, '9') + "E292]", JsonLimits{});
  CHECK(e.problem == JsonProblem::kSyntax);
  CHECK_THAT(e.detail, Contains("number too big"));
  CHECK(parse_bounded<0>(doc, "[1e400]", JsonLimits{}).problem == JsonProblem::kSyntax);
  CHECK(number("1e-400") == 0.0);  // underflow reads as zero, as in JavaScript
  CHECK(number("7.31") == 7.31);
  CHECK(number("0.1") == 0.1);
  CHECK(number("2.2250738585072011e-308") == 2.2250738585072011e-308);
  CHECK(number("1" + std::string(100, '0')) == 1e100);  // past 64 bits: a double
  // Integers keep RapidJSON's kinds.
  REQUIRE_FALSE(parse_bounded<0>(doc, "[-0, 42, -7, 4294967296, -2147483649, 18446744073709551615]",
                                 JsonLimits{}));
  CHECK(doc[0].IsInt());
  CHECK(doc[0].GetInt() == 0);
  CHECK(doc[1].IsUint());
  CHECK(doc[2].GetInt() == -7);
  CHECK(doc[3].IsUint64());
  CHECK_FALSE(doc[3].IsUint());
  CHECK(doc[4].IsInt64());
  CHECK_FALSE(doc[4].IsInt());
  CHECK(doc[5].GetUint64() == 18446744073709551615ull);
}

TEST_CASE("an escaped lone surrogate is refused: it decodes to bytes that are not UTF-8",
          "[unit][event][json]") {
  // RapidJSON refuses a lone high surrogate itself, but decoded "\udc00" into ED B0 80, which
  // the store kept and the history then served as invalid UTF-8.
  for (const char* text : {R"({"a":"\udc00"})", R"({"\udfff":1})", R"(["x\ud800"])"}) {
    CAPTURE(text);
    JsonError e = parse(text);
    CHECK(e.problem == JsonProblem::kSyntax);
  }
  CHECK_THAT(parse(R"({"a":"\udc00"})").detail, Contains("surrogate"));
  // A pair is one character; U+D7FF and U+E000 are not surrogates.
  CHECK_FALSE(parse(R"({"a":"\ud83d\ude00 \ud7ff \ue000 \u00e9"})"));
}

TEST_CASE("excerpts never cut a character and show no control bytes", "[unit][event][json]") {
  std::string key = std::string(79, 'a') + "\xc3\xa9";  // 'é' across the 80-byte cut
  CHECK(excerpt(key) == std::string(79, 'a') + "…");
  CHECK(excerpt(std::string_view("US\n\0x\x7f", 6), 80) == "US??x?");
  CHECK(excerpt("short") == "short");
  // The duplicate-key message uses it.
  JsonError e = parse("{\"" + key + "\":1,\"" + key + "\":2}");
  CHECK(e.detail == "duplicate key \"" + std::string(79, 'a') + "…\" at the top level");
}

}  // namespace
}  // namespace pemx::event
