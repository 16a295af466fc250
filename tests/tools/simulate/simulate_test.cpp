// The pure parts of `pemx simulate` around the network: the routing it expects (the role's
// own router, through its route tool), the input topic, the --via URL, and the summary.
#include "tools/simulate/simulate.hpp"

#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include "builtin_stages.hpp"
#include "sim/event_generator.hpp"
#include "tools/simulate/expected_topics.hpp"
#include "support/json.hpp"
#include "tools/simulate/http_push.hpp"

namespace pemx::sim {
namespace {

using Catch::Matchers::Contains;

// The reference routing, as pemx.toml ships it (trimmed to the dist role).
constexpr const char* kConfig = R"(
[roles]
dist = ["dist_ingest", "router", "dist_sink"]
gen_only = ["sim"]
[queues.events]
capacity = 16
[queues.routed]
capacity = 16
[queues.delivered]
capacity = 16
[stages.dist_ingest]
type = "kafka_ingest"
topics = ["my-product-event"]
group_id = "g"
output = "events"
acks = "delivered"
[stages.router]
type = "rules_router"
input = "events"
output = "routed"
dead_letter_topic = "dlq"
event_types = ["ProductPriceUpdate", "Country", "SpecificProductDiscountUpdate"]
[[stages.router.rules]]
match = { field = "eventType", equals = "ProductPriceUpdate" }
topic = "product-price-update-v1-{region}"
allowed = { region = ["US", "EU"] }
[[stages.router.rules]]
match = { field = "eventType", equals = "Country" }
topic = "country-{data.country}"
[[stages.router.rules]]
match = { field = "eventType", equals = "SpecificProductDiscountUpdate" }
topic = "specific-product-discount-update-{region}"
[[stages.router.rules]]
match = "*"
topic = "storage"
[stages.dist_sink]
type = "kafka_sink"
input = "routed"
acks = "delivered"
[stages.sim]
type = "simulator"
)";

std::unique_ptr<Config> config() {
  auto loaded = load_config_text(kConfig, "test.toml", {}, builtin_stages());
  for (const auto& e : loaded.errors) FAIL(e.str());
  return std::move(loaded.config);
}

TEST_CASE("expected topics come from the role's router", "[unit][sim]") {
  auto c = config();
  auto routes = ExpectedTopics::for_role(*c, "dist");
  REQUIRE(routes);
  EventGenerator gen(GeneratorOptions{.seed = 5, .regions = {"US", "EU", "APAC"}});
  std::vector<GeneratedEvent> events;
  std::vector<std::string_view> values;
  for (int i = 0; i < 300; ++i) events.push_back(gen.next());
  for (const auto& e : events) values.push_back(e.json);
  auto topics = routes->route(values);
  REQUIRE(topics);
  REQUIRE(topics->size() == events.size());
  int dead = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    const auto& t = topics.value()[i];
    if (e.event_type == "ProductPriceUpdate" && e.region == "APAC") {  // not allowed
      CHECK(t == std::vector<std::string>{"dlq"});
      ++dead;
      continue;
    }
    std::string first = e.event_type == "ProductPriceUpdate" ? "product-price-update-v1-" + e.region
                        : e.event_type == "Country"
                            ? "country-" + e.country
                            : "specific-product-discount-update-" + e.region;
    CHECK(t == std::vector<std::string>{first, "storage"});
  }
  CHECK(dead > 0);
}

TEST_CASE("a role without a router or an ingest stage is refused by name", "[unit][sim]") {
  auto c = config();
  CHECK_THAT(ExpectedTopics::for_role(*c, "gen_only").error().message,
             Contains("role \"gen_only\" has no routing stage"));
  CHECK_THAT(ExpectedTopics::for_role(*c, "nope").error().message, Contains("no role \"nope\""));
  auto topic = input_topic(*c, "dist");
  REQUIRE(topic);
  CHECK(topic.value() == "my-product-event");
  CHECK_THAT(input_topic(*c, "gen_only").error().message, Contains("pass --topic"));
}

TEST_CASE("the --via option takes an http URL", "[unit][sim]") {
  auto t = parse_http_url("http://127.0.0.1:8080");
  REQUIRE(t);
  CHECK(t->host == "127.0.0.1");
  CHECK(t->port == "8080");
  CHECK(t->path == "/event");
  auto p = parse_http_url("http://pemx.example/api/");
  REQUIRE(p);
  CHECK(p->port == "80");
  CHECK(p->path == "/api/event");
  auto v6 = parse_http_url("http://[::1]:9000");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->port == "9000");
  CHECK_THAT(parse_http_url("https://x").error().message, Contains("https"));
  CHECK_FALSE(parse_http_url("127.0.0.1:8080"));
  CHECK_FALSE(parse_http_url("http://:80"));
  CHECK_FALSE(parse_http_url("http://h:99999"));
  CHECK_FALSE(parse_http_url("http://h:"));
}

Summary watched_summary() {
  Summary s;
  s.target = "product-event";
  s.seed = 9;
  s.run_tag = "0a0b0c0d";
  s.sent = s.acked = 3;
  s.duration_s = 2;
  s.watched = true;
  s.arrivals.per_topic["storage"] = {3, 3, 1, 0, 0, 0};
  s.arrivals.per_topic["country-Sweden"] = {1, 1, 0, 0, 0, 0};
  s.arrivals.duplicates = 1;
  s.latency_count = 4;
  s.latency_p50_ms = 1.5;
  s.latency_p99_ms = 7;
  s.latency_max_ms = 7.25;
  return s;
}

TEST_CASE("the JSON summary has every field, and the exit code follows it", "[unit][sim]") {
  Summary s = watched_summary();
  rapidjson::Document d = test::parse_json(summary_json(s));
  CHECK(d["sent"].GetUint64() == 3);
  CHECK(d["acked"].GetUint64() == 3);
  CHECK(d["failed"].GetUint64() == 0);
  CHECK(d["missing"].GetUint64() == 0);
  CHECK(d["duplicates"].GetUint64() == 1);
  CHECK(d["rate"].GetDouble() == 1.5);
  CHECK(d["duration_s"].GetDouble() == 2);
  CHECK(d["latency_ms"]["p50"].GetDouble() == 1.5);
  CHECK(d["latency_ms"]["p99"].GetDouble() == 7);
  CHECK(d["latency_ms"]["max"].GetDouble() == 7.25);
  CHECK(d["per_topic"]["storage"]["arrived"].GetUint64() == 3);
  CHECK(d["per_topic"]["storage"]["duplicates"].GetUint64() == 1);
  CHECK(d["per_topic"]["country-Sweden"]["expected"].GetUint64() == 1);
  CHECK(d["seed"].GetUint64() == 9);
  CHECK(summary_exit_code(s) == 0);  // duplicates are allowed: at-least-once

  s.arrivals.missing = 1;
  CHECK(summary_exit_code(s) == 1);
  s.arrivals.missing = 0;
  s.arrivals.unexpected = 1;
  CHECK(summary_exit_code(s) == 1);
  s.arrivals.unexpected = 0;
  s.failed = 1;
  CHECK(summary_exit_code(s) == 1);
  CHECK_THAT(summary_text(s), Contains("FAILED"));
}

TEST_CASE("the summary notes the tracking cap and the watcher's errors", "[unit][sim]") {
  Summary s = watched_summary();
  CHECK(s.notes().empty());
  s.untracked = 5;
  s.max_tracked = 100;
  REQUIRE(s.notes().size() == 1);
  CHECK_THAT(s.notes()[0], Contains("5 events were sent untracked"));
  CHECK_THAT(summary_text(s), Contains("note: 5 events were sent untracked"));
  rapidjson::Document d;
  d.Parse(summary_json(s).c_str());
  CHECK(d["untracked"].GetUint64() == 5);
  CHECK(d["notes"].Size() == 1);
  s.watch_errors = 2;
  s.first_watch_error = "Broker: Topic authorization failed (country-US)";
  CHECK_THAT(summary_text(s),
             Contains("consumer reported 2 errors, the first: Broker: Topic authorization"));
}

TEST_CASE("without --watch the summary has no arrival fields", "[unit][sim]") {
  Summary s;
  s.sent = s.acked = 10;
  rapidjson::Document d;
  d.Parse(summary_json(s).c_str());
  CHECK_FALSE(d.HasMember("per_topic"));
  CHECK_FALSE(d.HasMember("latency_ms"));
  CHECK(d["watched"].GetBool() == false);
  CHECK_THAT(summary_text(s), !Contains("missing"));
}

}  // namespace
}  // namespace pemx::sim
