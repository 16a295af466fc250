// `pemx simulate` options (src/tools/simulate/options.*): defaults, every form, and errors that
// name the bad option.
#include "tools/simulate/options.hpp"

#include <catch2/catch.hpp>

namespace pemx::sim {
namespace {

using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using Args = std::vector<std::string>;

std::string error_of(const Args& args) {
  auto r = parse_simulate_options(args);
  REQUIRE_FALSE(r);
  return r.error().message;
}

TEST_CASE("simulate options: defaults", "[unit][sim]") {
  auto o = parse_simulate_options({});
  REQUIRE(o);
  CHECK(o->rate == 100);
  CHECK_FALSE(o->count);
  CHECK_FALSE(o->duration);
  CHECK(o->role == "dist");
  CHECK(o->config == "pemx.toml");
  CHECK(o->regions == Args{"US", "EU"});
  CHECK(o->watch_timeout == 30s);
  CHECK(o->max_tracked == 250000);
  CHECK_FALSE(o->watch);
  CHECK_FALSE(o->json);
}

TEST_CASE("simulate options: both value forms, every option", "[unit][sim]") {
  auto o = parse_simulate_options({"--rate=max",
                                   "--count",
                                   "10000",
                                   "--duration=2m",
                                   "--mix",
                                   "price=2,country=1",
                                   "--regions=US,EU,APAC",
                                   "--seed",
                                   "42",
                                   "--topic",
                                   "t",
                                   "--brokers=b:9092",
                                   "--watch",
                                   "--watch-timeout",
                                   "5s",
                                   "--json",
                                   "--max-tracked=10",
                                   "--role",
                                   "r",
                                   "--config",
                                   "c.toml",
                                   "--set",
                                   "a.b=1",
                                   "--set=c.d=2"});
  REQUIRE(o);
  CHECK(o->rate == 0);
  CHECK(o->count == 10000u);
  CHECK(o->duration == 2min);
  CHECK(o->mix.price == 2);
  CHECK(o->mix.discount == 0);
  CHECK(o->regions.size() == 3);
  CHECK(o->seed == 42u);
  CHECK(o->topic == "t");
  CHECK(o->brokers == "b:9092");
  CHECK(o->watch);
  CHECK(o->watch_timeout == 5s);
  CHECK(o->json);
  CHECK(o->max_tracked == 10);
  CHECK(o->role == "r");
  CHECK(o->config == "c.toml");
  CHECK(o->sets == Args{"a.b=1", "c.d=2"});
  auto rate = parse_simulate_options({"--rate", "0.5"});
  REQUIRE(rate);
  CHECK(rate->rate == 0.5);
  auto via = parse_simulate_options({"--via", "http://127.0.0.1:8080", "--token", "s3cret"});
  REQUIRE(via);
  CHECK(via->token == "s3cret");
  CHECK(parse_simulate_options({"--count", "5", "--help"})->help);
}

TEST_CASE("simulate options: each error names the option", "[unit][sim]") {
  CHECK_THAT(error_of({"--rate", "fast"}), StartsWith("--rate: \"fast\" is not a number"));
  CHECK_THAT(error_of({"--rate=0"}), StartsWith("--rate:"));
  CHECK_THAT(error_of({"--rate", "-3"}), StartsWith("--rate:"));
  CHECK_THAT(error_of({"--rate"}), StartsWith("--rate: needs a value"));
  CHECK_THAT(error_of({"--count", "0"}), StartsWith("--count: must be at least 1"));
  CHECK_THAT(error_of({"--count", "1e3"}), StartsWith("--count: \"1e3\" is not a whole number"));
  CHECK_THAT(error_of({"--duration", "30"}), StartsWith("--duration: \"30\" is not a duration"));
  CHECK_THAT(error_of({"--duration", "0s"}), StartsWith("--duration:"));
  CHECK_THAT(error_of({"--watch-timeout", "soon"}), StartsWith("--watch-timeout:"));
  CHECK_THAT(error_of({"--mix", "price=a"}), StartsWith("--mix: weight of price"));
  CHECK_THAT(error_of({"--regions", "US,"}), StartsWith("--regions:"));
  CHECK_THAT(error_of({"--seed", "x"}), StartsWith("--seed:"));
  CHECK_THAT(error_of({"--max-tracked", "0"}), StartsWith("--max-tracked:"));
  CHECK_THAT(error_of({"--watch=yes"}), StartsWith("--watch: takes no value"));
  CHECK_THAT(error_of({"--topic", ""}), StartsWith("--topic: needs a non-empty value"));
  CHECK_THAT(error_of({"--bogus"}), Contains("unknown option \"--bogus\""));
  CHECK_THAT(error_of({"extra"}), Contains("unknown option \"extra\""));
  CHECK_THAT(error_of({"--token", "t"}), StartsWith("--token: only makes sense with --via"));
  CHECK_THAT(error_of({"--via", "http://h:1", "--topic", "t"}), StartsWith("--topic: cannot"));
}

}  // namespace
}  // namespace pemx::sim
