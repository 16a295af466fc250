// group.instance.id: the placeholder expansion rule and Kafka's legality check.
#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "kafka/group_instance.hpp"

namespace pemx::kafka {
namespace {

EnvLookup env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST_CASE("group_instance_id placeholders expand from the environment", "[unit][kafka]") {
  auto lookup = env({{"HOSTNAME", "dist-7.example"}, {"ZONE", "b"}, {"EMPTY", ""}});
  CHECK(expand_placeholders("plain-id", lookup).value() == "plain-id");
  CHECK(expand_placeholders("${HOSTNAME}", lookup).value() == "dist-7.example");
  CHECK(expand_placeholders("pemx-${HOSTNAME}-${ZONE}", lookup).value() ==
        "pemx-dist-7.example-b");
  CHECK(expand_placeholders("a$b", lookup).value() == "a$b");  // "$" alone is not special
  CHECK(expand_placeholders("p$${ZONE}q", lookup).value() == "p${ZONE}q");  // "$${": literal

  auto unset = expand_placeholders("pemx-${NODE}", lookup);
  REQUIRE_FALSE(unset.ok());
  CHECK(unset.error().code == "unset_variable");
  CHECK_THAT(unset.error().message, Catch::Contains("NODE is not set"));
  auto empty = expand_placeholders("${EMPTY}", lookup);
  REQUIRE_FALSE(empty.ok());
  CHECK_THAT(empty.error().message, Catch::Contains("EMPTY is empty"));
  auto open = expand_placeholders("pemx-${HOSTNAME", lookup);
  REQUIRE_FALSE(open.ok());
  CHECK(open.error().code == "unterminated_placeholder");
}

TEST_CASE("HOSTNAME falls back to the host name when not in the environment",
          "[unit][kafka]") {
  auto host = process_env("HOSTNAME");  // whether the shell exported it or not
  REQUIRE(host.has_value());
  CHECK_FALSE(host->empty());
  CHECK_FALSE(process_env("PEMX_TEST_SURELY_UNSET_VARIABLE").has_value());
}

TEST_CASE("group_instance_id follows Kafka's rules", "[unit][kafka]") {
  CHECK_FALSE(group_instance_id_problem("dist-1.eu_west").has_value());
  CHECK_FALSE(group_instance_id_problem(std::string(249, 'a')).has_value());
  CHECK(group_instance_id_problem("").value() ==
        "is empty; remove the key for dynamic membership");
  CHECK(group_instance_id_problem(std::string(250, 'a')).value() ==
        "is 250 characters long; Kafka's limit is 249");
  CHECK(group_instance_id_problem("dist 1").value() ==
        "contains ' '; Kafka allows only letters, digits, '.', '_' and '-'");
  CHECK(group_instance_id_problem("dist/1").has_value());
  CHECK(group_instance_id_problem("d\xc3\xa9").value() ==
        "contains byte 195; Kafka allows only letters, digits, '.', '_' and '-'");
}

}  // namespace
}  // namespace pemx::kafka
