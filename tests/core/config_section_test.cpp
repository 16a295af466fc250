// ConfigSection's typed getters and its helpers: parse_duration, edit_distance, nearest.
// The whole loader, with the real stage registry, is tested in config_test.cpp.
#include "core/config_section.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include <toml++/toml.h>

namespace pemx {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

toml::table parse_toml(std::string_view text) {
  return toml::parse(text, std::string_view("pemx.toml"));
}

std::vector<std::string> texts(const std::vector<ConfigError>& errors) {
  std::vector<std::string> out;
  for (const auto& e : errors) out.push_back(e.str());
  return out;
}

TEST_CASE("parse_duration reads a whole number with a unit", "[unit][config]") {
  CHECK(parse_duration("250ms") == milliseconds(250));
  CHECK(parse_duration("0ms") == milliseconds(0));
  CHECK(parse_duration("5s") == milliseconds(5000));
  CHECK(parse_duration("2m") == milliseconds(120'000));
  CHECK(parse_duration("1h") == milliseconds(3'600'000));
  CHECK(parse_duration("90d") == milliseconds(90LL * 86'400'000));  // a store's retention
}

TEST_CASE("parse_duration refuses anything else", "[unit][config]") {
  for (const char* text : {"", "30", "s", "1.5s", "-1s", "+1s", " 5s", "5 s", "5S", "5sec",
                           "5w", "ms250", "5ms ", "1h30m"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_duration(text));
  }
}

TEST_CASE("parse_duration refuses a duration that overflows", "[unit][config]") {
  // 2^57 + 1 hours is 2^64 + 1 hours in milliseconds: wrapped, it would read as 1 hour.
  // Refusing it or saturating are both fine; reading it as a small duration is not.
  auto wrapped = parse_duration("144115188075855873h");
  CHECK((!wrapped || *wrapped > 24h));
  auto negative = parse_duration("9223372036854775807s");
  CHECK((!negative || *negative > 24h));
}

TEST_CASE("edit_distance counts insertions, deletions and substitutions", "[unit][config]") {
  CHECK(edit_distance("", "") == 0);
  CHECK(edit_distance("brokers", "brokers") == 0);
  CHECK(edit_distance("brokers", "brokerz") == 1);
  CHECK(edit_distance("brokers", "broker") == 1);
  CHECK(edit_distance("kafka", "kafak") == 2);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("kitten", "sitting") == 3);
}

TEST_CASE("nearest suggests a close candidate, or nothing", "[unit][config]") {
  const std::vector<std::string> keys = {"brokers", "client_id", "properties", "embedded"};
  CHECK(nearest("brokerz", keys) == "brokers");
  CHECK(nearest("client-id", keys) == "client_id");
  CHECK(nearest("propertys", keys) == "properties");
  CHECK(nearest("timeout", keys).empty());
  CHECK(nearest("brokers", {}).empty());
  // Short words allow a distance of 2, not more.
  CHECK(nearest("ab", {"xy"}) == "xy");
  CHECK(nearest("ab", {"xyz"}).empty());
}

TEST_CASE("typed getters read values and fall back when absent", "[unit][config]") {
  toml::table root = parse_toml(R"(name = "router"
count = 12
on = true
wait = "250ms"
list = ["a", "b"]
[sub]
x = 1
)");
  std::vector<ConfigError> errors;
  ConfigSection s(&root, "stages.router", "pemx.toml", &errors);

  CHECK(s.string("name", "?") == "router");
  CHECK(s.string("missing", "fallback") == "fallback");
  CHECK(s.integer("count", 0, 1, 100) == 12);
  CHECK(s.integer("missing_int", 7, 1, 100) == 7);
  CHECK(s.boolean("on", false));
  CHECK(s.duration("wait", 1s, 1ms, 1h) == 250ms);
  CHECK(s.duration("missing_wait", 3s, 1ms, 1h) == 3s);
  CHECK(s.string_list("list", {}) == std::vector<std::string>{"a", "b"});
  auto sub = s.table("sub");
  REQUIRE(sub);
  CHECK(sub->path() == "stages.router.sub");
  CHECK(sub->integer("x", 0, 0, 10) == 1);
  sub->reject_unknown();
  s.reject_unknown();
  CHECK(errors.empty());
}

TEST_CASE("typed getters report the full key path, the line and what was expected",
          "[unit][config]") {
  toml::table root = parse_toml(R"(count = "12"
on = "yes"
list = ["a", 2]
rules = [1]
)");
  std::vector<ConfigError> errors;
  ConfigSection s(&root, "stages.router", "pemx.toml", &errors);

  CHECK(s.integer("count", 5, 0, 100) == 5);  // the fallback after an error
  CHECK_FALSE(s.boolean("on", false));
  CHECK(s.string_list("list", {}) == std::vector<std::string>{"a"});
  CHECK(s.table_array("rules").empty());
  CHECK(texts(errors) ==
        std::vector<std::string>{
            "pemx.toml:1: stages.router.count: expected an integer, got a string",
            "pemx.toml:2: stages.router.on: expected true or false, got a string",
            "pemx.toml:3: stages.router.list[1]: expected a string, got an integer",
            "pemx.toml:4: stages.router.rules[0]: expected a table, got an integer",
        });
  CHECK(s.has_errors());
}

TEST_CASE("reject_unknown names every key nobody read", "[unit][config]") {
  toml::table root = parse_toml("level = \"info\"\nlevle = \"debug\"\ncolour = true\n");
  std::vector<ConfigError> errors;
  ConfigSection s(&root, "log", "pemx.toml", &errors);
  s.string("level", "info");
  s.duration("stats_interval", 30s, 1s, 24h);
  s.reject_unknown();
  CHECK(texts(errors) ==
        std::vector<std::string>{
            "pemx.toml:3: log.colour: unknown key; known keys here: level, stats_interval",
            "pemx.toml:2: log.levle: unknown key; did you mean \"level\"?",
        });
}

TEST_CASE("ConfigError::str joins location, key and message", "[unit][config]") {
  CHECK(ConfigError{"pemx.toml:3", "kafka.brokers", "must not be empty"}.str() ==
        "pemx.toml:3: kafka.brokers: must not be empty");
  CHECK(ConfigError{"pemx.toml:1", "", "TOML syntax error: x"}.str() ==
        "pemx.toml:1: TOML syntax error: x");
  CHECK(ConfigError{"", "", "message"}.str() == "message");
}

}  // namespace
}  // namespace pemx
