// kafka_sink's config through the loader (pemx.toml's dist_sink): producer properties that
// would break at-least-once delivery are refused; its timeouts and dead-letter topic are checked.
#include <catch2/catch.hpp>

#include <string>

#include "support/config_fixture.hpp"

namespace pemx {
namespace {

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using namespace test;  // kPemxToml, load, edited, at_line_of, error_lines, has_error

TEST_CASE("kafka_sink refuses properties that would break at-least-once delivery",
          "[unit][config]") {
  auto with_properties = [](const std::string& props) {
    return edited(kPemxToml, "max_in_flight = 20000",
                  "max_in_flight = 20000\nproperties = { " + props + " }");
  };
  SECTION("acks = 1") {
    auto text = with_properties("acks = 1");
    CHECK(error_lines(load(text)) ==
          Lines{at_line_of(text, "properties = {") +
                ": stages.dist_sink.properties: acks = 1 would break at-least-once delivery; "
                "remove it"});
  }
  SECTION("acks = 0") {
    auto r = load(with_properties("acks = \"0\""));
    CHECK(error_lines(r).size() == 1);
    CHECK(has_error(r, "stages.dist_sink.properties",
                    "acks = 0 would break at-least-once delivery; remove it"));
  }
  SECTION("idempotence off") {
    auto text = with_properties("\"enable.idempotence\" = false");
    CHECK(error_lines(load(text)) ==
          Lines{at_line_of(text, "properties = {") +
                ": stages.dist_sink.properties: enable.idempotence = false would break "
                "at-least-once delivery; remove it"});
  }
  SECTION("safe producer properties are accepted") {
    for (const char* props : {"acks = \"all\", \"enable.idempotence\" = true", "acks = -1",
                              "\"linger.ms\" = 5, \"compression.type\" = \"lz4\""}) {
      CAPTURE(props);
      auto r = load(with_properties(props));
      INFO(Catch::Detail::stringify(error_lines(r)));
      CHECK(r.errors.empty());
    }
  }
}

TEST_CASE("kafka_sink refuses acks = 1 under its librdkafka name too",
          "[unit][config]") {
  // "acks" is librdkafka's alias of "request.required.acks"; either name overrides the
  // sink's acks=all, so both must be refused by check-config, not by rd_kafka_new at start.
  auto text = edited(kPemxToml, "max_in_flight = 20000",
                     "max_in_flight = 20000\nproperties = { \"request.required.acks\" = 1 }");
  auto r = load(text);
  CHECK(r.errors.size() == 1);
  CHECK_FALSE(r.config);
}

TEST_CASE("kafka_sink's unavailable_topic_timeout and dead_letter_topic are validated",
          "[unit][config]") {
  auto with = [](const std::string& keys) {
    return edited(kPemxToml, "max_in_flight = 20000", "max_in_flight = 20000\n" + keys);
  };
  CHECK(load(with("unavailable_topic_timeout = \"3s\"\ndead_letter_topic = \"x-dlq\""))
            .errors.empty());
  SECTION("a timeout too short to tell an unavailable topic from a hiccup") {
    auto r = load(with("unavailable_topic_timeout = \"10ms\""));
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].key == "stages.dist_sink.unavailable_topic_timeout");
    CHECK(r.errors[0].message.find("100ms") != std::string::npos);  // says the range
  }
  SECTION("a dead-letter topic that is not a legal topic name") {
    auto r = load(with("dead_letter_topic = \"a b\""));
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].key == "stages.dist_sink.dead_letter_topic");
  }
}

}  // namespace
}  // namespace pemx
