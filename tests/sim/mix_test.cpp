// The event mix and regions (src/sim/mix.*): what --mix, --regions and the simulator stage's
// config accept, and the generator's id prefix they feed.
#include "sim/mix.hpp"

#include <catch2/catch.hpp>

#include <map>

namespace pemx::sim {
namespace {

using Catch::Matchers::Contains;

TEST_CASE("a mix names its types; a type left out weighs 0", "[unit][sim]") {
  auto m = parse_mix("price=2, country=1");
  REQUIRE(m);
  CHECK(m->price == 2);
  CHECK(m->country == 1);
  CHECK(m->discount == 0);
  auto full = parse_mix("SpecificProductDiscountUpdate=0.5,ProductPriceUpdate=1.5");
  REQUIRE(full);
  CHECK(full->discount == 0.5);
  CHECK(full->price == 1.5);
  CHECK(full->country == 0);
}

TEST_CASE("a bad mix says what is wrong", "[unit][sim]") {
  CHECK_THAT(parse_mix("prize=1").error().message, Contains("unknown event type \"prize\""));
  CHECK_THAT(parse_mix("price=x").error().message, Contains("weight of price is \"x\""));
  CHECK_THAT(parse_mix("price=-1").error().message, Contains("not a number >= 0"));
  CHECK_THAT(parse_mix("price=0,country=0").error().message, Contains("every weight is 0"));
  CHECK_THAT(parse_mix("price").error().message, Contains("\"price\" is not name=weight"));
  CHECK_THAT(parse_mix("price=1,,country=1").error().message, Contains("is not name=weight"));
  CHECK_THAT(parse_mix("price=inf").error().message, Contains("not a number"));
}

TEST_CASE("regions are a trimmed comma list without empty names", "[unit][sim]") {
  auto r = parse_regions(" US , EU,APAC");
  REQUIRE(r);
  CHECK(r.value() == std::vector<std::string>{"US", "EU", "APAC"});
  CHECK_FALSE(parse_regions("US,,EU"));
  CHECK_FALSE(parse_regions(""));
}

TEST_CASE("the mix decides the generated types; the prefix starts every event id", "[unit][sim]") {
  auto mix = parse_mix("price=3,discount=1");
  REQUIRE(mix);
  EventGenerator gen(generator_options(mix.value(), {"APAC"}, 7, "0badcafe"));
  std::map<std::string, int> types;
  for (int i = 0; i < 4000; ++i) {
    auto e = gen.next();
    ++types[e.event_type];
    CHECK(e.region == "APAC");
    REQUIRE(e.event_id.rfind("0badcafe-", 0) == 0);
    CHECK(e.json.find("\"eventId\":\"" + e.event_id + "\"") != std::string::npos);
  }
  CHECK(types.count("Country") == 0);
  CHECK(types["ProductPriceUpdate"] > 2 * types["SpecificProductDiscountUpdate"]);
  CHECK(types["SpecificProductDiscountUpdate"] > 500);
}

}  // namespace
}  // namespace pemx::sim
