// rules_router's config through the loader: pemx.toml's rules route the reference events like
// the reference, and rules, matches, templates and topics that cannot work are refused at their
// keys.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include <stdlib.h>

#include <rapidjson/document.h>

#include "builtin_stages.hpp"
#include "support/config_fixture.hpp"

namespace pemx {
namespace {

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using namespace test;  // kPemxToml, load, edited, at_line_of, error_lines, has_error

TEST_CASE("pemx.toml's rules route the reference events exactly like the reference",
          "[unit][config][routing]") {
  auto r = load(kPemxToml);
  REQUIRE(r.config);
  const std::string input =
      reference_event("ProductPriceUpdate", "US", R"({"newPrice":7.31,"previousPrice":2.05})",
                      "PRICE00001") + "\n" +
      reference_event("ProductPriceUpdate", "EU", "{}", "PRICE00002") + "\n" +
      reference_event("Country", "US", R"({"country":"UnitedStates","region":"US"})",
                      "COUNTRY001") + "\n" +
      reference_event("Country", "EU", R"({"country":"Sweden","region":"EU"})", "COUNTRY002") +
      "\n" + reference_event("Country", "EU", R"({"region":"EU"})", "COUNTRY003") + "\n" +
      reference_event("Country", "EU", R"({"country":""})", "COUNTRY004") + "\n" +
      reference_event("SpecificProductDiscountUpdate", "EU",
                      R"({"newDiscountPercentage":40,"previousDiscountPercentage":15})",
                      "DISCOUNT01") + "\n" +
      reference_event("SpecificProductDiscountUpdate", "US", "{}", "DISCOUNT02") + "\n";
  const std::string head = R"({"line":)";
  const std::string id = R"(,"eventId":"3b241101-e2bb-4255-8caf-4136c566a962","key":")";
  const std::string storage = R"(","product-event-storage-pemx"]})";
  CHECK(route_lines(*r.config, input) ==
        Lines{
            head + "1" + id + R"(PRICE00001","topics":["product-price-update-v1-US)" + storage,
            head + "2" + id + R"(PRICE00002","topics":["product-price-update-v1-EU)" + storage,
            head + "3" + id + R"(COUNTRY001","topics":["country-UnitedStates)" + storage,
            head + "4" + id + R"(COUNTRY002","topics":["country-Sweden)" + storage,
            head + "5" + id + R"(COUNTRY003","topics":["country-US)" + storage,
            head + "6" + id + R"(COUNTRY004","topics":["country-US)" + storage,
            head + "7" + id +
                R"(DISCOUNT01","topics":["specific-product-discount-update-EU)" + storage,
            head + "8" + id +
                R"(DISCOUNT02","topics":["specific-product-discount-update-US)" + storage,
        });
}

TEST_CASE("pemx.toml's router dead-letters what the reference could not handle",
          "[unit][config][routing]") {
  auto r = load(kPemxToml);
  REQUIRE(r.config);
  const std::string input =
      reference_event("InventoryUpdate", "US", "{}", "P1") + "\n" + "not json\n";
  auto lines = route_lines(*r.config, input);
  REQUIRE(lines.size() == 2);
  rapidjson::Document unknown, invalid_json;
  unknown.Parse(lines[0].c_str());
  invalid_json.Parse(lines[1].c_str());
  CHECK(std::string(unknown["dead_letter"].GetString()) == "unknown_event_type");
  CHECK(std::string(unknown["topics"][0].GetString()) == "product-event-dlq-pemx");
  CHECK(unknown["topics"].Size() == 1);
  CHECK(std::string(invalid_json["dead_letter"].GetString()) == "invalid_json");
}

TEST_CASE("pemx.toml's router routes what the reference routed although its push refuses it; "
          "validation = \"strict\" dead-letters it",
          "[unit][config][routing]") {
  const std::string incomplete = R"({"eventType":"Country","productId":"P1","region":"US","data":{}})";
  auto r = load(kPemxToml);
  REQUIRE(r.config);
  CHECK_THAT(r.config->stage("router")->spec->describe(), Contains("validation: report"));
  CHECK(route_lines(*r.config, incomplete) ==
        Lines{R"({"line":1,"key":"P1","topics":["country-US","product-event-storage-pemx"]})"});

  auto strict = load(kPemxToml, {"stages.router.validation=strict"});
  REQUIRE(strict.config);
  auto lines = route_lines(*strict.config, incomplete);
  REQUIRE(lines.size() == 1);
  rapidjson::Document invalid_event;
  invalid_event.Parse(lines[0].c_str());
  CHECK(std::string(invalid_event["dead_letter"].GetString()) == "invalid_event");
  CHECK_THAT(std::string(invalid_event["detail"].GetString()),
             Contains("eventId: Event ID must be a valid UUID") &&
                 Contains("createdAt: Created at must be a valid ISO 8601 date"));
}

TEST_CASE("the router's old validate key and a misspelt validation mode are refused",
          "[unit][config][routing]") {
  SECTION("validate = true names its replacement") {
    auto text = edited(kPemxToml, "validation = \"report\"", "validate = true");
    auto r = load(text);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].key == "stages.router.validate");
    CHECK_THAT(r.errors[0].message, StartsWith("replaced by validation = \"report\"") &&
                                        Contains("\"strict\" (dead-letter them: what validate = "
                                                 "true did)"));
  }
  SECTION("a misspelt mode gets the nearest one") {
    auto text = edited(kPemxToml, "validation = \"report\"", "validation = \"strikt\"");
    CHECK(error_lines(load(text)) ==
          Lines{at_line_of(text, "strikt") +
                ": stages.router.validation: \"strikt\": expected \"off\", \"report\" or "
                "\"strict\"; did you mean \"strict\"?"});
  }
}

TEST_CASE("routing rules that cannot work are refused", "[unit][config][routing]") {
  struct Case {
    std::string from, to, message;
  };
  auto c = GENERATE(
      Case{"topic = \"product-event-storage-pemx\"",
           "topic = \"product-event-storage-pemx\"\ndefaults = { region = \"US\" }",
           "rule \"storage\": default for \"region\", which is not a placeholder of "
           "\"product-event-storage-pemx\""},
      Case{"topic = \"product-event-storage-pemx\"",
           "topic = \"product-event-storage-pemx\"\nallowed = { region = [\"US\"] }",
           "rule \"storage\": allowed values for \"region\", which is not a placeholder of "
           "\"product-event-storage-pemx\""},
      Case{"defaults = { \"data.country\" = \"US\" }",
           "defaults = { \"data.country\" = \"US\" }\n"
           "allowed = { \"data.country\" = [\"UnitedStates\", \"Sweden\"] }",
           "rule \"country\": default \"US\" for \"data.country\" is not among its allowed "
           "values"},
      Case{"\"Country\", \"SpecificProductDiscountUpdate\"]", "\"Country\"]",
           "rule \"discount-update\": can never match: eventType SpecificProductDiscountUpdate "
           "is not in event_types"},
      Case{"topic = \"product-price-update-v1-{region}\"",
           "topic = \"product price update-{region}\"",
           "rule \"price-update\": topic \"product price update-{region}\" can never be legal: "
           "topic name contains ' '; only letters, digits, '.', '_' and '-' are allowed"});
  CAPTURE(c.to);
  auto r = load(edited(kPemxToml, c.from, c.to));
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].key == "stages.router.rules");
  CHECK(r.errors[0].message == c.message);
  CHECK_THAT(r.errors[0].location, StartsWith("pemx.toml:"));
}

TEST_CASE("a malformed topic template is refused at its key", "[unit][config][routing]") {
  auto text = edited(kPemxToml, "topic = \"country-{data.country}\"",
                     "topic = \"country-{data.country\"");
  CHECK(error_lines(load(text)) ==
        Lines{at_line_of(text, "country-{data.country\"") +
              ": stages.router.rules[1].topic: \"country-{data.country\": unclosed '{' at "
              "position 8"});
}

TEST_CASE("a malformed match is refused at its key", "[unit][config][routing]") {
  SECTION("neither \"*\" nor a table") {
    auto text = edited(kPemxToml, "match = \"*\"", "match = \"everything\"");
    CHECK(error_lines(load(text)) ==
          Lines{at_line_of(text, "everything") +
                ": stages.router.rules[3].match: expected \"*\" or a table such as { field = "
                "\"eventType\", equals = \"Country\" } (or an array of such tables, all of "
                "which must hold)"});
  }
  SECTION("two tests in one condition") {
    auto text = edited(kPemxToml,
                       "match = { field = \"eventType\", equals = \"Country\" }",
                       "match = { field = \"eventType\", equals = \"Country\", exists = true }");
    auto r = load(text);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].key == "stages.router.rules[1].match");
    CHECK(r.errors[0].message == "needs exactly one of equals, in, exists");
  }
  SECTION("an empty list of values") {
    auto text = edited(kPemxToml,
                       "match = { field = \"eventType\", equals = \"Country\" }",
                       "match = { field = \"eventType\", in = [] }");
    CHECK(error_lines(load(text)) ==
          Lines{at_line_of(text, "in = []") +
                ": stages.router.rules[1].match.in: must list at least one value"});
  }
}

TEST_CASE("missing_topics chooses the target check: warn by default, fail, or off",
          "[unit][config][routing][targets]") {
  SECTION("default: warn, with the dead-letter topic and the fixed topic as targets") {
    auto r = load(kPemxToml);
    REQUIRE(r.config);
    auto targets = r.config->stage("router")->spec->target_topics();
    REQUIRE(targets);
    CHECK(targets->on_missing == TargetTopics::OnMissing::kWarn);
    CHECK(targets->topics == Lines{"product-event-dlq-pemx", "product-event-storage-pemx"});
    CHECK(targets->unchecked.size() == 3);  // {region} twice, {data.country}
  }
  SECTION("fail, and allowed values are rendered") {
    auto text = edited(kPemxToml, "key_field = \"productId\"",
                       "key_field = \"productId\"\nmissing_topics = \"fail\"");
    text = edited(text, "topic = \"product-price-update-v1-{region}\"",
                  "topic = \"product-price-update-v1-{region}\"\n"
                  "allowed = { region = [\"US\", \"EU\"] }");
    auto r = load(text);
    REQUIRE(r.config);
    auto targets = r.config->stage("router")->spec->target_topics();
    REQUIRE(targets);
    CHECK(targets->on_missing == TargetTopics::OnMissing::kFail);
    CHECK(targets->topics == Lines{"product-event-dlq-pemx", "product-event-storage-pemx",
                                   "product-price-update-v1-EU", "product-price-update-v1-US"});
    // The embedded cluster pre-creates the same topics.
    CHECK(r.config->stage("router")->spec->topics() == targets->topics);
  }
  SECTION("off: no check") {
    auto r = load(kPemxToml, {"stages.router.missing_topics=off"});
    REQUIRE(r.config);
    CHECK_FALSE(r.config->stage("router")->spec->target_topics());
  }
  SECTION("anything else is refused at its key") {
    auto r = load(kPemxToml, {"stages.router.missing_topics=fial"});
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].key == "stages.router.missing_topics");
    CHECK_THAT(r.errors[0].message, Contains("did you mean \"fail\""));
  }
}

TEST_CASE("an illegal dead_letter_topic is refused", "[unit][config][routing]") {
  SECTION("a space") {
    auto text = edited(kPemxToml, "dead_letter_topic = \"product-event-dlq-pemx\"",
                       "dead_letter_topic = \"product event dlq\"");
    CHECK(error_lines(load(text)) ==
          Lines{at_line_of(text, "dead_letter_topic") +
                ": stages.router.dead_letter_topic: topic name contains ' '; only letters, "
                "digits, '.', '_' and '-' are allowed"});
  }
  SECTION("a Kafka-internal name") {
    auto text = edited(kPemxToml, "dead_letter_topic = \"product-event-dlq-pemx\"",
                       "dead_letter_topic = \"__dlq\"");
    auto r = load(text);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].key == "stages.router.dead_letter_topic");
    CHECK(r.errors[0].message == "topic names starting with \"__\" are Kafka-internal");
  }
}

}  // namespace
}  // namespace pemx

namespace pemx {
namespace {

using namespace test;
using Catch::Matchers::Contains;

// A config file in a fresh temporary folder with schemas/ beside it, loaded from disk, so
// that paths relative to the config file are tested as users write them.
struct SchemaConfig {
  std::filesystem::path dir;
  SchemaConfig() {
    char tmpl[] = "/tmp/pemx-schema-config-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    std::filesystem::create_directory(dir / "schemas");
  }
  ~SchemaConfig() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(dir / name) << text;
  }
  LoadResult load(const std::string& schemas_section,
                  const std::vector<std::string>& overrides = {}) const {
    write("pemx.toml", std::string(kPemxToml) + "\n" + schemas_section);
    Registry registry = builtin_stages();
    return load_config((dir / "pemx.toml").string(), overrides, registry);
  }
};

constexpr const char* kPriceSchema =
    R"({"properties": {"data": {"properties": {"newPrice": {"type": "number", "minimum": 0}}}}})";

TEST_CASE("[schemas] names a schema file per eventType, relative to the config file",
          "[unit][config][schema]") {
  SchemaConfig c;
  c.write("schemas/price.json", kPriceSchema);
  auto r = c.load("[schemas]\nProductPriceUpdate = \"schemas/price.json\"\n",
                  {"stages.router.schema_mode=strict"});
  INFO(Catch::Detail::stringify(error_lines(r)));
  REQUIRE(r.config);
  REQUIRE(r.config->common.schemas);
  CHECK(r.config->common.schemas->types() == Lines{"ProductPriceUpdate"});
  CHECK(r.config->common.schemas->find("ProductPriceUpdate")->file() ==
        (c.dir / "schemas/price.json").string());
  CHECK_THAT(r.config->stage("router")->spec->describe(),
             Contains("schema_mode: strict (events failing their type's schema are "
                      "dead-lettered; types with a schema: ProductPriceUpdate)"));
  const std::string input =
      reference_event("ProductPriceUpdate", "US", R"({"newPrice":-1})", "P1") + "\n" +
      reference_event("ProductPriceUpdate", "US", R"({"newPrice":1})", "P2") + "\n";
  auto lines = route_lines(*r.config, input);
  REQUIRE(lines.size() == 2);
  CHECK_THAT(lines[0], Contains(R"("dead_letter":"schema","detail":"/data/newPrice: must be)"));
  CHECK_THAT(lines[1], Contains("product-price-update-v1-US"));
}

TEST_CASE("a missing or broken schema file is a start-up error naming the file",
          "[unit][config][schema]") {
  SchemaConfig c;
  SECTION("missing") {
    auto r = c.load("[schemas]\nCountry = \"schemas/nope.json\"\n");
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].key == "schemas.Country");
    CHECK_THAT(r.errors[0].message,
               Contains("cannot read \"" + (c.dir / "schemas/nope.json").string() + "\""));
  }
  SECTION("not JSON") {
    c.write("schemas/country.json", "{\"type\": ");
    auto r = c.load("[schemas]\nCountry = \"schemas/country.json\"\n");
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].key == "schemas.Country");
    CHECK_THAT(r.errors[0].message, Contains((c.dir / "schemas/country.json").string() +
                                             " (the schema of Country): not valid JSON"));
  }
  SECTION("a keyword RapidJSON would not apply") {
    c.write("schemas/country.json", R"({"properties": {"data": {"format": "email"}}})");
    auto r = c.load("[schemas]\nCountry = \"schemas/country.json\"\n");
    REQUIRE(r.errors.size() == 1);
    CHECK_THAT(r.errors[0].message, Contains("/properties/data/format: is not applied"));
  }
  SECTION("not a path") {
    auto r = c.load("[schemas]\nCountry = 3\n");
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].key == "schemas.Country");
  }
}

TEST_CASE("schema_mode is off by default, strict needs [schemas], anything else is refused",
          "[unit][config][schema]") {
  CHECK_THAT(load_text(std::string(kPemxToml)).described["router"],
             Contains("schema_mode: off"));
  auto strict = load(kPemxToml, {"stages.router.schema_mode=strict"});
  REQUIRE(strict.errors.size() == 1);
  CHECK(strict.errors[0].key == "stages.router.schema_mode");
  CHECK_THAT(strict.errors[0].message, Contains("needs schemas to apply"));
  auto typo = load(kPemxToml, {"stages.router.schema_mode=strcit"});
  REQUIRE(typo.errors.size() == 1);
  CHECK_THAT(typo.errors[0].message, Contains("did you mean \"strict\""));
}

}  // namespace
}  // namespace pemx

namespace pemx {
namespace {

TEST_CASE("pemx.toml's commented [schemas] loads the shipped schemas when turned on",
          "[unit][config][schema]") {
  Registry registry = builtin_stages();
  auto r = load_config(PEMX_SOURCE_DIR "/pemx.toml",
                       {"schemas.ProductPriceUpdate=schemas/product-price-update.json",
                        "schemas.Country=schemas/country.json",
                        "schemas.SpecificProductDiscountUpdate="
                        "schemas/specific-product-discount-update.json",
                        "stages.router.schema_mode=strict"},
                       registry);
  for (const auto& e : r.errors) FAIL(e.str());
  REQUIRE(r.config);
  CHECK(r.config->common.schemas->types().size() == 3);
  // As shipped: no schemas, drop-in for the reference.
  auto plain = load_config(PEMX_SOURCE_DIR "/pemx.toml", {}, registry);
  REQUIRE(plain.config);
  CHECK_FALSE(plain.config->common.schemas);
}

}  // namespace
}  // namespace pemx
