// Schemas per event type (event/schema.hpp): compiling (bad JSON, bad schemas), the messages
// with their JSON pointers, the text (SAX) and value (DOM) paths agreeing, and the example
// schemas shipped in schemas/ against the reference generator's events.
#include "event/schema.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>
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
