// Schemas per event type (event/schema.hpp): compiling (bad JSON, bad schemas), the messages
// with their JSON pointers, the text (SAX) and value (DOM) paths agreeing, and the example
// schemas shipped in schemas/ against the reference generator's events.
#include "event/schema.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "event/event.hpp"
#include "sim/event_generator.hpp"

namespace pemx::event {
namespace {

constexpr const char* kPriceSchema = R"({
  "type": "object",
  "required": ["data"],
  "properties": {
    "data": {"type": "object", "required": ["newPrice"],
             "properties": {"newPrice": {"type": "number", "minimum": 0},
                            "tags": {"type": "array", "items": {"type": "string"}}},
             "additionalProperties": false}
  }
})";

std::shared_ptr<const SchemaSet> one(const std::string& type, const std::string& text,
                                     std::vector<std::string>& errors) {
  return SchemaSet::compile({{type, "schemas/" + type + ".json", text}}, errors);
}

const Schema& price_schema() {
  static std::shared_ptr<const SchemaSet> set = [] {
    std::vector<std::string> errors;
    auto s = one("ProductPriceUpdate", kPriceSchema, errors);
    REQUIRE(errors.empty());
    return s;
  }();
  return *set->find("ProductPriceUpdate");
}

// The failure of `json` by the text path, checked against the value path: same verdict.
std::string failure_of(const Schema& schema, const std::string& json) {
  const JsonLimits limits;
  auto by_text = schema.validate(json, limits);
  ParsedEvent parsed(limits);
  REQUIRE_FALSE(parsed.parse(json));
  auto by_value = schema.validate(parsed.root());
  REQUIRE(by_text.has_value() == by_value.has_value());
  if (!by_text) return "";
  CHECK(by_text->describe() == by_value->describe());
  return by_text->describe();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

TEST_CASE("a valid event passes its schema", "[unit][schema]") {
  CHECK(failure_of(price_schema(), R"({"data":{"newPrice":7.31}})").empty());
  CHECK(failure_of(price_schema(), R"({"data":{"newPrice":0,"tags":["a"]}})").empty());
}

TEST_CASE("schema failures name the JSON pointer of the field", "[unit][schema]") {
  const Schema& s = price_schema();
  CHECK(failure_of(s, R"({"data":{"newPrice":-1}})") == "/data/newPrice: must be ≥ 0");
  CHECK(failure_of(s, R"({"data":{"newPrice":"7"}})") ==
        "/data/newPrice: must be a number, not a string");
  CHECK(failure_of(s, R"({"data":{}})") == "/data/newPrice: is required");
  CHECK(failure_of(s, R"({"x":1})") == "/data: is required");
  CHECK(failure_of(s, R"({"data":{"newPrice":1,"tags":["a",2]}})") ==
        "/data/tags/1: must be a string, not an integer");
  CHECK(failure_of(s, R"({"data":{"newPrice":1,"extra":true}})") ==
        "/data/extra: is not a property the schema allows (additionalProperties is false)");
  CHECK(failure_of(s, R"({"data":[]})") == "/data: must be an object, not an array");
  SchemaFailure f{"", "type", "must be an object"};
  CHECK(f.describe() == "(event): must be an object");
  CHECK(SchemaFailure{"/data/newPrice", "minimum", "must be ≥ 0"}.describe("/events/3") ==
        "/events/3/data/newPrice: must be ≥ 0");
}

TEST_CASE("pointers escape ~ and / in keys", "[unit][schema]") {
  std::vector<std::string> errors;
  auto set = one("T", R"({"properties": {"a/b": {"properties": {"c~d": {"type": "integer"}}}}})",
                 errors);
  REQUIRE(errors.empty());
  CHECK(failure_of(*set->find("T"), R"({"a/b":{"c~d":1.5}})") ==
        "/a~1b/c~0d: must be an integer, not a number");
}

TEST_CASE("other keywords give their own message", "[unit][schema]") {
  std::vector<std::string> errors;
  auto set = one("T", R"({"properties": {
      "r": {"enum": ["US", "EU"]},
      "s": {"type": "string", "minLength": 2, "pattern": "^[A-Z]+$"},
      "p": {"type": "number", "maximum": 100, "exclusiveMaximum": true},
      "l": {"type": "array", "maxItems": 1}}})", errors);
  REQUIRE(errors.empty());
  const Schema& s = *set->find("T");
  CHECK(failure_of(s, R"({"r":"XX"})") == R"(/r: must be one of ["US","EU"])");
  CHECK(failure_of(s, R"({"s":"A"})") == "/s: must have at least 2 characters");
  CHECK(failure_of(s, R"({"s":"ab"})") == R"(/s: must match the pattern "^[A-Z]+$")");
  CHECK(failure_of(s, R"({"p":100})") == "/p: must be < 100");
  CHECK(failure_of(s, R"({"l":[1,2]})") == "/l: must have at most 1 items");
}

TEST_CASE("a schema that is not JSON is refused naming the file", "[unit][schema]") {
  std::vector<std::string> errors;
  auto set = one("ProductPriceUpdate", R"({"type": "object",)", errors);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].rfind("schemas/ProductPriceUpdate.json (the schema of ProductPriceUpdate): "
                        "not valid JSON: ", 0) == 0);
  CHECK(set->find("ProductPriceUpdate") == nullptr);
}

TEST_CASE("a schema RapidJSON would not apply as written is refused", "[unit][schema]") {
  auto problem = [](const std::string& text) {
    auto problems = check_schema_text(text);
    REQUIRE(problems.size() == 1);
    return problems[0];
  };
  CHECK(problem("[1]").find("must hold one object") != std::string::npos);
  CHECK(problem(R"({"type": "numbr"})").rfind("/type: must match at least one schema", 0) == 0);
  CHECK(problem(R"({"properties": {"a": {"minimum": "0"}}})") ==
        "/properties/a/minimum: must be a number, not a string (PEMX applies JSON Schema "
        "draft-04 with RapidJSON)");
  CHECK(problem(R"({"properties": {"a": {"const": 1}}})")
            .rfind("/properties/a/const: is not applied by RapidJSON", 0) == 0);
  CHECK(problem(R"({"exclusiveMinimum": 0})").rfind("/exclusiveMinimum: must be a boolean", 0) ==
        0);
  CHECK(problem(R"({"$ref": "http://example.com/s.json"})").rfind("/$ref: must match", 0) == 0);
  CHECK(problem(R"({"$ref": "#/definitions/nope"})").find("names nothing in this file") !=
        std::string::npos);
  CHECK(problem(R"({"properties": {"a": {"pattern": "a(b"}}})")
            .rfind("/properties/a/pattern: the regular expression", 0) == 0);
  CHECK(check_schema_text(R"({"definitions": {"p": {"type": "number"}},
                              "properties": {"a": {"$ref": "#/definitions/p"}}})")
            .empty());
}

// RapidJSON 1.1.0's regex keeps its search state in the compiled schema: two threads validating
// against one pattern at once corrupted each other's state (wrong verdicts, or a crash in
// GenericRegex::SearchWithAnchoring). The push validates on HTTP threads while the router does.
TEST_CASE("threads validate against one pattern schema at once", "[unit][schema]") {
  std::vector<std::string> errors;
  auto set = one("Country", R"({"properties": {"data": {"properties": {
      "country": {"type": "string", "pattern": "^[A-Za-z0-9._-]+$"}},
      "patternProperties": {"^x[a-z]*$": {"type": "string", "pattern": "^[a-z]+$"}}}}})",
                 errors);
  REQUIRE(errors.empty());
  const Schema& schema = *set->find("Country");
  const std::string valid = R"({"data":{"country":")" + std::string(199, 'A') +
                            R"(","xyz":")" + std::string(100, 'b') + R"("}})";
  const std::string invalid = R"({"data":{"country":")" + std::string(198, 'A') + R"(!"}})";
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const JsonLimits limits;
      for (int i = 0; i < 3000; ++i) {
        const bool good = (i + t) % 2 == 0;
        auto f = schema.validate(good ? valid : invalid, limits);
        if (f.has_value() == good) ++wrong;
        if (!good && f && f->pointer != "/data/country") ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(wrong == 0);
}

// RapidJSON recursed on $ref chains when compiling (a stack overflow at start-up, in
// check-config and on a reload) and validated recursion through anyOf in 3^depth time: every
// schema whose $refs lead back into themselves is refused before RapidJSON compiles it.
TEST_CASE("schemas whose $refs recurse are refused, naming the $ref", "[unit][schema]") {
  auto problem = [](const std::string& text) {
    auto problems = check_schema_text(text);
    REQUIRE(problems.size() == 1);
    return problems[0];
  };
  CHECK(problem(R"({"$ref": "#"})").rfind(R"(/$ref: "#" leads back to a schema it is inside)",
                                          0) == 0);
  CHECK(problem(R"({"definitions": {"a": {"$ref": "#/definitions/b"},
                                    "b": {"$ref": "#/definitions/a"}},
                    "$ref": "#/definitions/a"})")
            .rfind(R"(/definitions/b/$ref: "#/definitions/a" leads back)", 0) == 0);
  CHECK(problem(R"({"definitions": {"a": {"$ref": "#/definitions/a"}},
                    "properties": {"data": {"$ref": "#/definitions/a"}}})")
            .rfind(R"(/definitions/a/$ref: "#/definitions/a" leads back)", 0) == 0);
  // The attacker's exponential one: n is anyOf of three objects whose c is n again.
  const std::string n = R"({"type": "object", "properties": {"c": {"$ref": "#/definitions/n"}}})";
  CHECK(problem(R"({"definitions": {"n": {"anyOf": [)" + n + "," + n + "," + n +
                R"(]}}, "properties": {"data": {"$ref": "#/definitions/n"}}})")
            .rfind(R"(/definitions/n/anyOf/0/properties/c/$ref: "#/definitions/n" leads back)",
                   0) == 0);
  // Not recursion: one definition used twice, a "$ref" property name, enum data.
  CHECK(check_schema_text(R"({"definitions": {"p": {"type": "number", "enum": [{"$ref": "#"}]}},
      "properties": {"a": {"$ref": "#/definitions/p"}, "b": {"$ref": "#/definitions/p"},
                     "$ref": {"type": "string"}}})")
            .empty());
}

TEST_CASE("a schema that expands to too many subschemas is refused", "[unit][schema]") {
  // d0 uses d1 four times, d1 uses d2 four times, …: no recursion, 4^12 subschemas expanded.
  std::string defs;
  for (int i = 0; i < 12; ++i) {
    const std::string next = "{\"$ref\": \"#/definitions/d" + std::to_string(i + 1) + "\"}";
    defs += "\"d" + std::to_string(i) + "\": {\"anyOf\": [" + next + "," + next + "," + next +
            "," + next + "]},";
  }
  defs += R"("d12": {"type": "string"})";
  auto problems = check_schema_text(R"({"definitions": {)" + defs +
                                    R"(}, "properties": {"data": {"$ref": "#/definitions/d0"}}})");
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].find("the schema is too complex") != std::string::npos);
  // A chain of $refs deeper than the nesting bound.
  std::string chain;
  for (int i = 0; i < 300; ++i) {
    chain += "\"c" + std::to_string(i) + "\": {\"$ref\": \"#/definitions/c" +
             std::to_string(i + 1) + "\"},";
  }
  chain += R"("c300": {"type": "string"})";
  problems = check_schema_text(R"({"definitions": {)" + chain + R"(}, "$ref": "#/definitions/c0"})");
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].find("too complex") != std::string::npos);
  CHECK(problems[0].find("levels") != std::string::npos);
}

TEST_CASE("a pattern longer than 1,000 characters is refused", "[unit][schema]") {
  std::string alternatives = "x0";
  for (int i = 1; i < 300; ++i) alternatives += "|x" + std::to_string(i);
  auto problems = check_schema_text("{\"properties\": {\"productId\": {\"pattern\": \"(" +
                                    alternatives + ")\"}}}");
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].rfind("/properties/productId/pattern: the regular expression", 0) == 0);
  CHECK(problems[0].find("more than 1000") != std::string::npos);
  problems = check_schema_text(R"({"patternProperties": {")" + std::string(1001, 'a') +
                               R"(": {"type": "string"}}})");
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].rfind("/patternProperties: the regular expression", 0) == 0);
  CHECK(check_schema_text(R"({"properties": {"a": {"pattern": ")" + std::string(1000, 'a') +
                          R"("}}})")
            .empty());
}

TEST_CASE("nested repeats that expand past the bounds are refused before compiling",
          "[unit][schema]") {
  auto pattern = [](const std::string& p) {
    return check_schema_text(R"({"properties": {"sku": {"pattern": ")" + p + R"("}}})");
  };
  // 13 characters, a million states: refused, naming the pattern and the product.
  auto problems = pattern("a{1000}{1000}");
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].rfind("/properties/sku/pattern: the regular expression", 0) == 0);
  CHECK(problems[0].find("a{1000}{1000}") != std::string::npos);
  CHECK(problems[0].find("1000000 times") != std::string::npos);
  CHECK(pattern("(a{100}){100}").size() == 1);
  CHECK(pattern("((ab){50}c){50}").size() == 1);
  CHECK(pattern("x{4000000000}").size() == 1);  // one count past the bound
  CHECK(pattern("a{2,}{2000,}").size() == 1);
  // Within the product, but the whole pattern expands too far: 20 parts of 1000 copies.
  std::string wide;
  for (int i = 0; i < 20; ++i) wide += "[a-z]{1000}";
  problems = pattern(wide);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].find("expands to about") != std::string::npos);
  // patternProperties are bounded too.
  problems = check_schema_text(R"({"patternProperties": {"^k{999}{999}$": {}}})");
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].rfind("/patternProperties: the regular expression", 0) == 0);
  // What schemas use stays accepted.
  CHECK(pattern("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$").empty());
  CHECK(pattern("^([0-9]{1,3}\\\\.){3}[0-9]{1,3}$").empty());
  CHECK(pattern("^[A-Z]{2}(-[A-Z0-9]{1,8}){0,3}$").empty());
  CHECK(pattern("a{1000}").empty());
  CHECK(pattern("(ab|cd){10}{100}").empty());  // 1000 copies of 5 states
  CHECK(pattern("[{]{3}").empty());              // a brace inside a class is a character
}

TEST_CASE("the shipped schemas accept the reference generator's events", "[unit][schema]") {
  std::vector<SchemaSet::Source> sources;
  for (const auto& [type, file] :
       std::vector<std::pair<std::string, std::string>>{
           {"ProductPriceUpdate", "product-price-update.json"},
           {"Country", "country.json"},
           {"SpecificProductDiscountUpdate", "specific-product-discount-update.json"}}) {
    const std::string path = std::string(PEMX_SOURCE_DIR) + "/schemas/" + file;
    sources.push_back({type, path, read_file(path)});
    REQUIRE_FALSE(sources.back().text.empty());
  }
  std::vector<std::string> errors;
  auto set = SchemaSet::compile(std::move(sources), errors);
  REQUIRE(errors.empty());
  CHECK(set->types() == std::vector<std::string>{"Country", "ProductPriceUpdate",
                                                 "SpecificProductDiscountUpdate"});
  sim::GeneratorOptions options;
  options.seed = 42;
  sim::EventGenerator gen(options);
  for (int i = 0; i < 300; ++i) {
    const auto e = gen.next();
    const Schema* schema = set->find(e.event_type);
    REQUIRE(schema != nullptr);
    INFO(e.json);
    CHECK(failure_of(*schema, e.json).empty());
  }
  CHECK(failure_of(*set->find("SpecificProductDiscountUpdate"),
                   R"({"eventId":"x","eventType":"SpecificProductDiscountUpdate","productId":"P",)"
                   R"("region":"US","createdAt":"2024-07-26T14:41:17Z",)"
                   R"("data":{"newDiscountPercentage":140}})") ==
        "/data/newDiscountPercentage: must be ≤ 100");
  CHECK(failure_of(*set->find("Country"),
                   R"({"eventId":"x","eventType":"Country","productId":"P","region":"US",)"
                   R"("createdAt":"2024-07-26T14:41:17Z","data":{"country":"US/East"}})") ==
        R"(/data/country: must match the pattern "^[A-Za-z0-9._-]+$")");
}

}  // namespace pemx::event
