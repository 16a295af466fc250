// kafka_ingest's config through the loader (pemx.toml's dist_ingest): consumer properties
// that would commit offsets before delivery are refused.
#include <catch2/catch.hpp>

#include <cstdlib>
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
  SECTION("the static member id, which has its own key") {
    auto r = load(with_properties("\"group.instance.id\" = \"dist-1\""));
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].key == "stages.dist_ingest.properties");
    CHECK(r.errors[0].message == "set the static member id with group_instance_id");
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

TEST_CASE("kafka_ingest's group_instance_id: literal, expanded, from --set, checked",
          "[unit][config]") {
  auto with_id = [](const std::string& value) {
    return edited(kPemxToml, "commit_interval = \"1s\"",
                  "commit_interval = \"1s\"\ngroup_instance_id = " + value);
  };
  SECTION("unset: dynamic membership") {
    auto l = load_text(std::string(kPemxToml));
    REQUIRE(l.errors.empty());
    CHECK_THAT(l.described["dist_ingest"], !Contains("static member"));
  }
  SECTION("a literal id") {
    auto l = load_text(with_id("\"dist-1\""));
    INFO(Catch::Detail::stringify(l.errors));
    REQUIRE(l.errors.empty());
    CHECK_THAT(l.described["dist_ingest"], Contains("(static member dist-1)"));
  }
  SECTION("expanded from the environment at load") {
    REQUIRE(setenv("PEMX_TEST_INSTANCE", "node-42", 1) == 0);
    auto l = load_text(with_id("\"pemx-${PEMX_TEST_INSTANCE}\""));
    unsetenv("PEMX_TEST_INSTANCE");
    REQUIRE(l.errors.empty());
    CHECK_THAT(l.described["dist_ingest"], Contains("(static member pemx-node-42)"));
  }
  SECTION("${HOSTNAME} always expands (the host name when not exported)") {
    auto l = load_text(with_id("\"${HOSTNAME}\""));
    REQUIRE(l.errors.empty());
    CHECK_THAT(l.described["dist_ingest"], Contains("(static member "));
  }
  SECTION("--set works, for a stage that does not name the key") {
    REQUIRE(setenv("PEMX_TEST_INSTANCE", "node-43", 1) == 0);
    auto l = load_text(std::string(kPemxToml),
                       {"stages.dist_ingest.group_instance_id=${PEMX_TEST_INSTANCE}"});
    unsetenv("PEMX_TEST_INSTANCE");
    INFO(Catch::Detail::stringify(l.errors));
    REQUIRE(l.errors.empty());
    CHECK_THAT(l.described["dist_ingest"], Contains("(static member node-43)"));
  }
  SECTION("an unset variable is an error naming the key") {
    unsetenv("PEMX_TEST_UNSET_INSTANCE");
    auto text = with_id("\"dist-${PEMX_TEST_UNSET_INSTANCE}\"");
    CHECK(error_lines(load(text)) ==
          Lines{at_line_of(text, "group_instance_id =") +
                ": stages.dist_ingest.group_instance_id: \"dist-${PEMX_TEST_UNSET_INSTANCE}\": "
                "${PEMX_TEST_UNSET_INSTANCE} expands to nothing: the environment variable "
                "PEMX_TEST_UNSET_INSTANCE is not set; set it in the service's environment, or "
                "write the value literally"});
  }
  SECTION("an empty variable, an empty id") {
    REQUIRE(setenv("PEMX_TEST_INSTANCE", "", 1) == 0);
    auto r = load(with_id("\"${PEMX_TEST_INSTANCE}\""));
    unsetenv("PEMX_TEST_INSTANCE");
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].key == "stages.dist_ingest.group_instance_id");
    CHECK_THAT(r.errors[0].message, Contains("PEMX_TEST_INSTANCE is empty"));
    CHECK(has_error(load(with_id("\"\"")), "stages.dist_ingest.group_instance_id",
                    "\"\" is empty; remove the key for dynamic membership"));
  }
  SECTION("characters Kafka refuses, also after expansion") {
    CHECK(has_error(load(with_id("\"dist 1\"")), "stages.dist_ingest.group_instance_id",
                    "\"dist 1\" contains ' '; Kafka allows only letters, digits, '.', '_' and "
                    "'-'"));
    REQUIRE(setenv("PEMX_TEST_INSTANCE", "a/b", 1) == 0);
    auto r = load(with_id("\"${PEMX_TEST_INSTANCE}\""));
    unsetenv("PEMX_TEST_INSTANCE");
    CHECK(has_error(r, "stages.dist_ingest.group_instance_id",
                    "\"a/b\" (expanded from \"${PEMX_TEST_INSTANCE}\") contains '/'; Kafka "
                    "allows only letters, digits, '.', '_' and '-'"));
    CHECK(has_error(load(with_id("\"" + std::string(250, 'x') + "\"")),
                    "stages.dist_ingest.group_instance_id",
                    "\"" + std::string(250, 'x') + "\" is 250 characters long; Kafka's limit is 249"));
  }
  SECTION("not a string") {
    auto r = load(with_id("7"));
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].key == "stages.dist_ingest.group_instance_id");
  }
}

TEST_CASE("two stages of one role may not be one static member of one group",
          "[unit][config]") {
  // A role with two consumers in one process, as the "all" role's dist_ingest and store_ingest.
  auto two_consumers = [](const std::string& second_group) {
    return R"(
[kafka]
brokers = "localhost:9092"
[roles]
all = ["dist_in", "dist_out", "store_in", "store_out"]
[queues.q1]
capacity = 16
[queues.a1]
capacity = 16
[queues.q2]
capacity = 16
[queues.a2]
capacity = 16
[stages.dist_in]
type = "kafka_ingest"
topics = ["t1"]
group_id = "g1"
group_instance_id = "node-1"
output = "q1"
acks = "a1"
[stages.dist_out]
type = "kafka_sink"
input = "q1"
acks = "a1"
[stages.store_in]
type = "kafka_ingest"
topics = ["t2"]
group_id = ")" + second_group + R"("
group_instance_id = "node-1"
output = "q2"
acks = "a2"
[stages.store_out]
type = "kafka_sink"
input = "q2"
acks = "a2"
)";
  };
  SECTION("one id in different groups is fine") {
    auto r = load(two_consumers("g2"));
    INFO(Catch::Detail::stringify(error_lines(r)));
    CHECK(r.errors.empty());
  }
  SECTION("one id in one group is refused, naming both keys") {
    auto r = load(two_consumers("g1"));
    INFO(Catch::Detail::stringify(error_lines(r)));
    REQUIRE(r.errors.size() == 1);
    CHECK(has_error(r, "roles.all",
                    "stages.dist_in.group_instance_id and stages.store_in.group_instance_id are "
                    "both static member \"node-1\" of group \"g1\": in one process they "
                    "would fence each other (exit 1); give each stage its own"));
  }
}

TEST_CASE("kafka_ingest's fetch_wakeup_interval: off, or 10ms to 1s", "[unit][config]") {
  auto with_interval = [](const std::string& value) {
    return edited(kPemxToml, "commit_interval = \"1s\"",
                  "commit_interval = \"1s\"\nfetch_wakeup_interval = " + value);
  };
  SECTION("accepted: off, and a value in range") {
    for (const char* value : {"\"0s\"", "\"10ms\"", "\"250ms\"", "\"1s\""}) {
      auto r = load(with_interval(value));
      INFO(value << ": " << Catch::Detail::stringify(error_lines(r)));
      CHECK(r.errors.empty());
    }
  }
  SECTION("too often: it would flood the brokers with watermark requests") {
    auto r = load(with_interval("\"5ms\""));
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].key == "stages.dist_ingest.fetch_wakeup_interval");
    CHECK_THAT(r.errors[0].message, Contains("expected \"0s\" (off) or 10ms to 1s"));
  }
  SECTION("too rarely: librdkafka's own wake-up is 1 s") {
    auto r = load(with_interval("\"2s\""));
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].key == "stages.dist_ingest.fetch_wakeup_interval");
  }
}

}  // namespace
}  // namespace pemx
