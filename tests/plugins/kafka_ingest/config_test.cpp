// kafka_ingest's config through the loader (pemx.toml's dist_ingest): consumer properties
// that would commit offsets before delivery are refused.
#include <catch2/catch.hpp>

#include <string>

#include "support/config_fixture.hpp"

namespace pemx {
namespace {

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using namespace test;  // kPemxToml, load, edited, at_line_of, error_lines, has_error

TEST_CASE("kafka_ingest refuses properties that would commit before delivery",
          "[unit][config]") {
  auto with_properties = [](const std::string& props) {
    return edited(kPemxToml, "commit_interval = \"1s\"",
                  "commit_interval = \"1s\"\nproperties = { " + props + " }");
  };
  SECTION("auto commit") {
    auto text = with_properties("\"enable.auto.commit\" = true");
    CHECK(error_lines(load(text)) ==
          Lines{at_line_of(text, "properties = {") +
                ": stages.dist_ingest.properties: enable.auto.commit = true would commit "
                "offsets before delivery; remove it"});
  }
  SECTION("automatic offset store") {
    auto text = with_properties("\"enable.auto.offset.store\" = \"true\"");
    CHECK(error_lines(load(text)) ==
          Lines{at_line_of(text, "properties = {") +
                ": stages.dist_ingest.properties: enable.auto.offset.store = true would "
                "commit offsets before delivery; remove it"});
  }
  SECTION("the group, which has its own key") {
    auto r = load(with_properties("\"group.id\" = \"other\""));
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].message == "set the group with group_id");
  }
  SECTION("safe consumer properties are accepted") {
    auto r = load(with_properties("\"enable.auto.commit\" = false, \"session.timeout.ms\" = "
                                  "30000"));
    INFO(Catch::Detail::stringify(error_lines(r)));
    CHECK(r.errors.empty());
  }
  SECTION("a property librdkafka does not know") {
    auto r = load(with_properties("\"session.timeout\" = 30000"));
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].key == "stages.dist_ingest.properties");
    CHECK_THAT(r.errors[0].message, StartsWith("librdkafka property \"session.timeout\": "));
  }
}

}  // namespace
}  // namespace pemx
