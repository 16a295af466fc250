// pemx replay's arguments: times (ISO 8601 or epoch ms), lists, the range check, and what is
// left for the shared options.
#include "tools/replay/options.hpp"

#include <catch2/catch.hpp>

namespace pemx::replay {
namespace {

using Catch::Matchers::Contains;
using Args = std::vector<std::string>;

TEST_CASE("replay times are ISO 8601 or epoch milliseconds", "[unit][replay]") {
  CHECK(parse_time("2024-07-26T14:41:17.500Z") == 1722004877500);
  CHECK(parse_time("2024-07-26T16:41:17.500+02:00") == 1722004877500);
  CHECK(parse_time("2024-07-26") == 1721952000000);
  CHECK(parse_time("1722004877500") == 1722004877500);
  CHECK(parse_time("0") == 0);
  CHECK_FALSE(parse_time(""));
  CHECK_FALSE(parse_time("yesterday"));
  CHECK_FALSE(parse_time("-5"));
  CHECK_FALSE(parse_time("99999999999999999999999"));  // past int64
  CHECK_FALSE(parse_time("2024-13-01"));
}

TEST_CASE("replay lists are comma-separated, trimmed, without empty items", "[unit][replay]") {
  CHECK(split_list("a") == Args{"a"});
  CHECK(split_list("a, b ,c") == Args{"a", "b", "c"});
  CHECK_FALSE(split_list(""));
  CHECK_FALSE(split_list("a,,b"));
  CHECK_FALSE(split_list("a,"));
}

TEST_CASE("replay arguments", "[unit][replay]") {
  SECTION("the range, filters and flags; the rest is left for the shared options") {
    auto o = parse_replay_args({"--from", "2024-01-01", "--to=1704153600000", "--products",
                                "P1,P2", "--products=P3", "--topics", "t1", "--dry-run",
                                "--role=dist", "--config", "x.toml", "--page-size", "7"});
    REQUIRE(o);
    CHECK(o->from_ms == 1704067200000);
    CHECK(o->to_ms == 1704153600000);
    CHECK(o->products == Args{"P1", "P2", "P3"});
    CHECK(o->topics == Args{"t1"});
    CHECK(o->dry_run);
    CHECK(o->page_size == 7);
    CHECK(o->rest == Args{"--role=dist", "--config", "x.toml"});
  }
  SECTION("defaults") {
    auto o = parse_replay_args({"--from", "1", "--to", "2"});
    REQUIRE(o);
    CHECK(o->products.empty());
    CHECK(o->topics.empty());
    CHECK_FALSE(o->dry_run);
    CHECK(o->page_size == kDefaultPageSize);
    CHECK(o->rest.empty());
  }
  SECTION("usage errors name the option") {
    auto error = [](Args args) {
      auto o = parse_replay_args(args);
      REQUIRE_FALSE(o);
      return o.error().message;
    };
    CHECK_THAT(error({"--to", "2"}), Contains("needs --from"));
    CHECK_THAT(error({"--from", "1"}), Contains("needs --to"));
    CHECK_THAT(error({"--from", "2", "--to", "2"}), Contains("--from must be before --to"));
    CHECK_THAT(error({"--from", "soon", "--to", "2"}), Contains("--from \"soon\""));
    CHECK_THAT(error({"--from", "1", "--to"}), Contains("--to needs a time"));
    CHECK_THAT(error({"--from", "1", "--to", "2", "--products", "a,,b"}),
               Contains("--products needs a comma-separated list"));
    CHECK_THAT(error({"--from", "1", "--to", "2", "--topics"}), Contains("--topics needs"));
    CHECK_THAT(error({"--from", "1", "--to", "2", "--page-size", "0"}), Contains("--page-size"));
  }
  SECTION("--help needs no range") {
    auto o = parse_replay_args({"--help"});
    REQUIRE(o);
    CHECK(o->rest == Args{"--help"});
  }
}

}  // namespace
}  // namespace pemx::replay
